package activities

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/poblysh/poblysh/db"
)

// A sync page runs only on one of its tenant's slots
// (POBLYSH_TENANT_SYNC_CONCURRENCY, a lease in Postgres): with every slot
// held by other pages (other workers), SyncPage fetches and stores
// nothing and fails as TenantBusy, benign, for Temporal to retry shortly;
// once a slot is free it runs, and gives the slot back.
func TestSyncPageWaitsForATenantSlot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newPagedJob(t, "cap", 2, 1)
	schema, conn, acts, tenant, connID, ref, job := f.schema, f.conn, f.acts, f.tenant, f.connID, f.ref, f.job
	lease := func(holder string) (ok bool) {
		require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) (err error) {
			ok, err = tx.AcquireLease(ctx, holder, 2, time.Minute)
			return err
		}))
		return ok
	}
	stored := func() (n int) {
		require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
			return tx.GetContext(ctx, &n, `SELECT count(*) FROM signals WHERE connection_id = $1`, connID)
		}))
		return n
	}

	// Two pages of the tenant's other streams hold both slots.
	require.True(t, lease("other-1"))
	require.True(t, lease("other-2"))
	_, err := acts.SyncPage(ctx, SyncPageInput{ConnectionRef: ref, JobID: job})
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "the page waits for a slot, got %v", err)
	require.Equal(t, ErrTypeTenantBusy, appErr.Type())
	require.Equal(t, temporal.ApplicationErrorCategoryBenign, appErr.Category(), "waiting, not failing")
	require.Empty(t, conn.takeFetched(), "nothing fetched beyond the cap")
	require.Zero(t, stored())

	// One of them ends: the page takes its slot, and gives it back.
	require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error { return tx.ReleaseLease(ctx, "other-1") }))
	r, err := acts.SyncPage(ctx, SyncPageInput{ConnectionRef: ref, JobID: job})
	require.NoError(t, err)
	require.Equal(t, SyncPageResult{Pages: 1, Items: 3, Stored: 3}, r)
	require.Equal(t, []int{0}, conn.takeFetched())
	require.Equal(t, 3, stored())
	require.True(t, lease("other-3"), "the page's slot is free again")
}
