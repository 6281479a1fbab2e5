package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// retractedKeys lists the tenant's Signals marked retracted, by dedupe key.
func retractedKeys(t *testing.T, d *db.DB, tenant string) []string {
	t.Helper()
	var keys []string
	require.NoError(t, d.WithTenant(context.Background(), tenant, func(tx *db.Tx) error {
		return tx.SelectContext(context.Background(), &keys, `SELECT dedupe_key FROM signals
			WHERE payload->'attributes'->>'retracted' = 'true' ORDER BY dedupe_key`)
	}))
	return keys
}

// A retraction and the store of the Signal it names can race (a Slack
// message deleted while a sync page that read it before, or the message's
// own delivery, is being stored): whichever commits later re-applies the
// retraction once it has committed (ReapplyRetractions), and under READ
// COMMITTED it then sees the other's committed rows. Both orders, each
// transaction held open while the other commits, and a retraction that
// comes before the message: every message ends retracted. Another tenant's
// Signal of the same key is not touched.
func TestRetractionRacingAStoreIsNotLost(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "slack", "T1")
	other := newFixture(t, s.DB, "slack", "T2")
	msg := func(key string) []db.NewSignal {
		n := sig(key, "message.posted")
		n.Payload = []byte(`{"title":"t","attributes":{"channel_id":"C1","text":"hi"}}`)
		return []db.NewSignal{n}
	}
	keys := func(k string) []string { return []string{k} }
	// store is a Signal store as the intake and the sync page run it: the
	// insert in its transaction (hold runs before it commits), then the
	// retractions recorded for what it stored.
	store := func(fx fixture, key string, hold func()) {
		t.Helper()
		require.NoError(t, s.DB.WithTenantSignals(ctx, fx.tenant, func(tx *db.Tx) error {
			_, err := tx.InsertSignals(ctx, fx.conn, "slack", msg(key))
			hold()
			return err
		}))
		_, err := s.DB.ReapplyRetractions(ctx, fx.tenant, "slack", keys(key))
		require.NoError(t, err)
	}
	// retract is the intake's retraction: marked and recorded in its
	// transaction (hold runs before it commits), re-applied after.
	retract := func(key string, hold func()) {
		t.Helper()
		require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
			_, err := tx.RetractSignals(ctx, f.tenant, f.conn, "slack", keys(key))
			hold()
			return err
		}))
		_, err := s.DB.ReapplyRetractions(ctx, f.tenant, "slack", keys(key))
		require.NoError(t, err)
	}
	none := func() {}
	// concurrently runs first up to its hold, then second to its end,
	// then lets first commit.
	concurrently := func(first func(hold func()), second func()) {
		held, release, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			first(func() { close(held); <-release })
		}()
		<-held
		second()
		close(release)
		<-done
	}

	// The store's transaction is open when the retraction commits.
	concurrently(func(hold func()) { store(f, "msg:C1:1", hold) }, func() { retract("msg:C1:1", none) })
	// The retraction's transaction is open when the store commits.
	concurrently(func(hold func()) { retract("msg:C1:2", hold) }, func() { store(f, "msg:C1:2", none) })
	// The retraction comes first; the message is stored later.
	retract("msg:C1:3", none)
	store(f, "msg:C1:3", none)
	store(other, "msg:C1:3", none)
	// Stored long before: marked by the retraction itself.
	store(f, "msg:C1:4", none)
	retract("msg:C1:4", none)

	require.Equal(t, []string{"slack:msg:C1:1", "slack:msg:C1:2", "slack:msg:C1:3", "slack:msg:C1:4"}, retractedKeys(t, s.DB, f.tenant))
	require.Empty(t, feedAll(t, s.DB, f.tenant, db.SignalFilter{}, 0), "no deleted message in the feed")
	require.Empty(t, retractedKeys(t, s.DB, other.tenant), "another tenant's message of the same key stays")
}

// A store whose process stopped between its commit and its re-application
// of the retractions left a deleted message live: the retention run
// re-applies every tombstone, then drops those as old as the intake
// records it drops (and none whose Signal is still unmarked).
func TestPruneReappliesThenDropsTombstones(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "slack", "T1")
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		_, err := tx.RetractSignals(ctx, f.tenant, f.conn, "slack", []string{"msg:C1:1", "msg:C1:2"})
		return err
	}))
	// Stored after the deletion; the process stopped before re-applying.
	require.NoError(t, s.DB.WithTenantSignals(ctx, f.tenant, func(tx *db.Tx) error {
		_, err := tx.InsertSignals(ctx, f.conn, "slack", []db.NewSignal{sig("msg:C1:1", "message.posted"), sig("msg:C1:3", "message.posted")})
		return err
	}))
	require.Empty(t, retractedKeys(t, s.DB, f.tenant))
	prune := func() db.Pruned {
		t.Helper()
		var total db.Pruned
		for {
			p, err := s.DB.Prune(ctx, time.Now().Add(-time.Hour), nil, time.Now().Add(-7*24*time.Hour), nil, 1)
			require.NoError(t, err)
			total.Retractions += p.Retractions
			total.Tombstones += p.Tombstones
			if p.Retractions+p.Tombstones+p.RawPayloads+p.WebhookBodies+p.States+p.WebhookEvents == 0 {
				return total
			}
		}
	}
	got := prune()
	require.EqualValues(t, 1, got.Retractions)
	require.Zero(t, got.Tombstones, "fresh tombstones stay")
	require.Equal(t, []string{"slack:msg:C1:1"}, retractedKeys(t, s.DB, f.tenant))

	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE signal_tombstones SET retracted_at = now() - interval '8 days'`)
		return err
	}))
	got = prune()
	require.Zero(t, got.Retractions)
	require.EqualValues(t, 2, got.Tombstones, "old tombstones go")
	require.Equal(t, []string{"slack:msg:C1:1"}, retractedKeys(t, s.DB, f.tenant), "the Signal stays retracted")
}
