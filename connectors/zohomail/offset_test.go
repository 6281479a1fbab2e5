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
// user archives or deletes during a pass moves every later message up. A
// pass reads every message still in the folder whether one message left
// between two pages (within the pages' overlap) or more than the overlap
// (the pass steps back a page).
func TestMailLeavingTheFolderMidPassIsStillRead(t *testing.T) {
	t.Parallel()
	for _, removed := range []int{1, 3, 5} {
		t.Run(fmt.Sprintf("%d removed", removed), func(t *testing.T) {
			t.Parallel()
			now := time.Now()
			var mu sync.Mutex
			var inbox []int // 0 is the newest
			for i := range 16 {
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
					if calls++; calls == 2 { // after the first page, the user archives messages of it
						inbox = slices.Delete(inbox, 1, 1+removed)
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
				require.Less(t, n, 20, "the pass ends")
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
			var got []string
			for k := range keys {
				if id, ok := strings.CutPrefix(k, "received:"); ok {
					got = append(got, id)
				}
			}
			slices.Sort(got)
			var want []string
			for i := range 16 { // the first page's (read before they left) and every other
				want = append(want, fmt.Sprint(9000+i))
			}
			require.Equal(t, want, got)
		})
	}
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
