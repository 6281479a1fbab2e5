package activities

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
)

func TestBackoffGrowsWithJitterAndCap(t *testing.T) {
	t.Parallel()
	for attempt := int32(1); attempt <= 12; attempt++ {
		full := time.Second << (attempt - 1)
		if full > 5*time.Minute || attempt > 10 {
			full = 5 * time.Minute
		}
		for range 50 {
			d := backoff(attempt, time.Second, 5*time.Minute)
			require.GreaterOrEqual(t, d, full/2, "attempt %d", attempt)
			require.LessOrEqual(t, d, full, "attempt %d", attempt)
		}
	}
}

// TestTranslateClassifies: the Temporal error an activity fails with for
// each neutral error (health side effects need a database and are covered
// by the end-to-end tests; here the DB is absent and only logged).
func TestTranslateClassifies(t *testing.T) {
	t.Parallel()
	a := &Activities{}
	tgt := poblysh.ConnectionRef{TenantID: "t", ConnectionID: "c", Provider: "fake"}
	cases := []struct {
		err          error
		typ          string
		nonRetryable bool
		delay        time.Duration
	}{
		{&connectors.RateLimited{RetryAfter: 7 * time.Second}, ErrTypeRateLimited, false, 7*time.Second + 250*time.Millisecond},
		{fmt.Errorf("x: %w", connectors.ErrCursorExpired), ErrTypeCursorExpired, true, 0},
		{errors.New("boom"), ErrTypeTransient, false, -1},
	}
	for _, c := range cases {
		err := a.translate(context.Background(), tgt, c.err)
		var appErr *temporal.ApplicationError
		require.True(t, errors.As(err, &appErr), "%v", c.err)
		require.Equal(t, c.typ, appErr.Type())
		require.Equal(t, c.nonRetryable, appErr.NonRetryable())
		if c.delay > 0 {
			require.Equal(t, c.delay, appErr.NextRetryDelay())
		}
		if c.delay < 0 {
			require.Positive(t, appErr.NextRetryDelay(), "transient failures carry a jittered backoff")
		}
	}
}

// TestRateLimitFloorBacksOffByAttempt: a delay that is only the provider's
// floor for an undated limit (GitHub's secondary rate limit without
// retry-after: "wait for at least one minute … If your request continues
// to fail …, wait for an exponentially increasing amount of time between
// retries") grows with the attempt, 1, 2, 4… minutes (jittered, never
// under the floor) up to 30; a dated delay is waited as it is at every
// attempt; no delay backs off from 5 s.
func TestRateLimitFloorBacksOffByAttempt(t *testing.T) {
	t.Parallel()
	const hair = 250 * time.Millisecond
	floor := fmt.Errorf("github: GET /repos/o/r/commits: %w", &connectors.RateLimited{RetryAfter: time.Minute, Reason: "secondary rate limit", Floor: true})
	dated := &connectors.RateLimited{RetryAfter: time.Minute, Reason: "HTTP 429"}
	require.Equal(t, time.Minute+hair, rateLimitDelay(floor, 1), "the first refusal waits the floor")
	for attempt := int32(1); attempt <= 12; attempt++ {
		full := min(time.Minute<<(attempt-1), connectors.FloorBackoffCap)
		for range 50 {
			d := rateLimitDelay(floor, attempt)
			require.GreaterOrEqual(t, d, max(full/2, time.Minute)+hair, "attempt %d", attempt)
			require.LessOrEqual(t, d, full+hair, "attempt %d", attempt)
		}
		require.Equal(t, time.Minute+hair, rateLimitDelay(dated, attempt), "a dated delay is waited as it is (attempt %d)", attempt)
		d := rateLimitDelay(&connectors.RateLimited{}, attempt)
		require.LessOrEqual(t, d, 5*time.Minute+hair, "attempt %d", attempt)
		require.GreaterOrEqual(t, d, min(5*time.Second<<(attempt-1), 5*time.Minute)/2+hair, "attempt %d", attempt)
	}
	require.GreaterOrEqual(t, rateLimitDelay(floor, 7), 15*time.Minute, "the seventh refusal in a row waits 15 to 30 minutes")

	// Through translate (attempt 1 outside an activity): the delay Temporal gets.
	err := (&Activities{}).translate(context.Background(), poblysh.ConnectionRef{TenantID: "t", ConnectionID: "c", Provider: "github"}, floor)
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.Equal(t, ErrTypeRateLimited, appErr.Type())
	require.Equal(t, time.Minute+hair, appErr.NextRetryDelay())
}
