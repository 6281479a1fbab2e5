package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/gen/models"
	"github.com/poblysh/poblysh/sandbox"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
	"github.com/poblysh/poblysh/testenv"
)

// TestRateLimitedGitHubBackfill: a GitHub backfill against a fake that
// grants 10 calls per 10 s (far below the connector's own token bucket,
// which alone would overrun it) needs several windows; the
// streams, which share the account's budget, are paced by the
// x-ratelimit-* headers and finish without one call refused.
func TestRateLimitedGitHubBackfill(t *testing.T) {
	t.Parallel()
	const limit, window = 10, 10 * time.Second
	port := testenv.FreePort()
	fake := githubsandbox.New(githubsandbox.Options{
		Seed: true, WebhookSecret: sandbox.RandomString(32), RateLimit: limit, RateWindow: window,
	})
	fake.Deliverer.SetTarget(sandbox.WebhookURL(fmt.Sprintf("http://127.0.0.1:%d", port), githubsandbox.Name))
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; !strings.HasPrefix(p, "/_sandbox/") && !strings.HasPrefix(p, "/login/") {
			calls.Add(1)
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s := newStack(t, withPort(port), withEnv(fake.Env(srv.URL)), withEnv(map[string]string{"POBLYSH_GITHUB_PAGE_SIZE": "3"}))
	_, key := s.tenant("Paced")
	conn := s.connect(key, "github", map[string]any{"repos": []string{githubsandbox.SeedRepo}})

	js := s.waitJobs(key, string(*conn.ID), "backfill", 3, 3*time.Minute)
	for _, j := range js {
		require.Equal(t, models.JobStatusSucceeded, *j.Status, "%s: %s", *j.Stream, deref(j.Error))
	}
	total := githubsandbox.SeedPullSignals + githubsandbox.SeedReleaseSignals + githubsandbox.SeedCommitSignals
	require.EqualValues(t, total, stored(js), "the backfill stores the seed exactly")
	require.Greater(t, calls.Load(), int64(2*limit), "the backfill needed more than two windows' budget")
	require.Zero(t, fake.RateLimitedCalls(), "no call was refused for the rate limit")
	require.Zero(t, metricValue(t, s, `poblysh_provider_rate_limited_total{provider="github"}`))
}
