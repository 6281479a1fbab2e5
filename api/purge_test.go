package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
)

// A connection deleted with purge_signals=true loses its Signals in short
// transactions: the feed of every tenant waits only for the writers
// running when it reads its horizon, so one long purge transaction
// (deleting 300,000 Signals took 5 s) held every other tenant's new
// Signals back for as long. Another tenant's Signal stored during the
// purge reaches its consumer promptly, and the answer (204) comes once
// every purged Signal is gone.
func TestPurgeLeavesOtherTenantsFeedMoving(t *testing.T) {
	t.Parallel()
	e, _, _ := sandboxed(t)
	_, keyA := e.tenant("Big")
	connA := e.connected(keyA)
	tenantB, _ := e.tenant("Bystander")
	ctx := context.Background()
	var connB string
	require.NoError(t, e.schema.DB.WithTenant(ctx, tenantB, func(tx *db.Tx) error {
		c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "fake", ExternalAccountID: "b", DisplayName: "b"})
		connB = c.ID
		return err
	}))
	const n = 60_000
	seeded := time.Now()
	owner, err := pgx.Connect(ctx, e.schema.OwnerURL)
	require.NoError(t, err)
	defer owner.Close(ctx)
	_, err = owner.Exec(ctx, `SELECT set_config('poblysh.system', 'on', false)`)
	require.NoError(t, err)
	_, err = owner.Exec(ctx, `INSERT INTO signals (tenant_id, connection_id, source, kind, occurred_at, dedupe_key, payload)
		SELECT tenant_id, id, 'fake', 'item.created', now(), 'fake:k' || i, jsonb_build_object('title', 'item ' || i)
		FROM connections, generate_series(1, $2::int) i WHERE id = $1`, connA, n)
	require.NoError(t, err)
	_, err = owner.Exec(ctx, `ANALYZE signals`)
	require.NoError(t, err)
	t.Logf("seeded %d Signals in %s", n, time.Since(seeded))

	// Tenant B's consumer is caught up.
	_, cursor, err := e.schema.DB.ListFeed(ctx, tenantB, db.SignalFilter{Limit: 100})
	require.NoError(t, err)

	deleted := make(chan response, 1)
	began := time.Now()
	go func() {
		deleted <- e.do(http.MethodDelete, "/api/v1/connections/"+connA+"?purge_signals=true", keyA, "", "")
	}()
	require.Eventually(t, func() bool {
		var purging int
		// As the owner: the application role may not read other
		// sessions' statements.
		require.NoError(t, owner.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
			WHERE l.relation = 'signals'::regclass AND l.mode = 'RowExclusiveLock' AND l.granted
			  AND a.state = 'active' AND a.query LIKE 'DELETE FROM signals%'`).Scan(&purging))
		return purging > 0
	}, 20*time.Second, 2*time.Millisecond, "the purge began")

	require.NoError(t, e.schema.DB.WithTenantSignals(ctx, tenantB, func(tx *db.Tx) error {
		_, err := tx.InsertSignals(ctx, connB, "fake", []db.NewSignal{{Kind: "item.created", OccurredAt: time.Now(),
			DedupeKey: "b-1", Payload: []byte(`{"title":"stored during the purge"}`)}})
		return err
	}))
	committed := time.Now()
	var late time.Duration
	for {
		rows, _, err := e.schema.DB.ListFeed(ctx, tenantB, db.SignalFilter{Cursor: cursor, Limit: 100})
		require.NoError(t, err)
		if len(rows) > 0 {
			late = time.Since(committed)
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	res := <-deleted
	took := time.Since(began)
	t.Logf("purged %d Signals in %s; tenant B's Signal reached its consumer %s after its commit", n, took, late)
	require.Equal(t, http.StatusNoContent, res.status, "%s", res.body)
	// A batch, not the whole purge, however fast the machine.
	require.Less(t, late, time.Second, "tenant B's feed waited for tenant A's purge")
	require.Less(t, 4*late, took, "tenant B's feed waited for most of tenant A's purge")
	require.Zero(t, e.count(`SELECT count(*) FROM signals WHERE connection_id = $1`, connA), "every purged Signal is gone")
	require.Equal(t, 1, e.count(`SELECT count(*) FROM signals WHERE connection_id = $1`, connB))
}

// A delete with purge_signals=true whose process stopped after the delete
// committed (the client got no answer) is finished by the same request
// again: 204 once the Signals are gone. Once ended, or without
// purge_signals, a deleted connection is not found.
func TestRepeatedPurgeFinishesAPurgeCutShort(t *testing.T) {
	t.Parallel()
	e, _, _ := sandboxed(t)
	tenant, key := e.tenant("Acme")
	conn := e.connected(key)
	ctx := context.Background()
	require.NoError(t, e.schema.DB.WithTenantSignals(ctx, tenant, func(tx *db.Tx) error {
		_, err := tx.InsertSignals(ctx, conn, "fake", []db.NewSignal{{Kind: "item.created", OccurredAt: time.Now(),
			DedupeKey: "k1", Payload: []byte(`{"title":"t"}`)}})
		return err
	}))
	// The delete committed; the process stopped before purging.
	require.NoError(t, e.schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error { return tx.DeleteConnection(ctx, conn, true) }))
	require.Equal(t, 1, e.count(`SELECT count(*) FROM signals WHERE connection_id = $1`, conn))

	requireError(t, e.do(http.MethodDelete, "/api/v1/connections/"+conn, key, "", ""), http.StatusNotFound, poblysh.ENOTFOUND)
	res := e.do(http.MethodDelete, "/api/v1/connections/"+conn+"?purge_signals=true", key, "", "")
	require.Equal(t, http.StatusNoContent, res.status, "%s", res.body)
	require.Zero(t, e.count(`SELECT count(*) FROM signals WHERE connection_id = $1`, conn))
	requireError(t, e.do(http.MethodDelete, "/api/v1/connections/"+conn+"?purge_signals=true", key, "", ""), http.StatusNotFound, poblysh.ENOTFOUND)
	// An id that is no UUID names no connection, with purge_signals as without.
	for _, id := range []string{"not-a-uuid", strings.ToUpper(conn)} {
		requireError(t, e.do(http.MethodDelete, "/api/v1/connections/"+id+"?purge_signals=true", key, "", ""), http.StatusNotFound, poblysh.ENOTFOUND)
	}
}

// An account whose deleted connection's purge has not ended (the process
// stopped, or the client stopped waiting for its DELETE) is connected
// again only once the purge has ended: the revived connection reads its
// account from the start, and each Signal it stored collided with its
// old, not yet purged copy (dropped as a duplicate) and then went with the
// old copy's purge, for good (its cursor had moved on). The callback
// finishes the purge first; one that does not end within its wait
// answers 409, stores nothing and goes on, and the account connects once
// it has ended.
func TestConnectWaitsForAPendingPurge(t *testing.T) {
	t.Parallel()
	e, _, _ := sandboxed(t)
	e.connections.PurgeWait = 500 * time.Millisecond
	tenant, key := e.tenant("Acme")
	conn := e.connected(key)
	ctx := context.Background()
	signals := func() int { return e.count(`SELECT count(*) FROM signals WHERE connection_id = $1`, conn) }
	pending := func() bool {
		return e.count(`SELECT count(*) FROM connections WHERE id = $1 AND signals_purge_before IS NOT NULL`, conn) > 0
	}
	deletedWithPurgeCutShort := func() {
		t.Helper()
		require.NoError(t, e.schema.DB.WithTenantSignals(ctx, tenant, func(tx *db.Tx) error {
			_, err := tx.InsertSignals(ctx, conn, "fake", []db.NewSignal{{Kind: "item.created", OccurredAt: time.Now(),
				DedupeKey: "fake:k1", Payload: []byte(`{"title":"t"}`)}})
			return err
		}))
		require.NoError(t, e.schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error { return tx.DeleteConnection(ctx, conn, true) }))
		require.Equal(t, 1, signals())
		require.True(t, pending())
	}
	revived := func(r response) {
		t.Helper()
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		require.Contains(t, string(r.body), conn, "the deleted connection is revived")
		require.Zero(t, signals(), "the old Signals were purged first")
		require.False(t, pending())
	}

	// A purge that ends within the callback's wait: the connect succeeds.
	deletedWithPurgeCutShort()
	revived(e.connect(key))

	// A purge that does not (a row it must delete is held meanwhile).
	deletedWithPurgeCutShort()
	owner, err := pgx.Connect(ctx, e.schema.OwnerURL)
	require.NoError(t, err)
	defer owner.Close(ctx)
	hold, err := owner.Begin(ctx)
	require.NoError(t, err)
	_, err = hold.Exec(ctx, `SELECT set_config('poblysh.system', 'on', true)`)
	require.NoError(t, err)
	_, err = hold.Exec(ctx, `SELECT 1 FROM signals WHERE connection_id = $1 FOR UPDATE`, conn)
	require.NoError(t, err)
	r := e.connect(key)
	require.Equal(t, http.StatusConflict, r.status, "%s", r.body)
	require.Contains(t, string(r.body), "The previous Signals of this connection are still being purged; connect again in a few minutes.")
	require.Equal(t, 1, e.count(`SELECT count(*) FROM connections WHERE id = $1 AND deleted_at IS NOT NULL`, conn), "nothing was connected")
	require.Equal(t, 1, signals())
	require.NoError(t, hold.Rollback(ctx))
	require.Eventually(t, func() bool { return !pending() }, 20*time.Second, 10*time.Millisecond, "the purge went on after the 409")
	revived(e.connect(key))
}
