package db_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// planCacheMode is the transaction's plan_cache_mode.
func planCacheMode(ctx context.Context, t *testing.T, tx *db.Tx) string {
	t.Helper()
	var mode string
	require.NoError(t, tx.GetContext(ctx, &mode, `SELECT current_setting('plan_cache_mode')`))
	return mode
}

// holdsSignalsLock reports whether tx's session holds the signals writer
// lock (ROW EXCLUSIVE on signals).
func holdsSignalsLock(ctx context.Context, t *testing.T, tx *db.Tx) bool {
	t.Helper()
	var held bool
	require.NoError(t, tx.GetContext(ctx, &held, `SELECT EXISTS (SELECT 1 FROM pg_locks
		WHERE pid = pg_backend_pid() AND relation = 'signals'::regclass AND mode = 'RowExclusiveLock')`))
	return held
}

// WithTenantSignals and WithSystemSignals take the signals writer lock in
// their first statement, before anything is written: a transaction that
// writes another row first may still store Signals (with WithTenant it is
// refused, since the feed horizon would not have waited for it). They use
// generic plans for that transaction only. The plain scopes take no lock
// and plan every statement with its parameters.
func TestSignalsTransactionsLockAtTheirStart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "github", "scope")
	writeThenStore := func(tx *db.Tx, key string) error {
		// Another table first: the transaction takes its id here.
		if _, err := tx.ExecContext(ctx, `UPDATE connections SET updated_at = now() WHERE id = $1`, f.conn); err != nil {
			return err
		}
		_, err := tx.InsertSignalsFor(ctx, f.tenant, f.conn, "github", []db.NewSignal{sig(key, "code.pushed")})
		return err
	}

	require.NoError(t, s.DB.WithTenantSignals(ctx, f.tenant, func(tx *db.Tx) error {
		require.True(t, holdsSignalsLock(ctx, t, tx), "locked by the first statement")
		require.Equal(t, "auto", planCacheMode(ctx, t, tx), "generic plans for the writes")
		require.Equal(t, f.tenant, tx.TenantID)
		return writeThenStore(tx, "tenant")
	}))
	require.NoError(t, s.DB.WithSystemSignals(ctx, func(tx *db.Tx) error {
		require.True(t, holdsSignalsLock(ctx, t, tx))
		var tenants int
		require.NoError(t, tx.GetContext(ctx, &tenants, `SELECT count(*) FROM tenants`))
		require.Positive(t, tenants, "the system scope sees every tenant")
		return writeThenStore(tx, "system")
	}))
	err := s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
		require.False(t, holdsSignalsLock(ctx, t, tx), "the plain scope takes no lock")
		require.Equal(t, "force_custom_plan", planCacheMode(ctx, t, tx), "the session's mode is back after the writers' transactions")
		return writeThenStore(tx, "late")
	})
	require.ErrorContains(t, err, "must lock signals before its first write")

	var keys []string
	require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
		return tx.SelectContext(ctx, &keys, `SELECT dedupe_key FROM signals ORDER BY dedupe_key`)
	}))
	require.Len(t, keys, 2)
}

// The feed's horizon (FeedHorizonSQL) and the retraction re-apply rely on
// READ COMMITTED: the page statement must take a newer snapshot than the
// horizon's. A server, database or role that sets
// default_transaction_isolation to a stricter level made the page reuse
// the horizon's snapshot, so a writer that committed between the
// horizon's reads was skipped by the feed for good. Every session of the
// pool runs its transactions under READ COMMITTED whatever the default.
func TestSessionsReadCommittedWhateverTheDefault(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	d, err := db.Open(ctx, dbtest.URL(t)+"&default_transaction_isolation=repeatable%20read",
		db.Options{Role: "poblysh_app", Schema: s.Name, MaxConns: 2})
	require.NoError(t, err)
	defer d.Close()
	var level string
	require.NoError(t, d.Pool.QueryRow(ctx, `SHOW default_transaction_isolation`).Scan(&level))
	require.Equal(t, "read committed", level, "the pool's sessions")
	tenant := newFixture(t, s.DB, "github", "a").tenant
	require.NoError(t, d.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		return tx.GetContext(ctx, &level, `SELECT current_setting('transaction_isolation')`)
	}))
	require.Equal(t, "read committed", level, "a tenant's transaction")
}
