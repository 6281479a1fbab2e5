package db_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// TestFeedHorizonIgnoresOtherDatabasesAndReaders: a transaction left open
// in another database of the cluster, a long read-only report in this one,
// and a writer of another table in this one do not delay a new Signal; a
// transaction that announced Signals (LockSignals) and holds an id does,
// until it ends. A writer that took an id without announcing is refused.
func TestFeedHorizonIgnoresOtherDatabasesAndReaders(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "github", "horizon")

	// A writer in another database, open for the whole test.
	other, err := url.Parse(dbtest.URL(t))
	require.NoError(t, err)
	other.Path = "/postgres"
	elsewhere, err := pgx.Connect(ctx, other.String())
	require.NoError(t, err)
	defer elsewhere.Close(ctx)
	otherTx, err := elsewhere.Begin(ctx)
	require.NoError(t, err)
	defer otherTx.Rollback(ctx) //nolint:errcheck
	_, err = otherTx.Exec(ctx, `SELECT pg_current_xact_id()`)
	require.NoError(t, err)

	// A long read-only report in this database.
	here, err := pgx.Connect(ctx, s.OwnerURL)
	require.NoError(t, err)
	defer here.Close(ctx)
	report, err := here.Begin(ctx)
	require.NoError(t, err)
	defer report.Rollback(ctx) //nolint:errcheck
	var n int
	require.NoError(t, report.QueryRow(ctx, `SELECT count(*) FROM pg_class`).Scan(&n))

	// visible reports whether the feed shows want rows.
	visible := func(want int) bool {
		var rows []db.Signal
		require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) (err error) {
			rows, _, err = tx.ListSignals(ctx, db.SignalFilter{Limit: 100})
			return err
		}))
		return len(rows) >= want
	}
	insert := func(key string) {
		require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
			_, err := tx.InsertSignals(ctx, f.conn, "github", []db.NewSignal{sig(key, "code.pushed")})
			return err
		}))
	}
	within := func(d time.Duration, want int) bool {
		for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if visible(want) {
				return true
			}
		}
		return false
	}

	// A writer of another table in this database (it holds an id).
	otherWriter, err := pgx.Connect(ctx, s.OwnerURL)
	require.NoError(t, err)
	defer otherWriter.Close(ctx)
	busy, err := otherWriter.Begin(ctx)
	require.NoError(t, err)
	defer busy.Rollback(ctx) //nolint:errcheck
	_, err = busy.Exec(ctx, `UPDATE tenants SET name = name WHERE id = $1`, f.tenant)
	require.NoError(t, err)

	insert("fresh")
	require.True(t, within(time.Second, 1), "a new Signal is visible within 1 s despite the other database's open transaction, the report and the other table's writer")

	// That writer cannot turn into a Signal writer now: its id could be
	// below rows the feed has exposed.
	_, err = busy.Exec(ctx, `SELECT poblysh_lock_signals()`)
	require.ErrorContains(t, err, "must lock signals before its first write")

	// A transaction that announced Signals and holds an id could still
	// commit Signals below a later writer's: the feed waits for it.
	blocker, err := here.Begin(ctx)
	require.NoError(t, err)
	_, err = blocker.Exec(ctx, `SELECT poblysh_lock_signals()`)
	require.NoError(t, err)
	_, err = blocker.Exec(ctx, `SELECT pg_current_xact_id()`)
	require.NoError(t, err)
	insert("after-blocker")
	require.False(t, within(500*time.Millisecond, 2), "held back while an older writer of this database runs")
	require.NoError(t, blocker.Rollback(ctx))
	require.True(t, within(time.Second, 2), "visible once it ended")
}
