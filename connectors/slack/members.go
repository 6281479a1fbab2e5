package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/poblysh/poblysh/connectors"
)

// membersCursor is the cursor of the "channels" stream: every channel the
// bot is a member of. Each sync pass first lists the bot's channels with
// users.conversations (one page per FetchPage; for an org-wide install,
// first the granted workspaces with auth.teams.list, then each workspace's
// channels), then reads each channel in turn with the same per-channel
// cursor as a history:<channel> stream. At rest only Channels is set,
// holding each channel's cursor.
//
// The listing includes archived channels (exclude_archived=false): an
// archived channel's history stays readable
// (https://docs.slack.dev/reference/methods/conversations.archive/), so
// one the stream already holds a cursor for is read once more, to its
// end, for what was posted between the last pass and its archival; its
// cursor is then dropped, and later passes leave it out like an archived
// channel never read (it takes no new messages). Were it unarchived, it
// would be backfilled again like a channel the bot joins (dedupe keys keep
// that idempotent).
type membersCursor struct {
	V int `json:"v"`
	// Listing is true while the bot's channels are being listed; List is
	// the users.conversations cursor.
	Listing bool   `json:"listing,omitempty"`
	List    string `json:"list,omitempty"`
	// Org installs: TeamsListed is set once auth.teams.list (cursor
	// TeamsPage) has been read; Teams are the workspaces whose channels are
	// still to list, the first one in progress.
	TeamsListed bool     `json:"teams_listed,omitempty"`
	TeamsPage   string   `json:"teams_page,omitempty"`
	Teams       []string `json:"teams,omitempty"`
	// Pending are the member channels still to read in this pass; the
	// first one is in progress.
	Pending []string `json:"pending,omitempty"`
	// Archived are the Pending channels listed as archived, queued only
	// to read them to their end: they route nothing, and once read their
	// cursors go.
	Archived []string `json:"archived,omitempty"`
	// Channels holds each member channel's cursor.
	Channels map[string]*chanCursor `json:"channels,omitempty"`
}

// membersRef is the resource of a connection reading every channel the bot
// is a member of: those channels, as its own token lists them.
const membersRef = "channels"

// membersResource is the resource of the channels the bot is a member of
// (ids, from users.conversations, archived ones left out: they take no
// new messages or reactions), routed by
// channel:<id> each. Reactions are routed by their channel only
// (parseDeliveryWith): Slack's reaction_added names no channel type
// (https://docs.slack.dev/reference/events/reaction_added/), and a group
// DM's id starts with G like a legacy private channel's, so the install
// key would route a group DM's reactions to the connection too.
// users.conversations lists public and private channels only
// (memberTypes), never DMs or group DMs. One route per channel: a bot in
// 5,000 channels routes 5,000 keys, recorded once per listing that
// changes them.
func membersResource(acct connectors.Account, ids []string) connectors.Resource {
	keys := make([]string, 0, len(ids))
	for _, id := range ids {
		keys = append(keys, channelKey(id))
	}
	slices.Sort(keys)
	return connectors.Resource{Ref: membersRef, ID: acct.ID, Name: acct.Name, RouteKeys: slices.Compact(keys)}
}

// listPageSize is the users.conversations and auth.teams.list limit (Slack
// recommends at most 200).
const listPageSize = 200

func (c *Connector) fetchMembers(ctx context.Context, s *session, raw json.RawMessage) (*connectors.Page, error) {
	var cur membersCursor
	if err := decodeCursor(raw, &cur, &cur.V); err != nil {
		return nil, err
	}
	if cur.Channels == nil {
		cur.Channels = map[string]*chanCursor{}
	}
	if !cur.Listing && len(cur.Pending) == 0 {
		cur.Listing, cur.List, cur.Archived = true, "", nil
		cur.TeamsListed, cur.TeamsPage, cur.Teams = false, "", nil
	}
	page := &connectors.Page{}
	if cur.Listing {
		n, err := c.listMembers(ctx, s, &cur)
		if err != nil {
			return nil, err
		}
		page.Items = n
		if !cur.Listing {
			// The listing's last page: the channels as listed, which
			// the engine routes (membersResource).
			r := membersResource(s.acct, slices.DeleteFunc(slices.Clone(cur.Pending), func(id string) bool {
				return slices.Contains(cur.Archived, id)
			}))
			page.Resource = &r
		}
	} else {
		ch := cur.Pending[0]
		cc := cur.Channels[ch]
		if cc == nil {
			cc = &chanCursor{}
			cur.Channels[ch] = cc
		}
		sigs, items, done, err := c.step(ctx, s, ch, cc)
		archived := slices.Contains(cur.Archived, ch)
		switch code := slackCode(err); {
		case code == "not_in_channel" || code == "channel_not_found":
			// The bot left the channel, it was deleted, or (a legacy
			// private channel shared through Slack Connect) its id
			// changed since the listing: skip it for this pass instead
			// of failing the sync. Its cursor stays until the next
			// listing ends, which drops it or carries it to the
			// channel's new id (endListing).
			done, archived = true, false
		case err != nil:
			return nil, err
		}
		if done && archived {
			// An archived channel read to its end: nothing more comes.
			delete(cur.Channels, ch)
		}
		if done {
			cur.Pending = cur.Pending[1:]
			cur.Archived = slices.DeleteFunc(cur.Archived, func(id string) bool { return id == ch })
		}
		page.Signals, page.Items = sigs, items
	}
	page.Done = !cur.Listing && len(cur.Pending) == 0
	next, err := json.Marshal(cur)
	if err != nil {
		return nil, fmt.Errorf("slack: encode cursor: %w", err)
	}
	page.Next = next
	return page, nil
}

// listMembers makes one listing call: an auth.teams.list page (org-wide
// installs, until the granted workspaces are known) or a
// users.conversations page, whose channels are queued: every channel not
// archived, and an archived one only when the stream holds its cursor (to
// read what came before the archival). When the listing
// ends, cursors of channels the bot left are dropped (re-joining one
// backfills it again; dedupe keys keep that idempotent), and that of a
// legacy private channel listed under its new id is carried over to it
// (endListing).
func (c *Connector) listMembers(ctx context.Context, s *session, cur *membersCursor) (int, error) {
	org := orgInstall(s.acct)
	if org && !cur.TeamsListed {
		teams, next, err := c.teamsPage(ctx, s.hc, cur.TeamsPage)
		if err != nil {
			return 0, err
		}
		for _, t := range teams {
			if !slices.Contains(cur.Teams, t) {
				cur.Teams = append(cur.Teams, t)
			}
		}
		cur.TeamsPage = next
		if next == "" {
			cur.TeamsListed = true
			if len(cur.Teams) == 0 {
				c.endListing(cur)
			}
		}
		return len(teams), nil
	}
	team := ""
	if org {
		team = cur.Teams[0]
	}
	chans, next, err := memberPage(ctx, s.api, team, cur.List, false)
	if err != nil {
		return 0, err
	}
	for _, ch := range chans {
		c.names.put(s.team, ch.ID, ch.Name, s.now) // named by the listing, for free
		switch {
		case slices.Contains(cur.Pending, ch.ID):
		case !ch.IsArchived:
			cur.Pending = append(cur.Pending, ch.ID)
		case cur.Channels[ch.ID] != nil:
			cur.Pending = append(cur.Pending, ch.ID)
			cur.Archived = append(cur.Archived, ch.ID)
		}
	}
	cur.List = next
	if next == "" {
		if org {
			cur.Teams = cur.Teams[1:]
		}
		if len(cur.Teams) == 0 {
			c.endListing(cur)
		}
	}
	return len(chans), nil
}

// endListing closes a listing: cursors of channels no longer listed go.
// A legacy private channel (G…) no longer listed whose shared id
// (sharedChannelID) is listed, without a cursor of its own, was shared
// through Slack Connect: its cursor moves to the new id, so the pass reads
// what came after it rather than its whole history again under new
// dedupe keys (msg:<channel>:<ts>), which would store every message twice.
func (c *Connector) endListing(cur *membersCursor) {
	cur.Listing, cur.TeamsListed, cur.TeamsPage, cur.Teams = false, false, "", nil
	for id, cc := range cur.Channels {
		if slices.Contains(cur.Pending, id) {
			continue
		}
		if to, ok := sharedChannelID(id); ok && slices.Contains(cur.Pending, to) && cur.Channels[to] == nil {
			cur.Channels[to] = cc
		}
		delete(cur.Channels, id)
	}
}
