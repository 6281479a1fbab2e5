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
)

// A page read from the provider before one of its messages was deleted,
// and stored after the deletion's delivery committed, stores that message
// retracted: the page's store re-applies, once committed, the retractions
// recorded for its keys (its provider retracts). It used to store it live
// for good.
func TestPageStoredAfterADeletionIsRetracted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	spec := &connectors.Spec{Name: "paged", Retracts: true}
	conn := &deletingConnector{pagedConnector: &pagedConnector{spec: spec, pages: 1, failAt: map[int]error{}}}
	acts := &Activities{DB: schema.DB, Registry: connectors.NewRegistry(&connectors.Provider{Spec: spec, Connector: conn}),
		KeyRing: kr, TenantConcurrency: 4}
	tenant, connID := seedWithToken(t, schema, kr, "retract", "paged")
	ref := poblysh.ConnectionRef{TenantID: tenant, ConnectionID: connID, Provider: "paged", Stream: "items"}
	job := uuid.NewString()
	_, err := acts.BeginJob(ctx, BeginJobInput{ConnectionRef: ref, JobID: job, Kind: poblysh.JobBackfill, Trigger: poblysh.TriggerManual,
		WorkflowID: "q:sync/" + connID + "/items", ResetCursor: true})
	require.NoError(t, err)
	conn.onFetch = func() {
		// The deletion's delivery commits while the provider answers.
		require.NoError(t, schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
			_, err := tx.RetractSignals(ctx, tenant, connID, "paged", []string{"item:0-1"})
			return err
		}))
	}
	res, err := acts.SyncPage(ctx, SyncPageInput{ConnectionRef: ref, JobID: job})
	require.NoError(t, err)
	require.Equal(t, 3, res.Stored)

	var retracted []string
	require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		return tx.SelectContext(ctx, &retracted, `SELECT dedupe_key FROM signals
			WHERE payload->'attributes'->>'retracted' = 'true' ORDER BY dedupe_key`)
	}))
	require.Equal(t, []string{"paged:item:0-1"}, retracted)
}
