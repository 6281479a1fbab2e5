package workflows_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/activities"
	"github.com/poblysh/poblysh/workflows"
)

var conn = poblysh.ConnectionRef{TenantID: "tenant-1", ConnectionID: "conn-1", Provider: "google"}

// connTarget is conn as the job activities see it (no stream).
var connTarget = poblysh.ConnectionRef{TenantID: "tenant-1", ConnectionID: "conn-1", Provider: "google"}

// mockRefresh answers RefreshToken with script (attempt counts from 1).
func mockRefresh(env *testsuite.TestWorkflowEnvironment, script func(attempt int32) (activities.RefreshTokenResult, error)) {
	env.OnActivity(acts.RefreshToken, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, _ activities.RefreshTokenInput) (activities.RefreshTokenResult, error) {
			return script(activity.GetInfo(ctx).Attempt)
		})
}

// RefreshToken records its run as a token_refresh job that succeeds when
// the refresh activity does; the job id is generated when not given.
func TestRefreshTokenSucceeded(t *testing.T) {
	env, j := newEnv(t)
	mockJobs(env)
	exp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	mockRefresh(env, func(int32) (activities.RefreshTokenResult, error) {
		return activities.RefreshTokenResult{Refreshed: true, ExpiresAt: &exp}, nil
	})

	env.ExecuteWorkflow(workflows.RefreshToken, workflows.RefreshInput{ConnectionRef: conn, Trigger: poblysh.TriggerSchedule, Force: true})

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var out workflows.RefreshResult
	require.NoError(t, env.GetWorkflowResult(&out))
	require.True(t, out.Refreshed)
	require.Equal(t, []string{"BeginJob", "RefreshToken", "FinishJob"}, j.names())
	begin := j.begins()[0]
	require.NotEmpty(t, begin.JobID)
	require.Equal(t, activities.BeginJobInput{
		ConnectionRef: connTarget, JobID: begin.JobID, Kind: poblysh.JobTokenRefresh, Trigger: poblysh.TriggerSchedule,
		WorkflowID: begin.WorkflowID, RunID: begin.RunID,
	}, begin)
	require.Equal(t, activities.RefreshTokenInput{ConnectionRef: poblysh.ConnectionRef{TenantID: "tenant-1", ConnectionID: "conn-1", Provider: "google"}, Force: true},
		j.named("RefreshToken")[0].Input)
	require.Equal(t, []activities.FinishJobInput{{ConnectionRef: connTarget, JobID: begin.JobID, Status: poblysh.JobSucceeded}}, j.finishes())
}

// A job id chosen by the caller (the API) is the job's id.
func TestRefreshTokenKeepsGivenJobID(t *testing.T) {
	env, j := newEnv(t)
	mockJobs(env)
	mockRefresh(env, func(int32) (activities.RefreshTokenResult, error) { return activities.RefreshTokenResult{}, nil })

	env.ExecuteWorkflow(workflows.RefreshToken, workflows.RefreshInput{ConnectionRef: conn, JobID: "job-7", Trigger: poblysh.TriggerManual})

	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, "job-7", j.begins()[0].JobID)
	require.Equal(t, "job-7", j.finishes()[0].JobID)
}

// A permanent refresh failure (revoked grant) is not retried: the job is
// recorded failed with type Unauthorized and the activity's message, and
// the workflow completes.
func TestRefreshTokenRevokedRecordsFailedJob(t *testing.T) {
	env, j := newEnv(t)
	mockJobs(env)
	mockRefresh(env, func(int32) (activities.RefreshTokenResult, error) {
		return activities.RefreshTokenResult{}, temporal.NewNonRetryableApplicationError("token refresh failed permanently: invalid_grant", activities.ErrTypeUnauthorized, nil)
	})

	env.ExecuteWorkflow(workflows.RefreshToken, workflows.RefreshInput{ConnectionRef: conn, Trigger: poblysh.TriggerSchedule})

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError(), "a failed refresh is recorded, not a crashed workflow")
	var out workflows.RefreshResult
	require.NoError(t, env.GetWorkflowResult(&out))
	require.False(t, out.Refreshed)
	require.Len(t, j.named("RefreshToken"), 1)
	fins := j.finishes()
	require.Len(t, fins, 1)
	require.Equal(t, poblysh.JobFailed, fins[0].Status)
	require.Equal(t, activities.ErrTypeUnauthorized, fins[0].ErrorType)
	require.Contains(t, fins[0].Error, "token refresh failed permanently: invalid_grant")
	require.Equal(t, j.begins()[0].JobID, fins[0].JobID)
}

// Transient refresh failures retry with backoff (5 s, 10 s, ...) and the job
// succeeds; after six attempts the job fails with the transient type.
func TestRefreshTokenTransientRetries(t *testing.T) {
	transient := func() (activities.RefreshTokenResult, error) {
		return activities.RefreshTokenResult{}, temporal.NewApplicationError("token endpoint answered 503", activities.ErrTypeTransient)
	}
	t.Run("recovers", func(t *testing.T) {
		env, j := newEnv(t)
		mockJobs(env)
		mockRefresh(env, func(attempt int32) (activities.RefreshTokenResult, error) {
			if attempt < 3 {
				return transient()
			}
			return activities.RefreshTokenResult{Refreshed: true}, nil
		})

		env.ExecuteWorkflow(workflows.RefreshToken, workflows.RefreshInput{ConnectionRef: conn})

		require.NoError(t, env.GetWorkflowError())
		tries := j.named("RefreshToken")
		require.Len(t, tries, 3)
		require.Equal(t, 5*time.Second, tries[1].At.Sub(tries[0].At))
		require.Equal(t, 10*time.Second, tries[2].At.Sub(tries[1].At))
		require.Equal(t, poblysh.JobSucceeded, j.finishes()[0].Status)
	})
	t.Run("gives up", func(t *testing.T) {
		env, j := newEnv(t)
		mockJobs(env)
		mockRefresh(env, func(int32) (activities.RefreshTokenResult, error) { return transient() })

		env.ExecuteWorkflow(workflows.RefreshToken, workflows.RefreshInput{ConnectionRef: conn})

		require.NoError(t, env.GetWorkflowError())
		require.Len(t, j.named("RefreshToken"), 6)
		fins := j.finishes()
		require.Equal(t, poblysh.JobFailed, fins[0].Status)
		require.Equal(t, activities.ErrTypeTransient, fins[0].ErrorType)
	})
}

// A paused or deleted connection cancels the refresh job.
func TestRefreshTokenInactiveCancelsJob(t *testing.T) {
	env, j := newEnv(t)
	mockJobs(env)
	mockRefresh(env, func(int32) (activities.RefreshTokenResult, error) {
		return activities.RefreshTokenResult{}, temporal.NewNonRetryableApplicationError("connection is paused", activities.ErrTypeConnectionInactive, nil)
	})

	env.ExecuteWorkflow(workflows.RefreshToken, workflows.RefreshInput{ConnectionRef: conn})

	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, poblysh.JobCancelled, j.finishes()[0].Status)
	require.Equal(t, activities.ErrTypeConnectionInactive, j.finishes()[0].ErrorType)
}

func dueConnections(n int) []poblysh.ConnectionRef {
	out := make([]poblysh.ConnectionRef, n)
	for i := range out {
		out[i] = poblysh.ConnectionRef{ConnectionID: fmt.Sprintf("conn-%03d", i), TenantID: "tenant-1", Provider: "google"}
	}
	return out
}

// Every sweep starts (or, the activation sweep, does) what its list
// activity returns, a page at a time, and continues as new (with the round
// counted) while the list comes back full, for 20 rounds.
func TestSweeps(t *testing.T) {
	for _, sw := range []struct {
		name        string
		wf          any
		list, start any
		listName    string
		startName   string
		page        int
	}{
		{workflows.RefreshSweepName, workflows.RefreshSweep, acts.ListDueTokens, acts.StartRefreshes, "ListDueTokens", "StartRefreshes", 500},
		{workflows.RenewalSweepName, workflows.RenewalSweep, acts.ListDueWatches, acts.StartWatchReconciles, "ListDueWatches", "StartWatchReconciles", 500},
		// An activation requests every stream's backfill and waits for each
		// answer: a small page stays well within the activity's timeout.
		{workflows.ActivationSweepName, workflows.ActivationSweep, acts.ListPendingActivations, acts.ActivatePending, "ListPendingActivations", "ActivatePending", 25},
	} {
		run := func(t *testing.T, rounds, due int) (*testsuite.TestWorkflowEnvironment, *journal) {
			env, j := newEnv(t)
			env.OnActivity(sw.list, mock.Anything, mock.Anything).Return(activities.ListDueResult{Connections: dueConnections(due)}, nil).Once()
			if due > 0 {
				env.OnActivity(sw.start, mock.Anything, mock.Anything).Return(
					func(_ context.Context, in activities.StartManyInput) (activities.StartManyResult, error) {
						return activities.StartManyResult{Started: len(in.Connections)}, nil
					}).Once()
			}
			env.ExecuteWorkflow(sw.wf, workflows.SweepInput{Rounds: rounds})
			require.True(t, env.IsWorkflowCompleted())
			return env, j
		}
		t.Run(sw.name+"/short page", func(t *testing.T) {
			env, j := run(t, 0, 3)
			require.NoError(t, env.GetWorkflowError())
			var out workflows.SweepResult
			require.NoError(t, env.GetWorkflowResult(&out))
			require.Equal(t, workflows.SweepResult{Started: 3}, out)
			require.Equal(t, []string{sw.listName, sw.startName}, j.names())
			require.Equal(t, activities.ListDueInput{Limit: sw.page}, j.named(sw.listName)[0].Input)
			require.Equal(t, activities.StartManyInput{Connections: dueConnections(3)}, j.named(sw.startName)[0].Input)
		})
		t.Run(sw.name+"/nothing due", func(t *testing.T) {
			env, j := run(t, 0, 0)
			require.NoError(t, env.GetWorkflowError())
			require.Equal(t, []string{sw.listName}, j.names())
		})
		t.Run(sw.name+"/full page continues as new", func(t *testing.T) {
			env, j := run(t, 4, sw.page)
			var can *workflow.ContinueAsNewError
			require.ErrorAs(t, env.GetWorkflowError(), &can)
			require.Equal(t, sw.name, can.WorkflowType.Name)
			var next workflows.SweepInput
			require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
			require.Equal(t, workflows.SweepInput{Rounds: 5}, next)
			require.Len(t, j.named(sw.startName)[0].Input.(activities.StartManyInput).Connections, sw.page)
		})
		t.Run(sw.name+"/round cap", func(t *testing.T) {
			env, _ := run(t, 20, sw.page)
			require.NoError(t, env.GetWorkflowError(), "after 20 rounds the sweep stops and the next schedule run carries on")
			var out workflows.SweepResult
			require.NoError(t, env.GetWorkflowResult(&out))
			require.Equal(t, sw.page, out.Started)
		})
	}
}

// The token sweep's list marks what it lists (ListedAt): the first round's
// time goes to every later round, whose list leaves out what the rounds
// before it listed. A refresh a round starts may not have run when the
// next round lists, and one that fails leaves its connection due, so the
// rounds listed the same full page again and again.
func TestRefreshSweepRoundsCarryTheirFirstListing(t *testing.T) {
	roundsCarryTheirFirstListing(t, workflows.RefreshSweep, acts.ListDueTokens, acts.StartRefreshes, "ListDueTokens")
}

// The renewal sweep's rounds carry their first listing as the token
// sweep's do (one version marker, sweep-skips-listed, covers both): a
// watch pass that fails leaves its channel due, and one a round starts may
// not have run when the next round lists.
func TestRenewalSweepRoundsCarryTheirFirstListing(t *testing.T) {
	roundsCarryTheirFirstListing(t, workflows.RenewalSweep, acts.ListDueWatches, acts.StartWatchReconciles, "ListDueWatches")
}

func roundsCarryTheirFirstListing(t *testing.T, wf, list, start any, listName string) {
	listed := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		since *time.Time
	}{{"first round", nil}, {"later round", &listed}} {
		t.Run(tc.name, func(t *testing.T) {
			env, j := newEnv(t)
			later := listed.Add(time.Minute)
			env.OnActivity(list, mock.Anything, mock.Anything).Return(activities.ListDueResult{Connections: dueConnections(500), ListedAt: &later}, nil).Once()
			env.OnActivity(start, mock.Anything, mock.Anything).Return(activities.StartManyResult{Started: 500}, nil).Once()
			env.ExecuteWorkflow(wf, workflows.SweepInput{Rounds: 1, Since: tc.since})
			require.Equal(t, activities.ListDueInput{Limit: 500, Since: tc.since}, j.named(listName)[0].Input)
			var can *workflow.ContinueAsNewError
			require.ErrorAs(t, env.GetWorkflowError(), &can)
			var next workflows.SweepInput
			require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
			want := &later
			if tc.since != nil {
				want = tc.since
			}
			require.Equal(t, workflows.SweepInput{Rounds: 2, Since: want}, next, "every round carries the first round's listing")
		})
	}
}

// A sweep whose list keeps failing fails after five attempts.
func TestSweepListFails(t *testing.T) {
	env, j := newEnv(t)
	env.OnActivity(acts.ListDueTokens, mock.Anything, mock.Anything).Return(activities.ListDueResult{}, temporal.NewApplicationError("database unavailable", activities.ErrTypeTransient))

	env.ExecuteWorkflow(workflows.RefreshSweep, workflows.SweepInput{})

	require.True(t, env.IsWorkflowCompleted())
	require.ErrorContains(t, env.GetWorkflowError(), "database unavailable")
	require.Len(t, j.named("ListDueTokens"), 5)
}
