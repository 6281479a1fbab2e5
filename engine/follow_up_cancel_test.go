package engine

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/activities"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/testenv"
	"github.com/poblysh/poblysh/workflows"
)

// lateRecorder is a Temporal client whose next update-with-start, once
// armed, runs a function between Temporal's answer and the caller's use of
// it (the API's EnsureJob of the job it was answered): an API process a
// little slower than the worker.
type lateRecorder struct {
	client.Client
	between atomic.Pointer[func()]
}

func (c *lateRecorder) UpdateWithStartWorkflow(ctx context.Context, opts client.UpdateWithStartWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	h, err := c.Client.UpdateWithStartWorkflow(ctx, opts)
	if f := c.between.Swap(nil); f != nil && err == nil {
		var res workflows.RequestResult
		if err := h.Get(ctx, &res); err == nil {
			(*f)()
		}
	}
	return h, err
}

// TestFollowUpCancelledBeforeItsRowStaysCancelled: POST /sync during a
// pass is answered with the queued follow-up; the pass then fails for
// good and the workflow cancels that follow-up before the API has stored
// its row. The cancellation stores the row, cancelled, with the kind,
// trigger and run the workflow queued it with, and the API's late
// EnsureJob leaves it so: POST /sync answers it cancelled, and GET /jobs
// shows it cancelled. It was recorded nowhere, so the API stored it
// queued, for good: a job "queued behind the running pass" that would
// never run, while the stream's workflow went on.
func TestFollowUpCancelledBeforeItsRowStaysCancelled(t *testing.T) {
	ctx := context.Background()
	srv := testenv.Temporal(t)
	s := dbtest.NewSchema(t)
	spec := &connectors.Spec{Name: "late-row"}
	reg := connectors.NewRegistry(&connectors.Provider{Spec: spec, Connector: syncer{spec}})
	tenant, connID := dbtest.Seed(t, s.DB, "late row", "late-row", "acct")
	queue := "late-row-" + s.Name
	late := &lateRecorder{Client: srv.Client()}
	e := &Engine{Client: late, DB: s.DB, Registry: reg, TaskQueue: queue, Namespace: "default", Log: logrus.New()}
	var conn *db.Connection
	require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) (err error) {
		conn, err = tx.FindConnection(ctx, connID)
		return err
	}))
	acts := &activities.Activities{DB: s.DB, Registry: reg, Log: logrus.New()}
	pageStarted := make(chan struct{}, 1)
	failPage := make(chan struct{})
	followUpCancelled := make(chan struct{}, 1)
	w := worker.New(srv.Client(), queue, worker.Options{})
	w.RegisterWorkflow(workflows.SyncStream)
	w.RegisterActivityWithOptions(acts.BeginJob, activity.RegisterOptions{Name: "BeginJob"})
	w.RegisterActivityWithOptions(func(ctx context.Context, in activities.SyncPageInput) (activities.SyncPageResult, error) {
		pageStarted <- struct{}{}
		select {
		case <-failPage:
		case <-ctx.Done():
			return activities.SyncPageResult{}, ctx.Err()
		}
		return activities.SyncPageResult{}, temporal.NewNonRetryableApplicationError("token revoked", activities.ErrTypeUnauthorized, nil)
	}, activity.RegisterOptions{Name: "SyncPage"})
	w.RegisterActivityWithOptions(func(ctx context.Context, in activities.FinishJobInput) (activities.FinishJobResult, error) {
		res, err := acts.FinishJob(ctx, in)
		if err == nil && in.FollowUp {
			followUpCancelled <- struct{}{}
		}
		return res, err
	}, activity.RegisterOptions{Name: "FinishJob"})
	require.NoError(t, w.Start())
	id := workflows.SyncWorkflowID(queue, connID, "items")
	t.Cleanup(func() {
		_ = srv.Client().TerminateWorkflow(context.Background(), id, "", "test over")
		w.Stop()
	})
	wait := func(what string, ch <-chan struct{}) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(60 * time.Second):
			t.Fatalf("%s never happened", what)
		}
	}

	first, err := e.RequestSync(ctx, conn, poblysh.ModeIncremental, poblysh.TriggerManual)
	require.NoError(t, err)
	wait("the first pass's page", pageStarted)

	// POST /sync during the pass: answered with the queued follow-up.
	// Before the API stores its row, the pass fails for good and the
	// workflow cancels the follow-up.
	between := func() {
		close(failPage)
		wait("the follow-up's cancellation", followUpCancelled)
	}
	late.between.Store(&between)
	jobs, err := e.RequestSync(ctx, conn, poblysh.ModeIncremental, poblysh.TriggerManual)
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	answered := jobs[0]
	require.NotEqual(t, first[0].ID, answered.ID, "the follow-up, not the running pass")
	require.Equal(t, poblysh.JobCancelled, answered.Status, "POST /sync answers the job as it stands")

	var stored *db.Job
	require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) (err error) {
		stored, err = tx.FindJob(ctx, answered.ID)
		return err
	}))
	require.Equal(t, poblysh.JobCancelled, stored.Status, "its workflow cancelled it; it will never run")
	require.Equal(t, "cancelled: the previous pass failed permanently (Unauthorized)", *stored.Error)
	require.NotNil(t, stored.FinishedAt)
	require.Equal(t, poblysh.JobIncremental, stored.Kind)
	require.Equal(t, poblysh.TriggerManual, stored.Trigger)
	require.Equal(t, id, stored.WorkflowID)
	require.NotEmpty(t, stored.RunID)
}
