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
	"github.com/poblysh/poblysh/sandbox"
	jirasandbox "github.com/poblysh/poblysh/sandbox/jira"
)

// pass runs one stream pass to Done at now, calling between(page, its
// Signals) after each page but the last, and returns how often each dedupe
// key was returned and the resting cursor.
func (h *harness) pass(t *testing.T, stream string, cur json.RawMessage, now time.Time, between func(int, []connectors.Signal)) (map[string]int, json.RawMessage) {
	t.Helper()
	got := map[string]int{}
	for i := range 200 {
		p, err := h.prov.Connector.(connectors.Syncer).FetchPage(context.Background(), connectors.PageRequest{
			Connection: h.conn, Stream: stream, Cursor: cur, HTTP: h.client(), Now: now})
		require.NoError(t, err)
		for _, s := range p.Signals {
			got[s.DedupeKey]++
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

// lprKey is the dedupe key of a happening of issue id on the sandbox's
// first site, where project LPR lives.
func lprKey(id, what string) string { return "acme-pr.atlassian.net/issue:" + id + ":" + what }

// searchLag stands between the connector and the sandbox: it hides issues
// from search answers while they are listed in hide (Jira's search is
// eventually consistent: "The delay might vary from a few seconds to
// minutes … bulk editing, may require more time to appear in search") and
// counts the search calls (and the reads of the token user's zone).
type searchLag struct {
	next     http.Handler
	mu       sync.Mutex
	hide     map[string]bool
	searches int
	myself   int
}

func (l *searchLag) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/myself") {
		l.mu.Lock()
		l.myself++
		l.mu.Unlock()
	}
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
	o.AccessTTL = 1000 * time.Hour // the clock moves hours in a test
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
	soonKey := lprKey(soon.ID, "changelog:"+strconv.Itoa(soon.HistoryID)+":updated")
	require.Equal(t, map[string]int{soonKey: 1}, got, "the searchable edit is read, once")

	lag.set(late.ID, false) // the index caught up
	clock = clock.Add(15 * time.Minute)
	more, cur := h.pass(t, "issues:LPR", cur, clock, nil)
	lateKey := lprKey(late.ID, "changelog:"+strconv.Itoa(late.HistoryID)+":updated")
	require.Equal(t, map[string]int{lateKey: 1}, more, "the late change is read by the next pass, and nothing twice")

	clock = clock.Add(15 * time.Minute)
	again, _ := h.pass(t, "issues:LPR", cur, clock, nil)
	require.Empty(t, again, "nothing new: nothing returned")
}

// Issues read early in a backfill are edited while it pages on (a re-rank:
// noise, no Signal). Each moves to the end of `ORDER BY updated ASC` and
// the issues after it shift one place down, which a page token that is a
// position (the sandbox's, as offsets are in Jira's older search) would
// step over: each page starts again from the last update read instead.
func TestEditDuringPassSkipsNothing(t *testing.T) {
	ref := newHarness(t, jirasandbox.Options{PageSize: 3}, `["LPR"]`)
	want, _ := ref.pass(t, "issues:LPR", nil, time.Now(), nil)
	require.Len(t, want, seedLPR)

	h := newHarness(t, jirasandbox.Options{PageSize: 3}, `["LPR"]`)
	var edited []string
	got, cur := h.pass(t, "issues:LPR", nil, time.Now(), func(page int, sigs []connectors.Signal) {
		if page > 3 || len(sigs) == 0 {
			return
		}
		key := sigs[0].Payload.Attributes["key"].(string)
		_, err := h.sb.Edit(context.Background(), jirasandbox.SiteID, key, jirasandbox.EditInput{Rank: true}, noDelivery)
		require.NoError(t, err)
		edited = append(edited, key)
	})
	require.NotEmpty(t, edited)
	for k := range want {
		require.Positive(t, got[k], "%s never returned after %v were edited mid-backfill", k, edited)
	}
	require.Len(t, got, seedLPR, "nothing else")
	more, _ := h.pass(t, "issues:LPR", cur, time.Now().Add(20*time.Minute), nil)
	require.Empty(t, more, "the next pass has nothing new")
}

// A minute holding more issues than a page (a bulk import) is paged
// through with the page token, listed once more from its start (a token
// may step over an issue, see cursor.follow), and the pass goes on past
// it.
func TestMinuteFullerThanAPage(t *testing.T) {
	clock := time.Now().Truncate(time.Minute).Add(-30 * time.Minute)
	h, lag := lagHarness(t, 3, &clock)
	ctx := context.Background()
	_, cur := h.pass(t, "issues:LPR", nil, clock, nil)

	clock = clock.Add(20*time.Minute + 10*time.Second)
	want := map[string]int{}
	for i := range 8 {
		c, err := h.sb.CreateIssue(ctx, jirasandbox.SiteID, jirasandbox.IssueInput{Project: "LPR", Summary: "Imported " + strconv.Itoa(i)}, noDelivery)
		require.NoError(t, err)
		want[lprKey(c.ID, "created")] = 1
		clock = clock.Add(time.Second)
	}
	clock = clock.Add(2 * time.Minute)
	after, err := h.sb.Edit(ctx, jirasandbox.SiteID, "LPR-4", jirasandbox.EditInput{Summary: "Edited after the import"}, noDelivery)
	require.NoError(t, err)
	want[lprKey(after.ID, "changelog:"+strconv.Itoa(after.HistoryID)+":updated")] = 1

	lag.searches = 0
	got, _ := h.pass(t, "issues:LPR", cur, clock.Add(time.Minute), nil)
	require.Equal(t, want, got)
	require.LessOrEqual(t, lag.searches, 7, "10 issues (the last pass's newest again, the import, the edit), 3 a page, and the import's 3 pages again")
}

// Starting each page again from the last update read costs about what the
// page token did: one issue listed again a page when updates are minutes
// apart.
func TestBackfillSearchCalls(t *testing.T) {
	clock := time.Now()
	h, lag := lagHarness(t, 5, &clock)
	got, _ := h.pass(t, "issues:LPR", nil, clock, nil)
	require.Len(t, got, seedLPR)
	// 13 issues updated in the window: 3 pages of 5 with the token, 4 at
	// most listing the previous page's newest again.
	require.LessOrEqual(t, lag.searches, 4)
}

// The hour Europe/Berlin (the sandbox user's zone) passes twice when its
// clocks go back is read once, with the page token, and listed once more
// (a token may step over an issue, see cursor.follow): 120 issues a minute
// apart over it, 5 a page, cost 45 searches against 30 in another hour. A
// page that started again from a minute of the repeated hour wrote a
// minute an hour earlier (JQL may read the repeated one as its later
// instant) and listed that hour again, at every page: 176 searches and 702
// issues listed again.
func TestRepeatedHourIsReadOnce(t *testing.T) {
	for name, start := range map[string]time.Time{
		"clocks go back": time.Date(2026, 10, 24, 23, 30, 0, 0, time.UTC), // 01:30 CEST; 02:00-02:59 twice
		"control":        time.Date(2026, 10, 10, 23, 30, 0, 0, time.UTC),
	} {
		t.Run(name, func(t *testing.T) {
			clock := start.Add(-time.Hour)
			h, lag := lagHarness(t, 5, &clock)
			ctx := context.Background()
			_, cur := h.pass(t, "issues:LPR", nil, clock, nil)
			want := map[string]int{}
			for i := range 120 {
				clock = start.Add(time.Duration(i) * time.Minute)
				c, err := h.sb.CreateIssue(ctx, jirasandbox.SiteID, jirasandbox.IssueInput{Project: "LPR", Summary: "Issue " + strconv.Itoa(i)}, noDelivery)
				require.NoError(t, err)
				want[lprKey(c.ID, "created")] = 1
			}
			lag.searches = 0
			items := 0
			for range 400 {
				p, err := h.prov.Connector.(connectors.Syncer).FetchPage(ctx, connectors.PageRequest{
					Connection: h.conn, Stream: "issues:LPR", Cursor: cur, HTTP: h.client(), Now: start.Add(3 * time.Hour)})
				require.NoError(t, err)
				items += p.Items
				for _, s := range p.Signals {
					want[s.DedupeKey]--
				}
				if cur = p.Next; p.Done {
					break
				}
			}
			again, missed := 0, 0
			for _, n := range want {
				again, missed = again+max(0, -n), missed+max(0, n)
			}
			t.Logf("%d searches, %d issues listed, %d Signals returned again", lag.searches, items, again)
			require.Zero(t, missed, "every issue's Signal is returned")
			require.LessOrEqual(t, lag.searches, 45, "120 issues, 5 a page, those paged with the token twice")
			require.LessOrEqual(t, items, 130, "each issue listed about once")
			require.Zero(t, again, "no Signal is returned twice")
		})
	}
}

// Two sites of one tenant number their issues and changelogs alike (Jira
// numbers them per site; the sandbox starts both at 10001), while a tenant
// stores a Signal once per dedupe key. Each site's keys name the site, by
// backfill and by webhook alike, so neither site's Signals are taken for
// duplicates of the other's. Keyed by ids alone, 4 of the second site's
// Signals were dropped.
func TestTwoSitesKeepTheirKeysApart(t *testing.T) {
	h := newHarness(t, jirasandbox.Options{}, `["LPR"]`)
	drain := func(stream string) []connectors.Signal {
		var all []connectors.Signal
		var cur json.RawMessage
		for range 200 {
			p, err := h.prov.Connector.(connectors.Syncer).FetchPage(context.Background(), connectors.PageRequest{
				Connection: h.conn, Stream: stream, Cursor: cur, HTTP: h.client(), Now: time.Now()})
			require.NoError(t, err)
			all, cur = append(all, p.Signals...), p.Next
			if p.Done {
				return all
			}
		}
		t.Fatal("the pass did not end")
		return nil
	}
	siteA := drain("issues:LPR")

	cfg, err := h.prov.Connector.(connectors.ConfigValidator).ValidateConfig([]byte(`{"projects": ["OPS"]}`))
	require.NoError(t, err)
	h.conn = connectors.Connection{ID: "conn-2", TenantID: h.conn.TenantID, Config: cfg, Account: connectors.Account{
		ID: jirasandbox.SecondSite, Name: "acme-labs.atlassian.net",
		Metadata: map[string]string{"url": jirasandbox.SecondURL, "user_id": "5b10a2844c20165700ede21g"}}}
	hooks, _ := h.capture(t, "OPS")
	siteB := drain("issues:OPS")
	require.Len(t, siteB, h.sb.ExpectedSignals(jirasandbox.SecondSite, "OPS", 90))

	ids, keys := map[string]bool{}, map[string]bool{}
	for _, s := range siteA {
		ids[s.Payload.Subject.ID], keys[s.DedupeKey] = true, true
	}
	shared, taken := 0, []string{}
	for _, s := range siteB {
		if ids[s.Payload.Subject.ID] {
			shared++
		}
		if keys[s.DedupeKey] {
			taken = append(taken, s.DedupeKey+" "+s.Payload.URL)
		}
	}
	require.Positive(t, shared, "the sites number their issues alike")
	require.Empty(t, taken, "happenings of the second site under keys of the first's")
	for site, sigs := range map[string][]connectors.Signal{"acme-pr.atlassian.net": siteA, "acme-labs.atlassian.net": siteB} {
		for _, s := range sigs {
			require.True(t, strings.HasPrefix(s.DedupeKey, site+"/issue:"+s.Payload.Subject.ID+":"), s.DedupeKey)
		}
	}

	// A webhook of the second site carries the key its backfill gives.
	ch, err := h.sb.Edit(context.Background(), jirasandbox.SecondSite, "OPS-1", jirasandbox.EditInput{Summary: "Renamed on the second site"}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	d, err := h.prov.Connector.(connectors.WebhookReceiver).ParseWebhook(next(t, hooks))
	require.NoError(t, err)
	require.Len(t, d.Signals, 1)
	want := "acme-labs.atlassian.net/issue:" + ch.ID + ":changelog:" + strconv.Itoa(ch.HistoryID) + ":updated"
	require.Equal(t, want, d.Signals[0].DedupeKey)
	again := map[string]bool{}
	for _, s := range drain("issues:OPS") {
		again[s.DedupeKey] = true
	}
	require.True(t, again[want], "a backfill of the change gives the webhook's key")
	require.False(t, keys[want])
}

// A first pass bounded by backfill_days that reads nothing (a project
// quiet for longer) keeps its window's start (the cursor's floor), so a
// later pass reads from it, however late it comes: an issue created after
// the first pass is read by a pass more than backfill_days later (a
// paused or needs_reauth connection, a worker outage).
func TestBackfillDaysQuietProjectKeepsItsBound(t *testing.T) {
	clock := time.Now()
	h, _ := lagHarness(t, 50, &clock) // seeded within the 80 days before
	cfg, err := h.prov.Connector.(connectors.ConfigValidator).ValidateConfig([]byte(`{"projects": ["LPR"], "backfill_days": 7}`))
	require.NoError(t, err)
	h.conn.Config = cfg

	clock = clock.Add(30 * 24 * time.Hour) // the newest seeded change is 4 days before it began
	got, cur := h.pass(t, "issues:LPR", nil, clock, nil)
	require.Empty(t, got, "nothing in the last 7 days")

	clock = clock.Add(time.Hour)
	created, err := h.sb.CreateIssue(context.Background(), jirasandbox.SiteID, jirasandbox.IssueInput{Project: "LPR", Summary: "Posted after the first pass"}, noDelivery)
	require.NoError(t, err)

	clock = clock.Add(8 * 24 * time.Hour) // the next pass comes 8 days later
	got, _ = h.pass(t, "issues:LPR", cur, clock, nil)
	require.Equal(t, map[string]int{lprKey(created.ID, "created"): 1}, got, "the issue created after the first pass is read")
}
