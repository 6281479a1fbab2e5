package db_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

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
