package db_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

func TestLeasesCapConcurrency(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	a, b := newFixture(t, s.DB, "fake", "a"), newFixture(t, s.DB, "fake", "b")
	acquire := func(f fixture, holder string) bool {
		var ok bool
		require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) (err error) {
			ok, err = tx.AcquireLease(ctx, holder, 2, time.Minute)
			return err
		}))
		return ok
	}
	holders := func(f fixture) (hs []string) {
		require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
			return tx.SelectContext(ctx, &hs, `SELECT holder FROM sync_leases ORDER BY holder`)
		}))
		return hs
	}

	require.True(t, acquire(a, "h1"))
	require.True(t, acquire(a, "h2"))
	require.False(t, acquire(a, "h3"), "the cap is 2")
	require.True(t, acquire(a, "h1"), "the same holder re-acquires (extends) its slot")
	require.True(t, acquire(b, "h1"), "caps are per tenant")
	require.Equal(t, []string{"h1", "h2"}, holders(a))

	// Release frees a slot.
	require.NoError(t, s.DB.WithTenant(ctx, a.tenant, func(tx *db.Tx) error { return tx.ReleaseLease(ctx, "h2") }))
	require.True(t, acquire(a, "h3"))
	require.False(t, acquire(a, "h4"))

	// A crashed worker's lease expires and frees its slot by itself.
	require.NoError(t, s.DB.WithTenant(ctx, a.tenant, func(tx *db.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE sync_leases SET expires_at = now() - interval '1 second' WHERE holder = 'h1'`)
		return err
	}))
	require.True(t, acquire(a, "h4"))
	require.Equal(t, []string{"h3", "h4"}, holders(a))
	require.Equal(t, []string{"h1"}, holders(b), "another tenant's leases are untouched")

	// Re-acquiring extends the expiry.
	var before, after time.Time
	get := func(dst *time.Time) {
		require.NoError(t, s.DB.WithTenant(ctx, a.tenant, func(tx *db.Tx) error {
			return tx.GetContext(ctx, dst, `SELECT expires_at FROM sync_leases WHERE holder = 'h3'`)
		}))
	}
	get(&before)
	time.Sleep(10 * time.Millisecond)
	require.True(t, acquire(a, "h3"))
	get(&after)
	require.True(t, after.After(before))
}

// TestLeasesUnderContention: many workers racing for a cap of 3 get
// exactly 3 slots.
func TestLeasesUnderContention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "fake", "a")
	var got atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			err := s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
				ok, err := tx.AcquireLease(ctx, fmt.Sprintf("worker-%d", i), 3, time.Minute)
				if ok {
					got.Add(1)
				}
				return err
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	close(start)
	wg.Wait()
	require.Equal(t, int32(3), got.Load())
}
