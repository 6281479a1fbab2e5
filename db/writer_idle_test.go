package db_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// A Signal writer of one tenant whose client stops in the middle of its
// transaction (a worker's process frozen, its host cut off) held every
// tenant's feed (the feed horizon) for as long as the server kept its
// session: the pool's sessions set no idle_in_transaction_session_timeout
// and kept the operating system's TCP keepalive, over two hours. The
// server now ends a writer's session once it has sent nothing for
// Options.SignalWriterIdle (30 s; 1 s here), which rolls it back: another
// tenant's Signal stored meanwhile is served, and the stopped writer's
// Signal is not stored.
func TestFrozenSignalWriterIsEndedByTheServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	a := newFixture(t, s.DB, "fake", "a")
	b := newFixture(t, s.DB, "fake", "b")
	frozen, err := db.Open(ctx, dbtest.URL(t), db.Options{Role: "poblysh_app", Schema: s.Name, MaxConns: 2, SignalWriterIdle: time.Second})
	require.NoError(t, err)
	t.Cleanup(frozen.Close)

	stopped, release := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	ended := make(chan error, 1)
	go func() {
		ended <- frozen.WithTenantSignals(ctx, a.tenant, func(tx *db.Tx) error {
			_, err := tx.InsertSignals(ctx, a.conn, "fake", []db.NewSignal{sig("a1", "item.created")})
			close(stopped)
			<-release // the process stops here: the server hears nothing more
			return err
		})
	}()
	<-stopped
	require.NoError(t, s.DB.WithTenantSignals(ctx, b.tenant, func(tx *db.Tx) error {
		_, err := tx.InsertSignals(ctx, b.conn, "fake", []db.NewSignal{sig("b1", "item.created")})
		return err
	}))
	// Bounded far above the 1 s: the feed is not held for good.
	var rows []db.Signal
	for deadline := time.Now().Add(20 * time.Second); len(rows) == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		rows, _, err = s.DB.ListFeed(ctx, b.tenant, db.SignalFilter{Limit: 10})
		require.NoError(t, err)
	}
	require.Len(t, rows, 1, "tenant b's Signal is withheld by tenant a's stopped writer")

	close(release)
	err = <-ended
	require.Error(t, err, "the stopped writer's session was ended: its commit fails")
	require.False(t, errors.Is(err, context.Canceled))
	got, _, err := s.DB.ListFeed(ctx, a.tenant, db.SignalFilter{Limit: 10, IncludeRetracted: true})
	require.NoError(t, err)
	require.Empty(t, got, "the stopped writer's Signal was rolled back")
	require.NoError(t, frozen.WithTenantSignals(ctx, a.tenant, func(tx *db.Tx) error {
		_, err := tx.InsertSignals(ctx, a.conn, "fake", []db.NewSignal{sig("a1", "item.created")})
		return err
	}), "the pool replaced the ended session")
}

// idleBound is the current transaction's idle_in_transaction_session_timeout,
// in milliseconds.
func idleBound(t *testing.T, tx *db.Tx) string {
	t.Helper()
	var v string
	require.NoError(t, tx.GetContext(context.Background(), &v, `SELECT setting FROM pg_settings WHERE name = 'idle_in_transaction_session_timeout'`))
	return v
}

// Which transactions are bounded in how long they may sit idle: those that
// take the signals writer lock, at their start or later (LockSignals), for
// themselves only (the session goes back to the pool without it); a
// transaction that writes no Signal is not bounded.
func TestSignalWritersBoundTheirIdleTime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "fake", "a")
	one, err := db.Open(ctx, dbtest.URL(t), db.Options{Role: "poblysh_app", Schema: s.Name, MaxConns: 1})
	require.NoError(t, err)
	t.Cleanup(one.Close)
	check := func(tx *db.Tx) string { return idleBound(t, tx) }
	var got []string
	require.NoError(t, one.WithTenantSignals(ctx, f.tenant, func(tx *db.Tx) error { got = append(got, check(tx)); return nil }))
	require.NoError(t, one.WithSystemSignals(ctx, func(tx *db.Tx) error { got = append(got, check(tx)); return nil }))
	require.NoError(t, one.WithSystemRoutes(ctx, true, "fake", []string{"k"}, func(tx *db.Tx, _ []db.Route) error {
		got = append(got, check(tx))
		return nil
	}))
	require.NoError(t, one.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
		got = append(got, check(tx))
		if err := tx.LockSignals(ctx); err != nil {
			return err
		}
		got = append(got, check(tx))
		return nil
	}))
	require.NoError(t, one.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
		got = append(got, check(tx))
		_, err := tx.InsertSignals(ctx, f.conn, "fake", []db.NewSignal{sig("x", "item.created")})
		got = append(got, check(tx))
		return err
	}))
	require.NoError(t, one.WithSystemRoutes(ctx, false, "fake", []string{"k"}, func(tx *db.Tx, _ []db.Route) error {
		got = append(got, check(tx))
		return nil
	}))
	require.NoError(t, one.WithSystem(ctx, func(tx *db.Tx) error { got = append(got, check(tx)); return nil }))
	require.Equal(t, []string{
		"30000", "30000", "30000", // begun with the lock
		"0", "30000", // LockSignals
		"0", "30000", // InsertSignals, which takes the lock
		"0", "0", // no lock: the bound went with the transactions that set it
	}, got)
}

// poolSettings reads the settings of a pool session of d.
func poolSettings(t *testing.T, d *db.DB) map[string]string {
	t.Helper()
	rows, err := d.Pool.Query(context.Background(), `SELECT name, setting FROM pg_settings
		WHERE name IN ('tcp_keepalives_idle', 'tcp_keepalives_interval', 'tcp_keepalives_count', 'tcp_user_timeout')`)
	require.NoError(t, err)
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		require.NoError(t, rows.Scan(&k, &v))
		out[k] = v
	}
	require.NoError(t, rows.Err())
	return out
}

// The pool's sessions ask the server for TCP keepalive from 10 s idle,
// every 5 s, three probes, and 25 s for unacknowledged data, so that the
// server ends the session of a client that vanished (a worker's host cut
// off in the middle of a Signal write holds every tenant's feed) in about
// 25 s rather than after the operating system's default of over two hours.
// A token lock's session, which sets them and resets them when released,
// comes back to them. A URL that sets one keeps its own.
func TestPoolSessionsAskForServerKeepalive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	tenant, conn := dbtest.Seed(t, s.DB, "keepalive", "fake", "acct")
	want := map[string]string{"tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5", "tcp_keepalives_count": "3", "tcp_user_timeout": "25000"}
	require.Equal(t, want, poolSettings(t, s.DB))

	one, err := db.Open(ctx, dbtest.URL(t), db.Options{Role: "poblysh_app", Schema: s.Name, MaxConns: 1})
	require.NoError(t, err)
	t.Cleanup(one.Close)
	l, err := one.LockTokens(ctx, tenant, conn)
	require.NoError(t, err)
	l.Release()
	require.Equal(t, want, poolSettings(t, one), "after a token lock's reset")

	u, err := url.Parse(dbtest.URL(t))
	require.NoError(t, err)
	q := u.Query()
	q.Set("tcp_keepalives_idle", "60")
	u.RawQuery = q.Encode()
	own, err := db.Open(ctx, u.String(), db.Options{Role: "poblysh_app", Schema: s.Name, MaxConns: 1})
	require.NoError(t, err)
	t.Cleanup(own.Close)
	want["tcp_keepalives_idle"] = "60"
	require.Equal(t, want, poolSettings(t, own), "the URL's own value")
}

// TestDropTenantIsBoundedAsAWriter: a tenant's last step, whose cascade
// deletes its Signals (and so holds what the feed horizon waits for), is
// bounded in its idle time as every writer of Signals is; it ran in a plain
// system transaction, unbounded.
func TestDropTenantIsBoundedAsAWriter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "fake", "a")
	var bound string
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		if err := tx.DropTenant(ctx, f.tenant); err != nil {
			return err
		}
		bound = idleBound(t, tx)
		return nil
	}))
	require.Equal(t, "30000", bound)
	var left int
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.GetContext(ctx, &left, `SELECT count(*) FROM tenants WHERE id = $1`, f.tenant)
	}))
	require.Zero(t, left, "the tenant is gone")
}
