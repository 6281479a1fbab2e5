package db_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// A connection's activation mark: the larger of two owed activations is
// kept, a clear takes off only the mark it read, and the sweep lists
// marks past their grace, oldest first, but not those of connections being
// deleted, or of tenants being deleted.
func TestActivationMarks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	a := newFixture(t, s.DB, "fake", "acct-a")
	b := newFixture(t, s.DB, "fake", "acct-b")
	find := func(f fixture) *db.Connection {
		var c *db.Connection
		require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) (err error) {
			c, err = tx.FindConnection(ctx, f.conn)
			return err
		}))
		return c
	}
	mark := func(f fixture, act db.Activation) *db.Connection {
		c := find(f)
		require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error { return tx.MarkActivation(ctx, c, act) }))
		return c
	}
	clear := func(f fixture, c *db.Connection) bool {
		var ok bool
		require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) (err error) {
			ok, err = tx.ClearActivation(ctx, c)
			return err
		}))
		return ok
	}
	exec := func(q string, args ...any) {
		require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
			_, err := tx.ExecContext(ctx, q, args...)
			return err
		}))
	}
	due := func() []string {
		var ids []string
		require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
			refs, err := tx.ActivationsDue(ctx, 10)
			for _, r := range refs {
				ids = append(ids, r.ConnectionID)
			}
			return err
		}))
		return ids
	}
	age := func(f fixture, minutes int) {
		exec(`UPDATE connections SET activation_pending_at = now() - make_interval(mins => $2) WHERE id = $1`, f.conn, minutes)
	}

	require.Equal(t, db.Activation(""), find(a).ActivationPending)
	first := mark(a, db.ActivateBackfill)
	require.Equal(t, db.ActivateBackfill, first.ActivationPending)
	require.NotNil(t, first.ActivationPendingAt)
	second := mark(a, db.ActivateApply)
	require.Equal(t, db.ActivateBackfill, second.ActivationPending, "an update keeps the backfill a connect is owed")
	require.Equal(t, db.ActivateSync, mark(b, db.ActivateSync).ActivationPending)
	require.Equal(t, db.ActivateSync, mark(b, db.ActivateApply).ActivationPending)

	require.False(t, clear(a, first), "marked again since: the later request's activation is still owed")
	require.Equal(t, db.ActivateBackfill, find(a).ActivationPending)

	require.Empty(t, due(), "within their grace, the requests that marked them activate them")
	age(a, 3)
	age(b, 2)
	require.Equal(t, []string{a.conn, b.conn}, due(), "oldest mark first")

	// Postponed: behind the others.
	ca := find(a)
	require.NoError(t, s.DB.WithTenant(ctx, a.tenant, func(tx *db.Tx) error { return tx.PostponeActivation(ctx, ca) }))
	require.Equal(t, []string{b.conn}, due())
	age(a, 1)
	exec(`UPDATE connections SET activation_pending_at = activation_pending_at - interval '1 second' WHERE id = $1`, a.conn)
	require.Equal(t, []string{b.conn, a.conn}, due())

	// Being deleted, or of a tenant being deleted: left to the deletion.
	exec(`UPDATE connections SET disconnecting_at = now() WHERE id = $1`, b.conn)
	require.Equal(t, []string{a.conn}, due())
	exec(`UPDATE connections SET disconnecting_at = NULL WHERE id = $1`, b.conn)
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		_, _, err := tx.BeginTenantDeletion(ctx, a.tenant, uuid.NewString(), "tenant-deletion/"+a.tenant)
		return err
	}))
	require.Equal(t, []string{b.conn}, due())

	require.True(t, clear(b, find(b)))
	require.Empty(t, due())
	require.Equal(t, db.Activation(""), find(b).ActivationPending)
	require.Nil(t, find(b).ActivationPendingAt)
}

// A backfill held while its connection was paused (HoldBackfill) takes
// the mark off, is not listed by the sweep, and comes back with the next
// mark, whatever it is, once; a hold does not take off a mark set since.
func TestHeldBackfillComesBackWithTheNextMark(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "fake", "acct")
	in := func(fn func(tx *db.Tx, c *db.Connection) error) *db.Connection {
		t.Helper()
		var c *db.Connection
		require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) (err error) {
			if c, err = tx.FindConnection(ctx, f.conn); err != nil {
				return err
			}
			return fn(tx, c)
		}))
		return c
	}
	mark := func(a db.Activation) *db.Connection {
		return in(func(tx *db.Tx, c *db.Connection) error { return tx.MarkActivation(ctx, c, a) })
	}
	hold := func(c *db.Connection) (held bool) {
		in(func(tx *db.Tx, _ *db.Connection) (err error) {
			held, err = tx.HoldBackfill(ctx, c)
			return err
		})
		return held
	}
	state := func() (pending string, held bool) {
		require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
			return tx.QueryRowContext(ctx, `SELECT coalesce(activation_pending, ''), backfill_held FROM connections WHERE id = $1`, f.conn).
				Scan(&pending, &held)
		}))
		return pending, held
	}

	c := mark(db.ActivateBackfill)
	require.True(t, hold(c))
	pending, held := state()
	require.Equal(t, "", pending)
	require.True(t, held)
	var due []poblysh.ConnectionRef
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
		due, err = tx.ActivationsDue(ctx, 10)
		return err
	}))
	require.Empty(t, due, "held, not listed by the sweep")

	require.Equal(t, db.ActivateBackfill, mark(db.ActivateApply).ActivationPending, "the next mark asks for the held backfill")
	pending, held = state()
	require.Equal(t, "backfill", pending)
	require.False(t, held, "owed by the mark now")

	// Held by an activation that read the mark before a request marked
	// the connection again: the later mark stays, to be activated.
	stale := in(func(*db.Tx, *db.Connection) error { return nil })
	mark(db.ActivateSync)
	require.False(t, hold(stale))
	pending, held = state()
	require.Equal(t, "backfill", pending)
	require.False(t, held)
}
