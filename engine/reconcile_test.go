package engine

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/metrics"
	"github.com/poblysh/poblysh/testenv"
	"github.com/poblysh/poblysh/workflows"
)

// reconcileSetup is an engine on the package's dev server and a fresh
// schema with one tenant and connection.
type reconcileSetup struct {
	e            *Engine
	s            *dbtest.Schema
	tenant, conn string
	// idle is a task queue no worker polls: a workflow started on it stays
	// running until it is terminated.
	idle string
}

func newReconcileSetup(t *testing.T, name string) *reconcileSetup {
	t.Helper()
	srv := testenv.Temporal(t)
	s := dbtest.NewSchema(t)
	tenant, conn := dbtest.Seed(t, s.DB, name, "fake", "acct")
	queue := name + "-" + s.Name
	e := &Engine{Client: srv.Client(), DB: s.DB, Registry: connectors.NewRegistry(), TaskQueue: queue, Namespace: "default", Log: logrus.New()}
	return &reconcileSetup{e: e, s: s, tenant: tenant, conn: conn, idle: queue + "-nobody-polls-this"}
}

// start starts a run of the stream's sync workflow on the idle queue and
// answers its workflow and run ids.
func (r *reconcileSetup) start(t *testing.T, stream string) (string, string) {
	t.Helper()
	id := workflows.SyncWorkflowID(r.e.TaskQueue, r.conn, stream)
	run, err := r.e.Client.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: id, TaskQueue: r.idle}, "neverRuns")
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.e.Client.TerminateWorkflow(context.Background(), id, "", "test over") })
	return id, run.GetRunID()
}

// job stores a running job of the run, last updated ago.
func (r *reconcileSetup) job(t *testing.T, workflowID, runID string, ago time.Duration) string {
	t.Helper()
	var id string
	require.NoError(t, r.s.DB.WithTenant(context.Background(), r.tenant, func(tx *db.Tx) error {
		return tx.GetContext(context.Background(), &id, `INSERT INTO jobs (id, tenant_id, connection_id, provider, kind, stream, trigger, status,
				workflow_id, run_id, started_at, updated_at)
			VALUES (gen_random_uuid(), $1, $2, 'fake', 'incremental', 'items', 'schedule', 'running', $3, $4, now() - $5 * interval '1 second',
				now() - $5 * interval '1 second') RETURNING id`,
			r.tenant, r.conn, workflowID, runID, ago.Seconds())
	}))
	return id
}

func (r *reconcileSetup) status(t *testing.T, id string) poblysh.JobStatus {
	t.Helper()
	var st poblysh.JobStatus
	require.NoError(t, r.s.DB.WithSystem(context.Background(), func(tx *db.Tx) error {
		return tx.GetContext(context.Background(), &st, `SELECT status FROM jobs WHERE id = $1`, id)
	}))
	return st
}

// TestSweepMovesPastRunningJobs: the sweep reads a batch of the open jobs
// idle longest. A job whose workflow is rightly still running (a page
// retrying a 429 stores no progress; a follow-up waits behind a long
// backfill) is not settled, so it stayed among the oldest: once a batch of
// them existed, every sweep read the same batch and a job whose workflow
// had closed was never settled. Here the batch is 2, three jobs of running
// workflows are older than one whose workflow was terminated, and a few
// sweeps settle it.
func TestSweepMovesPastRunningJobs(t *testing.T) {
	ctx := context.Background()
	r := newReconcileSetup(t, "sweeppast")
	r.e.sweepBatch = 2
	var running []string
	for i, stream := range []string{"a", "b", "c"} {
		wf, run := r.start(t, stream)
		running = append(running, r.job(t, wf, run, time.Duration(5-i)*time.Hour))
	}
	wf, run := r.start(t, "closed")
	require.NoError(t, r.e.Client.TerminateWorkflow(ctx, wf, run, "stopped by hand"))
	closed := r.job(t, wf, run, time.Hour)

	settled := 0
	for range 3 {
		n, err := r.e.SweepJobs(ctx, 2*time.Minute)
		require.NoError(t, err)
		settled += n
	}
	require.Equal(t, poblysh.JobCancelled, r.status(t, closed), "the job of the terminated workflow is settled")
	require.Equal(t, 1, settled)
	for _, id := range running {
		require.Equal(t, poblysh.JobRunning, r.status(t, id), "a job whose workflow runs stays running")
	}
}

// find reads a job as its tenant.
func (r *reconcileSetup) find(t *testing.T, id string) *db.Job {
	t.Helper()
	ctx := context.Background()
	var j *db.Job
	require.NoError(t, r.s.DB.WithTenant(ctx, r.tenant, func(tx *db.Tx) (err error) {
		j, err = tx.FindJob(ctx, id)
		return err
	}))
	return j
}

// hopped runs hop on a worker until its second run's page is pending, and
// returns the workflow id and both runs.
func (r *reconcileSetup) hopped(t *testing.T) (wf, first, second string) {
	t.Helper()
	ctx := context.Background()
	w := worker.New(r.e.Client, r.e.TaskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(hop, workflow.RegisterOptions{Name: "hop"})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	wf = workflows.SyncWorkflowID(r.e.TaskQueue, r.conn, "hops")
	run, err := r.e.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wf, TaskQueue: r.e.TaskQueue}, "hop", 0)
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.e.Client.TerminateWorkflow(context.Background(), wf, "", "test over") })
	require.Eventually(t, func() bool {
		d, err := r.e.Client.DescribeWorkflow(ctx, wf, "")
		if err == nil && d.WorkflowExecution.RunID != run.GetRunID() && len(d.RawResponse.GetPendingActivities()) == 1 {
			second = d.WorkflowExecution.RunID
			return true
		}
		return false
	}, 30*time.Second, 50*time.Millisecond, "the next run's page is pending")
	return wf, run.GetRunID(), second
}

// hop continues as new once, then waits on a page no worker runs.
func hop(ctx workflow.Context, n int) error {
	if n == 0 {
		return workflow.NewContinueAsNewError(ctx, "hop", 1)
	}
	return passWaiting(ctx)
}

// TestLiveJobDescribesTheJobsOwnRun: GET /jobs/{id} describes the job's own
// run. It described the workflow id's latest run, so a job whose run was
// terminated and whose workflow a new trigger started again showed as
// running, with the new run's pending page, until the sweep settled it. A
// run that continued as new still hands the job on to the run it started.
func TestLiveJobDescribesTheJobsOwnRun(t *testing.T) {
	ctx := context.Background()
	r := newReconcileSetup(t, "liverun")

	t.Run("terminated, then started again", func(t *testing.T) {
		wf, old := r.start(t, "items")
		id := r.job(t, wf, old, time.Minute)
		require.NoError(t, r.e.Client.TerminateWorkflow(ctx, wf, old, "stopped by hand"))
		_, again := r.start(t, "items")
		require.NotEqual(t, old, again)

		j := r.find(t, id)
		live, err := r.e.LiveJob(ctx, j)
		require.NoError(t, err)
		require.Nil(t, live, "a job settled on read is final: no live view")
		require.Equal(t, poblysh.JobCancelled, j.Status, "settled on read from the job's run, not the new one")
		require.NotNil(t, j.Error)
		require.Contains(t, *j.Error, "the workflow was terminated: stopped by hand")
		require.Equal(t, poblysh.JobCancelled, r.status(t, id))
	})

	t.Run("continued as new", func(t *testing.T) {
		wf, first, _ := r.hopped(t)
		id := r.job(t, wf, first, time.Minute)

		j := r.find(t, id)
		live, err := r.e.LiveJob(ctx, j)
		require.NoError(t, err)
		require.NotNil(t, live)
		require.Equal(t, "Running", live.ExecutionStatus, "the run the job was handed on to")
		require.NotNil(t, live.PendingActivity)
		require.Equal(t, "SyncPage", *live.PendingActivity)
		require.Equal(t, poblysh.JobRunning, r.status(t, id), "not settled: its workflow runs")
		// The hop is recorded: the next read starts at the run it reached.
		var stored string
		require.NoError(t, r.s.DB.WithSystem(ctx, func(tx *db.Tx) error {
			return tx.GetContext(ctx, &stored, `SELECT run_id FROM jobs WHERE id = $1`, id)
		}))
		d, err := r.e.Client.DescribeWorkflow(ctx, wf, "")
		require.NoError(t, err)
		require.Equal(t, d.WorkflowExecution.RunID, stored)
	})
}

// A job's run is followed through continue-as-new along its own chain,
// never to a later trigger's run: R1 (the job's) continues as new to R2, R2
// is terminated, a new trigger starts R3. The job is settled as cancelled.
// (Following to the latest run read R3: the job showed running with R3's
// state, and would have been settled failed when R3 completed.)
func TestLiveJobFollowsItsOwnChain(t *testing.T) {
	ctx := context.Background()
	r := newReconcileSetup(t, "ownchain")
	wf, first, r2 := r.hopped(t)
	id := r.job(t, wf, first, time.Minute)
	require.NoError(t, r.e.Client.TerminateWorkflow(ctx, wf, r2, "stopped by hand"))
	r.start(t, "hops") // a new trigger, on a queue nobody polls

	j := r.find(t, id)
	_, err := r.e.LiveJob(ctx, j)
	require.NoError(t, err)
	require.Equal(t, poblysh.JobCancelled, r.status(t, id), "the job's chain was terminated")
}

// Jobs settled by reconciliation are finished jobs like those their
// workflows finish: counted once in poblysh_jobs_total (by final status)
// and poblysh_job_duration_seconds, however many sweeps and reads see
// them. The dashboard's "Jobs finished by status" and "Failed job ratio"
// missed them.
func TestSettledJobsAreCounted(t *testing.T) {
	ctx := context.Background()
	r := newReconcileSetup(t, "settlecount")
	const provider = "settlecount"
	job := func(kind, workflowID, runID string) string {
		var id string
		require.NoError(t, r.s.DB.WithTenant(ctx, r.tenant, func(tx *db.Tx) error {
			return tx.GetContext(ctx, &id, `INSERT INTO jobs (id, tenant_id, connection_id, provider, kind, stream, trigger, status,
					workflow_id, run_id, started_at, updated_at)
				VALUES (gen_random_uuid(), $1, $2, $3, $4, 'items', 'schedule', 'running', $5, $6, now() - interval '1 hour',
					now() - interval '1 hour') RETURNING id`,
				r.tenant, r.conn, provider, kind, workflowID, runID)
		}))
		return id
	}
	wf, run := r.start(t, "terminated")
	require.NoError(t, r.e.Client.TerminateWorkflow(ctx, wf, run, "stopped by hand"))
	terminated := job("incremental", wf, run)
	unknown := job("backfill", workflows.SyncWorkflowID(r.e.TaskQueue, r.conn, "never-started"), "")
	stale := r.find(t, terminated) // read before any sweep: still running

	total := func(kind, status string) float64 {
		var m dto.Metric
		require.NoError(t, metrics.JobsTotal.WithLabelValues(provider, kind, status).Write(&m))
		return m.GetCounter().GetValue()
	}
	durations := func(kind string) uint64 {
		var m dto.Metric
		require.NoError(t, metrics.JobDuration.WithLabelValues(provider, kind).(prometheus.Histogram).Write(&m))
		return m.GetHistogram().GetSampleCount()
	}
	for range 2 {
		_, err := r.e.SweepJobs(ctx, time.Minute)
		require.NoError(t, err)
	}
	// A read that saw the job running before the sweep settled it does
	// not settle (nor count) it again.
	_, err := r.e.LiveJob(ctx, stale)
	require.NoError(t, err)

	require.Equal(t, poblysh.JobCancelled, r.status(t, terminated))
	require.Equal(t, poblysh.JobFailed, r.status(t, unknown))
	require.Equal(t, 1.0, total("incremental", "cancelled"))
	require.Equal(t, 1.0, total("backfill", "failed"))
	require.Zero(t, total("incremental", "failed")+total("backfill", "cancelled"))
	require.Equal(t, uint64(1), durations("incremental"))
	require.Equal(t, uint64(1), durations("backfill"))
	var m dto.Metric
	require.NoError(t, metrics.JobDuration.WithLabelValues(provider, "backfill").(prometheus.Histogram).Write(&m))
	require.InDelta(t, time.Hour.Seconds(), m.GetHistogram().GetSampleSum(), 60, "from start to settlement")
}

// TestSettleMapsTheRunsClose pins the mapping temporal-dev.md states: a
// terminated run's open jobs are cancelled, queued or running; a completed
// run's queued job (a follow-up it never ran) is cancelled and its running
// job failed. (temporal-dev.md said every closed run's job not terminated
// or cancelled became failed.)
func TestSettleMapsTheRunsClose(t *testing.T) {
	ctx := context.Background()
	r := newReconcileSetup(t, "settlemap")
	open := func(status poblysh.JobStatus, workflowID, runID string) string {
		var id string
		require.NoError(t, r.s.DB.WithTenant(ctx, r.tenant, func(tx *db.Tx) error {
			return tx.GetContext(ctx, &id, `INSERT INTO jobs (id, tenant_id, connection_id, provider, kind, stream, trigger, status,
					workflow_id, run_id, updated_at)
				VALUES (gen_random_uuid(), $1, $2, 'fake', 'incremental', 'items', 'webhook', $3, $4, $5, now() - interval '1 hour')
				RETURNING id`, r.tenant, r.conn, status, workflowID, runID)
		}))
		return id
	}

	w := worker.New(r.e.Client, r.e.TaskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(func(workflow.Context) error { return nil }, workflow.RegisterOptions{Name: "done"})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	completedWF := workflows.SyncWorkflowID(r.e.TaskQueue, r.conn, "completed")
	run, err := r.e.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: completedWF, TaskQueue: r.e.TaskQueue}, "done")
	require.NoError(t, err)
	require.NoError(t, run.Get(ctx, nil))
	completedQueued := open(poblysh.JobQueued, completedWF, run.GetRunID())
	completedRunning := open(poblysh.JobRunning, completedWF, run.GetRunID())

	terminatedWF, terminatedRun := r.start(t, "terminated")
	require.NoError(t, r.e.Client.TerminateWorkflow(ctx, terminatedWF, terminatedRun, "stopped by hand"))
	terminatedQueued := open(poblysh.JobQueued, terminatedWF, terminatedRun)
	terminatedRunning := open(poblysh.JobRunning, terminatedWF, terminatedRun)

	n, err := r.e.SweepJobs(ctx, time.Minute)
	require.NoError(t, err)
	require.Equal(t, 4, n)
	require.Equal(t, poblysh.JobCancelled, r.status(t, completedQueued), "a follow-up the completed run never ran")
	require.Equal(t, poblysh.JobFailed, r.status(t, completedRunning), "a pass the completed run never finished")
	require.Equal(t, poblysh.JobCancelled, r.status(t, terminatedQueued))
	require.Equal(t, poblysh.JobCancelled, r.status(t, terminatedRunning))
}

// statusSays is a Temporal client whose DescribeWorkflow reports every run
// in status. The package's dev server (1.29) cannot pause a workflow
// (PauseWorkflowExecution arrived in 1.30), so a paused run is a real open
// run described as Temporal 1.30 describes it.
type statusSays struct {
	client.Client
	status enumspb.WorkflowExecutionStatus
}

func (c *statusSays) DescribeWorkflow(ctx context.Context, workflowID, runID string) (*client.WorkflowExecutionDescription, error) {
	d, err := c.Client.DescribeWorkflow(ctx, workflowID, runID)
	if err == nil {
		d.Status = c.status
	}
	return d, err
}

// TestOpenRunsAreNotSettled: only a run Temporal reports closed (completed,
// failed, cancelled, terminated, timed out) settles its job. Reconciliation
// skipped only running and continued-as-new runs, so a paused workflow
// (Temporal: "Paused: The Workflow Execution has been Paused. It remains
// Open") had its job settled as failed by GET /jobs/{id} and by the sweep
// while it was waiting to be unpaused; a status Temporal adds later would
// have been settled the same way. Both are open now: the read shows the
// run, paused and waiting, and the sweep leaves the job running.
func TestOpenRunsAreNotSettled(t *testing.T) {
	ctx := context.Background()
	r := newReconcileSetup(t, "openruns")
	real := r.e.Client
	for _, tc := range []struct {
		status enumspb.WorkflowExecutionStatus
		shown  string
	}{
		{enumspb.WORKFLOW_EXECUTION_STATUS_PAUSED, "Paused"},
		{enumspb.WorkflowExecutionStatus(99), "99"}, // a status this build does not know
	} {
		t.Run(tc.shown, func(t *testing.T) {
			r.e.Client = &statusSays{Client: real, status: tc.status}
			t.Cleanup(func() { r.e.Client = real })
			wf, run := r.start(t, "items-"+tc.shown)
			read, swept := r.job(t, wf, run, time.Hour), r.job(t, wf, run, time.Hour)

			j := r.find(t, read)
			live, err := r.e.LiveJob(ctx, j)
			require.NoError(t, err)
			require.Equal(t, poblysh.JobRunning, j.Status, "the run is open, not settled: %s", ptrText(j.Error))
			require.NotNil(t, live, "an open job has a live view")
			require.Equal(t, tc.shown, live.ExecutionStatus)

			n, err := r.e.SweepJobs(ctx, time.Minute)
			require.NoError(t, err)
			require.Zero(t, n)
			require.Equal(t, poblysh.JobRunning, r.status(t, swept), "the sweep leaves the job of an open run")
			require.Equal(t, poblysh.JobRunning, r.status(t, read))
		})
	}
	// A paused run waits: no task of it is dispatched until it is unpaused.
	r.e.Client = &statusSays{Client: real, status: enumspb.WORKFLOW_EXECUTION_STATUS_PAUSED}
	wf, run := r.start(t, "items-waits")
	live, err := r.e.LiveJob(ctx, r.find(t, r.job(t, wf, run, time.Minute)))
	require.NoError(t, err)
	require.NotNil(t, live)
	require.True(t, live.Waiting, "a paused run waits for its unpause")
}

func ptrText(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// TestClosedRunsSettle: a run Temporal closed as failed, cancelled or
// timed out settles its job, as completed and terminated runs do
// (TestSettleMapsTheRunsClose); only those five statuses settle (closed).
func TestClosedRunsSettle(t *testing.T) {
	ctx := context.Background()
	r := newReconcileSetup(t, "closedruns")
	real := r.e.Client
	for _, tc := range []struct {
		status enumspb.WorkflowExecutionStatus
		name   string
		want   poblysh.JobStatus
	}{
		{enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, "failed", poblysh.JobFailed},
		{enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED, "canceled", poblysh.JobCancelled},
		{enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT, "timed-out", poblysh.JobFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.e.Client = &statusSays{Client: real, status: tc.status}
			t.Cleanup(func() { r.e.Client = real })
			wf, run := r.start(t, "items-"+tc.name)
			read, swept := r.job(t, wf, run, time.Hour), r.job(t, wf, run, time.Hour)

			j := r.find(t, read)
			live, err := r.e.LiveJob(ctx, j)
			require.NoError(t, err)
			require.Nil(t, live, "a settled job has no live view")
			require.Equal(t, tc.want, j.Status)

			n, err := r.e.SweepJobs(ctx, time.Minute)
			require.NoError(t, err)
			require.Equal(t, 1, n)
			require.Equal(t, tc.want, r.status(t, swept))
		})
	}
}
