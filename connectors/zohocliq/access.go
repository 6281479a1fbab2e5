package zohocliq

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/zoho"
)

// notMember is the client-safe reason a configured channel is refused.
const notMember = "not a channel the connected user is a member of in this Cliq organisation; " +
	"join the channel (or check its chat id or unique name) and try again"

// channel is a channel as GET /api/v2/channels lists it.
type channel struct {
	ChannelID  zoho.Str `json:"channel_id"`
	ChatID     zoho.Str `json:"chat_id"`
	Name       string   `json:"name"`
	UniqueName string   `json:"unique_name"`
	Joined     zoho.Str `json:"joined"`
}

// displayName is "#name" whatever Cliq put in name.
func (ch channel) displayName() string { return "#" + strings.TrimPrefix(ch.Name, "#") }

// ResourceRefs implements connectors.AccessProver: the configured channels.
func (c *Connector) ResourceRefs(conn connectors.Connection) ([]string, error) {
	cfg, err := parseConfig(conn.Config)
	if err != nil {
		return nil, fmt.Errorf("zoho-cliq: %w", err)
	}
	return cfg.Channels, nil
}

// ProveAccess implements connectors.AccessProver: a configured channel is
// granted when GET /api/v2/channels?joined=true, read with the
// connection's own token, lists it (by chat id or unique name): the user
// is a member and can read its messages. A granted channel is routed by
// its chat id, bound to the connection (chat:<tenant>:<account>:<chat>).
// Cliq does not tell "no such channel" from "not a member"; both are one
// denial.
func (c *Connector) ProveAccess(ctx context.Context, req connectors.AccessRequest) (*connectors.AccessReport, error) {
	refs, err := c.ResourceRefs(req.Connection)
	if err != nil {
		return nil, err
	}
	refs = slices.DeleteFunc(slices.Clone(refs), func(r string) bool { return !req.Requested(r) })
	out := &connectors.AccessReport{}
	if len(refs) == 0 {
		return out, nil
	}
	joined, err := c.joinedChannels(ctx, req.HTTP, req.Connection.Account)
	if err != nil {
		return nil, err
	}
	for _, ref := range refs {
		ch, ok := findChannel(joined, ref)
		if !ok {
			out.Denied = append(out.Denied, connectors.Denial{Ref: ref, Reason: notMember,
				Err: fmt.Errorf("zoho-cliq: channels: %w: the user is not a member of %s", connectors.ErrForbidden, ref)})
			continue
		}
		out.Granted = append(out.Granted, connectors.Resource{Ref: ref, ID: ch.ChatID.String(), Name: ch.displayName(),
			RouteKeys: []string{chatKey(req.Connection.TenantID, req.Connection.Account.ID, ch.ChatID.String())}})
	}
	return out, nil
}

// StreamResource implements connectors.ResourceStreams: messages:<ref>
// reads that channel, so a 403 or 404 there is access lost for it.
func (c *Connector) StreamResource(stream string) (string, bool) {
	ref, ok := strings.CutPrefix(stream, messagesPrefix)
	if !ok {
		return "", false
	}
	if n, ok := normalizeRef(ref); !ok || n != ref {
		return "", false
	}
	return ref, true
}

// findChannel matches a configured ref against the user's channels.
func findChannel(list []channel, ref string) (channel, bool) {
	for _, ch := range list {
		if ch.ChatID.String() == ref || strings.EqualFold(strings.TrimPrefix(ch.UniqueName, "#"), ref) {
			return ch, true
		}
	}
	return channel{}, false
}

// joinedChannels lists every channel the user is a member of
// (https://www.zoho.com/cliq/help/restapi/v2/channels/, next_token pages).
func (c *Connector) joinedChannels(ctx context.Context, hc *http.Client, acct connectors.Account) ([]channel, error) {
	var out []channel
	next := ""
	for range 100 {
		q := url.Values{"joined": {"true"}, "limit": {strconv.Itoa(100)}}
		if next != "" {
			q.Set("next_token", next)
		}
		var ans struct {
			Channels  []channel `json:"channels"`
			NextToken zoho.Str  `json:"next_token"`
			HasMore   zoho.Str  `json:"has_more"`
		}
		if err := c.get(ctx, hc, acct, apiChannels, "/api/v2/channels", q, &ans); err != nil {
			return nil, err
		}
		for _, ch := range ans.Channels {
			if ch.ChatID != "" && (ch.Joined == "" || ch.Joined.Bool()) {
				out = append(out, ch)
			}
		}
		next = ans.NextToken.String()
		if next == "" || (ans.HasMore != "" && !ans.HasMore.Bool()) {
			return out, nil
		}
	}
	return out, nil
}
