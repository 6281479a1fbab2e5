package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	gh "github.com/google/go-github/v89/github"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
)

// secondaryLimitBody is GitHub's answer to a secondary rate limit
// (rate-limits-for-the-rest-api#about-secondary-rate-limits).
const secondaryLimitBody = `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again. ` +
	`If you reach out to GitHub Support for help, please include the request ID 1234:5678.",` +
	`"documentation_url":"https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits","status":"403"}`

// limitServer answers every call with status and the headers set, and
// counts the calls per account token.
type limitServer struct {
	mu      sync.Mutex
	calls   map[string]int
	status  int
	headers map[string]string
}

func (s *limitServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls[r.Header.Get("Authorization")]++
	status, headers := s.status, s.headers
	s.mu.Unlock()
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	// GitHub's secondary-limit answer carries the primary budget, not 0.
	h.Set("X-RateLimit-Limit", "5000")
	h.Set("X-RateLimit-Remaining", "4987")
	h.Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(40*time.Minute).Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
	for k, v := range headers {
		h.Set(k, v)
	}
	w.WriteHeader(status)
	fmt.Fprint(w, secondaryLimitBody)
}

func (s *limitServer) count(token string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls["Bearer "+token]
}

func newLimitServer(t *testing.T, status int, headers map[string]string) (*limitServer, *connectors.Provider, *connectors.Registry) {
	s := &limitServer{calls: map[string]int{}, status: status, headers: headers}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	p := providerFrom(t, map[string]string{"POBLYSH_GITHUB_CLIENT_ID": "id", "POBLYSH_GITHUB_CLIENT_SECRET": "s",
		"POBLYSH_GITHUB_API_URL": ts.URL + "/"})
	return s, p, connectors.NewRegistry(p)
}

func fetchStream(p *connectors.Provider, reg *connectors.Registry, account, token, stream string) error {
	_, err := p.Connector.(*Connector).FetchPage(context.Background(), connectors.PageRequest{
		Connection: connectors.Connection{ID: "c-" + account, Config: []byte(`{"repos":["octo-org/hello-world"]}`)},
		Stream:     stream, HTTP: reg.HTTPClient(p, account, token), Now: time.Now(),
	})
	return err
}

// GitHub: "If the retry-after response header is present, you should not
// retry your request until after that many seconds has elapsed. If the
// x-ratelimit-remaining header is 0, … until after … x-ratelimit-reset.
// Otherwise, wait for at least one minute before retrying. If your request
// continues to fail due to a secondary rate limit, wait for an
// exponentially increasing amount of time between retries". Only the
// undated answer's minute is a floor the engine backs off from; the dated
// ones are waited as they are.
func TestSecondaryRateLimitWithoutDateIsOnlyAFloor(t *testing.T) {
	reset := time.Now().Add(10 * time.Minute)
	for _, c := range []struct {
		name    string
		status  int
		headers map[string]string
		floor   bool
		min     time.Duration
		max     time.Duration
	}{
		{"403 secondary, no retry-after, remaining not 0", http.StatusForbidden, nil, true, time.Minute, time.Minute},
		{"429 secondary, no retry-after, remaining not 0", http.StatusTooManyRequests, nil, true, time.Minute, time.Minute},
		{"403 secondary with retry-after", http.StatusForbidden, map[string]string{"Retry-After": "30"}, false, 30 * time.Second, 30 * time.Second},
		{"403 with remaining 0 and a reset", http.StatusForbidden,
			map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": strconv.FormatInt(reset.Unix(), 10)},
			false, 9 * time.Minute, 10 * time.Minute},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, p, reg := newLimitServer(t, c.status, c.headers)
			err := fetchStream(p, reg, "1", "tok", "commits:octo-org/hello-world")
			d, ok := connectors.RetryAfter(err)
			require.True(t, ok, "rate limited: %v", err)
			require.GreaterOrEqual(t, d, c.min)
			require.LessOrEqual(t, d, c.max)
			require.Equal(t, c.floor, connectors.IsFloor(err), "%v", err)
		})
	}

	// go-github's own secondary-limit error: a floor unless it is dated.
	undated := mapErr(&gh.AbuseRateLimitError{Message: "secondary rate limit"})
	d, _ := connectors.RetryAfter(undated)
	require.Equal(t, time.Minute, d)
	require.True(t, connectors.IsFloor(undated))
	ten := 10 * time.Second
	dated := mapErr(&gh.AbuseRateLimitError{Message: "secondary rate limit", RetryAfter: &ten})
	d, _ = connectors.RetryAfter(dated)
	require.Equal(t, ten, d)
	require.False(t, connectors.IsFloor(dated))
	require.False(t, connectors.IsFloor(errors.New("boom")))
}

// A secondary rate limit holds the whole account: the account's other
// streams do not call GitHub until the wait is over ("Continuing to make
// requests while you are rate limited may result in the banning of your
// integration"); another account still calls. The answer carries
// x-ratelimit-remaining 4987, so the primary budget alone learnt nothing.
func TestSecondaryRateLimitHoldsTheAccount(t *testing.T) {
	s, p, reg := newLimitServer(t, http.StatusForbidden, nil)
	err := fetchStream(p, reg, "1", "tok-1", "commits:octo-org/hello-world")
	require.ErrorIs(t, err, connectors.ErrRateLimited)
	require.Equal(t, 1, s.count("tok-1"))

	for _, stream := range []string{"pulls:octo-org/hello-world", "releases:octo-org/hello-world"} {
		err = fetchStream(p, reg, "1", "tok-1", stream)
		d, ok := connectors.RetryAfter(err)
		require.True(t, ok, "%s: rate limited while the account is held: %v", stream, err)
		require.Greater(t, d, 50*time.Second, "%s waits for the rest of the minute", stream)
		require.LessOrEqual(t, d, time.Minute)
		require.Equal(t, 1, s.count("tok-1"), "%s did not call GitHub while the account was held", stream)
	}

	require.ErrorIs(t, fetchStream(p, reg, "2", "tok-2", "commits:octo-org/hello-world"), connectors.ErrRateLimited)
	require.Equal(t, 1, s.count("tok-2"), "another account is not held")
}
