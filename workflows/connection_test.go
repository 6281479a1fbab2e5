package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/activities"
	"github.com/poblysh/poblysh/workflows"
)

// PollConnection nudges the connection's streams once and reports how many.
func TestPollConnection(t *testing.T) {
	env, j := newEnv(t)
	env.OnActivity(acts.TriggerConnectionSync, mock.Anything, activities.TriggerConnectionSyncInput{ConnectionRef: conn}).Return(activities.TriggerConnectionSyncResult{Streams: 3}, nil).Once()

	env.ExecuteWorkflow(workflows.PollConnection, workflows.PollInput{ConnectionRef: conn})

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var out workflows.PollResult
	require.NoError(t, env.GetWorkflowResult(&out))
	require.Equal(t, workflows.PollResult{Streams: 3}, out)
	require.Equal(t, []string{"TriggerConnectionSync"}, j.names())
}

// A poll that cannot reach Temporal or Postgres gives up after five
// attempts (the next schedule tick polls again).
func TestPollConnectionGivesUp(t *testing.T) {
	env, j := newEnv(t)
	env.OnActivity(acts.TriggerConnectionSync, mock.Anything, mock.Anything).Return(activities.TriggerConnectionSyncResult{}, temporal.NewApplicationError("temporal unavailable", activities.ErrTypeTransient))

	env.ExecuteWorkflow(workflows.PollConnection, workflows.PollInput{ConnectionRef: conn})

	require.True(t, env.IsWorkflowCompleted())
	require.ErrorContains(t, env.GetWorkflowError(), "temporal unavailable")
	require.Len(t, j.named("TriggerConnectionSync"), 5)
}

// ReconcileWatches records each pass as a watch_renewal job; reconcile
// signals that arrive while a pass runs add exactly one more pass.
func TestReconcileWatches(t *testing.T) {
	result := activities.ReconcileWatchesResult{Created: 1, Stopped: 2, Active: 3, PushEnabled: true}
	watchContext := map[string]any{"created": float64(1), "stopped": float64(2), "active": float64(3)}
	for _, tc := range []struct {
		name    string
		signals []time.Duration // reconcile signals, by simulated time
		passes  int
	}{
		{"signal-with-start runs one pass", []time.Duration{0}, 1},
		{"signals during a pass run one more", []time.Duration{0, 500 * time.Millisecond, 700 * time.Millisecond, 900 * time.Millisecond}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, j := newEnv(t)
			mockJobs(env)
			env.OnActivity(acts.ReconcileWatches, mock.Anything, activities.ReconcileWatchesInput{ConnectionRef: conn}).After(time.Second).Return(result, nil).Times(tc.passes)
			for _, at := range tc.signals {
				env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.SignalWatch, nil) }, at)
			}

			env.ExecuteWorkflow(workflows.ReconcileWatches, workflows.WatchInput{ConnectionRef: conn, Trigger: poblysh.TriggerConnect})

			require.True(t, env.IsWorkflowCompleted())
			require.NoError(t, env.GetWorkflowError())
			var out workflows.WatchResult
			require.NoError(t, env.GetWorkflowResult(&out))
			require.Equal(t, workflows.WatchResult{Passes: tc.passes, ReconcileWatchesResult: result}, out)
			begins, fins := j.begins(), j.finishes()
			require.Len(t, begins, tc.passes)
			require.Len(t, fins, tc.passes)
			triggers := []poblysh.Trigger{poblysh.TriggerConnect, poblysh.TriggerManual}
			for i := range tc.passes {
				require.Equal(t, poblysh.JobWatchRenewal, begins[i].Kind)
				require.Equal(t, connTarget, begins[i].ConnectionRef)
				require.Equal(t, triggers[i], begins[i].Trigger)
				require.Equal(t, activities.FinishJobInput{ConnectionRef: connTarget, JobID: begins[i].JobID, Status: poblysh.JobSucceeded, Context: watchContext}, fins[i])
			}
			if tc.passes == 2 {
				require.NotEqual(t, begins[0].JobID, begins[1].JobID)
			}
		})
	}
}

// A failed reconciliation is recorded on its job; the workflow completes.
func TestReconcileWatchesFailure(t *testing.T) {
	for _, tc := range []struct {
		typ    string
		status poblysh.JobStatus
	}{
		{activities.ErrTypeUnauthorized, poblysh.JobFailed},
		{activities.ErrTypeConnectionInactive, poblysh.JobCancelled},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			env, j := newEnv(t)
			mockJobs(env)
			env.OnActivity(acts.ReconcileWatches, mock.Anything, mock.Anything).Return(activities.ReconcileWatchesResult{}, temporal.NewNonRetryableApplicationError("watch refused", tc.typ, nil)).Once()

			env.ExecuteWorkflow(workflows.ReconcileWatches, workflows.WatchInput{ConnectionRef: conn, Trigger: poblysh.TriggerSchedule})

			require.NoError(t, env.GetWorkflowError())
			fins := j.finishes()
			require.Len(t, fins, 1)
			require.Equal(t, tc.status, fins[0].Status)
			require.Equal(t, tc.typ, fins[0].ErrorType)
			require.Contains(t, fins[0].Error, "watch refused")
		})
	}
}
