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
		d, err := p.Reserve(ctx, key, every, 2)
		require.NoError(t, err)
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
