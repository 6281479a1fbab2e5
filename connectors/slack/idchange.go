package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/poblysh/poblysh/connectors"
)

// A legacy private channel (id G…) shared with another organisation
// through Slack Connect gets a new id for good: Slack sends
// channel_id_changed {old_channel_id, new_channel_id}, and "from now on,
// all messages and other happenstance around the channel will be
// associated with the new ID"; the old id is unknown to every method
// (https://api.slack.com/events/channel_id_changed). Slack's example, and
// what apps meet, is the same id with C for G (G012Y48650T →
// C012Y48650T): that is where a sync looks for a channel whose G… id is
// gone, and it follows it there only when the connection's own token
// lists the bot in it (docs/providers/slack.md, "Shared private
// channels").

// sharedChannelID is the id a legacy private channel has once shared
// through Slack Connect; ok is false for an id that is not a G… one.
func sharedChannelID(id string) (string, bool) {
	rest, ok := strings.CutPrefix(id, "G")
	if !ok || !channelIDPattern.MatchString(id) {
		return "", false
	}
	return "C" + rest, true
}

// movedChannel is where channel ch went when reading it failed with
// cause: for channel_not_found on a legacy private channel, its shared id
// (sharedChannelID) when conversations.info shows that channel to the
// connection's token. Otherwise it returns cause; a look-up that says
// nothing about the channel (a rate limit, Slack trouble) returns its own
// error, so the page is retried rather than the channel found lost.
func (c *Connector) movedChannel(ctx context.Context, s *session, ch string, cause error) (string, error) {
	to, ok := sharedChannelID(ch)
	if !ok || slackCode(cause) != "channel_not_found" {
		return "", cause
	}
	var v struct {
		Channel struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"channel"`
	}
	err := c.call(ctx, s.hc, "conversations.info", url.Values{"channel": {to}}, &v)
	switch k := connectors.Kind(err); {
	case err == nil && v.Channel.ID == to:
		c.names.put(s.team, to, v.Channel.Name, s.now)
		return to, nil
	case err == nil || k == connectors.ErrNotFound || k == connectors.ErrForbidden:
		return "", cause
	default:
		return "", err
	}
}

// MoveResource implements connectors.ResourceMover: the configured channel
// from is channel to now (a legacy private channel shared through Slack
// Connect). The config names to instead (trimmed, deduplicated and sorted
// like every config), and history:<from>'s cursor becomes history:<to>'s,
// so the channel is read from where it stood rather than backfilled again
// under new dedupe keys.
func (c *Connector) MoveResource(conn connectors.Connection, from, to string) (*connectors.ResourceMove, error) {
	cfg, err := parseConfig(conn.Config)
	if err != nil {
		return nil, fmt.Errorf("slack: move %s: %w", from, err)
	}
	if !slices.Contains(cfg.Channels, from) || !channelIDPattern.MatchString(to) {
		return nil, fmt.Errorf("slack: move %s to %q: %w: not a configured channel, or not a channel id", from, to, connectors.ErrInvalidConfig)
	}
	cfg.Channels = slices.Clone(cfg.Channels)
	cfg.Channels[slices.Index(cfg.Channels, from)] = to
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("slack: encode config: %w", err)
	}
	if raw, err = c.ValidateConfig(raw); err != nil {
		return nil, fmt.Errorf("slack: move %s: %w", from, err)
	}
	return &connectors.ResourceMove{Config: raw, Streams: map[string]string{historyPrefix + from: historyPrefix + to}}, nil
}
