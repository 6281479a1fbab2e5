package activities

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/lifecycle"
	"github.com/poblysh/poblysh/lifecycle/lifecycletest"
)

// noWorkflows is a Temporal with nothing to start or stop.
type noWorkflows = lifecycletest.NoWorkflows

// deletingConnector serves pages; while the provider answers the first
// fetch, onFetch runs (a delete from another request).
type deletingConnector struct {
	*pagedConnector
	onFetch func()
}

func (c *deletingConnector) FetchPage(ctx context.Context, req connectors.PageRequest) (*connectors.Page, error) {
	if f := c.onFetch; f != nil {
		c.onFetch = nil
		f()
	}
	return c.pagedConnector.FetchPage(ctx, req)
}

// A page in flight when its connection is deleted with purge stores
// nothing, whether its stream had a cursor row (a backfill's reset) or not
// (an incremental pass of a stream a config change just added): the first
// cursor row is written only for a live connection, holding its row. The
// stream without a row kept its Signals and got a cursor row back.
func TestPageInFlightStoresNothingAfterAPurgingDelete(t *testing.T) {
	t.Parallel()
	for _, mode := range []poblysh.JobKind{poblysh.JobIncremental, poblysh.JobBackfill} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			schema := dbtest.NewSchema(t)
			kr := dbtest.KeyRing(t)
			spec := &connectors.Spec{Name: "paged"}
			conn := &deletingConnector{pagedConnector: &pagedConnector{spec: spec, pages: 1, failAt: map[int]error{}}}
			reg := connectors.NewRegistry(&connectors.Provider{Spec: spec, Connector: conn})
			acts := &Activities{DB: schema.DB, Registry: reg, KeyRing: kr, TenantConcurrency: 4}
			tenant, connID := seedWithToken(t, schema, kr, "purge", "paged")
			svc := &lifecycle.Service{DB: schema.DB, Registry: reg, KeyRing: kr, Workflows: noWorkflows{}}
			ref := poblysh.ConnectionRef{TenantID: tenant, ConnectionID: connID, Provider: "paged", Stream: "items"}
			job := uuid.NewString()
			_, err := acts.BeginJob(ctx, BeginJobInput{ConnectionRef: ref, JobID: job, Kind: mode, Trigger: poblysh.TriggerManual,
				WorkflowID: "q:sync/" + connID + "/items", ResetCursor: mode == poblysh.JobBackfill})
			require.NoError(t, err)
			conn.onFetch = func() {
				_, err := svc.Delete(ctx, tenant, connID, true)
				require.NoError(t, err)
			}
			_, err = acts.SyncPage(ctx, SyncPageInput{ConnectionRef: ref, JobID: job})
			require.Error(t, err, "the page is refused")

			var signals, cursors int
			require.NoError(t, schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
				if err := tx.GetContext(ctx, &signals, `SELECT count(*) FROM signals WHERE connection_id = $1`, connID); err != nil {
					return err
				}
				return tx.GetContext(ctx, &cursors, `SELECT count(*) FROM sync_cursors WHERE connection_id = $1`, connID)
			}))
			require.Zero(t, signals, "a purging delete leaves no Signal of the connection")
			require.Zero(t, cursors, "a deleted connection has no cursor")
		})
	}
}

// A connection whose token is under a key the ring no longer holds (lost,
// or retired before reencrypt ended) is still deleted, for a tenant
// deletion as for DELETE /connections/{id}: its token cannot stop or
// revoke anything, which the warnings say. (Disconnect failed on the
// token, retryably: the connection, its routes and every connection after
// it in a tenant deletion stayed, for good.)
func TestUnreadableTokenDoesNotBlockDeletion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	lost := dbtest.KeyRing(t)
	kr := dbtest.KeyRing(t) // the ring the service runs with now
	spec := &connectors.Spec{Name: "paged"}
	reg := connectors.NewRegistry(&connectors.Provider{Spec: spec, Connector: &pagedConnector{spec: spec, pages: 1, failAt: map[int]error{}}})
	tenant, connID := seedWithToken(t, schema, lost, "t", "paged")
	svc := &lifecycle.Service{DB: schema.DB, Registry: reg, KeyRing: kr, Workflows: noWorkflows{}}
	warnings, err := svc.Delete(ctx, tenant, connID, false)
	require.NoError(t, err)
	require.Len(t, warnings, 1)
	require.Contains(t, warnings[0], "cannot be read with the configured keys")

	tenant2, conn2 := seedWithToken(t, schema, lost, "t2", "paged")
	acts := &Activities{DB: schema.DB, Registry: reg, KeyRing: kr, Connections: svc}
	_, err = acts.DisconnectForDeletion(ctx, TenantDeletionInput{TenantID: tenant2, ConnectionID: conn2, JobID: uuid.NewString()})
	require.NoError(t, err)
	var live int
	require.NoError(t, schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.GetContext(ctx, &live, `SELECT count(*) FROM connections WHERE id = ANY($1) AND (deleted_at IS NULL OR access_token_ct IS NOT NULL)`,
			[]string{connID, conn2})
	}))
	require.Zero(t, live, "both deleted, their tokens erased")
}
