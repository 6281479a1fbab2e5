package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/poblysh/poblysh/connectors"
)

// cursorVersion is bumped when the cursor format changes; an older cursor
// is then reported as expired and the engine resyncs the stream.
const cursorVersion = 1

// chanCursor is one channel's sync state. At rest (the cursor stored with a
// Done page) only HW is set. The next FetchPage starts a run reading
// conversations.history after HW, one API call per page; Run records the
// run's progress so a crash resumes mid-run.
type chanCursor struct {
	// HW is the high-water mark: the newest ts read by a finished run.
	HW  string `json:"hw,omitempty"`
	Run *run   `json:"run,omitempty"`
}

// run is a backfill (HW empty) or incremental read of one channel.
type run struct {
	// Oldest is the exclusive lower bound passed to conversations.history:
	// HW, the BACKFILL_DAYS bound, or "" for the whole history.
	Oldest string `json:"oldest,omitempty"`
	// Page is the next_cursor of the last conversations.history answer.
	Page string `json:"page,omitempty"`
	// Ended is set once history has no further page; threads may remain.
	Ended bool `json:"ended,omitempty"`
	// High is the newest ts seen in this run; it becomes HW at the end.
	High string `json:"high,omitempty"`
	// Threads are thread parents seen in history pages whose replies are
	// still to read with conversations.replies, with their reply cursor.
	Threads []thread `json:"threads,omitempty"`
}

type thread struct {
	TS   string `json:"ts"`
	Page string `json:"page,omitempty"`
}

// historyCursor is the cursor of a history:<channel> stream.
type historyCursor struct {
	V int `json:"v"`
	chanCursor
}

// decodeCursor reads a stored cursor; nil starts a backfill.
func decodeCursor(raw json.RawMessage, v any, version *int) error {
	if t := bytes.TrimSpace(raw); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		*version = cursorVersion
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil || *version != cursorVersion {
		return fmt.Errorf("slack: %w: unreadable or outdated cursor", connectors.ErrCursorExpired)
	}
	return nil
}

// session is what one FetchPage call uses.
type session struct {
	api  *slackapi.Client
	doer *doer
	team string
	at   where // Channel is set per call
	now  time.Time
}

// FetchPage implements connectors.Syncer. Each call makes exactly one Web
// API call (a history page, a replies page, or a conversations.list page),
// so the stored cursor always says precisely what is left.
func (c *Connector) FetchPage(ctx context.Context, req connectors.PageRequest) (*connectors.Page, error) {
	api, d := c.api(req.HTTP)
	s := &session{api: api, doer: d, team: req.Connection.Account.ID, now: req.Now,
		at: where{Domain: req.Connection.Account.Metadata["domain"]}}
	if s.now.IsZero() {
		s.now = time.Now()
	}
	if req.Stream == membersStream {
		return c.fetchMembers(ctx, s, req.Cursor)
	}
	ch, ok := strings.CutPrefix(req.Stream, historyPrefix)
	if !ok || !channelIDPattern.MatchString(ch) {
		return nil, fmt.Errorf("slack: %w", &connectors.ConfigError{Fields: map[string]string{"stream": fmt.Sprintf("unknown stream %q", req.Stream)}})
	}
	var cur historyCursor
	if err := decodeCursor(req.Cursor, &cur, &cur.V); err != nil {
		return nil, err
	}
	sigs, items, done, err := c.step(ctx, s, ch, &cur.chanCursor)
	if err != nil {
		return nil, err
	}
	next, err := json.Marshal(cur)
	if err != nil {
		return nil, fmt.Errorf("slack: encode cursor: %w", err)
	}
	return &connectors.Page{Signals: sigs, Items: items, Next: next, Done: done}, nil
}

// step makes one API call for channel ch and advances cur. done is true
// when the run finished; cur is then the resting cursor.
func (c *Connector) step(ctx context.Context, s *session, ch string, cur *chanCursor) ([]connectors.Signal, int, bool, error) {
	if cur.Run == nil {
		r := &run{Oldest: cur.HW}
		if cur.HW == "" && c.backfillDays > 0 {
			r.Oldest = fmt.Sprintf("%d.000000", s.now.Add(-time.Duration(c.backfillDays)*24*time.Hour).Unix())
		}
		cur.Run = r
	}
	r := cur.Run
	var (
		sigs  []connectors.Signal
		items int
		err   error
	)
	switch {
	case len(r.Threads) > 0:
		sigs, items, err = c.readReplies(ctx, s, ch, r)
	case !r.Ended:
		sigs, items, err = c.readHistory(ctx, s, ch, cur.HW, r)
	}
	if err != nil {
		return nil, 0, false, err
	}
	if !r.Ended || len(r.Threads) > 0 {
		return sigs, items, false, nil
	}
	if tsAfter(r.High, cur.HW) {
		cur.HW = r.High
	}
	cur.Run = nil
	return sigs, items, true, nil
}

// pace waits for the workspace's non-Marketplace history/replies budget.
// A wait longer than ctx allows is returned as a rate limit carrying the
// delay, so the engine retries the page when the budget is back.
func (c *Connector) pace(ctx context.Context, team string) error {
	l := c.slowLimiter(team)
	if l == nil {
		return nil
	}
	r := l.Reserve()
	d := r.Delay()
	if d == 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		r.Cancel()
		return fmt.Errorf("slack: %w", &connectors.RateLimited{RetryAfter: d, Reason: "non-Marketplace limit of 1 history call per minute"})
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		r.Cancel()
		return fmt.Errorf("slack: waiting for the non-Marketplace limit: %w", ctx.Err())
	}
}

// readHistory reads one conversations.history page of the run, newest
// first, and queues the threads with replies newer than hw.
func (c *Connector) readHistory(ctx context.Context, s *session, ch, hw string, r *run) ([]connectors.Signal, int, error) {
	if err := c.pace(ctx, s.team); err != nil {
		return nil, 0, err
	}
	resp, err := s.api.GetConversationHistoryContext(ctx, &slackapi.GetConversationHistoryParameters{
		ChannelID: ch, Cursor: r.Page, Oldest: r.Oldest, Limit: c.pageSize,
	})
	if err != nil {
		return nil, 0, mapError("conversations.history "+ch, err)
	}
	raws, err := s.doer.rawMessages(len(resp.Messages))
	if err != nil {
		return nil, 0, fmt.Errorf("slack: conversations.history %s: %w", ch, err)
	}
	w := s.at
	w.Channel = ch
	var out []connectors.Signal
	for i := range resp.Messages {
		m := &resp.Messages[i].Msg
		sigs, err := messageSignals(w, m, raws[i])
		if err != nil {
			return nil, 0, err
		}
		out = append(out, sigs...)
		if tsAfter(m.Timestamp, r.High) {
			r.High = m.Timestamp
		}
		if m.ReplyCount > 0 && m.ThreadTimestamp == m.Timestamp && (m.LatestReply == "" || tsAfter(m.LatestReply, hw)) {
			r.Threads = append(r.Threads, thread{TS: m.Timestamp})
		}
	}
	r.Page = resp.ResponseMetaData.NextCursor
	r.Ended = r.Page == ""
	return out, len(resp.Messages), nil
}

// readReplies reads one conversations.replies page of the first queued
// thread. The parent (already read from history) and thread_broadcast
// replies (listed in history too) are skipped so every message is
// normalized once per run.
func (c *Connector) readReplies(ctx context.Context, s *session, ch string, r *run) ([]connectors.Signal, int, error) {
	t := &r.Threads[0]
	if err := c.pace(ctx, s.team); err != nil {
		return nil, 0, err
	}
	msgs, _, next, err := s.api.GetConversationRepliesContext(ctx, &slackapi.GetConversationRepliesParameters{
		ChannelID: ch, Timestamp: t.TS, Cursor: t.Page, Limit: c.pageSize,
	})
	if err != nil {
		err = mapError("conversations.replies "+ch+" "+t.TS, err)
		if slackCode(err) == "thread_not_found" { // the parent was deleted meanwhile
			r.Threads = r.Threads[1:]
			return nil, 0, nil
		}
		return nil, 0, err
	}
	raws, err := s.doer.rawMessages(len(msgs))
	if err != nil {
		return nil, 0, fmt.Errorf("slack: conversations.replies %s: %w", ch, err)
	}
	w := s.at
	w.Channel = ch
	var out []connectors.Signal
	for i := range msgs {
		m := &msgs[i].Msg
		if m.Timestamp == t.TS || m.SubType == "thread_broadcast" {
			continue
		}
		sigs, err := messageSignals(w, m, raws[i])
		if err != nil {
			return nil, 0, err
		}
		out = append(out, sigs...)
	}
	if next == "" {
		r.Threads = r.Threads[1:]
	} else {
		t.Page = next
	}
	return out, len(msgs), nil
}
