package workflows_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/activities"
	"github.com/poblysh/poblysh/workflows"
)

// A backfill requested through the API (update at start, as
// update-with-start delivers it) begins its job once with a cursor reset,
// reads all 50 pages of that job, and finishes it succeeded and synced.
func TestSyncStreamBackfill50Pages(t *testing.T) {
	env, j := newEnv(t)
	mockJobs(env)
	mockPages(env, time.Second, func(n int, _ int32, _ activities.SyncPageInput) (activities.SyncPageResult, error) {
		return page(n == 50)
	})
	req := updateAt(t, env, 0, "api-1", poblysh.ModeBackfill)

	env.ExecuteWorkflow(workflows.SyncStream, workflows.SyncInput{ConnectionRef: stream})

	require.Equal(t, workflows.SyncResult{Passes: 1, Stored: 50 * 8}, syncResult(t, env))
	got := req.answered(t)
	require.NotEmpty(t, got.JobID)
	require.Equal(t, workflows.RequestResult{JobID: got.JobID, Status: poblysh.JobQueued, Mode: poblysh.ModeBackfill}, got)

	begins := j.begins()
	require.Len(t, begins, 1)
	require.Equal(t, got.JobID, begins[0].JobID)
	require.True(t, begins[0].ResetCursor, "a backfill starts from an empty cursor")
	require.Equal(t, poblysh.JobBackfill, begins[0].Kind)
	require.Equal(t, poblysh.TriggerManual, begins[0].Trigger)
	require.Equal(t, stream, begins[0].ConnectionRef)
	require.NotEmpty(t, begins[0].WorkflowID)
	require.NotEmpty(t, begins[0].RunID)

	pages := j.pages()
	require.Len(t, pages, 50)
	for _, p := range pages {
		require.Equal(t, activities.SyncPageInput{ConnectionRef: stream, JobID: got.JobID, RunID: begins[0].RunID}, p)
	}
	require.Equal(t, []activities.FinishJobInput{{ConnectionRef: stream, JobID: got.JobID, Status: poblysh.JobSucceeded, Synced: true}}, j.finishes())
	require.Empty(t, j.named("ResetCursor"))
	names := j.names()
	require.Equal(t, "BeginJob", names[0])
	require.Equal(t, "FinishJob", names[len(names)-1])
}

// A webhook nudge (signal, as signal-with-start delivers it) runs an
// incremental pass that keeps the stored cursor.
func TestSyncStreamIncrementalBySignal(t *testing.T) {
	env, j := newEnv(t)
	mockJobs(env)
	mockPages(env, time.Second, pagesPerJob(3))
	signalAt(env, 0, poblysh.ModeIncremental)

	env.ExecuteWorkflow(workflows.SyncStream, workflows.SyncInput{ConnectionRef: stream})

	require.Equal(t, workflows.SyncResult{Passes: 1, Stored: 3 * 8}, syncResult(t, env))
	begins := j.begins()
	require.Len(t, begins, 1)
	require.False(t, begins[0].ResetCursor)
	require.Equal(t, poblysh.JobIncremental, begins[0].Kind)
	require.Equal(t, poblysh.TriggerWebhook, begins[0].Trigger)
	require.Len(t, j.pages(), 3)
	fins := j.finishes()
	require.Len(t, fins, 1)
	require.Equal(t, poblysh.JobSucceeded, fins[0].Status)
	require.Equal(t, begins[0].JobID, fins[0].JobID)
}

// With no request at all (every request was invalid) the workflow ends
// without touching a job.
func TestSyncStreamWithoutRequestEndsIdle(t *testing.T) {
	env, j := newEnv(t)
	mockJobs(env)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.SignalRequest, workflows.SyncRequest{Mode: "full"})
	}, 0)

	env.ExecuteWorkflow(workflows.SyncStream, workflows.SyncInput{ConnectionRef: stream})

	require.Equal(t, workflows.SyncResult{}, syncResult(t, env))
	require.Empty(t, j.list())
}

// When Temporal suggests ContinueAsNew mid-pass, the run continues as new
// with the pass in progress (Started, counters) and the queued follow-up;
// the next run resumes from the stored cursor without beginning the job
// (resetting the cursor) again, then runs the follow-up.
func TestSyncStreamContinuesAsNewFromStoredCursor(t *testing.T) {
	// First run: 11 pages, then ContinueAsNew.
	env, j := newEnv(t)
	mockJobs(env)
	mockPages(env, time.Second, func(int, int32, activities.SyncPageInput) (activities.SyncPageResult, error) {
		return page(false)
	})
	req := updateAt(t, env, 0, "api-1", poblysh.ModeBackfill)
	signalAt(env, 3500*time.Millisecond, poblysh.ModeIncremental)
	// Page 11 runs from 10 s to 11 s: the suggestion arrives during it.
	env.RegisterDelayedCallback(func() { env.SetContinueAsNewSuggested(true) }, 10500*time.Millisecond)

	env.ExecuteWorkflow(workflows.SyncStream, workflows.SyncInput{ConnectionRef: stream})

	require.True(t, env.IsWorkflowCompleted())
	var can *workflow.ContinueAsNewError
	require.ErrorAs(t, env.GetWorkflowError(), &can)
	require.Equal(t, workflows.SyncStreamName, can.WorkflowType.Name)
	var next workflows.SyncInput
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	job := req.answered(t).JobID
	require.Equal(t, stream, next.ConnectionRef)
	require.NotNil(t, next.Current)
	require.Equal(t, workflows.Pass{
		JobID: job, Mode: poblysh.ModeBackfill, Trigger: poblysh.TriggerManual, Started: true,
		Pages: 11, Items: 110, Stored: 88, Duplicates: 22,
	}, *next.Current)
	require.NotNil(t, next.Pending, "the follow-up queued during the pass is carried over")
	require.NotEmpty(t, next.Pending.JobID)
	require.NotEqual(t, job, next.Pending.JobID)
	require.Equal(t, poblysh.ModeIncremental, next.Pending.Mode)
	require.False(t, next.Pending.Started)
	require.Len(t, j.begins(), 1)
	require.Len(t, j.pages(), 11)
	require.Empty(t, j.finishes(), "the pass is not over")

	// Second run: the pass ends after 4 more pages, then the follow-up runs.
	env2, j2 := newEnv(t)
	mockJobs(env2)
	var mu sync.Mutex
	seen := map[string]int{}
	mockPages(env2, time.Second, func(_ int, _ int32, in activities.SyncPageInput) (activities.SyncPageResult, error) {
		mu.Lock()
		defer mu.Unlock()
		seen[in.JobID]++
		return page(in.JobID == job && seen[in.JobID] == 4 || in.JobID != job)
	})
	progress := progressAt(t, env2, 2500*time.Millisecond)

	env2.ExecuteWorkflow(workflows.SyncStream, next)

	require.Equal(t, workflows.SyncResult{Passes: 2, Stored: 5 * 8}, syncResult(t, env2))
	require.NotNil(t, progress.Current)
	require.Equal(t, job, progress.Current.JobID)
	require.Equal(t, 13, progress.Current.Pages, "page counters carry over: 11 + 2")
	require.Equal(t, 130, progress.Current.Items)
	require.Equal(t, next.Pending.JobID, progress.Pending.JobID)

	begins := j2.begins()
	require.Len(t, begins, 1, "only the follow-up begins a job; the resumed pass must not reset the cursor")
	require.Equal(t, next.Pending.JobID, begins[0].JobID)
	require.False(t, begins[0].ResetCursor)
	pages := j2.pages()
	require.Len(t, pages, 5)
	for _, p := range pages[:4] {
		require.Equal(t, job, p.JobID)
	}
	require.Equal(t, next.Pending.JobID, pages[4].JobID)
	require.Equal(t, []activities.FinishJobInput{
		{ConnectionRef: stream, JobID: job, Status: poblysh.JobSucceeded, Synced: true},
		{ConnectionRef: stream, JobID: next.Pending.JobID, Status: poblysh.JobSucceeded, Synced: true},
	}, j2.finishes())
}

// A stream that keeps getting triggered runs back-to-back passes that each
// end on their first page; when ContinueAsNew is suggested between passes
// the queued pass (not begun yet) moves to a fresh run instead of growing
// this history without bound.
func TestSyncStreamContinuesAsNewBetweenPasses(t *testing.T) {
	env, j := newEnv(t)
	mockJobs(env)
	mockPages(env, time.Second, pagesPerJob(1))
	updateAt(t, env, 0, "api-1", poblysh.ModeIncremental)
	follow := updateAt(t, env, 500*time.Millisecond, "api-2", poblysh.ModeIncremental)
	env.RegisterDelayedCallback(func() { env.SetContinueAsNewSuggested(true) }, 700*time.Millisecond)

	env.ExecuteWorkflow(workflows.SyncStream, workflows.SyncInput{ConnectionRef: stream})

	require.True(t, env.IsWorkflowCompleted())
	var can *workflow.ContinueAsNewError
	require.ErrorAs(t, env.GetWorkflowError(), &can)
	var next workflows.SyncInput
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	begins := j.begins()
	require.Len(t, begins, 1, "the queued pass begins in the next run")
	require.Equal(t, []activities.FinishJobInput{{ConnectionRef: stream, JobID: begins[0].JobID, Status: poblysh.JobSucceeded, Synced: true}}, j.finishes())
	require.Nil(t, next.Pending)
	require.Equal(t, &workflows.Pass{JobID: follow.answered(t).JobID, Mode: poblysh.ModeIncremental, Trigger: poblysh.TriggerManual}, next.Current)
}

// A rate-limited page waits the provider's Retry-After on the workflow
// clock (even past the retry policy's MaximumInterval) and the job carries
// on: it succeeds, nothing is recorded as failed.
func TestSyncStreamRateLimitedPageWaitsRetryAfter(t *testing.T) {
	for _, retryAfter := range []time.Duration{2 * time.Second, 10 * time.Minute} {
		t.Run(retryAfter.String(), func(t *testing.T) {
			env, j := newEnv(t)
			mockJobs(env)
			mockPages(env, 100*time.Millisecond, func(n int, _ int32, _ activities.SyncPageInput) (activities.SyncPageResult, error) {
				if n == 2 {
					return activities.SyncPageResult{}, temporal.NewApplicationErrorWithOptions("429 too many requests", activities.ErrTypeRateLimited,
						temporal.ApplicationErrorOptions{NextRetryDelay: retryAfter, Category: temporal.ApplicationErrorCategoryBenign})
				}
				return page(n == 3)
			})
			signalAt(env, 0, poblysh.ModeIncremental)

			env.ExecuteWorkflow(workflows.SyncStream, workflows.SyncInput{ConnectionRef: stream})

			require.Equal(t, workflows.SyncResult{Passes: 1, Stored: 2 * 8}, syncResult(t, env))
			pages := j.named("SyncPage")
			require.Len(t, pages, 3)
			require.Equal(t, []int32{1, 1, 2}, []int32{pages[0].Attempt, pages[1].Attempt, pages[2].Attempt})
			waited := pages[2].At.Sub(pages[1].At) - 100*time.Millisecond
			require.GreaterOrEqual(t, waited, retryAfter, "the retry must not come before Retry-After")
			require.Less(t, waited, retryAfter+time.Second)
			require.Equal(t, pages[1].Input, pages[2].Input, "the same page of the same job is retried")
			fins := j.finishes()
			require.Len(t, fins, 1)
			require.Equal(t, poblysh.JobSucceeded, fins[0].Status)
			require.Empty(t, fins[0].ErrorType)
			require.True(t, fins[0].Synced)
		})
	}
}

// Transient failures retry with growing delays (the retry policy's backoff,
// or the delay the activity computed) until the page succeeds.
func TestSyncStreamTransientRetriesWithBackoff(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   func(attempt int32) error
		waits []time.Duration
	}{
		{"policy backoff", func(int32) error {
			return temporal.NewApplicationError("502 bad gateway", activities.ErrTypeTransient)
		}, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}},
		{"activity delay", func(attempt int32) error {
			return temporal.NewApplicationErrorWithOptions("database unavailable", activities.ErrTypeTransient,
				temporal.ApplicationErrorOptions{NextRetryDelay: time.Duration(attempt) * 3 * time.Second})
		}, []time.Duration{3 * time.Second, 6 * time.Second, 9 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, j := newEnv(t)
			mockJobs(env)
			mockPages(env, 0, func(_ int, attempt int32, _ activities.SyncPageInput) (activities.SyncPageResult, error) {
				if attempt <= 3 {
					return activities.SyncPageResult{}, tc.err(attempt)
				}
				return page(true)
			})
			signalAt(env, 0, poblysh.ModeIncremental)

			env.ExecuteWorkflow(workflows.SyncStream, workflows.SyncInput{ConnectionRef: stream})

			require.Equal(t, workflows.SyncResult{Passes: 1, Stored: 8}, syncResult(t, env))
			pages := j.named("SyncPage")
			require.Len(t, pages, 4)
			var waits []time.Duration
			for i, p := range pages {
				require.Equal(t, int32(i+1), p.Attempt)
				if i > 0 {
					waits = append(waits, p.At.Sub(pages[i-1].At))
				}
			}
			require.Equal(t, tc.waits, waits)
			require.Equal(t, []activities.FinishJobInput{{ConnectionRef: stream, JobID: pages[0].Input.(activities.SyncPageInput).JobID,
				Status: poblysh.JobSucceeded, Synced: true}}, j.finishes())
		})
	}
}

// firstJobFails makes every page of the first job the workflow runs fail
// with err and every later page succeed, and returns that job's id once a
// page named it.
func firstJobFails(env *testsuite.TestWorkflowEnvironment, err error) func() string {
	var mu sync.Mutex
	var first string
	mockPages(env, 0, func(_ int, _ int32, in activities.SyncPageInput) (activities.SyncPageResult, error) {
		mu.Lock()
		defer mu.Unlock()
		if first == "" {
			first = in.JobID
		}
		if in.JobID == first {
			return activities.SyncPageResult{}, err
		}
		return page(true)
	})
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		return first
	}
}

// Transient failures that outlast the retries fail the job, but the queued
// follow-up still runs: the trouble may be over by then.
func TestSyncStreamTransientExhaustedKeepsFollowUp(t *testing.T) {
	env, j := newEnv(t)
	mockJobs(env)
	firstJobFails(env, temporal.NewApplicationError("502 bad gateway", activities.ErrTypeTransient))
	updateAt(t, env, 0, "api-1", poblysh.ModeIncremental)
	follow := updateAt(t, env, 500*time.Millisecond, "api-2", poblysh.ModeIncremental)

	env.ExecuteWorkflow(workflows.SyncStream, workflows.SyncInput{ConnectionRef: stream})

	require.Equal(t, workflows.SyncResult{Passes: 2, Stored: 8}, syncResult(t, env))
	require.Equal(t, poblysh.JobQueued, follow.answered(t).Status)
	fins := j.finishes()
	require.Len(t, fins, 2)
	require.Equal(t, poblysh.JobFailed, fins[0].Status)
	require.Equal(t, activities.ErrTypeTransient, fins[0].ErrorType)
	require.Equal(t, "502 bad gateway", fins[0].Error)
	require.Equal(t, poblysh.JobSucceeded, fins[1].Status)
	require.Equal(t, follow.answered(t).JobID, fins[1].JobID)
	require.Len(t, j.begins(), 2)
	require.Len(t, j.pages(), 10+1, "the test env allows 10 attempts when MaximumAttempts is 0")
}

// A page rate limited for a day fails its job when the next Retry-After
// would come after the page's day (ScheduleToClose): the fifth 5 h delay, at
// 20 h. The follow-up queued before (a user's POST /sync) still runs: a rate
// limit, the provider's or the tenant's, says nothing lasting about the
// connection. (The test env reports the give-up as the last error; the
// server's report, a Timeout, is TestSyncStreamGiveUpOnServerIsTimeout's.)
func TestSyncStreamRateLimitedForADayKeepsFollowUp(t *testing.T) {
	for _, typ := range []string{activities.ErrTypeRateLimited, activities.ErrTypeTenantBusy} {
		t.Run(typ, func(t *testing.T) {
			env, j := newEnv(t)
			mockJobs(env)
			first := firstJobFails(env, temporal.NewApplicationErrorWithOptions("429 too many requests", typ,
				temporal.ApplicationErrorOptions{NextRetryDelay: 5 * time.Hour, Category: temporal.ApplicationErrorCategoryBenign}))
			updateAt(t, env, 0, "api-1", poblysh.ModeIncremental)
			follow := updateAt(t, env, 500*time.Millisecond, "api-2", poblysh.ModeIncremental)

			env.ExecuteWorkflow(workflows.SyncStream, workflows.SyncInput{ConnectionRef: stream})

			require.Equal(t, workflows.SyncResult{Passes: 2, Stored: 8}, syncResult(t, env))
			require.Equal(t, poblysh.JobQueued, follow.answered(t).Status)
			pages := j.named("SyncPage")
			require.Len(t, pages, 5+1)
			require.Equal(t, 20*time.Hour, pages[4].At.Sub(pages[0].At), "the first job's last attempt")
			fins := j.finishes()
			require.Len(t, fins, 2)
			require.Equal(t, first(), fins[0].JobID)
			require.Equal(t, poblysh.JobFailed, fins[0].Status)
			require.Equal(t, follow.answered(t).JobID, fins[1].JobID)
			require.Equal(t, poblysh.JobSucceeded, fins[1].Status)
			require.Len(t, j.begins(), 2)
		})
	}
}

// When the next retry of a page would come after its day (ScheduleToClose),
// the server gives up at once and fails the activity with the last error and
// RetryState TIMEOUT, not a timeout failure; the test env does not, so this
// runs on the package's dev server (a 25 h Retry-After gives up on the first
// attempt). The job fails as a Timeout whatever that last error was, and
// the follow-up queued before it runs.
func TestSyncStreamGiveUpOnServerIsTimeout(t *testing.T) {
	r := newRecorder(t, "give-up")
	for _, conn := range []string{connGaveUp, connGaveUpBusy, connGaveUpFlaky} {
		t.Run(giveUps[conn].typ, func(t *testing.T) { r.syncGiveUp(t, conn) })
	}
}

// A permanent error (revoked credentials) fails the job at once with its
// type and message, cancels the queued follow-up (it would fail the same
// way), and the workflow itself completes.
func TestSyncStreamPermanentErrorFailsJob(t *testing.T) {
	env, j := newEnv(t)
	mockJobs(env)
	mockPages(env, time.Second, func(n int, _ int32, _ activities.SyncPageInput) (activities.SyncPageResult, error) {
		if n == 2 {
			return activities.SyncPageResult{}, temporal.NewNonRetryableApplicationError("401 bad credentials", activities.ErrTypeUnauthorized, nil)
		}
		return page(false)
	})
	req := updateAt(t, env, 0, "api-1", poblysh.ModeBackfill)
	follow := updateAt(t, env, 500*time.Millisecond, "api-2", poblysh.ModeIncremental)

	env.ExecuteWorkflow(workflows.SyncStream, workflows.SyncInput{ConnectionRef: stream})

	require.Equal(t, workflows.SyncResult{Passes: 1, Stored: 8}, syncResult(t, env))
	job, queued := req.answered(t).JobID, follow.answered(t).JobID
	require.Len(t, j.pages(), 2, "a non-retryable error is not retried")
	require.Len(t, j.begins(), 1, "the follow-up never starts")
	require.Equal(t, []activities.FinishJobInput{
		{
			ConnectionRef: stream, JobID: job, Status: poblysh.JobFailed,
			Error: "401 bad credentials", ErrorType: activities.ErrTypeUnauthorized,
			Context: map[string]any{"stream": "issues", "pages": float64(1), "items": float64(10), "mode": "backfill"},
		},
		{
			ConnectionRef: stream, JobID: queued, Status: poblysh.JobCancelled,
			Error: "cancelled: the previous pass failed permanently (Unauthorized)", FollowUp: true,
			// described, so FinishJob can write its row if the API has not yet
			Kind: poblysh.JobIncremental, Trigger: poblysh.TriggerManual,
			WorkflowID: "default-test-workflow-id", RunID: "default-test-run-id",
		},
	}, j.finishes())
}

// A request that arrives while a permanent failure is being recorded is
// not cancelled with the follow-ups queued before: its caller may have
// seen the failure and fixed its cause (a calendar shared again). It runs
// as the next pass. (A CI run saw the old rule cancel such a request.)
func TestSyncStreamRequestAfterPermanentFailureRuns(t *testing.T) {
	// A backfill request does not join the failed backfill either (it
	// reads no more pages): it was answered with the failed job, as
	// "running", and never ran.
	for _, mode := range []poblysh.SyncMode{poblysh.ModeIncremental, poblysh.ModeBackfill} {
		t.Run(string(mode), func(t *testing.T) {
			env, j := newEnv(t)
			env.OnActivity(acts.BeginJob, mock.Anything, mock.Anything).Return(activities.BeginJobResult{}, nil)
			env.OnActivity(acts.ResetCursor, mock.Anything, mock.Anything).Return(activities.ResetCursorResult{}, nil).Maybe()
			env.OnActivity(acts.FinishJob, mock.Anything, mock.Anything).After(time.Second).Return(activities.FinishJobResult{}, nil)
			mockPages(env, time.Second, func(n int, _ int32, _ activities.SyncPageInput) (activities.SyncPageResult, error) {
				if n == 1 {
					return activities.SyncPageResult{}, temporal.NewNonRetryableApplicationError("calendar not found", activities.ErrTypeNotFound, nil)
				}
				return page(true)
			})
			first := updateAt(t, env, 0, "api-1", mode)
			// The page fails at 1 s; recording the failure takes until 2 s.
			again := updateAt(t, env, 1500*time.Millisecond, "api-2", mode)

			env.ExecuteWorkflow(workflows.SyncStream, workflows.SyncInput{ConnectionRef: stream})

			require.Equal(t, workflows.SyncResult{Passes: 2, Stored: 8}, syncResult(t, env))
			require.NotEqual(t, first.answered(t).JobID, again.answered(t).JobID, "not joined to the failed pass")
			require.Equal(t, poblysh.JobQueued, again.answered(t).Status)
			fins := j.finishes()
			require.Len(t, fins, 2)
			require.Equal(t, first.answered(t).JobID, fins[0].JobID)
			require.Equal(t, poblysh.JobFailed, fins[0].Status)
			require.Equal(t, again.answered(t).JobID, fins[1].JobID)
			require.Equal(t, poblysh.JobSucceeded, fins[1].Status, "the late request ran")
			require.Len(t, j.begins(), 2)
		})
	}
}

// A connection that went inactive mid-pass cancels the job (not failed).
func TestSyncStreamConnectionInactiveCancelsJob(t *testing.T) {
	env, j := newEnv(t)
	mockJobs(env)
	mockPages(env, 0, func(int, int32, activities.SyncPageInput) (activities.SyncPageResult, error) {
		return activities.SyncPageResult{}, temporal.NewNonRetryableApplicationError("connection is paused", activities.ErrTypeConnectionInactive, nil)
	})
	signalAt(env, 0, poblysh.ModeIncremental)

	env.ExecuteWorkflow(workflows.SyncStream, workflows.SyncInput{ConnectionRef: stream})

	require.Equal(t, workflows.SyncResult{Passes: 1}, syncResult(t, env))
	fins := j.finishes()
	require.Len(t, fins, 1)
	require.Equal(t, poblysh.JobCancelled, fins[0].Status)
	require.Equal(t, activities.ErrTypeConnectionInactive, fins[0].ErrorType)
	require.Len(t, j.pages(), 1)
}

// CursorExpired clears the cursor and reads the stream again from scratch
// in the same job, which succeeds; a cursor that keeps expiring gives up
// after three resyncs.
func TestSyncStreamCursorExpiredResyncs(t *testing.T) {
	expired := func() (activities.SyncPageResult, error) {
		return activities.SyncPageResult{}, temporal.NewNonRetryableApplicationError("sync token expired", activities.ErrTypeCursorExpired, nil)
	}
	t.Run("resync", func(t *testing.T) {
		env, j := newEnv(t)
		mockJobs(env)
		mockPages(env, time.Second, func(n int, _ int32, _ activities.SyncPageInput) (activities.SyncPageResult, error) {
			if n == 2 {
				return expired()
			}
			return page(n == 5)
		})
		signalAt(env, 0, poblysh.ModeIncremental)

		env.ExecuteWorkflow(workflows.SyncStream, workflows.SyncInput{ConnectionRef: stream})

		require.Equal(t, workflows.SyncResult{Passes: 1, Stored: 4 * 8}, syncResult(t, env))
		require.Equal(t, []string{"BeginJob", "SyncPage", "SyncPage", "ResetCursor", "SyncPage", "SyncPage", "SyncPage", "FinishJob"}, j.names())
		resets := j.named("ResetCursor")
		require.Equal(t, activities.ResetCursorInput{ConnectionRef: stream}, resets[0].Input)
		for _, p := range j.named("SyncPage") {
			require.Equal(t, int32(1), p.Attempt, "CursorExpired is not retried as is")
		}
		fins := j.finishes()
		require.Equal(t, poblysh.JobSucceeded, fins[0].Status)
		require.True(t, fins[0].Synced)
	})
	t.Run("gives up", func(t *testing.T) {
		env, j := newEnv(t)
		mockJobs(env)
		mockPages(env, 0, func(int, int32, activities.SyncPageInput) (activities.SyncPageResult, error) { return expired() })
		signalAt(env, 0, poblysh.ModeIncremental)

		env.ExecuteWorkflow(workflows.SyncStream, workflows.SyncInput{ConnectionRef: stream})

		require.Equal(t, workflows.SyncResult{Passes: 1}, syncResult(t, env))
		require.Len(t, j.named("ResetCursor"), 3)
		require.Len(t, j.pages(), 4)
		fins := j.finishes()
		require.Len(t, fins, 1)
		require.Equal(t, poblysh.JobFailed, fins[0].Status)
		require.Equal(t, activities.ErrTypeCursorExpired, fins[0].ErrorType)
	})
}
