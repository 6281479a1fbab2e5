package zohocliq

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/poblysh/poblysh/connectors"
)

// cursorVersion is bumped when a cursor format changes; an older cursor
// is then reported expired and the engine resyncs the stream.
const cursorVersion = 1

// chanCursor is a messages:<ref> stream's cursor:
//
//	{"v":1,"chat":"CT_1207124540483314854_20071845","name":"#launch-room",
//	 "hw":1773813859592,"hw_ids":["1773813859592_51531973059"],
//	 "reactions":{"1773813000000_51531973050":{"t":1773813000000,"r":["👍|60040396507"]}},
//	 "pass":{"from":1771221859592,"to":1773900000000,"high":1773813859592,"edge":["…"]}}
//
// hw is the newest message time emitted (hw_ids: the ids at that
// millisecond), or the window's start of a first pass that read nothing,
// so a later pass emits newer messages only. reactions holds,
// for the messages of the reaction window, the (emoji|user) pairs emitted,
// so a pass re-reading the window emits new reactions only. pass is the
// window being read, newest first: to shrinks page by page (edge: ids at
// the page boundary, already handled).
type chanCursor struct {
	V         int                 `json:"v"`
	Chat      string              `json:"chat,omitempty"`
	Name      string              `json:"name,omitempty"`
	HW        int64               `json:"hw,omitempty"`
	HWIDs     []string            `json:"hw_ids,omitempty"`
	Reactions map[string]reactSet `json:"reactions,omitempty"`
	Pass      *window             `json:"pass,omitempty"`
}

type reactSet struct {
	T int64    `json:"t"`
	R []string `json:"r"`
}

type window struct {
	From    int64    `json:"from"`
	To      int64    `json:"to"`
	High    int64    `json:"high,omitempty"`
	HighIDs []string `json:"high_ids,omitempty"`
	Edge    []string `json:"edge,omitempty"`
	// Asc is set once a full page shows Cliq answering oldest first.
	Asc bool `json:"asc,omitempty"`
}

func decodeCursor(raw json.RawMessage, v any, version *int) error {
	if t := bytes.TrimSpace(raw); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		*version = cursorVersion
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil || *version != cursorVersion {
		return fmt.Errorf("zoho-cliq: %w: unreadable or outdated cursor", connectors.ErrCursorExpired)
	}
	return nil
}

// FetchPage implements connectors.Syncer: one API call per page (plus, at
// the start of a channel's first pass, the channel listing that resolves
// its chat id).
func (c *Connector) FetchPage(ctx context.Context, req connectors.PageRequest) (*connectors.Page, error) {
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	if req.Stream == mentionsStream {
		return c.fetchMentions(ctx, req, now)
	}
	ref, ok := c.StreamResource(req.Stream)
	if !ok {
		return nil, fmt.Errorf("zoho-cliq: %w", &connectors.ConfigError{Fields: map[string]string{"stream": fmt.Sprintf("unknown stream %q", req.Stream)}})
	}
	var cur chanCursor
	if err := decodeCursor(req.Cursor, &cur, &cur.V); err != nil {
		return nil, err
	}
	if cur.Chat == "" {
		joined, err := c.joinedChannels(ctx, req.HTTP, req.Connection.Account)
		if err != nil {
			return nil, err
		}
		ch, ok := findChannel(joined, ref)
		if !ok {
			return nil, fmt.Errorf("zoho-cliq: %s: %w: %s", ref, connectors.ErrNotFound, notMember)
		}
		cur.Chat, cur.Name = ch.ChatID.String(), ch.displayName()
	}
	sigs, items, done, err := c.readMessages(ctx, req, &cur, now)
	if err != nil {
		return nil, err
	}
	next, err := json.Marshal(cur)
	if err != nil {
		return nil, fmt.Errorf("zoho-cliq: encode cursor: %w", err)
	}
	return &connectors.Page{Signals: sigs, Items: items, Next: next, Done: done}, nil
}

// readMessages reads one page of the channel's current window. A pass
// reads [hw − reaction window, now] (a backfill: the last BACKFILL_DAYS),
// newest first: new messages become message.posted, new (emoji, user)
// pairs on any message of the window reaction.added.
func (c *Connector) readMessages(ctx context.Context, req connectors.PageRequest, cur *chanCursor, now time.Time) ([]connectors.Signal, int, bool, error) {
	if cur.Pass == nil {
		from := now.Add(-c.backfill).UnixMilli()
		if cur.HW > 0 {
			from = cur.HW - c.reactionWindow.Milliseconds()
		}
		cur.Pass = &window{From: from, To: now.UnixMilli()}
	}
	p := cur.Pass
	q := url.Values{"fromtime": {strconv.FormatInt(p.From, 10)}, "totime": {strconv.FormatInt(p.To, 10)},
		"limit": {strconv.Itoa(c.pageSize)}}
	var ans struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := c.get(ctx, req.HTTP, req.Connection.Account, apiMessages, "/api/v2/chats/"+url.PathEscape(cur.Chat)+"/messages", q, &ans); err != nil {
		return nil, 0, false, err
	}
	w := where{Host: c.webHost(req.Connection.Account), Chat: cur.Chat, ChatName: cur.Name}
	if cur.Reactions == nil {
		cur.Reactions = map[string]reactSet{}
	}
	var out []connectors.Signal
	var times []int64
	var ids []string
	progress := false
	for _, raw := range ans.Data {
		var m message
		if json.Unmarshal(raw, &m) != nil {
			continue
		}
		at, ok := m.at()
		if !ok || m.ID == "" {
			continue
		}
		ms, id := at.UnixMilli(), m.ID.String()
		times, ids = append(times, ms), append(ids, id)
		if ms < p.From || ms > p.To || slices.Contains(p.Edge, id) {
			continue
		}
		progress = true
		if ms > cur.HW || (ms == cur.HW && !slices.Contains(cur.HWIDs, id)) {
			if s, ok := messageSignal(w, &m, raw); ok {
				out = append(out, s)
			}
		}
		switch {
		case ms > p.High:
			p.High, p.HighIDs = ms, []string{id}
		case ms == p.High && !slices.Contains(p.HighIDs, id):
			p.HighIDs = append(p.HighIDs, id)
		}
		out = append(out, c.newReactions(w, &m, raw, ms, cur, req.Now)...)
	}
	if len(ans.Data) < c.pageSize {
		c.finishPass(cur)
		return out, len(ans.Data), true, nil
	}
	// A full page: more of the window remains. Cliq documents no order, so
	// the page's own order decides which bound moves; a page with no
	// message it could read says nothing about where the rest is.
	if len(times) == 0 {
		return nil, 0, false, fmt.Errorf("zoho-cliq: messages of %s: %w: a full page of %d messages without a readable id or time",
			cur.Chat, connectors.ErrTransient, len(ans.Data))
	}
	first, last := times[0], times[len(times)-1]
	if first < last {
		p.Asc = true
	}
	bound := last
	var edge []string
	for i, t := range times {
		if t == bound {
			edge = append(edge, ids[i])
		}
	}
	if p.Asc {
		p.From = bound
	} else {
		p.To = bound
	}
	p.Edge = edge
	if !progress { // a whole page at one millisecond: step past it
		if p.Asc {
			p.From = bound + 1
		} else {
			p.To = bound - 1
		}
		p.Edge = nil
	}
	if p.From > p.To {
		c.finishPass(cur)
		return out, len(ans.Data), true, nil
	}
	return out, len(ans.Data), false, nil
}

// newReactions emits the message's (emoji, user) pairs not emitted before
// and records them.
func (c *Connector) newReactions(w where, m *message, raw json.RawMessage, ms int64, cur *chanCursor, seen time.Time) []connectors.Signal {
	rs := m.reactions()
	if len(rs) == 0 {
		return nil
	}
	if seen.IsZero() {
		seen = time.Now()
	}
	id := m.ID.String()
	set := cur.Reactions[id]
	set.T = ms
	var out []connectors.Signal
	for _, r := range rs {
		pair := r.Emoji + "|" + r.UserID
		if slices.Contains(set.R, pair) {
			continue
		}
		set.R = append(set.R, pair)
		out = append(out, reactionSignal(w, m, r, seen, raw))
	}
	cur.Reactions[id] = set
	return out
}

// finishPass moves the high-water mark and keeps reaction records for the
// messages a next pass re-reads only.
func (c *Connector) finishPass(cur *chanCursor) {
	p := cur.Pass
	cur.Pass = nil
	switch {
	case p.High > cur.HW:
		cur.HW, cur.HWIDs = p.High, p.HighIDs
	case p.High == 0 && cur.HW == 0:
		// A first pass that read nothing (a channel quiet for longer
		// than BACKFILL_DAYS) keeps its window's start, so the next pass
		// goes on from it rather than from its own now − BACKFILL_DAYS,
		// which would lose what came between once it came later than
		// BACKFILL_DAYS after this one.
		cur.HW = min(p.From, p.To)
	case p.High == cur.HW:
		for _, id := range p.HighIDs {
			if !slices.Contains(cur.HWIDs, id) {
				cur.HWIDs = append(cur.HWIDs, id)
			}
		}
	}
	keep := cur.HW - c.reactionWindow.Milliseconds()
	for id, set := range cur.Reactions {
		if set.T < keep {
			delete(cur.Reactions, id)
		}
	}
	if len(cur.Reactions) == 0 {
		cur.Reactions = nil
	}
}
