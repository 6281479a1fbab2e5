package db_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// A tenant's own sync cap falls back to the default, follows PATCH at once,
// and resets with null; a deletion hides the tenant from the admin reads,
// is asked for once (a second ask answers the same job), and its job is the
// operator's: no tenant, no connection, invisible to tenants.
func TestTenantSettingsAndDeletionJob(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	var id string
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		tn, _, _, err := tx.CreateTenant(ctx, "Settings")
		id = tn.ID
		return err
	}))
	cap := func() int {
		var n int
		require.NoError(t, s.DB.WithTenant(ctx, id, func(tx *db.Tx) (err error) {
			n, err = tx.TenantSyncConcurrency(ctx, 4)
			return err
		}))
		return n
	}
	update := func(u db.TenantUpdate) (*db.TenantInfo, error) {
		var ti *db.TenantInfo
		err := s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
			ti, err = tx.UpdateTenant(ctx, id, u)
			return err
		})
		return ti, err
	}
	require.Equal(t, 4, cap())
	two := 2
	ti, err := update(db.TenantUpdate{SyncConcurrency: &two})
	require.NoError(t, err)
	require.Equal(t, 2, *ti.SyncConcurrency)
	require.Equal(t, 2, cap())
	name := "Renamed"
	ti, err = update(db.TenantUpdate{Name: &name})
	require.NoError(t, err)
	require.Equal(t, "Renamed", ti.Name)
	require.Equal(t, 2, *ti.SyncConcurrency, "absent fields keep their value")
	ti, err = update(db.TenantUpdate{ClearSyncConcurrency: true})
	require.NoError(t, err)
	require.Nil(t, ti.SyncConcurrency)
	require.Equal(t, 4, cap())

	begin := func() (*db.Job, bool) {
		var j *db.Job
		var started bool
		require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
			j, started, err = tx.BeginTenantDeletion(ctx, id, uuid.NewString(), "q:delete-tenant/"+id)
			return err
		}))
		return j, started
	}
	first, started := begin()
	require.True(t, started)
	require.Equal(t, poblysh.JobTenantDeletion, first.Kind)
	require.Empty(t, first.TenantID)
	require.Empty(t, first.ConnectionID)
	again, started := begin()
	require.False(t, started, "a deletion is asked for once")
	require.Equal(t, first.ID, again.ID)
	_, err = update(db.TenantUpdate{Name: &name})
	require.Equal(t, poblysh.ENOTFOUND, poblysh.ErrorCode(err), "a tenant being deleted is not updated")
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		list, _, err := tx.ListTenants(ctx, db.Page{Limit: 10})
		require.Empty(t, list, "nor listed")
		return err
	}))
	require.NoError(t, s.DB.WithTenant(ctx, id, func(tx *db.Tx) error {
		js, _, err := tx.ListJobs(ctx, db.JobFilter{Page: db.Page{Limit: 10}})
		require.Empty(t, js, "the tenant never sees the operator's job")
		return err
	}))
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		js, _, err := tx.ListOperatorJobs(ctx, db.JobFilter{Page: db.Page{Limit: 10}})
		require.Len(t, js, 1)
		return err
	}))
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.FinishOperatorJob(ctx, first.ID, poblysh.JobFailed, "boom")
	}))
	final, started := begin()
	require.False(t, started)
	require.Equal(t, poblysh.JobFailed, final.Status, "the engine restarts a failed deletion under a new job")
	require.Error(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.FinishOperatorJob(ctx, uuid.NewString(), poblysh.JobSucceeded, "")
	}), "finishing a job that is not there is an error")
}

// A connection stored beside a deletion's start is either seen by the
// deletion's list of connections or refused: HoldTenant holds the tenant's
// row, so the deletion's mark waits for the transaction that stores it;
// once the mark is in, HoldTenant refuses.
func TestHoldTenantOrdersAConnectBesideADeletion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	tenant, _ := dbtest.Seed(t, s.DB, "held", "fake", "first")
	begun := make(chan error, 1)
	var stored string
	err := s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		if err := tx.HoldTenant(ctx); err != nil {
			return err
		}
		xid := currentXID(t, tx)
		go func() {
			begun <- s.DB.WithSystem(ctx, func(tx *db.Tx) error {
				_, _, err := tx.BeginTenantDeletion(ctx, tenant, uuid.NewString(), "tenant-deletion/"+tenant)
				return err
			})
		}()
		waitUntilWaitedFor(t, s.DB, xid, "the deletion's mark")
		c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "fake", ExternalAccountID: "second", DisplayName: "second"})
		if err == nil {
			stored = c.ID
		}
		return err
	})
	require.NoError(t, err, "the connect commits first")
	require.NoError(t, <-begun, "the deletion begins after it")
	var listed []string
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
		listed, _, err = tx.TenantConnectionIDs(ctx, tenant, db.Page{})
		return err
	}))
	require.Contains(t, listed, stored, "the deletion lists the connection stored beside it")

	err = s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error { return tx.HoldTenant(ctx) })
	require.ErrorIs(t, err, db.ErrTenantDeleting)
	require.Equal(t, poblysh.ECONFLICT, poblysh.ErrorCode(err))
}

// A tenant's transaction counts the operator's deletion job (no tenant's
// row) with ProgressOperatorJobInTenantTx, and is the tenant's alone again
// after it: another tenant's rows stay hidden, and the operator's job too.
func TestProgressOperatorJobInTenantTxLeavesTheTenantScope(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	tenant, _ := dbtest.Seed(t, s.DB, "deleted", "fake", "a")
	dbtest.Seed(t, s.DB, "bystander", "fake", "b")
	jobID := uuid.NewString()
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		_, _, err := tx.BeginTenantDeletion(ctx, tenant, jobID, "q:delete-tenant/"+tenant)
		return err
	}))
	require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		if err := tx.ProgressOperatorJobInTenantTx(ctx, jobID, 1, 0); err != nil {
			return err
		}
		var conns, jobs int
		if err := tx.GetContext(ctx, &conns, `SELECT count(*) FROM connections`); err != nil {
			return err
		}
		if err := tx.GetContext(ctx, &jobs, `SELECT count(*) FROM jobs WHERE tenant_id IS NULL`); err != nil {
			return err
		}
		require.Equal(t, 1, conns, "the tenant's own connection only")
		require.Zero(t, jobs, "the operator's job is hidden again")
		return nil
	}))
	var j *db.Job
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
		j, err = tx.FindOperatorJob(ctx, jobID)
		return err
	}))
	require.Equal(t, 1, j.Pages, "counted")
}

// A tenant deletion lists the tenant's connections a page at a time,
// oldest first: each page after the one before, every connection not yet
// deleted exactly once, also when the pages before were deleted meanwhile
// (as the deletion disconnects each page before it asks for the next) and
// with another tenant's connections interleaved; a limit of 0 lists them
// all, as a deletion begun before pages asks.
func TestTenantConnectionIDsPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	tenant, first := dbtest.Seed(t, s.DB, "wide", "fake", "a-0")
	other, _ := dbtest.Seed(t, s.DB, "bystander", "fake", "b-0")
	want := []string{first}
	for i := 1; i < 11; i++ {
		require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
			c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "fake", ExternalAccountID: fmt.Sprintf("a-%d", i)})
			want = append(want, c.ID)
			return err
		}))
		require.NoError(t, s.DB.WithTenant(ctx, other, func(tx *db.Tx) error {
			_, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "fake", ExternalAccountID: fmt.Sprintf("b-%d", i)})
			return err
		}))
	}
	// Two connections of one instant: the id orders them.
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE connections SET created_at = (SELECT created_at FROM connections WHERE id = $1) WHERE id = $2`, want[4], want[5])
		return err
	}))
	list := func(p db.Page) (ids []string, next string) {
		t.Helper()
		require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
			ids, next, err = tx.TenantConnectionIDs(ctx, tenant, p)
			return err
		}))
		return ids, next
	}
	all, next := list(db.Page{})
	require.Empty(t, next)
	require.ElementsMatch(t, want, all)
	require.Equal(t, first, all[0], "oldest first")

	var paged []string
	cursor := ""
	for range 10 {
		ids, next := list(db.Page{Cursor: cursor, Limit: 3})
		require.LessOrEqual(t, len(ids), 3)
		paged = append(paged, ids...)
		// Deleted before the next page is asked for.
		require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
			for _, id := range ids {
				if err := tx.DeleteConnection(ctx, id, false); err != nil {
					return err
				}
			}
			return nil
		}))
		if next == "" {
			break
		}
		cursor = next
	}
	require.Equal(t, all, paged, "every connection once, in the order of the whole list")
	rest, _ := list(db.Page{})
	require.Empty(t, rest, "each was deleted")
}

// The rest of a sync of every connection of a provider pages through its
// live connections in ListProviderConnections' order: from a connection's
// cursor, each later one once, another provider's and the deleted ones
// left out.
func TestProviderConnectionsPageFollowsTheList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	tenant, _ := dbtest.Seed(t, s.DB, "wide", "fake", "a-0")
	require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		for i := 1; i < 10; i++ {
			if _, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "fake", ExternalAccountID: fmt.Sprintf("a-%d", i)}); err != nil {
				return err
			}
			if _, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "other", ExternalAccountID: fmt.Sprintf("b-%d", i)}); err != nil {
				return err
			}
		}
		return nil
	}))
	var all []db.Connection
	list := func() {
		require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) (err error) {
			all, err = tx.ListProviderConnections(ctx, "fake")
			return err
		}))
	}
	list()
	require.Len(t, all, 10)
	require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error { return tx.DeleteConnection(ctx, all[5].ID, false) }))
	list()
	require.Len(t, all, 9)

	cursor, err := db.ConnectionCursor(&all[1])
	require.NoError(t, err)
	var paged []string
	for range 10 {
		var page []db.Connection
		var next string
		require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) (err error) {
			page, next, err = tx.ProviderConnectionsPage(ctx, "fake", db.Page{Cursor: cursor, Limit: 3})
			return err
		}))
		for _, c := range page {
			paged = append(paged, c.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	var want []string
	for _, c := range all[2:] {
		want = append(want, c.ID)
	}
	require.Equal(t, want, paged, "every live connection after the second, once, in order")
}
