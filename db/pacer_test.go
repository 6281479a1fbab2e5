package db_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// TestPacerSharesBudgets: a budget lets its burst through at once, then
// one call per interval; concurrent callers (as other processes would be)
// each get their own turn; keys are independent.
func TestPacerSharesBudgets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	p := db.Pacer{DB: s.DB}
	every := time.Hour
	reserve := func(key string) time.Duration {
		d, booked, err := p.Reserve(ctx, key, every, 2, -1)
		require.NoError(t, err)
		require.True(t, booked)
		return d
	}
	require.Zero(t, reserve("slack:T1:tier3"))
	require.Zero(t, reserve("slack:T1:tier3"), "the burst of 2")
	require.InDelta(t, every.Seconds(), reserve("slack:T1:tier3").Seconds(), 5)
	require.InDelta(t, 2*every.Seconds(), reserve("slack:T1:tier3").Seconds(), 5)
	require.Zero(t, reserve("slack:T2:tier3"), "another workspace")

	var mu sync.Mutex
	var waits []int
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := reserve("slack:T3:tier2")
			mu.Lock()
			waits = append(waits, int((d+every/2)/every))
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(waits)
	require.Equal(t, []int{0, 0, 1, 2, 3, 4, 5, 6}, waits, "concurrent callers queue, none shares a turn")
}

// TestPacerBooksOnlyWithinTheWait: a call due later than the caller's
// bound is not booked and leaves the budget as it was (the wait says when
// it would be due); one within it is. Before 2026-12-07 every turn was
// booked, so callers that could not wait for theirs pushed the budget
// ahead of the clock for nothing (Slack's non-Marketplace budget then made
// no call at all).
func TestPacerBooksOnlyWithinTheWait(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	p := db.Pacer{DB: s.DB}
	every := time.Hour
	reserve := func(within time.Duration) (time.Duration, bool) {
		d, booked, err := p.Reserve(ctx, "slack:T1:non-marketplace", every, 1, within)
		require.NoError(t, err)
		return d, booked
	}
	d, booked := reserve(0)
	require.True(t, booked, "the first call is due now")
	require.Zero(t, d)
	for range 3 {
		d, booked = reserve(3 * time.Minute)
		require.False(t, booked, "due in an hour, past the caller's 3 minutes")
		require.InDelta(t, every.Seconds(), d.Seconds(), 5)
	}
	d, booked = reserve(2 * every)
	require.True(t, booked)
	require.InDelta(t, every.Seconds(), d.Seconds(), 5, "the refused calls took no turn")
	d, booked = reserve(-1)
	require.True(t, booked, "no bound")
	require.InDelta(t, 2*every.Seconds(), d.Seconds(), 5)
	d, booked = reserve(0)
	require.False(t, booked)
	require.InDelta(t, 3*every.Seconds(), d.Seconds(), 5)
}
