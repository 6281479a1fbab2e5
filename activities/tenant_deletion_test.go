package activities

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/lifecycle"
)

// A DisconnectForDeletion that Temporal retries after its first attempt
// committed (the attempt timed out after the commit, or its worker died
// before it reported) finds the connection deleted and counts nothing:
// the operator job's pages count each connection once. The retry found
// the connection gone, took that for done, and counted it again.
func TestDisconnectForDeletionRetriedCountsTheConnectionOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	spec := &connectors.Spec{Name: "paged"}
	reg := connectors.NewRegistry(&connectors.Provider{Spec: spec, Connector: &pagedConnector{spec: spec, pages: 1, failAt: map[int]error{}}})
	tenant, connID := seedWithToken(t, schema, kr, "t", "paged")
	var other string
	require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "paged", ExternalAccountID: "other", DisplayName: "other"})
		if c != nil {
			other = c.ID
		}
		return err
	}))
	saveAccess(t, schema, kr, tenant, other, "b")
	svc := &lifecycle.Service{DB: schema.DB, Registry: reg, KeyRing: kr, Workflows: noWorkflows{}}
	acts := &Activities{DB: schema.DB, Registry: reg, KeyRing: kr, Connections: svc}
	jobID := uuid.NewString()
	require.NoError(t, schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
		_, _, err := tx.BeginTenantDeletion(ctx, tenant, jobID, "q:delete-tenant/"+tenant)
		return err
	}))
	pages := func() int {
		t.Helper()
		var j *db.Job
		require.NoError(t, schema.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
			j, err = tx.FindOperatorJob(ctx, jobID)
			return err
		}))
		return j.Pages
	}

	in := TenantDeletionInput{TenantID: tenant, JobID: jobID, ConnectionID: connID}
	_, err := acts.DisconnectForDeletion(ctx, in) // attempt 1 commits; its completion is lost
	require.NoError(t, err)
	require.Equal(t, 1, pages())
	_, err = acts.DisconnectForDeletion(ctx, in) // Temporal's retry
	require.NoError(t, err, "a connection already gone is done")
	require.Equal(t, 1, pages(), "one connection disconnected, counted once")

	// The next connection counts.
	_, err = acts.DisconnectForDeletion(ctx, TenantDeletionInput{TenantID: tenant, JobID: jobID, ConnectionID: other})
	require.NoError(t, err)
	require.Equal(t, 2, pages())
}
