package db_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// TestApplyHealthStoresWhatNextDecides: ApplyHealth writes
// poblysh.Health.Next's answer, moves the change time only with the state,
// writes nothing when the answer is "as you were", and refuses deleted
// connections.
func TestApplyHealthStoresWhatNextDecides(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "fake", "acct")
	type state struct {
		Health    poblysh.Health `db:"health"`
		Reason    string         `db:"health_reason"`
		ChangedAt time.Time      `db:"health_changed_at"`
		UpdatedAt time.Time      `db:"updated_at"`
	}
	read := func() state {
		var st state
		require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
			return tx.GetContext(ctx, &st, `SELECT health, health_reason, health_changed_at, updated_at FROM connections WHERE id = $1`, f.conn)
		}))
		return st
	}
	apply := func(ev poblysh.HealthEvent) (poblysh.Health, bool) {
		var h poblysh.Health
		var changed bool
		require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) (err error) {
			h, changed, err = tx.ApplyHealth(ctx, f.conn, ev)
			return err
		}))
		return h, changed
	}
	start := read()
	require.Equal(t, poblysh.HealthHealthy, start.Health)

	h, changed := apply(poblysh.HealthEvent{Kind: poblysh.EventNotFound, Detail: "repo gone"})
	require.True(t, changed)
	require.Equal(t, poblysh.HealthDegraded, h)
	degraded := read()
	require.Equal(t, "not found at the provider: repo gone", degraded.Reason)
	require.True(t, degraded.ChangedAt.After(start.ChangedAt), "the state moved, so did its time")

	h, changed = apply(poblysh.HealthEvent{Kind: poblysh.EventAccessLost, Detail: "octo/app: not found"})
	require.True(t, changed)
	require.Equal(t, poblysh.HealthDegraded, h)
	again := read()
	require.Equal(t, "lost access to octo/app: not found", again.Reason)
	require.Equal(t, degraded.ChangedAt, again.ChangedAt, "a new reason alone keeps the change time")

	_, changed = apply(poblysh.HealthEvent{Kind: poblysh.EventAccessLost, Detail: "octo/app: not found"})
	require.False(t, changed, "the same state and reason are not written again")
	require.Equal(t, again.UpdatedAt, read().UpdatedAt)

	h, changed = apply(poblysh.HealthEvent{Kind: poblysh.EventPaused})
	require.True(t, changed)
	require.Equal(t, poblysh.HealthDisabled, h)
	h, changed = apply(poblysh.HealthEvent{Kind: poblysh.EventCredentialsRejected, Detail: "401"})
	require.False(t, changed, "disabled stays disabled")
	require.Equal(t, poblysh.HealthDisabled, h)
	require.Equal(t, "paused by an operator", read().Reason)

	require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error { return tx.DeleteConnection(ctx, f.conn, false) }))
	err := s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
		_, _, err := tx.ApplyHealth(ctx, f.conn, poblysh.HealthEvent{Kind: poblysh.EventResumed})
		return err
	})
	require.Equal(t, poblysh.ENOTFOUND, poblysh.ErrorCode(err))
}

// TestApplyHealthSerializesEvents: an operator's pause and a sync failure
// racing each other end disabled whatever the order: each event reads the
// state the other left under the row lock.
func TestApplyHealthSerializesEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	for range 5 {
		f := newFixture(t, s.DB, "fake", "acct-"+time.Now().Format("150405.000000000"))
		var wg sync.WaitGroup
		for _, ev := range []poblysh.HealthEvent{{Kind: poblysh.EventPaused}, {Kind: poblysh.EventTransientFailures, Attempt: 3, Detail: "503"}} {
			wg.Go(func() {
				require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
					_, _, err := tx.ApplyHealth(ctx, f.conn, ev)
					return err
				}))
			})
		}
		wg.Wait()
		var h poblysh.Health
		require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
			return tx.GetContext(ctx, &h, `SELECT health FROM connections WHERE id = $1`, f.conn)
		}))
		require.Equal(t, poblysh.HealthDisabled, h)
	}
}

// TestHasLostResources: a completed sync heals only when no resource of the
// connection is recorded as lost.
func TestHasLostResources(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "fake", "acct")
	lost := func() bool {
		var l bool
		require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) (err error) {
			l, err = tx.HasLostResources(ctx, f.conn)
			return err
		}))
		return l
	}
	require.False(t, lost())
	require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
		return tx.GrantResource(ctx, f.conn, db.Resource{Ref: "octo/app", ResourceID: "1"})
	}))
	require.False(t, lost())
	require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
		_, err := tx.LoseResource(ctx, f.conn, "octo/app", "not found")
		return err
	}))
	require.True(t, lost())
	require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
		r, err := tx.LostResource(ctx, f.conn)
		require.NotNil(t, r)
		require.Equal(t, "octo/app", r.Ref)
		require.Equal(t, "not found", r.Reason, "what a health reason names")
		return err
	}))
}
