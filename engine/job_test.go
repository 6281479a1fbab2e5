package engine

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/testenv"
	"github.com/poblysh/poblysh/workflows"
)

// noQueries is a Temporal client whose QueryWorkflow counts its calls: a
// query is answered by a worker, so a read that issues one waits as long
// as the worker is busy or down.
type noQueries struct {
	client.Client
	queries int
}

func (c *noQueries) QueryWorkflow(ctx context.Context, workflowID, runID, queryType string, args ...any) (converter.EncodedValue, error) {
	c.queries++
	return c.Client.QueryWorkflow(ctx, workflowID, runID, queryType, args...)
}

// passWaiting stands in for a stream's sync workflow in the middle of a
// page: its activity is scheduled on a queue no worker polls, so it stays
// pending.
func passWaiting(ctx workflow.Context) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{TaskQueue: "nobody-polls-this", StartToCloseTimeout: time.Hour})
	return workflow.ExecuteActivity(ctx, "SyncPage").Get(ctx, nil)
}

// TestLiveJobReadsNoWorker: GET /jobs/{id} of an open job reads the run from
// Temporal's server (describe) and the pass order from Postgres. It once
// asked the workflow by query which pass was pending, and a query waits for
// a worker: with the worker busy (a CI run: another tenant's backfill) or
// stopped, each read of a running job took the whole 5 s timeout. Here the
// worker is stopped after the run started, and the running pass and its
// queued follow-up are still told apart.
func TestLiveJobReadsNoWorker(t *testing.T) {
	ctx := context.Background()
	srv := testenv.Temporal(t)
	s := dbtest.NewSchema(t)
	tenant, conn := dbtest.Seed(t, s.DB, "live", "fake", "acct")
	queue := "live-" + s.Name
	tc := &noQueries{Client: srv.Client()}
	e := &Engine{Client: tc, DB: s.DB, Registry: connectors.NewRegistry(), TaskQueue: queue, Namespace: "default", Log: logrus.New()}

	w := worker.New(srv.Client(), queue, worker.Options{})
	w.RegisterWorkflowWithOptions(passWaiting, workflow.RegisterOptions{Name: "passWaiting"})
	require.NoError(t, w.Start())
	start := func(stream string) string {
		id := workflows.SyncWorkflowID(queue, conn, stream)
		_, err := srv.Client().ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, "passWaiting")
		require.NoError(t, err)
		t.Cleanup(func() { _ = srv.Client().TerminateWorkflow(context.Background(), id, "", "test over") })
		require.Eventually(t, func() bool {
			d, err := srv.Client().DescribeWorkflow(ctx, id, "")
			return err == nil && len(d.RawResponse.GetPendingActivities()) == 1
		}, 30*time.Second, 50*time.Millisecond, "the pass's page is pending")
		return id
	}
	wfID, otherID := start("items"), start("other")
	w.Stop()

	// The pass that runs, and a follow-up queued behind it.
	var current, followUp, other *db.Job
	require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) (err error) {
		job := func(status poblysh.JobStatus, workflowID string) *db.Job {
			j, err := tx.EnsureJob(ctx, db.Job{ID: uuid.NewString(), ConnectionID: conn, Provider: "fake", Kind: poblysh.JobIncremental,
				Stream: "items", Trigger: poblysh.TriggerManual, Status: status, WorkflowID: workflowID})
			require.NoError(t, err)
			return j
		}
		current, followUp = job(poblysh.JobRunning, wfID), job(poblysh.JobQueued, wfID)
		// Another stream's queued job is not behind this stream's pass.
		other = job(poblysh.JobQueued, otherID)
		return nil
	}))

	live, err := e.LiveJob(ctx, current)
	require.NoError(t, err)
	require.Equal(t, "Running", live.ExecutionStatus)
	require.False(t, live.Waiting, "the running pass is working")
	require.NotNil(t, live.PendingActivity)
	require.Equal(t, "SyncPage", *live.PendingActivity)

	live, err = e.LiveJob(ctx, followUp)
	require.NoError(t, err)
	require.True(t, live.Waiting, "the follow-up waits")
	require.NotNil(t, live.ActivityState)
	require.Equal(t, "queued behind the running pass", *live.ActivityState)
	require.Nil(t, live.PendingActivity, "the pending page is the running pass's, not the follow-up's")
	require.Zero(t, live.Attempt, "no activity of its own is pending (swagger.yml JobLive.attempt)")

	live, err = e.LiveJob(ctx, other)
	require.NoError(t, err)
	require.False(t, live.Waiting, "no pass of its own stream runs: it is about to start")
	require.NotNil(t, live.PendingActivity)

	require.Zero(t, tc.queries, "no read waited on a worker")
}
