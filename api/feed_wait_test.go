package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
)

// feedPage is the feed's answer.
type feedPage struct {
	Signals []struct {
		ID, Kind, Source string
	} `json:"signals"`
	NextCursor string `json:"next_cursor"`
}

// getFeed reads the feed with the given query; ctx may cancel it.
func (e *apiEnv) getFeed(ctx context.Context, key, query string) (int, feedPage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.url+"/api/v1/signals?"+query, nil)
	if err != nil {
		return 0, feedPage{}, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, feedPage{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, feedPage{}, err
	}
	var p feedPage
	if resp.StatusCode == http.StatusOK {
		err = json.Unmarshal(b, &p)
	}
	return resp.StatusCode, p, err
}

// waitFor polls cond (a test helper's wait, not a timing assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type feedResult struct {
	status int
	page   feedPage
	err    error
}

// TestFeedLongPollWakesOnWebhook: a reader waiting at the end of the feed
// (wait=60s) answers with the Signal that a webhook delivery stores while
// it waits; a waiting reader of another tenant stays waiting.
func TestFeedLongPollWakesOnWebhook(t *testing.T) {
	t.Parallel()
	e, f, _ := sandboxed(t)
	_, key := e.tenant("Acme")
	_, otherKey := e.tenant("Other")
	r := e.connect(key)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)

	status, first, err := e.getFeed(context.Background(), key, "")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
	require.Empty(t, first.Signals)

	got := make(chan feedResult, 1)
	go func() {
		s, p, err := e.getFeed(context.Background(), key, "wait=60s&cursor="+url.QueryEscape(first.NextCursor))
		got <- feedResult{s, p, err}
	}()
	otherCtx, cancelOther := context.WithCancel(context.Background())
	defer cancelOther()
	other := make(chan feedResult, 1)
	go func() {
		s, p, err := e.getFeed(otherCtx, otherKey, "wait=60s")
		other <- feedResult{s, p, err}
	}()
	waitFor(t, "both readers to wait", func() bool { return e.feed.Waiters() == 2 })

	d := f.Build(fakesandbox.Delivery{Stream: "items", Items: f.Add("items", 1)})
	req, err := http.NewRequest(http.MethodPost, e.url+"/api/v1/webhooks/fake", strings.NewReader(string(d.Body)))
	require.NoError(t, err)
	req.Header = d.Header
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	require.Contains(t, string(body), `"signals":1`)

	res := <-got
	require.NoError(t, res.err)
	require.Equal(t, http.StatusOK, res.status)
	require.Len(t, res.page.Signals, 1, "the waiting reader answers with the webhook's Signal")
	require.Equal(t, "fake", res.page.Signals[0].Source)
	require.NotEqual(t, first.NextCursor, res.page.NextCursor)

	select {
	case r := <-other:
		t.Fatalf("the other tenant's reader answered: %+v", r)
	default:
	}
	require.Equal(t, 1, e.feed.Waiters(), "the other tenant's reader still waits")
	cancelOther()
	<-other
}

// TestFeedLongPollTimesOutEmpty: with nothing new, a wait ends with an
// empty page and the same cursor; bad wait values are 400.
func TestFeedLongPollTimesOutEmpty(t *testing.T) {
	t.Parallel()
	e := setup(t)
	_, key := e.tenant("Acme")
	status, first, err := e.getFeed(context.Background(), key, "")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)

	status, p, err := e.getFeed(context.Background(), key, "wait=300ms&cursor="+url.QueryEscape(first.NextCursor))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
	require.Empty(t, p.Signals)
	require.Equal(t, first.NextCursor, p.NextCursor)
	require.Zero(t, e.feed.Waiters())

	for _, bad := range []string{"wait=abc", "wait=30", "wait=-1s", "wait=61s", "wait=60001ms", "wait=1m", "wait=1.5s",
		"wait=10s&since=2026-01-01T00:00:00Z", "wait=0s&since=2026-01-01T00:00:00Z", "wait=0ms&until=2026-01-01T00:00:00Z"} {
		r := e.do(http.MethodGet, "/api/v1/signals?"+bad, key, "", "")
		er := requireError(t, r, http.StatusBadRequest, "invalid_request")
		require.Contains(t, er.Details, "wait", bad)
	}
	for _, ok := range []string{"wait=0s", "wait=1ms", "wait=50ms"} {
		status, _, err := e.getFeed(context.Background(), key, ok)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, status, ok)
	}
}

// TestFeedLongPollClientCancelFreesWaiter: a reader that goes away stops
// waiting (nothing is left registered for it).
func TestFeedLongPollClientCancelFreesWaiter(t *testing.T) {
	t.Parallel()
	e := setup(t)
	_, key := e.tenant("Acme")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, _, err := e.getFeed(ctx, key, "wait=60s")
		done <- err
	}()
	waitFor(t, "the reader to wait", func() bool { return e.feed.Waiters() == 1 })
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	waitFor(t, "the waiter to be freed", func() bool { return e.feed.Waiters() == 0 })
}

// TestFeedLongPollWaitsOutTheHorizon: a Signal committed while an older
// writer is still open is held back by the feed horizon when its
// notification arrives; that older writer ends without notifying anyone
// (it stored nothing), and the waiting reader still answers with the
// Signal (it re-reads after a wake that found nothing) instead of waiting
// out its 30 s.
func TestFeedLongPollWaitsOutTheHorizon(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	tenant, key := e.tenant("Acme")
	var conn string
	require.NoError(t, e.schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "fake", ExternalAccountID: "a"})
		conn = c.ID
		return err
	}))
	status, first, err := e.getFeed(ctx, key, "")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)

	// An older writer: holds the signals lock and an id, stores nothing.
	older, err := e.schema.DB.X.BeginTxx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = older.Rollback() }()
	_, err = older.ExecContext(ctx, `SELECT set_config('poblysh.system', 'on', true)`)
	require.NoError(t, err)
	_, err = older.ExecContext(ctx, `SELECT poblysh_lock_signals()`)
	require.NoError(t, err)
	_, err = older.ExecContext(ctx, `SELECT pg_current_xact_id()`)
	require.NoError(t, err)

	got := make(chan feedResult, 1)
	go func() {
		s, p, err := e.getFeed(ctx, key, "wait=30s&cursor="+url.QueryEscape(first.NextCursor))
		got <- feedResult{s, p, err}
	}()
	waitFor(t, "the reader to wait", func() bool { return e.feed.Waiters() == 1 })
	require.NoError(t, e.schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		_, err := tx.InsertSignals(ctx, conn, "fake", []db.NewSignal{{Kind: "item.created", OccurredAt: time.Now(), DedupeKey: "1", Payload: []byte(`{}`)}})
		return err
	}))
	rows, _, err := e.schema.DB.ListFeed(ctx, tenant, db.SignalFilter{Cursor: first.NextCursor, Limit: 10})
	require.NoError(t, err)
	require.Empty(t, rows, "held back behind the older writer")
	time.Sleep(100 * time.Millisecond) // the notification reaches the reader, which finds nothing yet
	require.NoError(t, older.Rollback())

	res := <-got
	require.NoError(t, res.err)
	require.Equal(t, http.StatusOK, res.status)
	require.Len(t, res.page.Signals, 1)
}
