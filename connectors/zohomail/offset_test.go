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
	"github.com/poblysh/poblysh/connectors/connectortest"
)

// messages/view pages by offset into the folder as it is now: mail the
// user moves out or deletes during a pass moves every later message up
// (archived mail stays listed: the passes ask for it, includearchive). A
// pass reads every message still in the folder whether one message left
// between two pages (within the pages' overlap) or more than the overlap
// (the pass steps back a page).
func TestMailLeavingTheFolderMidPassIsStillRead(t *testing.T) {
	t.Parallel()
	for _, removed := range []int{1, 3, 5} {
		t.Run(fmt.Sprintf("%d removed", removed), func(t *testing.T) {
			t.Parallel()
			// After the first page, the user moves messages of it out.
			require.Empty(t, unreadAfterLeaving(t, 16, 2, 1, 1+removed), "still in the Inbox, never read")
		})
	}
}

// A next page that comes back empty shares no message with the previous
// one either: mail left the folder since, and the messages that moved up
// past the page boundary are still to read. The pass steps back instead
// of ending (it ended, moving the high-water mark past 9006 and 9007).
func TestEmptyPageAfterMailLeftStepsBack(t *testing.T) {
	t.Parallel()
	// 8 messages, pages of 6 overlapping by 3: the second page starts at
	// 4; before it, 5 of the first page leave and the folder holds 3.
	require.Empty(t, unreadAfterLeaving(t, 8, 2, 1, 6), "still in the Inbox, never read")
}

// When more than a page and its overlap leave, one page back still
// shares nothing with the previous page: the pass steps back again, until
// a page overlaps it or the pass is at the top of the folder (it read on
// after one step, losing 9015–9017).
func TestStepBackRepeatsUntilPagesOverlap(t *testing.T) {
	t.Parallel()
	// Pages of 6 at 1, 4, 7, 10; before the page at 13, the 12 newest
	// messages leave: 13 and 7 hold nothing of the page at 10, 1 does.
	require.Empty(t, unreadAfterLeaving(t, 40, 5, 0, 12), "still in the Inbox, never read")
}

// A folder whose every page is new (mail leaving and arriving faster
// than the pass reads) never overlaps the previous page: the pass steps
// back maxStepsBack times at most, then reads on, and ends at its cutoff.
func TestStepsBackAreBoundedPerPass(t *testing.T) {
	t.Parallel()
	now := time.Now()
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case strings.HasSuffix(r.URL.Path, "/folders"):
			_, _ = fmt.Fprint(w, `{"status":{"code":200},"data":[{"folderId":"10","folderType":"Inbox"}]}`)
		case strings.HasSuffix(r.URL.Path, "/messages/view"):
			calls++
			start, _ := strconv.Atoi(r.URL.Query().Get("start"))
			limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
			items := []map[string]any{}
			for k := start; k < start+limit; k++ { // the k'th newest, an hour apart, under a new id each call
				items = append(items, map[string]any{"messageId": fmt.Sprintf("%d%04d", calls, k), "fromAddress": "a@b.example",
					"subject": "s", "receivedTime": fmt.Sprint(now.Add(-time.Duration(k) * time.Hour).UnixMilli())})
			}
			b, _ := json.Marshal(map[string]any{"status": map[string]any{"code": 200}, "data": items})
			_, _ = w.Write(b)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	p := connectortest.NewProvider(t, Spec, map[string]string{"POBLYSH_ZOHO_MAIL_API_URLS": "us=" + srv.URL,
		"POBLYSH_ZOHO_MAIL_PAGE_SIZE": "6", "POBLYSH_ZOHO_MAIL_PACE": "60000", "POBLYSH_ZOHO_MAIL_BACKFILL_DAYS": "1"})
	conn := connectors.Connection{TenantID: testTenant, Account: connectors.Account{ID: "1", Metadata: map[string]string{"dc": "us"}}}
	var cur json.RawMessage
	back := 0
	for n := 0; ; n++ {
		require.Less(t, n, 100, "the pass ends")
		pg, err := p.Connector.(*Connector).FetchPage(t.Context(), connectors.PageRequest{Connection: conn, Stream: streamInbox,
			Cursor: cur, HTTP: srv.Client(), Now: now})
		require.NoError(t, err)
		if pg.Done {
			break
		}
		var c cursor
		require.NoError(t, json.Unmarshal(pg.Next, &c))
		back = c.Pass.Back
		cur = pg.Next
	}
	require.Equal(t, maxStepsBack, back, "the pass stepped back as often as it may, no more")
}

// unreadAfterLeaving runs a first pass (page size 6) over an Inbox of
// total messages, 0 the newest, an hour apart, from which the messages at
// positions [from, to) leave just before the atCall'th messages/view
// call. It returns the ids still in the folder that the pass never read.
func unreadAfterLeaving(t *testing.T, total, atCall, from, to int) []string {
	t.Helper()
	now := time.Now()
	var mu sync.Mutex
	var inbox []int
	for i := range total {
		inbox = append(inbox, i)
	}
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case strings.HasSuffix(r.URL.Path, "/folders"):
			_, _ = fmt.Fprint(w, `{"status":{"code":200},"data":[{"folderId":"10","folderType":"Inbox"}]}`)
		case strings.HasSuffix(r.URL.Path, "/messages/view"):
			if calls++; calls == atCall {
				inbox = slices.Delete(inbox, from, to)
			}
			start, _ := strconv.Atoi(r.URL.Query().Get("start"))
			limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
			items := []map[string]any{}
			for k := start - 1; k >= 0 && k < len(inbox) && k < start-1+limit; k++ {
				i := inbox[k]
				items = append(items, map[string]any{"messageId": fmt.Sprint(9000 + i), "threadId": fmt.Sprint(9000 + i),
					"fromAddress": "a@b.example", "subject": "s", "receivedTime": fmt.Sprint(now.Add(-time.Duration(i) * time.Hour).UnixMilli())})
			}
			b, _ := json.Marshal(map[string]any{"status": map[string]any{"code": 200}, "data": items})
			_, _ = w.Write(b)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	p := connectortest.NewProvider(t, Spec, map[string]string{"POBLYSH_ZOHO_MAIL_API_URLS": "us=" + srv.URL,
		"POBLYSH_ZOHO_MAIL_PAGE_SIZE": "6", "POBLYSH_ZOHO_MAIL_PACE": "60000"})
	conn := connectors.Connection{TenantID: testTenant, Account: connectors.Account{ID: "1", Metadata: map[string]string{"dc": "us"}}}
	var cur json.RawMessage
	keys := map[string]bool{}
	for n := 0; ; n++ {
		require.Less(t, n, 30, "the pass ends")
		pg, err := p.Connector.(*Connector).FetchPage(t.Context(), connectors.PageRequest{Connection: conn, Stream: streamInbox,
			Cursor: cur, HTTP: srv.Client(), Now: now})
		require.NoError(t, err)
		for _, s := range pg.Signals {
			keys[s.DedupeKey] = true
		}
		cur = pg.Next
		if pg.Done {
			break
		}
	}
	missing := []string{}
	for i := range total {
		if i >= from && i < to {
			continue // left the folder
		}
		if !keys[fmt.Sprintf("received:%d", 9000+i)] {
			missing = append(missing, fmt.Sprint(9000+i))
		}
	}
	return missing
}

// POBLYSH_ZOHO_MAIL_BACKFILL_DAYS is a number of days from 1 to 36500: a
// larger count wrapped the duration around (213504 days became 25 minutes).
func TestBackfillDaysAreBounded(t *testing.T) {
	t.Parallel()
	for v, ok := range map[string]bool{"30": true, "36500": true, "0": false, "-3": false, "36501": false, "213504": false, "a month": false} {
		_, err := New(connectors.Config{}.WithSettings(map[string]string{SettingBackfillDays: v}))
		require.Equal(t, ok, err == nil, "%s: %v", v, err)
	}
}

// A pass stored before passes counted their steps back (no "back") reads
// on under the same rules: its first step back counts as the first.
func TestStoredPassWithoutBackStepsBack(t *testing.T) {
	t.Parallel()
	m := newMailbox(t, map[string]string{"POBLYSH_ZOHO_MAIL_PAGE_SIZE": "6"})
	t0 := time.Now().Truncate(time.Millisecond)
	for i := range 3 { // what is left of the folder: 9006–9008
		m.moveIn(mboxMsg{id: fmt.Sprint(9006 + i), from: "a@b.example", subject: "s", at: t0.Add(-time.Duration(6+i) * time.Hour)})
	}
	stored := fmt.Sprintf(`{"v":1,"folder":"10","reconciled":%d,"pass":{"start":4,"cutoff":%d,"high":%d,`+
		`"prev":["9000","9001","9002","9003","9004","9005"],"kept":3}}`, t0.UnixMilli(), t0.Add(-24*time.Hour).UnixMilli(), t0.UnixMilli())
	conn := connectors.Connection{TenantID: testTenant, Account: connectors.Account{ID: "1", Metadata: map[string]string{"dc": "us"}}}
	pg, err := m.p.Connector.(*Connector).FetchPage(t.Context(), connectors.PageRequest{Connection: conn, Stream: streamInbox,
		Cursor: json.RawMessage(stored), HTTP: m.hc, Now: t0})
	require.NoError(t, err)
	require.False(t, pg.Done, "the empty page at 4 ends nothing")
	require.Empty(t, pg.Signals)
	var c cursor
	require.NoError(t, json.Unmarshal(pg.Next, &c))
	require.Equal(t, 1, c.Pass.Start)
	require.Equal(t, 1, c.Pass.Back)

	keys, _ := m.pass(pg.Next, t0)
	require.Equal(t, []string{"received:9006", "thread:9006", "received:9007", "thread:9007", "received:9008", "thread:9008"}, keys)
}
