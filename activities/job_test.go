package activities

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/metrics"
)

// FinishJob is an activity: Temporal runs it again when an attempt's
// completion is lost after its transaction committed (the worker killed,
// StartToClose passed). The retry succeeds and changes nothing: the job is
// counted in poblysh_jobs_total and poblysh_job_duration_seconds once
// (docs/decisions.md), and keeps its finished_at, status and error. It
// used to count the job again and move finished_at to the retry's time.
func TestRetriedFinishJobCountsOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	const provider = "retried-finish" // its own metric labels
	s := &connectors.Spec{Name: provider}
	acts := &Activities{DB: schema.DB, Registry: connectors.NewRegistry(&connectors.Provider{Spec: s, Connector: stubConnector{s}}),
		TenantConcurrency: 4}
	tenant, conn := dbtest.Seed(t, schema.DB, "retried", provider, "acct")
	ref := poblysh.ConnectionRef{TenantID: tenant, ConnectionID: conn, Provider: provider, Stream: "items"}
	counted := func(status poblysh.JobStatus) (float64, uint64) {
		var c, h dto.Metric
		require.NoError(t, metrics.JobsTotal.WithLabelValues(provider, "incremental", string(status)).Write(&c))
		require.NoError(t, metrics.JobDuration.WithLabelValues(provider, "incremental").(prometheus.Histogram).Write(&h))
		return c.GetCounter().GetValue(), h.GetHistogram().GetSampleCount()
	}
	stored := func(id string) *db.Job {
		var j *db.Job
		require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) (err error) {
			j, err = tx.FindJob(ctx, id)
			return err
		}))
		return j
	}
	begin := func() string {
		id := uuid.NewString()
		_, err := acts.BeginJob(ctx, BeginJobInput{ConnectionRef: ref, JobID: id, Kind: poblysh.JobIncremental,
			Trigger: poblysh.TriggerSchedule, WorkflowID: "q:sync/x/items"})
		require.NoError(t, err)
		return id
	}

	// A succeeded pass, then its retry.
	job := begin()
	in := FinishJobInput{ConnectionRef: ref, JobID: job, Status: poblysh.JobSucceeded, Synced: true}
	_, err := acts.FinishJob(ctx, in)
	require.NoError(t, err)
	first := stored(job)
	require.Equal(t, poblysh.JobSucceeded, first.Status)
	require.NotNil(t, first.FinishedAt)
	n, samples := counted(poblysh.JobSucceeded)
	require.Equal(t, 1.0, n)
	require.Equal(t, uint64(1), samples)
	time.Sleep(10 * time.Millisecond) // a moved finished_at would differ
	_, err = acts.FinishJob(ctx, in)
	require.NoError(t, err, "the retry succeeds")
	again := stored(job)
	require.Equal(t, poblysh.JobSucceeded, again.Status)
	require.True(t, first.FinishedAt.Equal(*again.FinishedAt), "finished_at stays %v, not %v", first.FinishedAt, again.FinishedAt)
	require.True(t, first.UpdatedAt.Equal(again.UpdatedAt), "the row is not written again")
	n, samples = counted(poblysh.JobSucceeded)
	require.Equal(t, 1.0, n, "poblysh_jobs_total counts the job once")
	require.Equal(t, uint64(1), samples, "poblysh_job_duration_seconds observes the job once")

	// A failed pass whose retry arrives: the first final status and error
	// stay, counted once.
	failed := begin()
	fin := FinishJobInput{ConnectionRef: ref, JobID: failed, Status: poblysh.JobFailed, Error: "404 gone", ErrorType: ErrTypeNotFound}
	for range 2 {
		_, err = acts.FinishJob(ctx, fin)
		require.NoError(t, err)
	}
	j := stored(failed)
	require.Equal(t, poblysh.JobFailed, j.Status)
	require.Equal(t, "404 gone", *j.Error)
	n, _ = counted(poblysh.JobFailed)
	require.Equal(t, 1.0, n, "the failed job counted once")
	_, samples = counted(poblysh.JobFailed)
	require.Equal(t, uint64(2), samples, "one duration per job: the succeeded one and the failed one")

	// A job that is not here is still an error, never a success.
	_, err = acts.FinishJob(ctx, FinishJobInput{ConnectionRef: ref, JobID: uuid.NewString(), Status: poblysh.JobSucceeded})
	requireMissing(t, err, "job ")
}

// A workflow cancelling the follow-up it queued (FollowUp) after a pass
// failed permanently: a follow-up requested by signal has no row, and
// cancelling it with an earlier workflow's input (no kind: see
// TestFollowUpCancelledBeforeTheAPIRecordedItStaysCancelled for today's)
// succeeds writing and counting nothing (it failed as Missing, blaming
// another stack); one the API recorded (POST /sync) is
// cancelled and counted. A follow-up of a connection that is not here is
// still another stack's, and a missing job without FollowUp still fails.
func TestFinishJobCancelsFollowUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	const provider = "follow-up-finish" // its own metric labels
	s := &connectors.Spec{Name: provider}
	acts := &Activities{DB: schema.DB, Registry: connectors.NewRegistry(&connectors.Provider{Spec: s, Connector: stubConnector{s}}),
		TenantConcurrency: 4}
	tenant, conn := dbtest.Seed(t, schema.DB, "follow-up", provider, "acct")
	ref := poblysh.ConnectionRef{TenantID: tenant, ConnectionID: conn, Provider: provider, Stream: "items"}
	cancelled := func() float64 {
		var c dto.Metric
		require.NoError(t, metrics.JobsTotal.WithLabelValues(provider, "incremental", "cancelled").Write(&c))
		return c.GetCounter().GetValue()
	}
	cancel := func(ref poblysh.ConnectionRef, id string, followUp bool) error {
		_, err := acts.FinishJob(ctx, FinishJobInput{ConnectionRef: ref, JobID: id, Status: poblysh.JobCancelled,
			Error: "cancelled: the previous pass failed permanently (NotFound)", FollowUp: followUp})
		return err
	}

	// Requested by signal, by a workflow of the earlier version (which
	// does not describe the follow-up): no row.
	require.NoError(t, cancel(ref, uuid.NewString(), true))
	require.Zero(t, countRows(t, schema, `SELECT count(*) FROM jobs`), "no row is written for it")
	require.Zero(t, cancelled(), "nothing counted")

	// Requested by POST /sync: the API recorded it queued.
	queued := uuid.NewString()
	require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		_, err := tx.EnsureJob(ctx, db.Job{ID: queued, ConnectionID: conn, Provider: provider, Kind: poblysh.JobIncremental,
			Stream: "items", Trigger: poblysh.TriggerManual, WorkflowID: "q:sync/x/items"})
		return err
	}))
	require.NoError(t, cancel(ref, queued, true))
	var j *db.Job
	require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) (err error) {
		j, err = tx.FindJob(ctx, queued)
		return err
	}))
	require.Equal(t, poblysh.JobCancelled, j.Status)
	require.Equal(t, "cancelled: the previous pass failed permanently (NotFound)", *j.Error)
	require.NotNil(t, j.FinishedAt)
	require.Equal(t, 1.0, cancelled(), "the recorded follow-up counted once")

	// Another stack's connection, and a job missing without FollowUp.
	foreign := poblysh.ConnectionRef{TenantID: tenant, ConnectionID: uuid.NewString(), Provider: provider, Stream: "items"}
	requireMissing(t, cancel(foreign, uuid.NewString(), true), "connection "+foreign.ConnectionID)
	missing := uuid.NewString()
	requireMissing(t, cancel(ref, missing, false), "job "+missing)
	require.Equal(t, 1, countRows(t, schema, `SELECT count(*) FROM jobs`))
}

// A follow-up POST /sync was answered (queued) that its workflow cancels
// before the API records its row (the running pass failed for good in
// between): the cancellation writes the row, cancelled, as the workflow
// describes it, so that the API's EnsureJob after it changes nothing and
// answers it cancelled. It was recorded nowhere, and the API's row then
// stayed queued for good, a follow-up that would never run. It is
// counted once: a retried FinishJob finds it final. An earlier
// workflow's input (no kind) still writes nothing.
func TestFollowUpCancelledBeforeTheAPIRecordedItStaysCancelled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	const provider = "follow-up-unrecorded" // its own metric labels
	acts := &Activities{DB: schema.DB}
	tenant, conn := dbtest.Seed(t, schema.DB, "late row", provider, "acct")
	ref := poblysh.ConnectionRef{TenantID: tenant, ConnectionID: conn, Provider: provider, Stream: "items"}
	followUp, wf := uuid.NewString(), "q:sync/"+conn+"/items"
	cancelled := func() float64 {
		var c dto.Metric
		require.NoError(t, metrics.JobsTotal.WithLabelValues(provider, "backfill", "cancelled").Write(&c))
		return c.GetCounter().GetValue()
	}
	in := FinishJobInput{ConnectionRef: ref, JobID: followUp, Status: poblysh.JobCancelled,
		Error: "cancelled: the previous pass failed permanently (Unauthorized)", FollowUp: true,
		Kind: poblysh.JobBackfill, Trigger: poblysh.TriggerWebhook, WorkflowID: wf, RunID: "run-1"}
	_, err := acts.FinishJob(ctx, in)
	require.NoError(t, err)
	_, err = acts.FinishJob(ctx, in) // a retry whose first attempt committed
	require.NoError(t, err)
	require.Equal(t, 1.0, cancelled(), "counted once")
	var j *db.Job
	require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) (err error) {
		j, err = tx.EnsureJob(ctx, db.Job{ID: followUp, ConnectionID: conn, Provider: provider, Kind: poblysh.JobIncremental,
			Stream: "items", Trigger: poblysh.TriggerManual, Status: poblysh.JobQueued, WorkflowID: wf, RunID: "run-2"})
		return err
	}))
	require.Equal(t, poblysh.JobCancelled, j.Status, "the API's late row does not revive it")
	require.Equal(t, "cancelled: the previous pass failed permanently (Unauthorized)", *j.Error)
	require.NotNil(t, j.FinishedAt)
	require.Equal(t, poblysh.JobBackfill, j.Kind, "the kind the workflow queued it as")
	require.Equal(t, poblysh.TriggerWebhook, j.Trigger, "the trigger the workflow queued it for")
	require.Equal(t, wf, j.WorkflowID)
	require.Equal(t, "run-1", j.RunID)
	require.Equal(t, provider, j.Provider)
	require.Equal(t, "items", j.Stream)

	// The API's row written first (and still queued) is finished as before.
	queued := uuid.NewString()
	require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		_, err := tx.EnsureJob(ctx, db.Job{ID: queued, ConnectionID: conn, Provider: provider, Kind: poblysh.JobBackfill,
			Stream: "items", Trigger: poblysh.TriggerManual, WorkflowID: wf})
		return err
	}))
	in.JobID = queued
	_, err = acts.FinishJob(ctx, in)
	require.NoError(t, err)
	require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) (err error) {
		j, err = tx.FindJob(ctx, queued)
		return err
	}))
	require.Equal(t, poblysh.JobCancelled, j.Status)
	require.Equal(t, poblysh.TriggerManual, j.Trigger, "the row's own")
	require.Equal(t, 2.0, cancelled())

	// A workflow of the earlier version describes nothing: no row.
	bare := uuid.NewString()
	_, err = acts.FinishJob(ctx, FinishJobInput{ConnectionRef: ref, JobID: bare, Status: poblysh.JobCancelled,
		Error: "cancelled: the previous pass failed permanently (Unauthorized)", FollowUp: true})
	require.NoError(t, err)
	require.Zero(t, countRows(t, schema, `SELECT count(*) FROM jobs WHERE id = '`+bare+`'`))
}
