package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/gen/models"
	"github.com/poblysh/poblysh/sandbox"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
	"github.com/poblysh/poblysh/testenv"
)

// BenchmarkRateLimitedBackfill: a GitHub backfill against the sandbox
// granting 100 calls a minute (GitHub's 5,000 an hour scaled down, the
// small-budget fault), with enough commits to need more than one window.
// It reports the API calls made, the time from the first call to the last,
// the minimum time the budget allows for that many calls (a window per
// 100 calls after the first 100), their ratio (target ≤ 1.1), and the
// calls refused for the rate limit (target 0).
func BenchmarkRateLimitedBackfill(b *testing.B) {
	const limit, window = 100, time.Minute
	commits := scaled(1500)
	for range b.N {
		port := testenv.FreePort()
		fake := githubsandbox.New(githubsandbox.Options{
			Seed: true, WebhookSecret: sandbox.RandomString(32), RateLimit: limit, RateWindow: window,
		})
		fake.Deliverer.SetTarget(sandbox.WebhookURL(fmt.Sprintf("http://127.0.0.1:%d", port), githubsandbox.Name))
		for left := commits; left > 0; left -= 2000 {
			_, err := fake.Push(githubsandbox.SeedRepo, githubsandbox.PushInput{Commits: min(left, 2000)})
			require.NoError(b, err)
		}
		fake.Wait()
		var mu sync.Mutex
		var first, last time.Time
		calls := 0
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if p := r.URL.Path; !strings.HasPrefix(p, "/_sandbox/") && !strings.HasPrefix(p, "/login/") {
				mu.Lock()
				if calls == 0 {
					first = time.Now()
				}
				calls++
				last = time.Now()
				mu.Unlock()
			}
			fake.ServeHTTP(w, r)
		}))
		s := newStack(b, withPort(port), withEnv(fake.Env(srv.URL)),
			withEnv(map[string]string{"POBLYSH_GITHUB_PAGE_SIZE": "10", "POBLYSH_LOG_LEVEL": "warn"}))
		_, key := s.tenant("Paced")
		start := time.Now()
		conn := s.connect(key, "github", map[string]any{"repos": []string{githubsandbox.SeedRepo}})
		js := s.waitJobs(key, string(*conn.ID), "backfill", 3, 15*time.Minute)
		total := time.Since(start)
		for _, j := range js {
			require.Equal(b, models.JobStatusSucceeded, *j.Status, "%s: %s", *j.Stream, deref(j.Error))
		}
		require.EqualValues(b, githubsandbox.SeedPullSignals+githubsandbox.SeedReleaseSignals+githubsandbox.SeedCommitSignals+commits, stored(js))
		srv.Close()
		mu.Lock()
		n, span := calls, last.Sub(first)
		mu.Unlock()
		minimum := time.Duration((n-1)/limit) * window
		refused := fake.RateLimitedCalls()
		b.ReportMetric(float64(n), "api_calls")
		b.ReportMetric(span.Seconds(), "s_first_to_last_call")
		b.ReportMetric(minimum.Seconds(), "s_budget_minimum")
		if minimum > 0 {
			b.ReportMetric(span.Seconds()/minimum.Seconds(), "x_budget_minimum")
		}
		b.ReportMetric(float64(refused), "rate_limited_responses")
		b.Logf("backfill of %d commits at %d calls a minute: %d API calls in %s (first to last; %s from connect to done); "+
			"the budget allows them in %s at the least (%.2f×); %d answered 403/429 for the rate limit",
			commits, limit, n, span.Round(time.Millisecond), total.Round(time.Millisecond), minimum, span.Seconds()/max(minimum.Seconds(), 1e-9), refused)
	}
}
