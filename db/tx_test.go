package db_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// TestTransactionEndings: a transaction (BEGIN and its scope sent in one
// round trip, then driven on its session) commits only when fn returns nil
// on a live context and every statement succeeded; in every other ending
// (fn's error, a panic, a statement that aborted the transaction and that
// fn ignored, a context that ended) nothing is kept and the session goes
// back to the pool outside any transaction. The pool has one session, so a
// session left inside a transaction, or not given back, would fail or hang
// the next step. A session Postgres closed while it sat in the pool is
// replaced, not reported.
func TestTransactionEndings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	app := fmt.Sprintf("poblysh-tx-test-%d", time.Now().UnixNano())
	u, err := url.Parse(dbtest.URL(t))
	require.NoError(t, err)
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	d, err := db.Open(ctx, u.String(), db.Options{Role: "poblysh_app", Schema: s.Name, MaxConns: 1})
	require.NoError(t, err)
	t.Cleanup(d.Close)
	tenant, _ := dbtest.Seed(t, d, "before", "fake", "acct")

	name := func() string {
		t.Helper()
		var n string
		require.NoError(t, d.WithTenant(ctx, tenant, func(tx *db.Tx) error {
			return tx.GetContext(ctx, &n, `SELECT name FROM tenants WHERE id = $1`, tenant)
		}))
		return n
	}
	rename := func(tx *db.Tx, n string) {
		t.Helper()
		_, err := tx.ExecContext(ctx, `UPDATE tenants SET name = $2 WHERE id = $1`, tenant, n)
		require.NoError(t, err)
	}
	boom := errors.New("boom")
	require.ErrorIs(t, d.WithTenant(ctx, tenant, func(tx *db.Tx) error { rename(tx, "fn error"); return boom }), boom)
	require.Equal(t, "before", name(), "fn's error rolls back")

	for range 3 {
		func() {
			defer func() { require.Equal(t, "panic", recover()) }()
			_ = d.WithTenant(ctx, tenant, func(tx *db.Tx) error { rename(tx, "panicked"); panic("panic") })
		}()
	}
	require.Equal(t, "before", name(), "a panic rolls back and gives the session back")

	err = d.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		rename(tx, "aborted")
		_, err := tx.ExecContext(ctx, `SELECT 1 / 0`)
		require.Error(t, err)
		return nil // ignored: the transaction is aborted all the same
	})
	require.ErrorIs(t, err, pgx.ErrTxCommitRollback)
	require.Equal(t, "before", name())

	cctx, cancel := context.WithCancel(ctx)
	err = d.WithTenant(cctx, tenant, func(tx *db.Tx) error { rename(tx, "cancelled"); cancel(); return nil })
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, "before", name(), "a context that ended before commit rolls back")

	require.NoError(t, d.WithTenant(ctx, tenant, func(tx *db.Tx) error { rename(tx, "after"); return nil }))
	require.Equal(t, "after", name())

	// fn's statements run in the transaction BEGIN opened, under the scope
	// sent with it.
	require.NoError(t, d.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		var first, second int64
		var scope string
		require.NoError(t, tx.GetContext(ctx, &first, `SELECT txid_current()`))
		require.NoError(t, tx.GetContext(ctx, &scope, `SELECT current_setting('poblysh.tenant_id')`))
		require.NoError(t, tx.GetContext(ctx, &second, `SELECT txid_current()`))
		require.Equal(t, first, second, "one transaction")
		require.Equal(t, tenant, scope)
		return nil
	}))

	// Postgres closes the pool's session (a restart, an idle timeout).
	owner, err := pgx.Connect(ctx, dbtest.URL(t))
	require.NoError(t, err)
	defer owner.Close(ctx)
	var killed int
	require.NoError(t, owner.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM pg_stat_activity
		WHERE application_name = $1 AND state = 'idle'`, app).Scan(&killed))
	require.Equal(t, 1, killed, "the pool's idle session")
	require.NoError(t, d.WithTenant(ctx, tenant, func(tx *db.Tx) error { rename(tx, "on a new session"); return nil }))
	require.Equal(t, "on a new session", name())
}
