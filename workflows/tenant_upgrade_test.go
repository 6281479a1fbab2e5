package workflows_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/activities"
	"github.com/poblysh/poblysh/testenv"
	"github.com/poblysh/poblysh/workflows"
)

// preUpgradeDeleteTenant is the PRE-UPGRADE DeleteTenant (a39eaf4, before
// the deletion continued as new), kept only to start deletions the way a
// worker of that release did: one run, no version marker, never continuing
// as new. Its commands are those of the old code (activity names as
// registered); do not change it.
func preUpgradeDeleteTenant(ctx workflow.Context, in workflows.DeleteTenantInput) (workflows.DeleteTenantResult, error) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
			MaximumAttempts: 20, NonRetryableErrorTypes: activities.NonRetryable},
	})
	var res workflows.DeleteTenantResult
	run := func() error {
		var begin activities.BeginTenantDeletionResult
		if err := workflow.ExecuteActivity(actx, "BeginTenantDeletion", activities.TenantDeletionInput{
			TenantID: in.TenantID, JobID: in.JobID, RunID: workflow.GetInfo(ctx).WorkflowExecution.RunID,
		}).Get(ctx, &begin); err != nil {
			return err
		}
		res.KeysRevoked = begin.KeysRevoked
		for _, id := range begin.ConnectionIDs {
			if err := workflow.ExecuteActivity(actx, "DisconnectForDeletion", activities.TenantDeletionInput{
				TenantID: in.TenantID, JobID: in.JobID, ConnectionID: id,
			}).Get(ctx, nil); err != nil {
				return err
			}
			res.Disconnected++
		}
		var purged activities.PurgeTenantResult
		if err := workflow.ExecuteActivity(actx, "PurgeTenant", activities.TenantDeletionInput{
			TenantID: in.TenantID, JobID: in.JobID,
		}).Get(ctx, &purged); err != nil {
			return err
		}
		res.Signals = purged.Signals
		return nil
	}
	err := run()
	fin := activities.FinishOperatorJobInput{JobID: in.JobID, Status: poblysh.JobSucceeded}
	if err != nil {
		fin.Status, fin.Error = poblysh.JobFailed, err.Error()
	}
	if ferr := workflow.ExecuteActivity(actx, "FinishOperatorJob", fin).Get(ctx, nil); ferr != nil && err == nil {
		err = ferr
	}
	return res, err
}

// upgradeStubs are the deletion's activities for n connections: Begin
// lists those not yet disconnected; the pauseAt-th disconnect waits until
// the test releases it.
type upgradeStubs struct {
	n       int
	pauseAt int
	paused  chan struct{}
	release chan struct{}

	mu    sync.Mutex
	asked map[string]int
	calls int
}

func (s *upgradeStubs) begin(context.Context, activities.TenantDeletionInput) (activities.BeginTenantDeletionResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var left []string
	for i := range s.n {
		if id := fmt.Sprintf("conn-%03d", i); s.asked[id] == 0 {
			left = append(left, id)
		}
	}
	return activities.BeginTenantDeletionResult{KeysRevoked: 1, ConnectionIDs: left}, nil
}

func (s *upgradeStubs) disconnect(_ context.Context, in activities.TenantDeletionInput) (struct{}, error) {
	s.mu.Lock()
	s.calls++
	pause := s.calls == s.pauseAt
	s.mu.Unlock()
	if pause {
		close(s.paused)
		<-s.release
	}
	s.mu.Lock()
	s.asked[in.ConnectionID]++
	s.mu.Unlock()
	return struct{}{}, nil
}

// firstRun is what a run's history shows of the deletion.
type firstRun struct {
	disconnects    int      // DisconnectForDeletion scheduled
	suggestedAfter int      // disconnects scheduled before Temporal first suggested continuing (-1: never)
	versions       []string // version markers' change ids
	continuedAsNew bool
	history        *historypb.History
}

func readRun(ctx context.Context, t *testing.T, c client.Client, id, runID string) firstRun {
	t.Helper()
	r := firstRun{suggestedAfter: -1, history: &historypb.History{}}
	for it := c.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT); it.HasNext(); {
		e, err := it.Next()
		require.NoError(t, err)
		r.history.Events = append(r.history.Events, e)
		if a := e.GetWorkflowTaskStartedEventAttributes(); a != nil && a.GetSuggestContinueAsNew() && r.suggestedAfter < 0 {
			r.suggestedAfter = r.disconnects
		}
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == "DisconnectForDeletion" {
			r.disconnects++
		}
		if m := e.GetMarkerRecordedEventAttributes(); m != nil && m.GetMarkerName() == "Version" {
			var change string
			require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(m.GetDetails()["change-id"], &change))
			r.versions = append(r.versions, change)
		}
		r.continuedAsNew = e.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
	}
	return r
}

// A deletion started by a worker of the release before the deletion
// continued as new, and taken over by a new worker (which replays its
// history, then runs it on), continues as new once the new worker runs it
// with Temporal suggesting it, also when the old worker had already
// carried it past Temporal's first suggestion. The new worker replayed the
// old checks as the old path (no marker in the history); the check it
// first ran itself continued the run. It used one version for every check,
// which the SDK answers once per run: replayed as the old path, it stayed
// the old path for the rest of the run, and that run was still terminated
// at 51,200 events (some 8,500 connections) as before the upgrade.
func TestDeleteTenantStartedBeforeUpgradeContinuesAsNew(t *testing.T) {
	// The package's dev server suggests continuing as new from 200 events:
	// about 30 connections into a deletion.
	const n = 60
	srv := testenv.Temporal(t)
	c, err := client.NewClientFromExisting(srv.Client(), client.Options{Logger: quietLogger()})
	require.NoError(t, err)
	defer c.Close()
	for _, tc := range []struct {
		name    string
		pauseAt int  // the disconnect running when the new worker takes over
		past    bool // the old worker had carried the run past Temporal's first suggestion
	}{
		{"upgraded before the suggestion", 1, false},
		{"upgraded past the suggestion", 45, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			q := fmt.Sprintf("tenant-upgrade-%d", tc.pauseAt)
			s := &upgradeStubs{n: n, pauseAt: tc.pauseAt, paused: make(chan struct{}), release: make(chan struct{}), asked: map[string]int{}}
			acts := worker.New(c, q, worker.Options{DisableWorkflowWorker: true})
			reg := func(fn any, name string) { acts.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name}) }
			reg(s.begin, "BeginTenantDeletion")
			reg(s.disconnect, "DisconnectForDeletion")
			reg(func(context.Context, activities.TenantDeletionInput) (activities.PurgeTenantResult, error) {
				return activities.PurgeTenantResult{Signals: 7}, nil
			}, "PurgeTenant")
			reg(func(context.Context, activities.FinishOperatorJobInput) (struct{}, error) { return struct{}{}, nil }, "FinishOperatorJob")
			require.NoError(t, acts.Start())
			defer acts.Stop()

			old := worker.New(c, q, worker.Options{LocalActivityWorkerOnly: true, StickyScheduleToStartTimeout: time.Second})
			old.RegisterWorkflowWithOptions(preUpgradeDeleteTenant, workflow.RegisterOptions{Name: workflows.DeleteTenantName})
			require.NoError(t, old.Start())
			id := workflows.TenantDeletionWorkflowID(q, "tenant-upgrade")
			run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: q}, workflows.DeleteTenantName,
				workflows.DeleteTenantInput{TenantID: "tenant-upgrade", JobID: "job-upgrade"})
			require.NoError(t, err)
			select {
			case <-s.paused:
			case <-ctx.Done():
				t.Fatal("the old worker never reached the disconnect to take over at")
			}
			old.Stop()

			upgraded := worker.New(c, q, worker.Options{LocalActivityWorkerOnly: true})
			upgraded.RegisterWorkflow(workflows.DeleteTenant)
			require.NoError(t, upgraded.Start())
			defer upgraded.Stop()
			close(s.release)

			var out workflows.DeleteTenantResult
			require.NoError(t, c.GetWorkflow(ctx, id, "").Get(ctx, &out))
			require.Equal(t, workflows.DeleteTenantResult{KeysRevoked: 1, Disconnected: n, Signals: 7}, out, "the counts of the whole deletion")
			require.Len(t, s.asked, n)
			for conn, times := range s.asked {
				require.Equal(t, 1, times, "%s disconnected once", conn)
			}

			first := readRun(ctx, t, c, id, run.GetRunID())
			require.True(t, first.continuedAsNew, "the run the old worker began continued as new once the new worker ran it")
			require.Positive(t, first.suggestedAfter, "Temporal suggested continuing during the first run")
			if tc.past {
				// The old worker had gone on past the suggestion; the new
				// one continued right after the disconnect it took over at.
				require.Greater(t, tc.pauseAt, first.suggestedAfter, "the scenario: the old worker went on past the suggestion")
				require.Equal(t, tc.pauseAt, first.disconnects, "continued after the first connection the new worker ran")
			} else {
				require.LessOrEqual(t, tc.pauseAt, first.suggestedAfter, "the scenario: taken over before the suggestion")
				require.Equal(t, first.suggestedAfter, first.disconnects, "continued at Temporal's first suggestion")
			}
			require.Equal(t, []string{fmt.Sprintf("tenant-deletion-continues-as-new/%d", first.disconnects)}, first.versions,
				"one marker, where the run continued")

			// The history, old path then new, replays on today's code.
			replayer := newReplayer(t)
			require.NoError(t, replayer.ReplayWorkflowHistory(quietLogger(), first.history))
		})
	}
}
