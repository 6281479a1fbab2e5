package gmail

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/poblysh/poblysh/connectors"
)

// Cursor is the stored position of a label's stream.
//
//	{}                                                start: nothing read yet
//	{"backfill":true,"history_id":"41235","at":1748649600000,"page_token":"0987…","after":1746057600000}
//	                                                  backfilling with messages.list; history_id was
//	                                                  the mailbox's when the backfill began, at
//	{"history_id":"41290","at":1748653200000,"page_token":"…"}
//	                                                  in the middle of an incremental pass
//	{"history_id":"41302","at":1748656800000}        at rest: the next pass reads history.list from it
//
// The backfill takes the mailbox's history id first, so what arrives while
// it runs is read by the first incremental pass (dedupe keys drop what the
// backfill already stored).
type Cursor struct {
	Backfill  bool   `json:"backfill,omitempty"`
	HistoryID string `json:"history_id,omitempty"`
	// At is when HistoryID was the mailbox's (epoch ms, taken before the
	// call that answered it): every message received before it was read,
	// or is older than the backfill window.
	// When history.list no longer accepts the id, the backfill that
	// replaces it reaches back to At. Cursors stored before At existed
	// have none, and resync as before (resyncFrom).
	At        int64  `json:"at,omitempty"`
	PageToken string `json:"page_token,omitempty"`
	// After is the backfill window's start (internalDate, epoch ms).
	After int64 `json:"after,omitempty"`
}

// resyncMargin is how much before a cursor's At the backfill that replaces
// an expired history id starts: room for the clocks of Gmail and this
// service to differ. Dedupe keys drop what is read twice.
const resyncMargin = time.Hour

// decodeCursor reads a stored cursor; nil, "" and null are the start. A
// cursor that does not decode is treated as expired so the engine resyncs.
func decodeCursor(raw json.RawMessage) (Cursor, error) {
	var c Cursor
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return c, nil
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return Cursor{}, fmt.Errorf("gmail: %w: stored cursor does not decode", connectors.ErrCursorExpired)
	}
	if c.HistoryID != "" {
		if _, err := strconv.ParseUint(c.HistoryID, 10, 64); err != nil {
			return Cursor{}, fmt.Errorf("gmail: %w: stored history id is not a number", connectors.ErrCursorExpired)
		}
	}
	return c, nil
}

func (c Cursor) encode() json.RawMessage {
	b, _ := json.Marshal(c) // strings and numbers: cannot fail
	return b
}

// pass is one FetchPage of a label's stream.
type pass struct {
	c     *Connector
	ctx   context.Context
	hc    *http.Client
	conn  connectors.Connection
	cfg   Config
	label string
	// mailbox is the connected address now (context, the actor of sent
	// mail, thread URLs, the press detector's own account).
	mailbox string
	// key is the address dedupe keys name: the one first connected
	// (mailboxKey), which a Workspace rename does not change.
	key string
	// incremental is true for history passes: a message there is news.
	incremental bool
	page        *connectors.Page
	now         time.Time
	// mem is what the connection stored (nil: nothing known).
	mem connectors.Memory
	// threads are the threads this pass read (threads.get), by id.
	threads map[string]threadRead
	// started are the threads whose email.thread_started is stored or on
	// this page.
	started map[string]bool
}

// FetchPage reads one page of a label's stream: messages.list pages
// (newest first) until one reaches past the backfill window, then
// history.list from the history id taken when the backfill began.
//
// A 404 from history.list (the id is too old: "typically valid for at
// least a week", sometimes hours) starts a backfill at once, in this
// page, whose window reaches back to where the cursor stood (resyncFrom):
// the mail that arrived since the last pass, before the usual window,
// is read too. It derives the same dedupe keys, so nothing is stored
// twice. A cursor that does not say when it stood (stored before it did)
// surfaces ErrCursorExpired as before: the engine clears it and the
// backfill runs over the usual window.
func (c *Connector) FetchPage(ctx context.Context, req connectors.PageRequest) (*connectors.Page, error) {
	label, err := labelOfStream(req.Stream)
	if err != nil {
		return nil, err
	}
	cfg, err := config(req.Connection)
	if err != nil {
		return nil, err
	}
	cur, err := decodeCursor(req.Cursor)
	if err != nil {
		return nil, err
	}
	p := &pass{c: c, ctx: ctx, hc: req.HTTP, conn: req.Connection, cfg: cfg, label: label,
		mailbox: mailboxOf(req.Connection), key: mailboxKey(req.Connection.Account), page: &connectors.Page{}, now: req.Now.UTC(),
		mem: req.Memory, started: map[string]bool{}}
	if p.mailbox == "" {
		// A connection without the email in its account (never written
		// since accounts are keyed by subject): ask the mailbox.
		if p.mailbox, _, err = c.profile(ctx, req.HTTP); err != nil {
			return nil, fmt.Errorf("gmail: %s: %w", req.Stream, err)
		}
	}
	if p.key == "" {
		p.key = p.mailbox
	}
	var next Cursor
	switch {
	case cur.HistoryID == "" || cur.Backfill:
		next, err = p.backfill(cur)
	default:
		p.incremental = true
		next, err = p.incrementalPage(cur)
		if connectors.Kind(err) == connectors.ErrCursorExpired && cur.At != 0 {
			p.incremental, p.page = false, &connectors.Page{}
			if next, err = p.startBackfill(p.resyncFrom(cur.At)); err == nil {
				next, err = p.backfill(next)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("gmail: %s: %w", req.Stream, err)
	}
	p.page.Next = next.encode()
	return p.page, nil
}

// startBackfill is the cursor of a backfill whose window starts at from:
// the mailbox's history id comes first, so what arrives meanwhile is read
// by the first incremental pass.
func (p *pass) startBackfill(from time.Time) (Cursor, error) {
	_, hid, err := p.c.profile(p.ctx, p.hc)
	if err != nil {
		return Cursor{}, err
	}
	return Cursor{Backfill: true, HistoryID: hid, At: p.now.UnixMilli(), After: from.UnixMilli()}, nil
}

// resyncFrom is where the backfill that replaces an expired history id
// starts: the usual window's start (backfill_days back from now), or, when
// the cursor stood before it, an hour (resyncMargin) before the cursor's
// at, so no mail between the last pass and the window is lost. It reaches
// back at most 365 days (the longest window a connection may ask for): a
// connection paused for longer reads the last year, not all of it.
func (p *pass) resyncFrom(at int64) time.Time {
	from := p.now.AddDate(0, 0, -p.c.backfillWindow(p.cfg))
	if t := time.UnixMilli(at).Add(-resyncMargin); t.Before(from) {
		from = t
	}
	return latest(from, p.now.AddDate(0, 0, -maxBackfillDays))
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// backfill reads one messages.list page of the label within the window; a
// cursor without a history id starts a backfill over the usual window.
func (p *pass) backfill(cur Cursor) (Cursor, error) {
	if cur.HistoryID == "" {
		var err error
		if cur, err = p.startBackfill(p.now.AddDate(0, 0, -p.c.backfillWindow(p.cfg))); err != nil {
			return cur, err
		}
	}
	refs, next, err := p.c.listMessages(p.ctx, p.hc, p.label, cur.PageToken)
	if err != nil {
		return cur, err
	}
	p.page.Items = len(refs)
	past := false
	for _, r := range refs {
		m, err := p.c.getMessage(p.ctx, p.hc, r.ID)
		if connectors.Kind(err) == connectors.ErrNotFound {
			continue // deleted since it was listed
		}
		if err != nil {
			return cur, err
		}
		if notMail(m.LabelIDs) {
			continue // moved to Spam or Trash since it was listed
		}
		if internalDate(m).UnixMilli() < cur.After {
			past = true // listed newest first: the window ends here
			continue
		}
		if err := p.normalize(m); err != nil {
			return cur, err
		}
	}
	if next != "" && !past {
		cur.PageToken = next
		return cur, nil
	}
	p.page.Done = true
	return Cursor{HistoryID: cur.HistoryID, At: cur.At}, nil
}

// incrementalPage reads one history.list page: messages added to the
// mailbox with the label, and messages the label was added to (read from
// labelsAdded, whose labelIds say which labels the record added).
//
// A messagesAdded record counts as it comes, unless its message is a
// draft or in Spam or Trash (notMail: never mail, whatever the query
// matched, and never listed by the backfill): the query is filtered by
// the label already, and the message labelIds the record carries are the
// message's labels now, not at arrival, so requiring the label there
// dropped mail archived before the pass (INBOX gone) and the cursor moved
// past it for good. Read either way Gmail may apply the filter (the
// labels at the record's time, or today's), the record is the label's:
// its message arrived with the label, or has it now, and was added to the
// mailbox since the cursor. A labelsAdded record of a message with the
// label may have added other labels, so its own labelIds are checked.
func (p *pass) incrementalPage(cur Cursor) (Cursor, error) {
	h, err := p.c.history(p.ctx, p.hc, p.label, cur.HistoryID, cur.PageToken)
	if err != nil {
		return cur, err
	}
	var ids []string
	seen := map[string]bool{}
	add := func(id string) {
		if id != "" && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for _, rec := range h.History {
		for _, a := range rec.MessagesAdded {
			if !notMail(a.Message.LabelIDs) {
				add(a.Message.ID)
			}
		}
		for _, a := range rec.LabelsAdded {
			if contains(a.LabelIDs, p.label) && !notMail(a.Message.LabelIDs) {
				add(a.Message.ID)
			}
		}
	}
	p.page.Items = len(h.History)
	msgs := make([]*message, 0, len(ids))
	for _, id := range ids {
		m, err := p.c.getMessage(p.ctx, p.hc, id)
		if connectors.Kind(err) == connectors.ErrNotFound {
			continue // deleted since
		}
		if err != nil {
			return cur, err
		}
		if notMail(m.LabelIDs) {
			continue // its labels when read, which the record's may predate
		}
		msgs = append(msgs, m)
	}
	if err := p.recallStarted(msgs); err != nil {
		return cur, err
	}
	for _, m := range msgs {
		if err := p.normalize(m); err != nil {
			return cur, err
		}
	}
	if h.NextPageToken != "" {
		return Cursor{HistoryID: cur.HistoryID, At: cur.At, PageToken: h.NextPageToken}, nil
	}
	p.page.Done = true
	if h.HistoryID == "" {
		return Cursor{HistoryID: cur.HistoryID, At: cur.At}, nil
	}
	return Cursor{HistoryID: h.HistoryID, At: p.now.UnixMilli()}, nil
}

// internalDate is when Gmail received (or sent) the message.
func internalDate(m *message) time.Time {
	ms, err := strconv.ParseInt(m.InternalDate, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
