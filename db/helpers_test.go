package db_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

type fixture struct {
	tenant string
	conn   string
}

func newFixture(t *testing.T, d *db.DB, provider, account string) fixture {
	t.Helper()
	var f fixture
	f.tenant, f.conn = dbtest.Seed(t, d, "tenant "+account, provider, account)
	return f
}

// tenantPgxTx begins a transaction of tenant on a connection of the
// application pool (pgx, as the feed reads), rolled back when the test
// ends.
func tenantPgxTx(tb testing.TB, s *dbtest.Schema, tenant string) pgx.Tx {
	tb.Helper()
	ctx := context.Background()
	c, err := s.DB.Pool.Acquire(ctx)
	require.NoError(tb, err)
	tx, err := c.Begin(ctx)
	require.NoError(tb, err)
	tb.Cleanup(func() {
		_ = tx.Rollback(ctx)
		c.Release()
	})
	_, err = tx.Exec(ctx, `SELECT set_config('poblysh.tenant_id', $1, true)`, tenant)
	require.NoError(tb, err)
	return tx
}

// seedSignals stores batches × 1,000 Signals of kind for the fixture,
// payload(i) giving the i-th of each batch's payloads.
func seedSignals(tb testing.TB, d *db.DB, f fixture, batches int, kind string, payload func(i int) string) {
	tb.Helper()
	ctx := context.Background()
	for batch := range batches {
		var sigs []db.NewSignal
		for i := range 1000 {
			sigs = append(sigs, db.NewSignal{Kind: kind, OccurredAt: time.Now(), DedupeKey: fmt.Sprintf("%d-%d", batch, i),
				Payload: []byte(payload(i))})
		}
		require.NoError(tb, d.WithTenantSignals(ctx, f.tenant, func(tx *db.Tx) error {
			_, err := tx.InsertSignals(ctx, f.conn, "fake", sigs)
			return err
		}))
	}
}

// currentXID is the id of tx's transaction, as pg_locks names it.
func currentXID(t *testing.T, tx *db.Tx) string {
	t.Helper()
	var xid string
	require.NoError(t, tx.GetContext(context.Background(), &xid, `SELECT pg_current_xact_id()::xid::text`))
	return xid
}

// waitUntilWaitedFor returns once another transaction waits for the one
// whose id is xid (currentXID), or fails naming what never waited.
func waitUntilWaitedFor(t *testing.T, d *db.DB, xid, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var waiting int
		require.NoError(t, d.Pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_locks
			WHERE NOT granted AND locktype = 'transactionid' AND transactionid::text = $1`, xid).Scan(&waiting))
		if waiting > 0 {
			return
		}
		require.True(t, time.Now().Before(deadline), what+" never waited")
		time.Sleep(10 * time.Millisecond)
	}
}
