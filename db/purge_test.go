package db_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// A connection deleted with purge is marked, and its Signals are purged
// after the delete commits, in batches of db.PurgeBatch; the mark stays
// until they are gone, so a purge cut short (the process stopped) is
// found again and finished. Its account is not connected again before
// that (409): the revived connection reads its account from the start
// again, and each Signal it stored collided with its old copy, was
// dropped as a duplicate, and then went with the old copy's purge. Other
// connections and tenants keep theirs; a tenant purge uses the same
// batches. The tombstones of the connection's retractions go with its
// purge.
func TestPurgeConnectionSignalsAfterTheDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "fake", "purged")
	other := newFixture(t, s.DB, "fake", "bystander")
	var kept string
	require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
		c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "fake", ExternalAccountID: "kept", DisplayName: "kept"})
		kept = c.ID
		return err
	}))
	seedSignals(t, s.DB, f, 6, "item.created", func(int) string { return `{"title":"t"}` })
	seedSignals(t, s.DB, other, 1, "item.created", func(int) string { return `{"title":"t"}` })
	store := func(conn, key string) {
		t.Helper()
		require.NoError(t, s.DB.WithTenantSignals(ctx, f.tenant, func(tx *db.Tx) error {
			_, err := tx.InsertSignals(ctx, conn, "fake", []db.NewSignal{sig(key, "item.created")})
			return err
		}))
	}
	store(kept, "kept-1")
	tombstone := func(conn string) {
		t.Helper()
		require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
			_, err := tx.RetractSignals(ctx, f.tenant, conn, "fake", []string{"deleted-" + conn})
			return err
		}))
	}
	tombstones := func(conn string) int {
		t.Helper()
		var n int
		require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
			return tx.GetContext(ctx, &n, `SELECT count(*) FROM signal_tombstones WHERE connection_id = $1`, conn)
		}))
		return n
	}
	tombstone(f.conn)
	tombstone(kept)
	count := func(conn string) int {
		t.Helper()
		var n int
		require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
			return tx.GetContext(ctx, &n, `SELECT count(*) FROM signals WHERE connection_id = $1`, conn)
		}))
		return n
	}
	pending := func() []db.SignalScope {
		t.Helper()
		var p []db.SignalScope
		require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
			p, err = tx.PendingSignalPurges(ctx)
			return err
		}))
		return p
	}

	n, err := s.DB.PurgeConnectionSignals(ctx, f.tenant, f.conn, nil)
	require.NoError(t, err)
	require.Zero(t, n, "a connection not deleted with purge loses nothing")

	// The delete marks the connection; its Signals are still there.
	require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error { return tx.DeleteConnection(ctx, f.conn, true) }))
	require.Equal(t, 6000, count(f.conn))
	require.Equal(t, []db.SignalScope{{TenantID: f.tenant, ConnectionID: f.conn}}, pending())
	require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
		p, err := tx.SignalPurgePending(ctx, f.conn)
		require.True(t, p)
		return err
	}))

	// The process stopped; the account is connected again before the
	// purge is finished: refused, and nothing changes.
	reconnect := func() error {
		return s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
			_, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "fake", ExternalAccountID: "purged", DisplayName: "again"})
			return err
		})
	}
	err = reconnect()
	require.Equal(t, poblysh.ECONFLICT, poblysh.ErrorCode(err), "%v", err)
	require.Contains(t, poblysh.ErrorMessage(err), "the previous Signals of this connection are still being purged; connect again in a few minutes")
	require.Equal(t, []db.SignalScope{{TenantID: f.tenant, ConnectionID: f.conn}}, pending())
	var deleted bool
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.GetContext(ctx, &deleted, `SELECT deleted_at IS NOT NULL FROM connections WHERE id = $1`, f.conn)
	}))
	require.True(t, deleted, "the connection stays deleted")

	var batches []int
	n, err = s.DB.PurgeConnectionSignals(ctx, f.tenant, f.conn, func(n int) { batches = append(batches, n) })
	require.NoError(t, err)
	require.Equal(t, 6000, n)
	require.Equal(t, []int{db.PurgeBatch, 6000 - db.PurgeBatch}, batches)
	require.Zero(t, count(f.conn))
	require.Empty(t, pending(), "the purge ended")
	require.Zero(t, tombstones(f.conn), "its retractions' tombstones went with it")

	// Once it ended, the account is connected again, and what the
	// revived connection reads again is stored.
	require.NoError(t, reconnect())
	store(f.conn, "0-1")
	require.Equal(t, 1, count(f.conn), "the revived connection's Signal is stored, not dropped as a duplicate")
	require.Equal(t, 1, tombstones(kept))
	require.Equal(t, 1, count(kept))
	require.Equal(t, 1000, count(other.conn))

	// A tenant's purge: the same batches, every connection of the tenant.
	batches = nil
	n, err = s.DB.PurgeSignalsInBatches(ctx, db.SignalScope{TenantID: f.tenant}, func(_ *db.Tx, n int) error {
		batches = append(batches, n)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, []int{2, 0}, batches)
	require.Zero(t, count(f.conn)+count(kept))
	require.Equal(t, 1000, count(other.conn))
}

// Two purges of one connection at once (a client retrying its DELETE
// ?purge_signals=true while the first purge runs on, or the retention run
// beside a delete's purge) both purge to the end. They picked the same
// batch; the one that waited deleted nothing, took that for "none left",
// and its second pass removed the mark: the other's next batch then
// matched nothing, and the rest of the Signals stayed in the feed with no
// mark to find them again. A tenant's purge neither ends while Signals of
// the tenant are left.
func TestConcurrentPurgesPurgeEverything(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "fake", "big")
	other := newFixture(t, s.DB, "fake", "other")
	seedSignals(t, s.DB, f, 30, "item.created", func(int) string { return `{"title":"t"}` })
	seedSignals(t, s.DB, other, 30, "item.created", func(int) string { return `{"title":"t"}` })
	require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error { return tx.DeleteConnection(ctx, f.conn, true) }))
	count := func(q string, arg string) int {
		var n int
		require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error { return tx.GetContext(ctx, &n, q, arg) }))
		return n
	}
	both := func(purge func() (int, error), left func() int) {
		t.Helper()
		var wg sync.WaitGroup
		purged, leftAtEnd := make([]int, 2), make([]int, 2)
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := purge()
				assert.NoError(t, err)
				purged[i], leftAtEnd[i] = n, left()
			}()
		}
		wg.Wait()
		t.Logf("purged by each: %v; left when each ended: %v", purged, leftAtEnd)
		require.Equal(t, []int{0, 0}, leftAtEnd, "a purge ended with Signals left")
		require.Equal(t, 30_000, purged[0]+purged[1], "each Signal purged once")
	}

	both(func() (int, error) { return s.DB.PurgeConnectionSignals(ctx, f.tenant, f.conn, nil) },
		func() int { return count(`SELECT count(*) FROM signals WHERE connection_id = $1`, f.conn) })
	require.Zero(t, count(`SELECT count(*) FROM connections WHERE id = $1 AND signals_purge_before IS NOT NULL`, f.conn), "the purge ended")

	both(func() (int, error) {
		return s.DB.PurgeSignalsInBatches(ctx, db.SignalScope{TenantID: other.tenant}, nil)
	},
		func() int { return count(`SELECT count(*) FROM signals WHERE tenant_id = $1`, other.tenant) })
}
