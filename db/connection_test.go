package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// connState is what deletion must change about a connection, read as the
// system.
type connState struct {
	Deleted  bool `db:"deleted"`
	Tokens   bool `db:"tokens"`
	Push     bool `db:"push_enabled"`
	Routes   int  `db:"routes"`
	Cursors  int  `db:"cursors"`
	Signals  int  `db:"signals"`
	Jobs     int  `db:"jobs"`
	Watches  int  `db:"watches"`
	Aliases  int  `db:"aliases"`
	KeyIDSet bool `db:"key_id_set"`
}

func stateOf(t *testing.T, d *db.DB, connID string) connState {
	t.Helper()
	var st connState
	require.NoError(t, d.WithSystem(context.Background(), func(tx *db.Tx) error {
		return tx.GetContext(context.Background(), &st, `SELECT deleted_at IS NOT NULL AS deleted,
				(access_token_ct IS NOT NULL OR refresh_token_ct IS NOT NULL OR prev_refresh_token_ct IS NOT NULL) AS tokens, push_enabled,
				(access_key_id IS NOT NULL OR refresh_key_id IS NOT NULL OR prev_refresh_key_id IS NOT NULL) AS key_id_set,
				(SELECT count(*) FROM webhook_routes WHERE connection_id = c.id) AS routes,
				(SELECT count(*) FROM sync_cursors WHERE connection_id = c.id) AS cursors,
				(SELECT count(*) FROM signals WHERE connection_id = c.id) AS signals,
				(SELECT count(*) FROM jobs WHERE connection_id = c.id) AS jobs,
				(SELECT count(*) FROM watch_channels WHERE connection_id = c.id) AS watches,
				(SELECT count(*) FROM signal_aliases a JOIN signals s ON s.id = a.signal_id WHERE s.connection_id = c.id) AS aliases
			FROM connections c WHERE id = $1`, connID)
	}))
	return st
}

func TestDeleteConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	keep, purge, other := seedTenant(t, s.DB, kr, "keep"), seedTenant(t, s.DB, kr, "purge"), seedTenant(t, s.DB, kr, "other")
	for _, f := range []fixture{keep, purge} {
		require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error { return tx.SetPushEnabled(ctx, f.conn, true) }))
	}
	seeded := connState{Tokens: true, Push: true, Routes: 1, Cursors: 1, Signals: 1, Jobs: 1, Watches: 1, Aliases: 1, KeyIDSet: true}
	require.Equal(t, seeded, stateOf(t, s.DB, keep.conn))

	// Another tenant cannot delete it: 404, nothing changes.
	err := s.DB.WithTenant(ctx, other.tenant, func(tx *db.Tx) error { return tx.DeleteConnection(ctx, keep.conn, true) })
	require.Equal(t, poblysh.ENOTFOUND, poblysh.ErrorCode(err))
	require.Equal(t, seeded, stateOf(t, s.DB, keep.conn))

	// Without purge: tokens, routes and cursors go, Signals and the job
	// history stay; the row stays (soft delete) so Signals keep their
	// connection.
	require.NoError(t, s.DB.WithTenant(ctx, keep.tenant, func(tx *db.Tx) error { return tx.DeleteConnection(ctx, keep.conn, false) }))
	require.Equal(t, connState{Deleted: true, Signals: 1, Jobs: 1, Watches: 1, Aliases: 1}, stateOf(t, s.DB, keep.conn))
	// With purge its Signals go too, once the delete has committed.
	require.NoError(t, s.DB.WithTenant(ctx, purge.tenant, func(tx *db.Tx) error { return tx.DeleteConnection(ctx, purge.conn, true) }))
	require.Equal(t, connState{Deleted: true, Signals: 1, Jobs: 1, Watches: 1, Aliases: 1}, stateOf(t, s.DB, purge.conn))
	n, err := s.DB.PurgeConnectionSignals(ctx, purge.tenant, purge.conn, nil)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, connState{Deleted: true, Jobs: 1, Watches: 1}, stateOf(t, s.DB, purge.conn))
	// The bystander is untouched.
	require.Equal(t, connState{Tokens: true, Routes: 1, Cursors: 1, Signals: 1, Jobs: 1, Watches: 1, Aliases: 1, KeyIDSet: true},
		stateOf(t, s.DB, other.conn))

	// A deleted connection is gone for reads, writes and a second delete.
	err = s.DB.WithTenant(ctx, keep.tenant, func(tx *db.Tx) error {
		_, err := tx.FindConnection(ctx, keep.conn)
		return err
	})
	require.Equal(t, poblysh.ENOTFOUND, poblysh.ErrorCode(err))
	err = s.DB.WithTenant(ctx, keep.tenant, func(tx *db.Tx) error { return tx.DeleteConnection(ctx, keep.conn, true) })
	require.Equal(t, poblysh.ENOTFOUND, poblysh.ErrorCode(err))
	_, err = loadTokens(s.DB, kr, keep.tenant, keep.conn)
	require.Equal(t, poblysh.ENOTFOUND, poblysh.ErrorCode(err))
	var list []db.Connection
	require.NoError(t, s.DB.WithTenant(ctx, keep.tenant, func(tx *db.Tx) (err error) {
		list, _, err = tx.ListConnections(ctx, db.ConnectionFilter{Page: db.Page{Limit: 10}})
		return err
	}))
	require.Empty(t, list)

	// Re-connecting the same account revives the row (same id, kept
	// Signals) without tokens until the callback stores new ones.
	var revived *db.Connection
	var created bool
	require.NoError(t, s.DB.WithTenant(ctx, keep.tenant, func(tx *db.Tx) (err error) {
		revived, created, err = tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "fake", ExternalAccountID: "acct-keep", DisplayName: "again"})
		return err
	}))
	require.False(t, created)
	require.Equal(t, keep.conn, revived.ID)
	require.Equal(t, poblysh.HealthHealthy, revived.Health)
	require.Equal(t, connState{Signals: 1, Jobs: 1, Watches: 1, Aliases: 1}, stateOf(t, s.DB, keep.conn))
	_, err = loadTokens(s.DB, kr, keep.tenant, keep.conn)
	require.ErrorIs(t, err, db.ErrNoStoredToken)
}

func TestUpsertConnectionHealsAndKeepsOperatorState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "fake", "acct")
	upsert := func() *db.Connection {
		var c *db.Connection
		require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) (err error) {
			c, _, err = tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "fake", ExternalAccountID: "acct"})
			return err
		}))
		return c
	}
	setHealth := func(h poblysh.Health) {
		require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error { return tx.SetHealth(ctx, f.conn, h, "test") }))
	}
	setHealth(poblysh.HealthNeedsReauth)
	c := upsert()
	require.Equal(t, poblysh.HealthHealthy, c.Health, "re-connecting heals needs_reauth")
	require.Equal(t, "reconnected", c.HealthReason)

	setHealth(poblysh.HealthDisabled)
	c = upsert()
	require.Equal(t, poblysh.HealthDisabled, c.Health, "an operator's disable survives re-connecting")
}

// TestUpsertConnectionRevivesADeletedConnectionAsNew: connecting an
// account whose connection was deleted revives its row as a new
// connection: what an operator set on the deleted one (a pause, its
// disable, a polling override) is gone; a live connection keeps it
// (TestUpsertConnectionHealsAndKeepsOperatorState).
func TestUpsertConnectionRevivesADeletedConnectionAsNew(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "fake", "acct")
	paused, daily := true, 86400
	poll := &daily
	require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
		if _, err := tx.UpdateConnection(ctx, f.conn, db.ConnectionPatch{Paused: &paused, PollInterval: &poll}); err != nil {
			return err
		}
		if err := tx.SetHealth(ctx, f.conn, poblysh.HealthDisabled, "paused by an operator"); err != nil {
			return err
		}
		// its watch failing for a month: the next retry would wait the ceiling
		if err := tx.MarkWatchRetry(ctx, f.conn, time.Now().Add(-30*24*time.Hour), 30*time.Minute, 6*time.Hour); err != nil {
			return err
		}
		return tx.DeleteConnection(ctx, f.conn, false)
	}))
	var c *db.Connection
	require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) (err error) {
		c, _, err = tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "fake", ExternalAccountID: "acct"})
		return err
	}))
	require.Equal(t, f.conn, c.ID, "the deleted row, revived")
	require.False(t, c.Paused)
	require.Nil(t, c.PollIntervalSeconds)
	require.Equal(t, poblysh.HealthHealthy, c.Health)
	require.Equal(t, "reconnected", c.HealthReason)
	require.True(t, c.Active())

	// The new connection's first failed watch waits one interval, not the
	// deleted one's backoff.
	now := time.Now()
	var retryAt time.Time
	require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
		if err := tx.MarkWatchRetry(ctx, f.conn, now, 30*time.Minute, 6*time.Hour); err != nil {
			return err
		}
		return tx.GetContext(ctx, &retryAt, `SELECT watch_retry_at FROM connections WHERE id = $1`, f.conn)
	}))
	require.WithinDuration(t, now.Add(30*time.Minute), retryAt, time.Minute, "a new connection's first watch retry waits one interval")
}

// TestReauthorizationMustKeepTheAccount: an upsert bound to a connection
// (POST /connections/{id}/reconnect) heals it when the same account comes
// back, and is a conflict that stores nothing when another one does.
func TestReauthorizationMustKeepTheAccount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "fake", "acct-1")
	other := newFixture(t, s.DB, "fake", "acct-x")
	require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
		return tx.SetHealth(ctx, f.conn, poblysh.HealthNeedsReauth, "token revoked")
	}))
	upsert := func(tenant, account string) (*db.Connection, error) {
		var c *db.Connection
		err := s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) (err error) {
			c, _, err = tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "fake", ExternalAccountID: account,
				DisplayName: account, ConnectionID: f.conn})
			return err
		})
		return c, err
	}
	_, err := upsert(f.tenant, "acct-2")
	require.Equal(t, poblysh.ECONFLICT, poblysh.ErrorCode(err), "%v", err)
	require.Contains(t, poblysh.ErrorMessage(err), "another account (acct-2)")
	var n int
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.GetContext(ctx, &n, `SELECT count(*) FROM connections WHERE external_account_id = 'acct-2'`)
	}))
	require.Zero(t, n, "nothing stored")

	_, err = upsert(other.tenant, "acct-1")
	require.Equal(t, poblysh.ENOTFOUND, poblysh.ErrorCode(err), "another tenant's connection is not found")

	c, err := upsert(f.tenant, "acct-1")
	require.NoError(t, err)
	require.Equal(t, f.conn, c.ID)
	require.Equal(t, poblysh.HealthHealthy, c.Health, "the same account heals the connection")
}

// TestDeleteConnectionBesideARunningPage: a sync page's store transaction
// holds the stream's cursor and then updates its job; a delete that
// arrives in between waits for it and then deletes (the page commits,
// the delete commits, the job ends cancelled). With the job cancelled
// before the cursor was deleted, the two deadlocked and the delete
// answered 500 (found by deleting a syncing connection from make dev).
func TestDeleteConnectionBesideARunningPage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	f := seedTenant(t, s.DB, kr, "page")
	var jobID string
	var cur db.Cursor
	require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) (err error) {
		if err := tx.GetContext(ctx, &jobID, `SELECT id FROM jobs WHERE connection_id = $1`, f.conn); err != nil {
			return err
		}
		cur, err = tx.GetCursor(ctx, f.conn, "items")
		return err
	}))
	deleted := make(chan error, 1)
	err := s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
		// The page's store transaction, in its order: cursor, then job.
		if err := tx.AdvanceCursor(ctx, f.conn, "items", []byte(`{"after":2}`), cur.Version); err != nil {
			return err
		}
		xid := currentXID(t, tx)
		go func() {
			deleted <- s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error { return tx.DeleteConnection(ctx, f.conn, false) })
		}()
		// The delete now waits for this page's transaction (the cursor).
		waitUntilWaitedFor(t, s.DB, xid, "the delete")
		return tx.AddJobProgress(ctx, jobID, db.JobProgress{Pages: 1, Items: 1})
	})
	require.NoError(t, err, "the page commits")
	require.NoError(t, <-deleted, "the delete commits after the page")
	require.Equal(t, connState{Deleted: true, Signals: 1, Jobs: 1, Watches: 1, Aliases: 1}, stateOf(t, s.DB, f.conn))
	var status string
	var pages int
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT status, pages FROM jobs WHERE id = $1`, jobID).Scan(&status, &pages)
	}))
	require.Equal(t, "cancelled", status)
	require.Equal(t, 1, pages, "the page's progress is kept")
}

// A connection a delete has marked does not hold its account's grant for
// another delete: of two deletes of an account's last two connections, the
// later to count revokes.
func TestGrantHoldersLeaveOutConnectionsBeingDeleted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	a := newFixture(t, s.DB, "google-calendar", "ada@example.com")
	b := newFixture(t, s.DB, "google-drive", "ada@example.com")
	holders := func(except string) int {
		var n int
		require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
			n, err = tx.GrantHolders(ctx, []string{"google-calendar", "google-drive"}, "ada@example.com", except)
			return err
		}))
		return n
	}
	require.Equal(t, 1, holders(a.conn))
	require.NoError(t, s.DB.WithTenant(ctx, b.tenant, func(tx *db.Tx) error {
		_, _, err := tx.MarkDisconnecting(ctx, b.conn)
		return err
	}))
	require.Zero(t, holders(a.conn), "b is being deleted")
	require.Equal(t, 1, holders(b.conn))
}

// An authorization of an account whose live connection a delete is
// tearing down is a conflict that changes nothing: it used to clear the
// delete's mark (disconnecting_at), after which a watch pass was granted
// its lease and could register hooks the delete, having listed what to
// stop, never stopped. A mark past the ten minutes a delete is heeded
// (one whose take-back failed) refuses nothing, and is kept; a deleted
// connection revived loses its old mark.
func TestAuthorizationRefusedWhileADeleteRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "fake", "acct")
	upsert := func() (*db.Connection, error) {
		var c *db.Connection
		err := s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) (err error) {
			c, _, err = tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "fake", ExternalAccountID: "acct", DisplayName: "again"})
			return err
		})
		return c, err
	}
	marked := func() *time.Time {
		var at *time.Time
		require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
			return tx.GetContext(ctx, &at, `SELECT disconnecting_at FROM connections WHERE id = $1`, f.conn)
		}))
		return at
	}
	lease := func() bool {
		var ok bool
		require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) (err error) {
			ok, err = tx.TakeWatchLease(ctx, f.conn, time.Now().Add(time.Minute))
			return err
		}))
		return ok
	}
	require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
		_, _, err := tx.MarkDisconnecting(ctx, f.conn)
		return err
	}))

	_, err := upsert()
	require.Equal(t, poblysh.ECONFLICT, poblysh.ErrorCode(err), "%v", err)
	require.Contains(t, poblysh.ErrorMessage(err), "being disconnected")
	require.NotNil(t, marked(), "the delete's mark stays")
	require.False(t, lease(), "no watch pass registers anything")
	var name string
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.GetContext(ctx, &name, `SELECT display_name FROM connections WHERE id = $1`, f.conn)
	}))
	require.Equal(t, "acct", name, "nothing changed")

	// A mark the delete failed to take back lapses after ten minutes.
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE connections SET disconnecting_at = now() - interval '11 minutes' WHERE id = $1`, f.conn)
		return err
	}))
	c, err := upsert()
	require.NoError(t, err)
	require.Equal(t, "again", c.DisplayName)
	require.True(t, lease())

	// The delete that marked a connection it then deleted: revived, the
	// connection is not being deleted.
	require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
		if _, _, err := tx.MarkDisconnecting(ctx, f.conn); err != nil {
			return err
		}
		return tx.DeleteConnection(ctx, f.conn, false)
	}))
	c, err = upsert()
	require.NoError(t, err)
	require.Equal(t, f.conn, c.ID)
	require.Nil(t, marked())
	require.True(t, lease())
}
