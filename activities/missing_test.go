package activities

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

func requireMissing(t *testing.T, err error, mentions string) {
	t.Helper()
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "an activity failure, got %v", err)
	require.Equal(t, ErrTypeMissing, appErr.Type())
	require.True(t, appErr.NonRetryable(), "no retry can make a missing row appear")
	require.Contains(t, appErr.Error(), mentions)
	require.Contains(t, appErr.Error(), "another stack polling the same task queue")
}

// Work for a job, connection or tenant this database does not have (the
// task of another stack that shares the task queue, or of something
// deleted) fails non-retryably with a clear error, and never reports
// success: BeginJob, FinishJob, a sync page's lease and a tenant's own
// concurrency, for a tenant, a connection and a job that are not there.
func TestMissingRowsFailNonRetryably(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	s := &connectors.Spec{Name: "stub"}
	acts := &Activities{DB: schema.DB, Registry: connectors.NewRegistry(&connectors.Provider{Spec: s, Connector: stubConnector{s}}),
		TenantConcurrency: 4}
	var tenant string
	var conn *db.Connection
	require.NoError(t, schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
		tn, _, _, err := tx.CreateTenant(ctx, "here")
		tenant = tn.ID
		return err
	}))
	require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) (err error) {
		conn, _, err = tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "stub", ExternalAccountID: "acct"})
		return err
	}))
	foreignTenant, foreignConn, job := uuid.NewString(), uuid.NewString(), uuid.NewString()

	// Another database's tenant and connection: BeginJob refuses (it used
	// to hit a foreign-key error and retry for a day).
	_, err := acts.BeginJob(ctx, BeginJobInput{ConnectionRef: poblysh.ConnectionRef{TenantID: foreignTenant, ConnectionID: foreignConn, Provider: "stub", Stream: "items"},
		JobID: job, Kind: poblysh.JobIncremental, Trigger: poblysh.TriggerManual, WorkflowID: "q:sync/x/items"})
	requireMissing(t, err, "connection "+foreignConn)
	// This tenant, a connection it does not have.
	_, err = acts.BeginJob(ctx, BeginJobInput{ConnectionRef: poblysh.ConnectionRef{TenantID: tenant, ConnectionID: foreignConn, Provider: "stub", Stream: "items"},
		JobID: job, Kind: poblysh.JobIncremental, Trigger: poblysh.TriggerManual, WorkflowID: "q:sync/x/items"})
	requireMissing(t, err, "connection "+foreignConn)

	// FinishJob of a job that is not here is an error, never a success.
	_, err = acts.FinishJob(ctx, FinishJobInput{ConnectionRef: poblysh.ConnectionRef{TenantID: tenant, ConnectionID: conn.ID, Provider: "stub"},
		JobID: job, Status: poblysh.JobSucceeded, Synced: true})
	requireMissing(t, err, "job "+job)
	_, err = acts.FinishJob(ctx, FinishJobInput{ConnectionRef: poblysh.ConnectionRef{TenantID: foreignTenant, ConnectionID: foreignConn, Provider: "stub"},
		JobID: job, Status: poblysh.JobSucceeded})
	requireMissing(t, err, "job "+job)
	require.Zero(t, countRows(t, schema, `SELECT count(*) FROM jobs`), "nothing was written")

	// A sync page's lease for a tenant that is not here.
	_, err = acts.acquireLease(ctx, poblysh.ConnectionRef{TenantID: foreignTenant, ConnectionID: foreignConn, Provider: "stub", Stream: "items"})
	requireMissing(t, err, "tenant "+foreignTenant)

	// And the ones that are here work.
	_, err = acts.BeginJob(ctx, BeginJobInput{ConnectionRef: poblysh.ConnectionRef{TenantID: tenant, ConnectionID: conn.ID, Provider: "stub", Stream: "items"},
		JobID: job, Kind: poblysh.JobIncremental, Trigger: poblysh.TriggerManual, WorkflowID: "q:sync/x/items"})
	require.NoError(t, err)
	_, err = acts.FinishJob(ctx, FinishJobInput{ConnectionRef: poblysh.ConnectionRef{TenantID: tenant, ConnectionID: conn.ID, Provider: "stub"},
		JobID: job, Status: poblysh.JobSucceeded})
	require.NoError(t, err)
}

func countRows(t *testing.T, s *dbtest.Schema, q string) int {
	t.Helper()
	var n int
	require.NoError(t, s.DB.WithSystem(context.Background(), func(tx *db.Tx) error { return tx.GetContext(context.Background(), &n, q) }))
	return n
}
