package api_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/api"
	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
)

// scaledTimeouts are the API's timeouts scaled down, so that a test runs
// past a route's deadline in seconds: every route 1 s (and half a second
// more to answer) instead of 60 s (and 15 s).
func scaledTimeouts(feed, del time.Duration) func(*api.Deps) {
	return func(d *api.Deps) {
		d.Timeouts = api.Timeouts{ReadHeader: 10 * time.Second, Idle: time.Minute,
			Request: time.Second, Grace: 500 * time.Millisecond, Feed: feed, Delete: del}
	}
}

// TestDeleteOutlastingTheDefaultDeadlineIsAnswered: a DELETE
// /connections/{id} runs as long as it needs within its own bounds
// (swagger: a watch pass waited for up to 30 s, the provider's refresh and
// revoke, the purge; it finishes within 5 minutes) and is answered 204.
// The API's server had one ReadTimeout (60 s) and one WriteTimeout (75 s)
// for every route: a delete past them finished, the connection gone, while
// its client got EOF, and the same request again answered 404. Each route
// now has its own deadline, the delete's long enough for it. Here, scaled
// down: the provider takes 3 s to revoke, past the default deadline and
// the feed's (1 s and 2 s, each half a second more to answer).
func TestDeleteOutlastingTheDefaultDeadlineIsAnswered(t *testing.T) {
	t.Parallel()
	var revoked atomic.Int32
	slowRevoke := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(3 * time.Second)
		revoked.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(slowRevoke.Close)
	f := fakesandbox.New(fakesandbox.Options{})
	fsrv := httptest.NewServer(f)
	t.Cleanup(fsrv.Close)
	env := f.Env(fsrv.URL)
	env["POBLYSH_FAKE_REVOKE_URL"] = slowRevoke.URL
	e := setup(t, withProviders(t, env), scaledTimeouts(2*time.Second, 30*time.Second))
	_, key := e.tenant("Acme")
	conn := e.connected(key)

	req, err := http.NewRequest(http.MethodDelete, e.url+"/api/v1/connections/"+conn, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err, "the delete is answered")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode, "%s", body)
	require.Equal(t, int32(1), revoked.Load(), "the token was revoked at the provider")
	requireError(t, e.do(http.MethodGet, "/api/v1/connections/"+conn, key, "", ""), http.StatusNotFound, "not_found")

	// The next request on the connection gets the default deadline again.
	r := e.do(http.MethodGet, "/api/v1/connections", key, "", "")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
}

// TestFeedWaitsPastTheDefaultDeadline: a long poll waits up to its wait
// (at most MaxFeedWait), past the default deadline, and answers with the
// Signal stored after that deadline. Here, scaled down: a route's deadline
// is 1 s, the feed's 20 s, and the Signal comes 2 s into a 15 s wait.
func TestFeedWaitsPastTheDefaultDeadline(t *testing.T) {
	t.Parallel()
	f := fakesandbox.New(fakesandbox.Options{})
	fsrv := httptest.NewServer(f)
	t.Cleanup(fsrv.Close)
	e := setup(t, withProviders(t, f.Env(fsrv.URL)), scaledTimeouts(20*time.Second, 30*time.Second))
	_, key := e.tenant("Acme")
	require.Equal(t, http.StatusOK, e.connect(key).status)
	status, first, err := e.getFeed(context.Background(), key, "")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
	require.Empty(t, first.Signals)

	got := make(chan feedResult, 1)
	go func() {
		s, p, err := e.getFeed(context.Background(), key, "wait=15s&cursor="+url.QueryEscape(first.NextCursor))
		got <- feedResult{s, p, err}
	}()
	waitFor(t, "the reader to wait", func() bool { return e.feed.Waiters() == 1 })
	time.Sleep(2 * time.Second) // past the default deadline and its grace
	require.Equal(t, 1, e.feed.Waiters(), "the reader waits on past the default deadline")

	d := f.Build(fakesandbox.Delivery{Stream: "items", Items: f.Add("items", 1)})
	req, err := http.NewRequest(http.MethodPost, e.url+"/api/v1/webhooks/fake", strings.NewReader(string(d.Body)))
	require.NoError(t, err)
	req.Header = d.Header
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)

	res := <-got
	require.NoError(t, res.err)
	require.Equal(t, http.StatusOK, res.status)
	require.Len(t, res.page.Signals, 1, "the waiting reader answers with the Signal stored past the default deadline")
	require.Equal(t, "fake", res.page.Signals[0].Source)
}

// TestBodyNotSentWithinTheDeadlineEndsTheRequest: without the server-wide
// ReadTimeout, a route's deadline still bounds reading its body: a client
// that sends part of a webhook body and then nothing more does not hold
// the request open (here 1 s, scaled down from 60 s): it is answered 400
// while the body is still open.
func TestBodyNotSentWithinTheDeadlineEndsTheRequest(t *testing.T) {
	t.Parallel()
	e := setup(t, scaledTimeouts(2*time.Second, 30*time.Second))
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a failure, not a hang
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url+"/api/v1/webhooks/fake", pr)
	require.NoError(t, err)
	req.ContentLength = 1000
	req.Header.Set("Content-Type", "application/json")
	go func() { _, _ = pw.Write([]byte(`{"items":[`)) }()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, ctx.Err(), "the server ended the request, not the test")
	require.NoError(t, err, "the request is answered")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	requireError(t, response{status: resp.StatusCode, header: resp.Header, body: body}, http.StatusBadRequest, "invalid_request")
}
