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
