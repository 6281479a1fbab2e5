package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	slackapi "github.com/slack-go/slack"

	"github.com/poblysh/poblysh/connectors"
)

// membersCursor is the cursor of the "channels" stream: every channel the
// bot is a member of. Each sync pass first lists the member channels with
// conversations.list (one page per FetchPage), then reads each channel in
// turn with the same per-channel cursor as a history:<channel> stream.
// At rest only Channels is set, holding each channel's resting cursor.
type membersCursor struct {
	V int `json:"v"`
	// Listing is true while conversations.list pages are being read; List
	// is its next_cursor.
	Listing bool   `json:"listing,omitempty"`
	List    string `json:"list,omitempty"`
	// Pending are the member channels still to read in this pass; the
	// first one is in progress.
	Pending []string `json:"pending,omitempty"`
	// Channels holds each member channel's cursor.
	Channels map[string]*chanCursor `json:"channels,omitempty"`
}

// listPageSize is the conversations.list limit (Slack recommends ≤ 200).
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
		cur.Listing, cur.List = true, ""
	}
	page := &connectors.Page{}
	if cur.Listing {
		n, err := c.listMembers(ctx, s, &cur)
		if err != nil {
			return nil, err
		}
		page.Items = n
	} else {
		ch := cur.Pending[0]
		cc := cur.Channels[ch]
		if cc == nil {
			cc = &chanCursor{}
			cur.Channels[ch] = cc
		}
		sigs, items, done, err := c.step(ctx, s, ch, cc)
		switch code := slackCode(err); {
		case code == "not_in_channel" || code == "channel_not_found":
			// The bot left the channel (or it was deleted) since the
			// listing: drop it for this pass instead of failing the sync.
			delete(cur.Channels, ch)
			done = true
		case err != nil:
			return nil, err
		}
		if done {
			cur.Pending = cur.Pending[1:]
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

// listMembers reads one conversations.list page and queues the member
// channels. When the listing ends, cursors of channels the bot left are
// dropped (re-joining one backfills it again; dedupe keys keep that
// idempotent).
func (c *Connector) listMembers(ctx context.Context, s *session, cur *membersCursor) (int, error) {
	chans, next, err := s.api.GetConversationsContext(ctx, &slackapi.GetConversationsParameters{
		Cursor: cur.List, ExcludeArchived: true, Limit: listPageSize,
		Types: []string{"public_channel", "private_channel"},
	})
	if err != nil {
		return 0, mapError("conversations.list", err)
	}
	for _, ch := range chans {
		if ch.IsMember && !ch.IsArchived && !slices.Contains(cur.Pending, ch.ID) {
			cur.Pending = append(cur.Pending, ch.ID)
		}
	}
	cur.List = next
	if next == "" {
		cur.Listing = false
		for id := range cur.Channels {
			if !slices.Contains(cur.Pending, id) {
				delete(cur.Channels, id)
			}
		}
	}
	return len(chans), nil
}
