package connectors_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/poblysh/poblysh/connectors"
)

var now = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func TestRateLimitDelay(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		h       http.Header
		want    time.Duration
		limited bool
	}{
		{"no headers", hdr(), 0, false},
		{"Retry-After seconds", hdr("Retry-After", "120"), 120 * time.Second, true},
		{"Retry-After zero", hdr("Retry-After", "0"), 0, true},
		{"Retry-After fractional", hdr("Retry-After", "1.5"), 1500 * time.Millisecond, true},
		{"Retry-After HTTP date", hdr("Retry-After", now.Add(90*time.Second).Format(http.TimeFormat)), 90 * time.Second, true},
		{"Retry-After date in the past", hdr("Retry-After", now.Add(-time.Hour).Format(http.TimeFormat)), 0, true},
		{"Retry-After garbage", hdr("Retry-After", "soon"), 0, false},
		{"Retry-After wins over reset", hdr("Retry-After", "5", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", strconv.FormatInt(now.Add(time.Hour).Unix(), 10)), 5 * time.Second, true},
		{"GitHub exhausted with epoch reset", hdr("x-ratelimit-remaining", "0", "x-ratelimit-reset", strconv.FormatInt(now.Add(42*time.Second).Unix(), 10)), 42 * time.Second, true},
		{"GitHub reset already passed", hdr("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", strconv.FormatInt(now.Add(-time.Minute).Unix(), 10)), 0, true},
		{"GitHub remaining > 0 is not limited", hdr("X-RateLimit-Remaining", "4999", "X-RateLimit-Reset", strconv.FormatInt(now.Add(time.Hour).Unix(), 10)), 0, false},
		{"remaining 0 without reset", hdr("X-RateLimit-Remaining", "0"), 0, true},
		{"Jira ISO-8601 reset", hdr("X-RateLimit-Reset", "2026-03-04T05:08Z"), 113 * time.Second, true},
		{"ISO-8601 reset RFC 3339", hdr("X-RateLimit-Reset", now.Add(30*time.Second).Format(time.RFC3339)), 30 * time.Second, true},
		{"ISO-8601 reset with millis", hdr("X-RateLimit-Reset", "2026-03-04T05:06:17.000+0000"), 10 * time.Second, true},
		{"small reset is seconds from now", hdr("X-RateLimit-Reset", "17"), 17 * time.Second, true},
		{"IETF RateLimit-Reset delta", hdr("RateLimit-Reset", "30"), 30 * time.Second, true},
		{"IETF RateLimit-Reset with remaining > 0", hdr("RateLimit-Reset", "30", "X-RateLimit-Remaining", "10"), 0, false},
		{"unparseable reset", hdr("X-RateLimit-Reset", "tomorrow"), 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, ok := connectors.RateLimitDelay(tc.h, now)
			require.Equal(t, tc.limited, ok)
			require.Equal(t, tc.want, d)
		})
	}
}

func TestClassifyResponse(t *testing.T) {
	t.Parallel()
	future := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	cases := []struct {
		status     int
		h          http.Header
		want       error // nil: success
		retryAfter time.Duration
	}{
		{200, hdr(), nil, 0},
		{204, hdr(), nil, 0},
		{304, hdr(), nil, 0},
		{401, hdr(), connectors.ErrUnauthorized, 0},
		{403, hdr(), connectors.ErrForbidden, 0},
		{403, hdr("X-RateLimit-Remaining", "12", "X-RateLimit-Reset", future), connectors.ErrForbidden, 0},
		{403, hdr("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", future), connectors.ErrRateLimited, -1},
		{403, hdr("Retry-After", "60"), connectors.ErrRateLimited, time.Minute},
		{404, hdr(), connectors.ErrNotFound, 0},
		{429, hdr(), connectors.ErrRateLimited, 0},
		{429, hdr("Retry-After", "7"), connectors.ErrRateLimited, 7 * time.Second},
		{408, hdr(), connectors.ErrTransient, 0},
		{500, hdr(), connectors.ErrTransient, 0},
		{502, hdr(), connectors.ErrTransient, 0},
		{503, hdr("Retry-After", "3"), connectors.ErrRateLimited, 3 * time.Second},
		{400, hdr(), connectors.ErrInvalidConfig, 0},
		{410, hdr(), connectors.ErrInvalidConfig, 0},
		{422, hdr(), connectors.ErrInvalidConfig, 0},
	}
	for _, tc := range cases {
		err := connectors.ClassifyResponse(&http.Response{StatusCode: tc.status, Header: tc.h})
		if tc.want == nil {
			require.NoError(t, err, "%d", tc.status)
			continue
		}
		require.ErrorIs(t, err, tc.want, "%d %v", tc.status, tc.h)
		require.Equal(t, tc.want, connectors.Kind(err), "%d %v", tc.status, tc.h)
		d, isRL := connectors.RetryAfter(err)
		require.Equal(t, tc.want == connectors.ErrRateLimited, isRL)
		switch {
		case tc.retryAfter > 0:
			require.Equal(t, tc.retryAfter, d)
		case tc.retryAfter < 0: // an hour away, minus test time
			require.InDelta(t, time.Hour.Seconds(), d.Seconds(), 5)
		}
		require.Equal(t, connectors.IsPermanent(err), tc.want == connectors.ErrUnauthorized || tc.want == connectors.ErrForbidden ||
			tc.want == connectors.ErrNotFound || tc.want == connectors.ErrInvalidConfig, "%d", tc.status)
	}
}

func TestKind(t *testing.T) {
	t.Parallel()
	require.Nil(t, connectors.Kind(nil))
	require.Equal(t, connectors.ErrTransient, connectors.Kind(errors.New("something odd")), "unknown failures are retried")
	require.Equal(t, connectors.ErrCursorExpired, connectors.Kind(errors.Join(errors.New("x"), connectors.ErrCursorExpired)))
	cfg := &connectors.ConfigError{Fields: map[string]string{"repos": "unknown"}}
	require.ErrorIs(t, cfg, connectors.ErrInvalidConfig)
	require.True(t, connectors.IsPermanent(cfg))
	require.False(t, connectors.IsPermanent(connectors.ErrCursorExpired))
	require.False(t, connectors.IsPermanent(&connectors.RateLimited{}))
}

// transport builds a client whose Transport is the one under test.
func transport(base http.RoundTripper, lim *rate.Limiter, auth string, classify func(*http.Response) error) *http.Client {
	if base == nil {
		// A connection pool of its own: the tests' servers come and go on
		// ports the system reuses, and a keep-alive connection another
		// test left in the shared default pool could be taken for a new
		// server's (a CI run failed "empty GET" with a network error).
		base = http.DefaultTransport.(*http.Transport).Clone()
	}
	return &http.Client{Transport: &connectors.Transport{Base: base, Provider: "test", Limiter: lim, Auth: auth, Classify: classify}}
}

func TestTransport(t *testing.T) {
	t.Parallel()
	var gotAuth atomic.Value
	status := atomic.Int32{}
	status.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth.Store(r.Header.Get("Authorization"))
		if s := int(status.Load()); s == 429 {
			w.Header().Set("Retry-After", "9")
			w.WriteHeader(s)
		} else {
			w.WriteHeader(s)
		}
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	defer srv.Close()

	t.Run("sets Authorization without touching the caller's request", func(t *testing.T) {
		hc := transport(nil, nil, "Bearer tok-123", nil)
		req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer from-caller")
		resp, err := hc.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.JSONEq(t, `{"ok":true}`, string(b), "success bodies pass through")
		require.Equal(t, "Bearer tok-123", gotAuth.Load())
		require.Equal(t, "Bearer from-caller", req.Header.Get("Authorization"))

		resp, err = transport(nil, nil, "", nil).Get(srv.URL)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, "", gotAuth.Load(), "no Auth leaves the header unset")
	})

	t.Run("error responses become neutral errors through *url.Error", func(t *testing.T) {
		for _, tc := range []struct {
			status int
			want   error
		}{{401, connectors.ErrUnauthorized}, {404, connectors.ErrNotFound}, {429, connectors.ErrRateLimited}, {500, connectors.ErrTransient}, {400, connectors.ErrInvalidConfig}} {
			status.Store(int32(tc.status))
			resp, err := transport(nil, nil, "", nil).Get(srv.URL + "/things/1?secret=x")
			require.Nil(t, resp)
			var ue *url.Error
			require.ErrorAs(t, err, &ue, "the http.Client wraps RoundTrip errors")
			require.ErrorIs(t, err, tc.want)
			require.Equal(t, tc.want, connectors.Kind(err))
			require.Contains(t, err.Error(), "GET /things/1")
			if tc.status == 429 {
				d, ok := connectors.RetryAfter(err)
				require.True(t, ok)
				require.Equal(t, 9*time.Second, d)
			}
		}
		status.Store(200)
	})

	t.Run("a provider classifier overrides the default", func(t *testing.T) {
		status.Store(410)
		gone := func(r *http.Response) error {
			if r.StatusCode == http.StatusGone {
				return connectors.ErrCursorExpired
			}
			return connectors.ClassifyResponse(r)
		}
		_, err := transport(nil, nil, "", gone).Get(srv.URL)
		require.ErrorIs(t, err, connectors.ErrCursorExpired)
		status.Store(200)
	})

	t.Run("network errors are transient", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		ln.Close()
		_, err = transport(nil, nil, "", nil).Get("http://" + addr + "/x")
		require.ErrorIs(t, err, connectors.ErrTransient)
		require.Contains(t, err.Error(), "network error (connection refused)", "the system's reason")

		// A server that hangs up mid-response.
		hangup := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, _, _ := w.(http.Hijacker).Hijack()
			c.Close()
		}))
		defer hangup.Close()
		_, err = transport(nil, nil, "", nil).Get(hangup.URL)
		require.ErrorIs(t, err, connectors.ErrTransient)
		require.Contains(t, err.Error(), "connection closed")
	})

	t.Run("a cancelled call is not a provider failure", func(t *testing.T) {
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}))
		defer slow.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, slow.URL, nil)
		_, err := transport(nil, nil, "", nil).Do(req)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.NotErrorIs(t, err, connectors.ErrTransient)
	})

	t.Run("waits on the limiter", func(t *testing.T) {
		lim := rate.NewLimiter(rate.Every(100*time.Millisecond), 1)
		hc := transport(nil, lim, "", nil)
		start := time.Now()
		for range 4 {
			resp, err := hc.Get(srv.URL)
			require.NoError(t, err)
			resp.Body.Close()
		}
		require.GreaterOrEqual(t, time.Since(start), 280*time.Millisecond, "4 calls at 10/s with burst 1 take at least 300 ms")

		// A wait longer than the caller's deadline fails without calling.
		slowLim := rate.NewLimiter(rate.Every(time.Hour), 1)
		slowLim.Allow()
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/never", nil)
		gotAuth.Store("untouched")
		_, err := transport(nil, slowLim, "Bearer x", nil).Do(req)
		require.ErrorContains(t, err, "waiting for rate limiter")
		require.Equal(t, "untouched", gotAuth.Load(), "no request was sent")
	})
}

func TestLimitersAreSharedPerAccount(t *testing.T) {
	t.Parallel()
	l := connectors.NewLimiters()
	p := connectors.Policy{Rate: 5, Burst: 3}
	a := l.For("github", "acct-1", p)
	require.Same(t, a, l.For("github", "acct-1", connectors.Policy{Rate: 99, Burst: 99}), "the first policy wins; callers share one bucket")
	require.NotSame(t, a, l.For("github", "acct-2", p))
	require.NotSame(t, a, l.For("slack", "acct-1", p))
	require.Equal(t, rate.Limit(5), a.Limit())
	require.Equal(t, 3, a.Burst())

	unlimited := l.For("fake", "acct", connectors.Policy{})
	require.Equal(t, rate.Inf, unlimited.Limit(), "a zero rate means unlimited")
	require.Equal(t, 1, unlimited.Burst())

	// The registry hands every client of one account the same limiter.
	spec := &connectors.Spec{Name: "limited", Policy: connectors.Policy{Rate: 1, Burst: 1}}
	reg := connectors.NewRegistry(&connectors.Provider{Spec: spec, Connector: stubConnector{spec}})
	lim := func(hc *http.Client) *rate.Limiter { return hc.Transport.(*connectors.Transport).Limiter }
	c1, c2 := reg.HTTPClient(reg.Providers()[0], "acct", "tok-1"), reg.HTTPClient(reg.Providers()[0], "acct", "tok-2")
	require.Same(t, lim(c1), lim(c2))
	require.NotSame(t, lim(c1), lim(reg.HTTPClient(reg.Providers()[0], "other", "tok-1")))
	require.Equal(t, "Bearer tok-2", c2.Transport.(*connectors.Transport).Auth)
	require.Empty(t, reg.HTTPClient(reg.Providers()[0], "acct", "").Transport.(*connectors.Transport).Auth)
}

type stubConnector struct{ s *connectors.Spec }

func (c stubConnector) Spec() *connectors.Spec { return c.s }

// TestTransportKeepsCredentialsOnTheirHost: a redirect within the provider's
// host stays authorized (GitHub answers 301 for a renamed repository), a
// redirect to another host (or port) gets no Authorization header, whether
// the transport or the caller set it.
func TestTransportKeepsCredentialsOnTheirHost(t *testing.T) {
	t.Parallel()
	type hit struct{ path, auth string }
	var mu sync.Mutex
	var hits []hit
	record := func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits = append(hits, hit{r.Host + r.URL.Path, r.Header.Get("Authorization")})
		mu.Unlock()
	}
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record(w, r)
		_, _ = io.WriteString(w, `{"stolen":false}`)
	}))
	defer other.Close()
	var provider *httptest.Server
	provider = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record(w, r)
		switch r.URL.Path {
		case "/repos/old/name":
			http.Redirect(w, r, provider.URL+"/repositories/42", http.StatusMovedPermanently)
		case "/repositories/42":
			http.Redirect(w, r, other.URL+"/elsewhere", http.StatusFound)
		default:
			_, _ = io.WriteString(w, `{}`)
		}
	}))
	defer provider.Close()
	host := func(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

	for _, tc := range []struct{ name, auth, callerAuth, want string }{
		{"transport credentials", "Bearer tok-123", "", "Bearer tok-123"},
		{"caller credentials", "", "Bearer from-caller", "Bearer from-caller"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			hits = nil
			mu.Unlock()
			req, err := http.NewRequest(http.MethodGet, provider.URL+"/repos/old/name", nil)
			require.NoError(t, err)
			if tc.callerAuth != "" {
				req.Header.Set("Authorization", tc.callerAuth)
			}
			resp, err := transport(nil, nil, tc.auth, nil).Do(req)
			require.NoError(t, err)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.JSONEq(t, `{"stolen":false}`, string(b), "the redirect was followed")
			mu.Lock()
			defer mu.Unlock()
			require.Equal(t, []hit{
				{host(provider) + "/repos/old/name", tc.want},
				{host(provider) + "/repositories/42", tc.want},
				{host(other) + "/elsewhere", ""},
			}, hits)
		})
	}
}

// TestTransportRefusesGarbage: a success response that is not JSON (HTML
// with 200, an empty body announced as JSON, truncated JSON, text under
// another content type) is a transient error naming the provider and the
// endpoint; JSON under any text type, empty 204s, POSTs answered with
// nothing and other media types pass with their body intact.
func TestTransportRefusesGarbage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, method, ctype, body string
		status                    int
		garbage                   string
	}{
		{"truncated JSON", "GET", "application/json", `{"items":[{"id":1,"na`, 200, "not valid JSON"},
		{"HTML page", "GET", "text/html; charset=utf-8", "<html><body>Bad gateway</body></html>", 200, "HTML page"},
		{"HTML as JSON", "GET", "application/json", "<html>oops</html>", 200, "HTML page"},
		{"empty JSON", "GET", "application/json", "", 200, "empty body"},
		{"empty GET", "GET", "", "", 200, "empty body"},
		{"plain text", "GET", "text/plain", "upstream reset", 200, "not valid JSON"},
		{"JSON as text", "GET", "text/plain; charset=utf-8", `{"ok":true}`, 200, ""},
		{"vendor JSON", "GET", "application/vnd.github+json", `[1,2]`, 200, ""},
		{"no content", "DELETE", "", "", 204, ""},
		{"empty POST", "POST", "", "", 200, ""},
		{"multipart", "POST", "multipart/mixed; boundary=x", "--x--", 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.ctype != "" {
					w.Header().Set("Content-Type", tc.ctype)
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			req, err := http.NewRequest(tc.method, srv.URL+"/v1/things", nil)
			require.NoError(t, err)
			resp, err := transport(nil, nil, "", nil).Do(req)
			if tc.garbage != "" {
				require.Nil(t, resp)
				require.ErrorIs(t, err, connectors.ErrTransient)
				require.Contains(t, err.Error(), "test: "+tc.method+" /v1/things")
				require.Contains(t, err.Error(), tc.garbage)
				return
			}
			require.NoError(t, err)
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, tc.body, string(b), "the body passes through intact")
		})
	}
}
