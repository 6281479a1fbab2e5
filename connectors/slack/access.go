package slack

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/poblysh/poblysh/connectors"
)

// memberTypes are the conversation types the connector reads: public and
// private channels (never DMs).
var memberTypes = []string{"public_channel", "private_channel"}

// notMember is the client-safe reason a configured channel is refused.
const notMember = "the app's bot is not a member of this channel, or the channel is not in the connected workspace; " +
	"invite the app to the channel (/invite) and try again"

// ResourceRefs implements connectors.AccessProver: the configured channel
// ids, or without them "channels" (membersRef): every channel the bot is a
// member of, whose reactions reach the connection (membersResource); and,
// for an org-wide install, "workspaces" (workspacesRef): the workspaces
// the org granted the app, which its connection hears install news of.
func (c *Connector) ResourceRefs(conn connectors.Connection) ([]string, error) {
	cfg, err := parseConfig(conn.Config)
	if err != nil {
		return nil, fmt.Errorf("slack: %w", err)
	}
	refs := slices.Clone(cfg.Channels)
	if len(refs) == 0 {
		refs = append(refs, membersRef)
	}
	if orgInstall(conn.Account) {
		refs = append(refs, workspacesRef)
	}
	return refs, nil
}

// ProveAccess implements connectors.AccessProver: a configured channel is
// granted when the bot of the connection's own token is a member of it,
// as users.conversations lists it (public and private channels, archived
// ones included since their history stays readable; for an org-wide
// install, in every workspace the org granted, from auth.teams.list). A
// granted channel is routed by its id ("channel:C…"). Anything else (not a
// member, another workspace's channel, no such channel) is denied with one
// reason, since Slack does not tell them apart for a bot either. The
// "channels" of a connection reading every channel are granted as
// users.conversations lists them, archived ones left out as the channels
// stream's listing leaves them out of its resource, each routed by its id
// (membersResource). An
// org-wide install's "workspaces" are granted as auth.teams.list lists
// them, each routed by app:<team id> (workspacesResource).
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
	acct := req.Connection.Account
	hc := c.paced(req.HTTP, acct.ID)
	teams := []string{""}
	if orgInstall(acct) {
		if teams, err = c.grantedTeams(ctx, hc); err != nil {
			return nil, err
		}
	}
	channels := slices.DeleteFunc(slices.Clone(refs), func(r string) bool { return r == workspacesRef || r == membersRef })
	var member map[string]string
	if len(channels) > 0 {
		if member, err = c.botChannels(ctx, hc, acct, teams, false); err != nil {
			return nil, err
		}
	}
	if slices.Contains(refs, membersRef) {
		open, err := c.botChannels(ctx, hc, acct, teams, true)
		if err != nil {
			return nil, err
		}
		out.Granted = append(out.Granted, membersResource(acct, slices.Collect(maps.Keys(open))))
	}
	for _, ref := range channels {
		name, ok := member[ref]
		if !ok {
			out.Denied = append(out.Denied, connectors.Denial{Ref: ref, Reason: notMember,
				Err: fmt.Errorf("slack: users.conversations: %w: the bot is not a member of %s", connectors.ErrForbidden, ref)})
			continue
		}
		out.Granted = append(out.Granted, connectors.Resource{Ref: ref, ID: ref, Name: "#" + name, RouteKeys: []string{channelKey(ref)}})
	}
	if slices.Contains(refs, workspacesRef) {
		out.Granted = append(out.Granted, workspacesResource(acct, teams))
	}
	return out, nil
}

// StreamResource implements connectors.ResourceStreams: history:<channel>
// reads that channel, so not_in_channel or channel_not_found there (the
// bot left, the channel was deleted) is access lost for that channel. The
// "workspaces" stream of an org-wide install reads its workspaces: each
// pass shows them as auth.teams.list lists them (Page.Resource), and the
// engine routes them so. The "channels" stream reads the bot's channels:
// each pass lists them anew and shows them as listed (membersResource).
func (c *Connector) StreamResource(stream string) (string, bool) {
	switch stream {
	case workspacesStream:
		return workspacesRef, true
	case membersStream:
		return membersRef, true
	}
	ch, ok := strings.CutPrefix(stream, historyPrefix)
	if !ok || !channelIDPattern.MatchString(ch) {
		return "", false
	}
	return ch, true
}

// botChannels lists every channel the bot is a member of, by id, with its
// name, in teams: [""] for a workspace install's own workspace, or each
// workspace an org-wide install was granted; archived ones too unless
// excludeArchived.
func (c *Connector) botChannels(ctx context.Context, hc *http.Client, acct connectors.Account, teams []string, excludeArchived bool) (map[string]string, error) {
	api, _ := c.api(hc)
	out := map[string]string{}
	for _, team := range teams {
		cursor := ""
		for {
			chans, next, err := memberPage(ctx, api, team, cursor, excludeArchived)
			if err != nil {
				return nil, err
			}
			for _, ch := range chans {
				out[ch.ID] = ch.Name
				// The listing names the channels: the name cache gets them
				// for free (webhooks of this process use it).
				c.names.put(acct.ID, ch.ID, ch.Name, time.Now())
			}
			if next == "" {
				break
			}
			cursor = next
		}
	}
	return out, nil
}

// memberPage reads one users.conversations page of the bot's channels in
// team ("" for a workspace install's own workspace; an org-wide token must
// name one, https://api.slack.com/methods/users.conversations).
func memberPage(ctx context.Context, api *slackapi.Client, team, cursor string, excludeArchived bool) ([]slackapi.Channel, string, error) {
	chans, next, err := api.GetConversationsForUserContext(ctx, &slackapi.GetConversationsForUserParameters{
		Cursor: cursor, Types: memberTypes, Limit: listPageSize, ExcludeArchived: excludeArchived, TeamID: team,
	})
	if err != nil {
		return nil, "", mapError("users.conversations "+team, err)
	}
	return chans, next, nil
}

// grantedTeams lists the workspaces an org-wide install was granted, with
// auth.teams.list (https://api.slack.com/methods/auth.teams.list).
func (c *Connector) grantedTeams(ctx context.Context, hc *http.Client) ([]string, error) {
	var out []string
	cursor := ""
	for {
		teams, next, err := c.teamsPage(ctx, hc, cursor)
		if err != nil {
			return nil, err
		}
		out = append(out, teams...)
		if next == "" {
			return out, nil
		}
		cursor = next
	}
}

// teamsPage reads one auth.teams.list page.
func (c *Connector) teamsPage(ctx context.Context, hc *http.Client, cursor string) ([]string, string, error) {
	form := url.Values{"limit": {strconv.Itoa(listPageSize)}}
	if cursor != "" {
		form.Set("cursor", cursor)
	}
	var ans struct {
		Teams []struct {
			ID string `json:"id"`
		} `json:"teams"`
		ResponseMetadata struct {
			NextCursor string `json:"next_cursor"`
		} `json:"response_metadata"`
	}
	if err := c.call(ctx, hc, "auth.teams.list", form, &ans); err != nil {
		return nil, "", err
	}
	out := make([]string, 0, len(ans.Teams))
	for _, t := range ans.Teams {
		if t.ID != "" {
			out = append(out, t.ID)
		}
	}
	return out, ans.ResponseMetadata.NextCursor, nil
}
