package workflows_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/activities"
	"github.com/poblysh/poblysh/workflows"
)

// Ten triggers (signals and updates) during a running pass coalesce into
// exactly one follow-up pass, and every update gets the same queued job.
func TestSyncStreamCoalescesTriggers(t *testing.T) {
	env, j := newEnv(t)
	mockJobs(env)
	mockPages(env, time.Second, pagesPerJob(5))
	first := updateAt(t, env, 0, "api-0", poblysh.ModeIncremental)
	var updates []*updateOutcome
	for i := range 10 {
		at := 500*time.Millisecond + time.Duration(i)*300*time.Millisecond // all within the 5 s pass
		if i%2 == 0 {
			signalAt(env, at, poblysh.ModeIncremental)
		} else {
			updates = append(updates, updateAt(t, env, at, fmt.Sprintf("api-%d", i), poblysh.ModeIncremental))
		}
	}

	env.ExecuteWorkflow(workflows.SyncStream, workflows.SyncInput{ConnectionRef: stream})

	require.Equal(t, workflows.SyncResult{Passes: 2, Stored: 10 * 8}, syncResult(t, env))
	running := first.answered(t).JobID
	queued := updates[0].answered(t).JobID
	require.NotEqual(t, running, queued)
	for i, u := range updates {
		// Signals are taken at page boundaries, updates at once: the first
		// update queues the follow-up, every later trigger joins it.
		require.Equal(t, workflows.RequestResult{JobID: queued, Status: poblysh.JobQueued, Mode: poblysh.ModeIncremental, Joined: i > 0}, u.answered(t))
	}
	begins := j.begins()
	require.Len(t, begins, 2)
	require.Equal(t, []string{running, queued}, []string{begins[0].JobID, begins[1].JobID})
	fins := j.finishes()
	require.Len(t, fins, 2)
	for i, f := range fins {
		require.Equal(t, begins[i].JobID, f.JobID)
		require.Equal(t, poblysh.JobSucceeded, f.Status)
	}
	names := j.names()
	require.Equal(t, "FinishJob", names[6], "the follow-up begins after the first pass finished")
	require.Equal(t, "BeginJob", names[7])
}

// How a request merges with the pass that runs and the one that is queued.
func TestSyncStreamRequestMerging(t *testing.T) {
	t.Run("backfill joins a running backfill", func(t *testing.T) {
		env, j := newEnv(t)
		mockJobs(env)
		mockPages(env, time.Second, pagesPerJob(3))
		first := updateAt(t, env, 0, "api-1", poblysh.ModeBackfill)
		second := updateAt(t, env, 1500*time.Millisecond, "api-2", poblysh.ModeBackfill)

		env.ExecuteWorkflow(workflows.SyncStream, workflows.SyncInput{ConnectionRef: stream})

		require.Equal(t, 1, syncResult(t, env).Passes)
		job := first.answered(t).JobID
		require.Equal(t, workflows.RequestResult{JobID: job, Status: poblysh.JobRunning, Mode: poblysh.ModeBackfill, Joined: true}, second.answered(t))
		require.Len(t, j.begins(), 1)
		require.Len(t, j.finishes(), 1)
	})
	t.Run("incremental queues behind a running backfill", func(t *testing.T) {
		env, j := newEnv(t)
		mockJobs(env)
		mockPages(env, time.Second, pagesPerJob(3))
		first := updateAt(t, env, 0, "api-1", poblysh.ModeBackfill)
		second := updateAt(t, env, 1500*time.Millisecond, "api-2", poblysh.ModeIncremental)

		env.ExecuteWorkflow(workflows.SyncStream, workflows.SyncInput{ConnectionRef: stream})

		require.Equal(t, 2, syncResult(t, env).Passes)
		got := second.answered(t)
		require.NotEqual(t, first.answered(t).JobID, got.JobID)
		require.Equal(t, workflows.RequestResult{JobID: got.JobID, Status: poblysh.JobQueued, Mode: poblysh.ModeIncremental}, got)
		begins := j.begins()
		require.Len(t, begins, 2)
		require.Equal(t, got.JobID, begins[1].JobID)
		require.Equal(t, poblysh.JobIncremental, begins[1].Kind)
		require.False(t, begins[1].ResetCursor)
	})
	t.Run("backfill upgrades a queued incremental", func(t *testing.T) {
		env, j := newEnv(t)
		mockJobs(env)
		mockPages(env, time.Second, pagesPerJob(3))
		updateAt(t, env, 0, "api-1", poblysh.ModeIncremental)
		queued := updateAt(t, env, 1200*time.Millisecond, "api-2", poblysh.ModeIncremental)
		upgrade := updateAt(t, env, 1800*time.Millisecond, "api-3", poblysh.ModeBackfill)

		env.ExecuteWorkflow(workflows.SyncStream, workflows.SyncInput{ConnectionRef: stream})

		require.Equal(t, 2, syncResult(t, env).Passes)
		job := queued.answered(t).JobID
		require.Equal(t, workflows.RequestResult{JobID: job, Status: poblysh.JobQueued, Mode: poblysh.ModeBackfill, Joined: true}, upgrade.answered(t))
		begins := j.begins()
		require.Len(t, begins, 2)
		require.Equal(t, job, begins[1].JobID)
		require.Equal(t, poblysh.JobBackfill, begins[1].Kind)
		require.True(t, begins[1].ResetCursor, "the upgraded follow-up is a full backfill")
	})
}

// The update validator rejects an invalid mode before it reaches the
// workflow; an invalid signal is dropped. Neither queues a pass.
func TestSyncStreamRejectsInvalidMode(t *testing.T) {
	env, j := newEnv(t)
	mockJobs(env)
	mockPages(env, time.Second, pagesPerJob(3))
	updateAt(t, env, 0, "api-1", poblysh.ModeIncremental)
	bad := updateAt(t, env, 500*time.Millisecond, "api-2", "full")
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.SignalRequest, workflows.SyncRequest{Mode: "", Trigger: poblysh.TriggerWebhook})
	}, 700*time.Millisecond)

	env.ExecuteWorkflow(workflows.SyncStream, workflows.SyncInput{ConnectionRef: stream})

	require.Equal(t, 1, syncResult(t, env).Passes)
	require.True(t, bad.done)
	require.False(t, bad.accepted)
	require.ErrorContains(t, bad.rejected, "mode must be backfill or incremental")
	require.Len(t, j.begins(), 1)
}

// The progress query answers the running pass, the queued one and the
// passes done so far, including while the follow-up waits for the quiet
// period after the first pass.
func TestSyncStreamProgressQuery(t *testing.T) {
	env, _ := newEnv(t)
	mockJobs(env)
	mockPages(env, time.Second, pagesPerJob(3))
	first := updateAt(t, env, 0, "api-1", poblysh.ModeBackfill)
	queued := updateAt(t, env, 500*time.Millisecond, "api-2", poblysh.ModeIncremental)
	during := progressAt(t, env, 2500*time.Millisecond)
	// The first pass ends at 3 s; the follow-up, asked for through the
	// API, starts at once (no debounce); its first page ends at 4 s.
	starting := progressAt(t, env, 3500*time.Millisecond)
	after := progressAt(t, env, 4500*time.Millisecond)

	env.ExecuteWorkflow(workflows.SyncStream, workflows.SyncInput{ConnectionRef: stream})

	require.Equal(t, 2, syncResult(t, env).Passes)
	job, next := first.answered(t).JobID, queued.answered(t).JobID
	require.Equal(t, workflows.SyncProgress{
		Current: &workflows.Pass{JobID: job, Mode: poblysh.ModeBackfill, Trigger: poblysh.TriggerManual, Started: true, Pages: 2, Items: 20, Stored: 16, Duplicates: 4},
		Pending: &workflows.Pass{JobID: next, Mode: poblysh.ModeIncremental, Trigger: poblysh.TriggerManual},
	}, *during)
	require.Equal(t, workflows.SyncProgress{
		Current: &workflows.Pass{JobID: next, Mode: poblysh.ModeIncremental, Trigger: poblysh.TriggerManual, Started: true},
		Passes:  1,
	}, *starting)
	require.Equal(t, workflows.SyncProgress{
		Current: &workflows.Pass{JobID: next, Mode: poblysh.ModeIncremental, Trigger: poblysh.TriggerManual, Started: true, Pages: 1, Items: 10, Stored: 8, Duplicates: 2},
		Passes:  1,
	}, *after)
}

// After a pass the workflow waits for a quiet period of Debounce before the
// follow-up starts (or before it ends), so a burst of requests runs one
// follow-up; a steady stream delays it by MaxDebounce at most.
func TestSyncStreamDebounce(t *testing.T) {
	t.Run("follow-up waits for quiet", func(t *testing.T) {
		env, j := newEnv(t)
		mockJobs(env)
		mockPages(env, time.Second, pagesPerJob(3))
		signalAt(env, 0, poblysh.ModeIncremental)
		// The first pass ends at 3 s; these arrive during the quiet period.
		for _, at := range []time.Duration{3500 * time.Millisecond, 4500 * time.Millisecond, 5500 * time.Millisecond} {
			signalAt(env, at, poblysh.ModeIncremental)
		}

		env.ExecuteWorkflow(workflows.SyncStream, workflows.SyncInput{ConnectionRef: stream})

		require.Equal(t, 2, syncResult(t, env).Passes)
		begins := j.named("BeginJob")
		require.Len(t, begins, 2)
		require.Equal(t, 5500*time.Millisecond+workflows.Debounce, begins[1].At.Sub(begins[0].At))
		fins := j.named("FinishJob")
		require.Equal(t, workflows.Debounce, env.Now().Sub(fins[len(fins)-1].At), "the run lingers one quiet period after its last pass")
	})
	t.Run("steady stream bounded", func(t *testing.T) {
		env, j := newEnv(t)
		mockJobs(env)
		mockPages(env, time.Second, pagesPerJob(3))
		signalAt(env, 0, poblysh.ModeIncremental)
		for at := 3500 * time.Millisecond; at < 40*time.Second; at += time.Second {
			signalAt(env, at, poblysh.ModeIncremental)
		}

		env.ExecuteWorkflow(workflows.SyncStream, workflows.SyncInput{ConnectionRef: stream})

		begins := j.named("BeginJob")
		require.Len(t, begins, 3, "the steady stream runs a follow-up per pass, never one per signal")
		waited := begins[1].At.Sub(begins[0].At) - 3*time.Second
		require.GreaterOrEqual(t, waited, workflows.MaxDebounce)
		require.Less(t, waited, workflows.MaxDebounce+time.Second)
		require.Equal(t, 3, syncResult(t, env).Passes)
	})
	t.Run("manual request skips the debounce", func(t *testing.T) {
		// A person's "sync now" starts at once: during the linger after a
		// pass, and when it joins a follow-up a notification queued.
		for _, tc := range []struct {
			name     string
			signal   time.Duration // a notification's request, 0 for none
			manual   time.Duration
			startsAt time.Duration
		}{
			{name: "during linger", manual: 3500 * time.Millisecond, startsAt: 3500 * time.Millisecond},
			{name: "joins a notification's follow-up", signal: 3500 * time.Millisecond, manual: 4 * time.Second, startsAt: 4 * time.Second},
		} {
			t.Run(tc.name, func(t *testing.T) {
				env, j := newEnv(t)
				mockJobs(env)
				mockPages(env, time.Second, pagesPerJob(3))
				signalAt(env, 0, poblysh.ModeIncremental)
				if tc.signal > 0 {
					signalAt(env, tc.signal, poblysh.ModeIncremental)
				}
				u := updateAt(t, env, tc.manual, "api-1", poblysh.ModeIncremental)

				env.ExecuteWorkflow(workflows.SyncStream, workflows.SyncInput{ConnectionRef: stream})

				require.Equal(t, 2, syncResult(t, env).Passes)
				begins := j.named("BeginJob")
				require.Len(t, begins, 2, "one follow-up")
				require.Equal(t, tc.startsAt, begins[1].At.Sub(begins[0].At))
				require.Equal(t, tc.signal > 0, u.answered(t).Joined)
			})
		}
	})
	t.Run("request during linger", func(t *testing.T) {
		env, j := newEnv(t)
		mockJobs(env)
		mockPages(env, time.Second, pagesPerJob(3))
		signalAt(env, 0, poblysh.ModeIncremental)
		signalAt(env, 4*time.Second, poblysh.ModeIncremental) // the run lingers until 5 s

		env.ExecuteWorkflow(workflows.SyncStream, workflows.SyncInput{ConnectionRef: stream})

		require.Equal(t, 2, syncResult(t, env).Passes)
		fins := j.named("FinishJob")
		require.Len(t, fins, 2)
		require.Equal(t, 4*time.Second+workflows.Debounce, j.named("BeginJob")[1].At.Sub(j.list()[0].At))
	})
}

// A manual request that joined a notification's follow-up starts it
// without the debounce in the run after ContinueAsNew too: the follow-up
// the person asked for used to wait out a steady stream of notifications
// there (MaxDebounce), as one nobody asked for does.
func TestSyncStreamUrgentFollowUpSurvivesContinueAsNew(t *testing.T) {
	for _, tc := range []struct {
		name   string
		manual bool
		waits  time.Duration
	}{
		{name: "joined by a manual request", manual: true, waits: 0},
		{name: "notifications only", waits: workflows.MaxDebounce + 500*time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Run 1: a pass that never ends; a notification's follow-up
			// queued at 1.5 s (joined at 2.5 s); ContinueAsNew at 3.5 s.
			env, _ := newEnv(t)
			mockJobs(env)
			mockPages(env, time.Second, func(int, int32, activities.SyncPageInput) (activities.SyncPageResult, error) {
				return page(false)
			})
			signalAt(env, 0, poblysh.ModeIncremental)
			signalAt(env, 1500*time.Millisecond, poblysh.ModeIncremental)
			var manual *updateOutcome
			if tc.manual {
				manual = updateAt(t, env, 2500*time.Millisecond, "api-1", poblysh.ModeIncremental)
			}
			env.RegisterDelayedCallback(func() { env.SetContinueAsNewSuggested(true) }, 3500*time.Millisecond)
			env.ExecuteWorkflow(workflows.SyncStream, workflows.SyncInput{ConnectionRef: stream})
			var can *workflow.ContinueAsNewError
			require.ErrorAs(t, env.GetWorkflowError(), &can)
			var next workflows.SyncInput
			require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
			require.NotNil(t, next.Pending)
			if tc.manual {
				require.True(t, manual.answered(t).Joined, "the manual request joined the queued follow-up")
				require.Equal(t, next.Pending.JobID, manual.answered(t).JobID)
			}
			require.Equal(t, tc.manual, next.Urgent)

			// Run 2: the resumed pass ends on its next page while
			// notifications keep arriving every second.
			env2, j2 := newEnv(t)
			mockJobs(env2)
			mockPages(env2, time.Second, pagesPerJob(1))
			for at := 500 * time.Millisecond; at < 40*time.Second; at += time.Second {
				signalAt(env2, at, poblysh.ModeIncremental)
			}
			env2.ExecuteWorkflow(workflows.SyncStream, next)

			fins, begins := j2.named("FinishJob"), j2.named("BeginJob")
			require.NotEmpty(t, fins)
			require.NotEmpty(t, begins)
			require.Equal(t, next.Current.JobID, fins[0].Input.(activities.FinishJobInput).JobID, "the resumed pass ends first")
			require.Equal(t, next.Pending.JobID, begins[0].Input.(activities.BeginJobInput).JobID)
			require.Equal(t, tc.waits, begins[0].At.Sub(fins[0].At), "the follow-up's wait after the pass before it")
		})
	}
}
