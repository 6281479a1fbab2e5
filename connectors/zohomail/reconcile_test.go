package zohomail

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
)

// mailbox is a fake Zoho Mail Inbox whose messages can be moved in at any
// time, keeping the receivedTime they arrived with, as Zoho does for mail
// marked "not spam", restored from Trash or moved back from a folder.
type mailbox struct {
	t       *testing.T
	mu      sync.Mutex
	msgs    []mboxMsg // newest first
	headers map[string]int
	config  json.RawMessage // the connection's
	p       *connectors.Provider
	hc      *http.Client
}

type mboxMsg struct {
	id, from, subject, headers string
	at                         time.Time
}

func newMailbox(t *testing.T, env map[string]string) *mailbox {
	m := &mailbox{t: t, headers: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(srv.Close)
	e := map[string]string{"POBLYSH_ZOHO_MAIL_API_URLS": "us=" + srv.URL, "POBLYSH_ZOHO_MAIL_PACE": "60000"}
	for k, v := range env {
		e[k] = v
	}
	m.p, m.hc = newProvider(t, e), srv.Client()
	return m
}

// moveIn puts a message in the Inbox, in receivedTime order.
func (m *mailbox) moveIn(msg mboxMsg) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, msg)
	slices.SortStableFunc(m.msgs, func(a, b mboxMsg) int { return b.at.Compare(a.at) })
}

func (m *mailbox) headerCalls(id string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.headers[id]
}

func (m *mailbox) serve(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var data any
	switch {
	case strings.HasSuffix(r.URL.Path, "/folders"):
		data = []map[string]any{{"folderId": "10", "folderType": "Inbox", "path": "/Inbox"}}
	case strings.HasSuffix(r.URL.Path, "/messages/view"):
		start, _ := strconv.Atoi(r.URL.Query().Get("start"))
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		items := []map[string]any{}
		for k := start - 1; k >= 0 && k < len(m.msgs) && k < start-1+limit; k++ {
			x := m.msgs[k]
			items = append(items, map[string]any{"messageId": x.id, "threadId": x.id, "fromAddress": x.from,
				"toAddress": "&lt;ada@zylker.eu&gt;", "subject": x.subject, "receivedTime": fmt.Sprint(x.at.UnixMilli())})
		}
		data = items
	case strings.HasSuffix(r.URL.Path, "/header"):
		parts := strings.Split(r.URL.Path, "/")
		id := parts[len(parts)-2]
		m.headers[id]++
		i := slices.IndexFunc(m.msgs, func(x mboxMsg) bool { return x.id == id })
		require.GreaterOrEqual(m.t, i, 0, "headers of a message not in the folder")
		data = map[string]any{"headerContent": "From: " + m.msgs[i].from + "\r\nSubject: " + m.msgs[i].subject + m.msgs[i].headers}
	default:
		http.NotFound(w, r)
		return
	}
	b, _ := json.Marshal(map[string]any{"status": map[string]any{"code": 200}, "data": data})
	_, _ = w.Write(b)
}

// pass runs one whole Inbox pass at now, returning its Signals' dedupe
// keys and the cursor it leaves.
func (m *mailbox) pass(cur json.RawMessage, now time.Time) ([]string, json.RawMessage) {
	t := m.t
	t.Helper()
	conn := connectors.Connection{TenantID: testTenant, Config: m.config, Account: connectors.Account{ID: "1",
		Metadata: map[string]string{"dc": "us", metaEmail: "ada@zylker.eu"}}}
	var keys []string
	for n := 0; ; n++ {
		require.Less(t, n, 50, "the pass ends")
		pg, err := m.p.Connector.(*Connector).FetchPage(t.Context(), connectors.PageRequest{Connection: conn, Stream: streamInbox,
			Cursor: cur, HTTP: m.hc, Now: now})
		require.NoError(t, err)
		for _, s := range pg.Signals {
			keys = append(keys, s.DedupeKey)
		}
		cur = pg.Next
		if pg.Done {
			return keys, cur
		}
	}
}

// A journalist's inquiry the user rescues from Spam enters the Inbox with
// the receivedTime it arrived with, below where the last pass stopped:
// the next reconciling pass (every 6 hours) reads the Inbox 7 days back
// and finds it, as email.received and email.press_thread. A pass in
// between reads only past the high-water mark; mail moved in older than
// 7 days is not read.
func TestMailMovedIntoTheInboxIsReadByTheNextReconciliation(t *testing.T) {
	t.Parallel()
	m := newMailbox(t, nil)
	t0 := time.Now().Truncate(time.Millisecond)
	m.moveIn(mboxMsg{id: "9001", from: "priya@zylker.eu", subject: "Lunch?", at: t0.Add(-time.Hour)})
	m.moveIn(mboxMsg{id: "9002", from: "marco@zylker.eu", subject: "FAQ review", at: t0.Add(-3 * time.Hour)})
	keys, cur := m.pass(nil, t0)
	require.Subset(t, keys, []string{"received:9001", "received:9002"})

	m.moveIn(mboxMsg{id: "9000", from: "jane.doe@reuters.com", subject: "Request for comment: Zylker pricing", at: t0.Add(-2 * time.Hour)})
	m.moveIn(mboxMsg{id: "8000", from: "jane.doe@reuters.com", subject: "Request for comment: Zylker layoffs", at: t0.Add(-8 * 24 * time.Hour)})
	keys, cur = m.pass(cur, t0.Add(5*time.Minute))
	require.Empty(t, keys, "an incremental pass reads down to the high-water mark")

	keys, cur = m.pass(cur, t0.Add(6*time.Hour))
	require.Subset(t, keys, []string{"received:9000", "thread:9000", "press:9000"}, "the rescued inquiry, read")
	require.Contains(t, keys, "received:9002", "read again: stored once by its dedupe key")
	require.NotContains(t, keys, "received:9001", "inside the overlap: read already (seen)")
	require.NotContains(t, keys, "received:8000", "moved in, but received before the 7 days reconciled")

	keys, _ = m.pass(cur, t0.Add(6*time.Hour+5*time.Minute))
	require.Empty(t, keys, "the next reconciliation is 6 hours on")
}

// The reconciliation reads at most BACKFILL_DAYS back when that is less
// than 7 days.
func TestReconciliationWindowIsAtMostTheBackfill(t *testing.T) {
	t.Parallel()
	m := newMailbox(t, map[string]string{"POBLYSH_ZOHO_MAIL_BACKFILL_DAYS": "1"})
	t0 := time.Now().Truncate(time.Millisecond)
	m.moveIn(mboxMsg{id: "9001", from: "priya@zylker.eu", subject: "Lunch?", at: t0.Add(-time.Hour)})
	_, cur := m.pass(nil, t0)
	m.moveIn(mboxMsg{id: "9000", from: "priya@zylker.eu", subject: "Minutes", at: t0.Add(-10 * time.Hour)})
	m.moveIn(mboxMsg{id: "8000", from: "priya@zylker.eu", subject: "Agenda", at: t0.Add(-2 * 24 * time.Hour)})
	keys, _ := m.pass(cur, t0.Add(6*time.Hour))
	require.Contains(t, keys, "received:9000")
	require.NotContains(t, keys, "received:8000", "received before the day back from the reconciliation")
}

// A cursor stored before passes reconciled has no "reconciled": its next
// pass reconciles, and records when.
func TestCursorWithoutReconciliationReconcilesAtItsNextPass(t *testing.T) {
	t.Parallel()
	m := newMailbox(t, nil)
	t0 := time.Now().Truncate(time.Millisecond)
	m.moveIn(mboxMsg{id: "9001", from: "priya@zylker.eu", subject: "Lunch?", at: t0.Add(-time.Hour)})
	m.moveIn(mboxMsg{id: "9000", from: "priya@zylker.eu", subject: "Minutes", at: t0.Add(-3 * time.Hour)})
	old := fmt.Sprintf(`{"v":1,"folder":"10","hw":%d,"seen":[{"id":"9001","t":%d}]}`, t0.Add(-time.Hour).UnixMilli(), t0.Add(-time.Hour).UnixMilli())
	keys, cur := m.pass(json.RawMessage(old), t0)
	require.Contains(t, keys, "received:9000")
	var c struct {
		Reconciled int64 `json:"reconciled"`
	}
	require.NoError(t, json.Unmarshal(cur, &c))
	require.Equal(t, t0.UnixMilli(), c.Reconciled)
}

// A reporter's mail sent through a mailing list looks like press until its
// headers say otherwise; the headers are read once per message: a
// reconciliation reading it again remembers the verdict (cursor
// "cleared").
func TestHeadersAreReadOncePerMessage(t *testing.T) {
	t.Parallel()
	m := newMailbox(t, nil)
	t0 := time.Now().Truncate(time.Millisecond)
	m.moveIn(mboxMsg{id: "9002", from: "priya@zylker.eu", subject: "Lunch?", at: t0.Add(-time.Hour)})
	m.moveIn(mboxMsg{id: "9001", from: "tom.reed@reuters.com", subject: "Request for comment: the week in tech",
		headers: "\r\nList-Id: <briefing.reuters.com>", at: t0.Add(-3 * time.Hour)})
	keys, cur := m.pass(nil, t0)
	require.Contains(t, keys, "received:9001")
	require.NotContains(t, keys, "press:9001")
	require.Equal(t, 1, m.headerCalls("9001"), "a press candidate's headers are read")

	keys, _ = m.pass(cur, t0.Add(6*time.Hour))
	require.Contains(t, keys, "received:9001", "read again by the reconciliation")
	require.NotContains(t, keys, "press:9001")
	require.Equal(t, 1, m.headerCalls("9001"), "its headers are not read again")
}

// A reporter's inquiry to the organisation's own press@ group carries the
// group's List-Id (under the mailbox's domain), List-Unsubscribe and
// Precedence: list: it is press, not list mail. Another list's is not.
func TestInquiryThroughOwnGroupIsPress(t *testing.T) {
	t.Parallel()
	m := newMailbox(t, nil)
	t0 := time.Now().Truncate(time.Millisecond)
	m.moveIn(mboxMsg{id: "9002", from: "tom.reed@reuters.com", subject: "Request for comment: the plant closure",
		headers: "\r\nList-Id: <press.zylker.eu>\r\nPrecedence: list\r\nList-Unsubscribe: <mailto:googlegroups-manage+1029+unsubscribe@googlegroups.com>,\r\n <https://groups.google.com/a/zylker.eu/group/press/subscribe>",
		at:      t0.Add(-time.Hour)})
	m.moveIn(mboxMsg{id: "9001", from: "tom.reed@reuters.com", subject: "Request for comment: the week in tech",
		headers: "\r\nList-Id: <press.zylker.eu.example>\r\nPrecedence: list", at: t0.Add(-2 * time.Hour)})
	keys, _ := m.pass(nil, t0)
	require.Contains(t, keys, "press:9002", "through the mailbox's own group")
	require.NotContains(t, keys, "press:9001", "another organisation's list")
	require.Equal(t, 1, m.headerCalls("9002"))
}

// Before 2026-12-07 a folded line was read as a header of its own unless
// it continued List-Id, List-Unsubscribe, Precedence or Auto-Submitted, so
// every message Proton Mail signs (its DKIM-Signature folds a line
// "\t List-Unsubscribe:…") was cleared as list mail, and a cursor of that
// version remembers it among "cleared". Its next pass forgets that list
// once and reconciles: the messages it held are judged again (one header
// call each, at most 500), a press thread among them is stored, and the
// rest are remembered again.
func TestMessagesClearedByEarlierHeaderReadingAreJudgedAgain(t *testing.T) {
	t.Parallel()
	m := newMailbox(t, nil)
	m.config = json.RawMessage(`{"press": {"addresses": ["sam.freelance@proton.me"]}}`)
	var env envelope
	require.NoError(t, json.Unmarshal(fixture(t, "header_proton.json"), &env))
	var h struct {
		HeaderContent string `json:"headerContent"`
	}
	require.NoError(t, json.Unmarshal(env.Data, &h))
	t0 := time.Now().Truncate(time.Millisecond)
	m.moveIn(mboxMsg{id: "9003", from: "priya@zylker.eu", subject: "Lunch?", at: t0.Add(-time.Hour)})
	m.moveIn(mboxMsg{id: "9002", from: "sam.freelance@proton.me", subject: "Quick question about the layoffs",
		headers: "\r\n" + h.HeaderContent, at: t0.Add(-2 * time.Hour)})
	m.moveIn(mboxMsg{id: "9001", from: "tom.reed@reuters.com", subject: "Request for comment: the week in tech",
		headers: "\r\nList-Id: <briefing.reuters.com>", at: t0.Add(-3 * time.Hour)})
	hw := t0.Add(-time.Hour).UnixMilli()
	old := fmt.Sprintf(`{"v":1,"folder":"10","hw":%d,"seen":[{"id":"9003","t":%d}],"cleared":["9002","9001"],"reconciled":%d}`,
		hw, hw, t0.Add(-time.Minute).UnixMilli())

	keys, cur := m.pass(json.RawMessage(old), t0)
	require.Contains(t, keys, "press:9002", "the tenant's press contact on Proton Mail, judged again")
	require.NotContains(t, keys, "press:9001", "list mail, judged again: still list mail")
	require.Equal(t, 1, m.headerCalls("9002"))
	require.Equal(t, 1, m.headerCalls("9001"))

	keys, _ = m.pass(cur, t0.Add(6*time.Hour))
	require.Contains(t, keys, "received:9001", "read again by the next reconciliation")
	require.NotContains(t, keys, "press:9001")
	require.NotContains(t, keys, "press:9002", "a press thread already")
	require.Equal(t, 1, m.headerCalls("9001"), "cleared by this version: not asked again")
	require.Equal(t, 1, m.headerCalls("9002"))

	// A cursor of the earlier version that cleared nothing is read on as
	// it was: no reconciliation before its time.
	old = fmt.Sprintf(`{"v":1,"folder":"10","hw":%d,"seen":[{"id":"9003","t":%d}],"reconciled":%d}`, hw, hw, t0.Add(-time.Minute).UnixMilli())
	keys, _ = m.pass(json.RawMessage(old), t0)
	require.Empty(t, keys)
}

// A first pass that reads nothing within BACKFILL_DAYS (a folder quiet for
// longer) keeps the window's start as its high-water mark, so later passes
// read down to it: each was a first pass again from its own now −
// BACKFILL_DAYS, and mail received after the first pass was lost for good
// once the next pass came more than BACKFILL_DAYS later (a paused or
// needs_reauth connection, a worker outage).
func TestBackfillDaysQuietFolderKeepsItsBound(t *testing.T) {
	t.Parallel()
	m := newMailbox(t, map[string]string{"POBLYSH_ZOHO_MAIL_BACKFILL_DAYS": "3"})
	t0 := time.Now().Truncate(time.Millisecond)
	m.moveIn(mboxMsg{id: "8000", from: "priya@zylker.eu", subject: "Old news", at: t0.Add(-5 * 24 * time.Hour)})
	keys, cur := m.pass(nil, t0)
	require.Empty(t, keys, "nothing in the last 3 days")
	var c cursor
	require.NoError(t, json.Unmarshal(cur, &c))
	require.Equal(t, t0.Add(-3*24*time.Hour).UnixMilli(), c.HW, "the window's start is the mark")

	m.moveIn(mboxMsg{id: "9000", from: "jane.doe@reuters.com", subject: "Request for comment: Zylker pricing", at: t0.Add(time.Hour)})
	keys, _ = m.pass(cur, t0.Add(time.Hour+4*24*time.Hour)) // the next pass comes 4 days later
	require.Subset(t, keys, []string{"received:9000", "press:9000"}, "mail received after the first pass is read by the next one")
	require.NotContains(t, keys, "received:8000", "mail older than the first window stays unread")
}
