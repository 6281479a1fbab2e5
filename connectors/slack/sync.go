package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
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
	// HW is the high-water mark: the newest ts read by a finished run,
	// or the BACKFILL_DAYS bound of a backfill that read nothing.
	HW  string `json:"hw,omitempty"`
	Run *run   `json:"run,omitempty"`
	// Replied maps a thread parent older than HW, whose replies a
	// thread_lookback read, to the newest reply read, so the thread is
	// read again only when it has newer ones. Entries older than the
	// lookback window are dropped at the end of a run.
	Replied map[string]string `json:"replied,omitempty"`
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
	hc   *http.Client
	acct connectors.Account
	team string // the account id: the workspace, or the org of an org-wide install
	at   where  // Channel is set per call
	now  time.Time
	// lookback is the connection's thread_lookback.
	lookback time.Duration
}

// FetchPage implements connectors.Syncer. Each call makes exactly one
// paginated Web API call (a history page, a replies page, or a listing
// page), plus the name look-ups its messages need (names.go), so the
// stored cursor always says precisely what is left.
func (c *Connector) FetchPage(ctx context.Context, req connectors.PageRequest) (*connectors.Page, error) {
	// Every call of the page is paced by its method's tier in the
	// account's budget (pace.go).
	hc := c.paced(req.HTTP, req.Connection.Account.ID)
	api, d := c.api(hc)
	s := &session{api: api, doer: d, hc: hc, acct: req.Connection.Account, team: req.Connection.Account.ID, now: req.Now,
		at: where{Domain: req.Connection.Account.Metadata["domain"]}}
	if s.now.IsZero() {
		s.now = time.Now()
	}
	cfg, err := parseConfig(req.Connection.Config)
	if err != nil {
		return nil, fmt.Errorf("slack: %w", err)
	}
	s.lookback = cfg.threadLookback()
	switch req.Stream {
	case membersStream:
		return c.fetchMembers(ctx, s, req.Cursor)
	case workspacesStream:
		return c.fetchWorkspaces(ctx, s, req.Cursor)
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
		// A legacy private channel shared through Slack Connect is at
		// its new id now (idchange.go): the engine follows it there.
		to, err := c.movedChannel(ctx, s, ch, err)
		if err != nil {
			return nil, err
		}
		return &connectors.Page{Moved: to, Next: req.Cursor}, nil
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
		// thread_lookback: an incremental run reads history back to the
		// window's start, so thread parents older than hw show their new
		// replies (latest_reply); messages up to hw yield nothing again.
		if from := fmt.Sprintf("%d.000000", s.now.Add(-s.lookback).Unix()); cur.HW != "" && s.lookback > 0 && tsAfter(cur.HW, from) {
			r.Oldest = from
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
		sigs, items, err = c.readReplies(ctx, s, ch, cur)
	case !r.Ended:
		sigs, items, err = c.readHistory(ctx, s, ch, cur)
	}
	if err != nil {
		return nil, 0, false, err
	}
	if !r.Ended || len(r.Threads) > 0 {
		return sigs, items, false, nil
	}
	if tsAfter(r.High, cur.HW) {
		cur.HW = r.High
	} else if cur.HW == "" && r.Oldest != "" {
		// A backfill bounded by BACKFILL_DAYS that read nothing keeps
		// its bound: later runs go on from it, not from their own
		// now − BACKFILL_DAYS, which would lose what a channel quiet for
		// longer than the window gets once a run comes more than
		// BACKFILL_DAYS after the last (a pause, needs_reauth).
		cur.HW = r.Oldest
	}
	from := fmt.Sprintf("%d.000000", s.now.Add(-s.lookback).Unix())
	for parent, newest := range cur.Replied {
		if s.lookback == 0 || !tsAfter(newest, from) {
			delete(cur.Replied, parent)
		}
	}
	if len(cur.Replied) == 0 {
		cur.Replied = nil
	}
	cur.Run = nil
	return sigs, items, true, nil
}

// pace waits for the workspace's non-Marketplace history/replies budget
// (1 call per minute, shared by every process like the tier budgets).
func (c *Connector) pace(ctx context.Context, team string) error {
	if !c.nonMarketplace {
		return nil
	}
	t := slow
	t.every = c.slowEvery
	return c.waitTurn(ctx, team, t)
}

// readHistory reads one conversations.history page of the run, newest
// first, and queues the threads with replies newer than hw.
func (c *Connector) readHistory(ctx context.Context, s *session, ch string, cur *chanCursor) ([]connectors.Signal, int, error) {
	hw, r := cur.HW, cur.Run
	if err := c.pace(ctx, s.team); err != nil {
		return nil, 0, err
	}
	resp, err := s.api.GetConversationHistoryContext(ctx, &slackapi.GetConversationHistoryParameters{
		ChannelID: ch, Cursor: r.Page, Oldest: r.Oldest, Limit: c.pageSize,
	})
	if typeMismatch(err) { // a message's attachment slack-go's types refuse (decode.go)
		resp, err = s.doer.lenientHistory()
	}
	if err != nil {
		return nil, 0, mapError("conversations.history "+ch, err)
	}
	raws, err := s.doer.rawMessages(len(resp.Messages))
	if err != nil {
		return nil, 0, fmt.Errorf("slack: conversations.history %s: %w", ch, err)
	}
	var msgs []*slackapi.Msg // those that yield Signals
	for i := range resp.Messages {
		if m := &resp.Messages[i].Msg; hw == "" || tsAfter(m.Timestamp, hw) {
			msgs = append(msgs, m)
		}
	}
	w, err := c.pageWhere(ctx, s, ch, msgs)
	if err != nil {
		return nil, 0, err
	}
	var out []connectors.Signal
	for i := range resp.Messages {
		m := &resp.Messages[i].Msg
		if hw != "" && !tsAfter(m.Timestamp, hw) {
			// Read again for thread_lookback: only its threads matter.
			if m.ReplyCount > 0 && m.ThreadTimestamp == m.Timestamp && tsAfter(m.LatestReply, hw) && tsAfter(m.LatestReply, cur.Replied[m.Timestamp]) {
				r.Threads = append(r.Threads, thread{TS: m.Timestamp})
			}
			continue
		}
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
func (c *Connector) readReplies(ctx context.Context, s *session, ch string, cur *chanCursor) ([]connectors.Signal, int, error) {
	r := cur.Run
	t := &r.Threads[0]
	// Replies after hw only (and, for a thread read before, after the
	// newest reply read then): older ones were read by earlier runs.
	oldest := cur.HW
	if tsAfter(cur.Replied[t.TS], oldest) {
		oldest = cur.Replied[t.TS]
	}
	if err := c.pace(ctx, s.team); err != nil {
		return nil, 0, err
	}
	msgs, _, next, err := s.api.GetConversationRepliesContext(ctx, &slackapi.GetConversationRepliesParameters{
		ChannelID: ch, Timestamp: t.TS, Cursor: t.Page, Limit: c.pageSize, Oldest: oldest,
	})
	if typeMismatch(err) { // as in readHistory
		msgs, _, next, err = s.doer.lenientReplies()
	}
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
	var keep []*slackapi.Msg
	for i := range msgs {
		if m := &msgs[i].Msg; m.Timestamp != t.TS && m.SubType != "thread_broadcast" {
			keep = append(keep, m)
		}
	}
	w, err := c.pageWhere(ctx, s, ch, keep)
	if err != nil {
		return nil, 0, err
	}
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
		if cur.HW != "" && !tsAfter(t.TS, cur.HW) && tsAfter(m.Timestamp, cur.Replied[t.TS]) {
			if cur.Replied == nil {
				cur.Replied = map[string]string{}
			}
			cur.Replied[t.TS] = m.Timestamp
		}
	}
	if next == "" {
		r.Threads = r.Threads[1:]
	} else {
		t.Page = next
	}
	return out, len(msgs), nil
}

// pageWhere locates the messages of one page of channel ch, with the names
// of the channel, of their authors, of the people who reacted and of the
// users and channels their text mentions (resolved, names.go).
func (c *Connector) pageWhere(ctx context.Context, s *session, ch string, msgs []*slackapi.Msg) (where, error) {
	w := s.at
	w.Channel = ch
	if len(msgs) == 0 {
		return w, nil
	}
	ids := []string{ch}
	for _, m := range msgs {
		if !skipMessage(m) {
			ids = append(ids, m.User)
			ids = append(ids, mentionedIDs(m.Text)...)
		}
		for _, r := range m.Reactions {
			ids = append(ids, r.Users...)
		}
	}
	n, err := c.resolve(ctx, s, ids)
	if err != nil {
		return w, fmt.Errorf("slack: names in %s: %w", ch, err)
	}
	w.Names = n
	return w, nil
}
