package jira_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	jirasandbox "github.com/poblysh/poblysh/sandbox/jira"
)

// pass runs one stream pass to Done at now, calling between(page, its
// Signals) after each page but the last, and returns the Signals' dedupe
// keys and the resting cursor.
func (h *harness) pass(t *testing.T, stream string, cur json.RawMessage, now time.Time, between func(int, []connectors.Signal)) (map[string]bool, json.RawMessage) {
	t.Helper()
	got := map[string]bool{}
	for i := range 200 {
		p, err := h.prov.Connector.(connectors.Syncer).FetchPage(context.Background(), connectors.PageRequest{
			Connection: h.conn, Stream: stream, Cursor: cur, HTTP: h.client(), Now: now})
		require.NoError(t, err)
		for _, s := range p.Signals {
			require.False(t, got[s.DedupeKey], "%s returned twice in one pass", s.DedupeKey)
			got[s.DedupeKey] = true
		}
		cur = p.Next
		if p.Done {
			return got, cur
		}
		if between != nil {
			between(i, p.Signals)
		}
	}
	t.Fatal("the pass did not end")
	return nil, nil
}

// searchLag stands between the connector and the sandbox: it hides issues
// from search answers while they are listed in hide (Jira's search is
// eventually consistent: "The delay might vary from a few seconds to
// minutes … bulk editing, may require more time to appear in search") and
// counts the search calls.
type searchLag struct {
	next     http.Handler
	mu       sync.Mutex
	hide     map[string]bool
	searches int
}

func (l *searchLag) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/search/jql") {
		l.next.ServeHTTP(w, r)
		return
	}
	l.mu.Lock()
	l.searches++
	hide := len(l.hide) > 0
	l.mu.Unlock()
	if !hide {
		l.next.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	l.next.ServeHTTP(rec, r)
	var body map[string]any
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &body) != nil {
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		return
	}
	issues, _ := body["issues"].([]any)
	kept := []any{}
	l.mu.Lock()
	for _, is := range issues {
		if id, _ := is.(map[string]any)["id"].(string); !l.hide[id] {
			kept = append(kept, is)
		}
	}
	l.mu.Unlock()
	body["issues"] = kept
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

// set hides id from search (true) or lets the index catch up (false).
func (l *searchLag) set(id string, hidden bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.hide == nil {
		l.hide = map[string]bool{}
	}
	if hidden {
		l.hide[id] = true
	} else {
		delete(l.hide, id)
	}
}

// lagHarness is a harness on a seeded sandbox whose clock is *clock,
// behind a searchLag.
func lagHarness(t *testing.T, pageSize int, clock *time.Time) (*harness, *searchLag) {
	t.Helper()
	o := jirasandbox.Options{PageSize: pageSize}
	o.Seed = true
	o.Now = func() time.Time { return *clock }
	sb := jirasandbox.New(o)
	lag := &searchLag{next: sb}
	srv := httptest.NewServer(lag)
	t.Cleanup(srv.Close)
	ts, err := sb.IssueToken("")
	require.NoError(t, err)
	h := &harness{sb: sb, url: srv.URL, tok: ts.AccessToken, prov: provider(t, sb, srv.URL, "")}
	cfg, err := h.prov.Connector.(connectors.ConfigValidator).ValidateConfig([]byte(`{"projects": ["LPR"]}`))
	require.NoError(t, err)
	h.conn = connectors.Connection{ID: "conn-1", TenantID: "tenant-1", Config: cfg, Account: connectors.Account{
		ID: jirasandbox.SiteID, Name: "acme-pr.atlassian.net", Metadata: map[string]string{"url": jirasandbox.SiteURL}}}
	return h, lag
}

// A change that reaches the search index minutes late (a bulk edit), while
// a later change is searchable at once, is read by a later pass: the
// resting cursor never gets ahead of what search may not have indexed yet.
func TestSearchLagIsReadByALaterPass(t *testing.T) {
	clock := time.Now()
	h, lag := lagHarness(t, 50, &clock)
	ctx := context.Background()

	_, cur := h.pass(t, "issues:LPR", nil, clock, nil) // backfill

	clock = clock.Add(10 * time.Minute)
	late, err := h.sb.Edit(ctx, jirasandbox.SiteID, "LPR-2", jirasandbox.EditInput{Summary: "Bulk-edited summary"}, noDelivery)
	require.NoError(t, err)
	lag.set(late.ID, true) // not in the index yet
	clock = clock.Add(3 * time.Minute)
	soon, err := h.sb.Edit(ctx, jirasandbox.SiteID, "LPR-3", jirasandbox.EditInput{Summary: "Edited later"}, noDelivery)
	require.NoError(t, err)
	clock = clock.Add(30 * time.Second)
	got, cur := h.pass(t, "issues:LPR", cur, clock, nil)
	soonKey := "issue:" + soon.ID + ":changelog:" + strconv.Itoa(soon.HistoryID) + ":updated"
	require.Equal(t, map[string]bool{soonKey: true}, got, "the searchable edit is read, once")

	lag.set(late.ID, false) // the index caught up
	clock = clock.Add(15 * time.Minute)
	more, cur := h.pass(t, "issues:LPR", cur, clock, nil)
	lateKey := "issue:" + late.ID + ":changelog:" + strconv.Itoa(late.HistoryID) + ":updated"
	require.Equal(t, map[string]bool{lateKey: true}, more, "the late change is read by the next pass, and nothing twice")

	clock = clock.Add(15 * time.Minute)
	again, _ := h.pass(t, "issues:LPR", cur, clock, nil)
	require.Empty(t, again, "nothing new: nothing returned")
}
