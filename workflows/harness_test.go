package workflows_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/activities"
	"github.com/poblysh/poblysh/workflows"
)

// acts names activities for mocks, as the workflows' nil receiver does.
var acts *activities.Activities

// stream is the stream every SyncStream unit test syncs.
var stream = poblysh.ConnectionRef{TenantID: "tenant-1", ConnectionID: "conn-1", Provider: "github", Stream: "issues"}

// started is one activity attempt as the workflow scheduled it: its type,
// attempt, simulated start time and decoded input.
type started struct {
	Name    string
	Attempt int32
	At      time.Time
	Input   any
}

// journal records every activity attempt the test env starts. The listener
// runs on the env's goroutine and tests read it after ExecuteWorkflow, but a
// mutex keeps the race detector's view simple.
type journal struct {
	mu  sync.Mutex
	all []started
}

func (j *journal) list() []started {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]started(nil), j.all...)
}

func (j *journal) named(name string) []started {
	var out []started
	for _, s := range j.list() {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// names is the order in which activity attempts started.
func (j *journal) names() []string {
	var out []string
	for _, s := range j.list() {
		out = append(out, s.Name)
	}
	return out
}

func (j *journal) begins() []activities.BeginJobInput {
	var out []activities.BeginJobInput
	for _, s := range j.named("BeginJob") {
		out = append(out, s.Input.(activities.BeginJobInput))
	}
	return out
}

func (j *journal) finishes() []activities.FinishJobInput {
	var out []activities.FinishJobInput
	for _, s := range j.named("FinishJob") {
		out = append(out, s.Input.(activities.FinishJobInput))
	}
	return out
}

func (j *journal) pages() []activities.SyncPageInput {
	var out []activities.SyncPageInput
	for _, s := range j.named("SyncPage") {
		out = append(out, s.Input.(activities.SyncPageInput))
	}
	return out
}

// inputTypes decodes each activity's input for the journal.
var inputTypes = map[string]func(converter.EncodedValues) (any, error){
	"BeginJob":               decodeAs[activities.BeginJobInput],
	"SyncPage":               decodeAs[activities.SyncPageInput],
	"ResetCursor":            decodeAs[activities.ResetCursorInput],
	"FinishJob":              decodeAs[activities.FinishJobInput],
	"RefreshToken":           decodeAs[activities.RefreshTokenInput],
	"ListDueTokens":          decodeAs[activities.ListDueInput],
	"ListDueWatches":         decodeAs[activities.ListDueInput],
	"StartRefreshes":         decodeAs[activities.StartManyInput],
	"StartWatchReconciles":   decodeAs[activities.StartManyInput],
	"ListPendingActivations": decodeAs[activities.ListDueInput],
	"ActivatePending":        decodeAs[activities.StartManyInput],
	"TriggerConnectionSync":  decodeAs[activities.TriggerConnectionSyncInput],
	"ReconcileWatches":       decodeAs[activities.ReconcileWatchesInput],
	"Prune":                  decodeAs[activities.PruneInput],
}

func decodeAs[T any](args converter.EncodedValues) (any, error) {
	var v T
	err := args.Get(&v)
	return v, err
}

// newEnv is a test env with a quiet logger whose activity attempts are
// journaled, and whose mocks must all have been used by the end of the test.
func newEnv(t *testing.T) (*testsuite.TestWorkflowEnvironment, *journal) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(quietLogger())
	env := s.NewTestWorkflowEnvironment()
	j := &journal{}
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
		decode, ok := inputTypes[info.ActivityType.Name]
		require.True(t, ok, "no input type for activity %s", info.ActivityType.Name)
		in, err := decode(args)
		require.NoError(t, err)
		j.mu.Lock()
		defer j.mu.Unlock()
		j.all = append(j.all, started{Name: info.ActivityType.Name, Attempt: info.Attempt, At: env.Now(), Input: in})
	})
	t.Cleanup(func() {
		env.AssertExpectations(t)
		if t.Failed() {
			start := time.Time{}
			for _, s := range j.list() {
				if start.IsZero() {
					start = s.At
				}
				t.Logf("%8s %-12s attempt %d %+v", s.At.Sub(start), s.Name, s.Attempt, s.Input)
			}
		}
	})
	return env, j
}

// mockJobs answers the bookkeeping activities of a sync pass.
func mockJobs(env *testsuite.TestWorkflowEnvironment) {
	env.OnActivity(acts.BeginJob, mock.Anything, mock.Anything).Return(activities.BeginJobResult{}, nil).Maybe()
	env.OnActivity(acts.FinishJob, mock.Anything, mock.Anything).Return(activities.FinishJobResult{}, nil).Maybe()
	env.OnActivity(acts.ResetCursor, mock.Anything, mock.Anything).Return(activities.ResetCursorResult{}, nil).Maybe()
}

// pageFunc scripts SyncPage: n counts every attempt of every page (from 1).
type pageFunc func(n int, attempt int32, in activities.SyncPageInput) (activities.SyncPageResult, error)

// mockPages answers SyncPage with script, each attempt taking d of
// simulated time.
func mockPages(env *testsuite.TestWorkflowEnvironment, d time.Duration, script pageFunc) {
	var n atomic.Int64
	env.OnActivity(acts.SyncPage, mock.Anything, mock.Anything).After(d).Return(
		func(ctx context.Context, in activities.SyncPageInput) (activities.SyncPageResult, error) {
			return script(int(n.Add(1)), activity.GetInfo(ctx).Attempt, in)
		})
}

// page is a successful page: 10 items, 8 stored, 2 duplicates.
func page(done bool) (activities.SyncPageResult, error) {
	return activities.SyncPageResult{Items: 10, Stored: 8, Duplicates: 2, Done: done}, nil
}

// pagesPerJob ends each job after n successful pages.
func pagesPerJob(n int) pageFunc {
	var mu sync.Mutex
	seen := map[string]int{}
	return func(_ int, _ int32, in activities.SyncPageInput) (activities.SyncPageResult, error) {
		mu.Lock()
		defer mu.Unlock()
		seen[in.JobID]++
		return page(seen[in.JobID] >= n)
	}
}

// updateOutcome is what a request-sync update answered.
type updateOutcome struct {
	accepted bool
	rejected error
	result   workflows.RequestResult
	err      error
	done     bool
}

// updateAt sends request-sync at simulated time d after the start (0 is
// the first workflow task, as update-with-start delivers it); the outcome
// fills in when the workflow answers.
func updateAt(t *testing.T, env *testsuite.TestWorkflowEnvironment, d time.Duration, id string, mode poblysh.SyncMode) *updateOutcome {
	o := &updateOutcome{}
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(workflows.UpdateRequest, id, &testsuite.TestUpdateCallback{
			OnAccept: func() { o.accepted = true },
			OnReject: func(err error) { o.rejected = err; o.done = true },
			OnComplete: func(r any, err error) {
				o.done, o.err = true, err
				if err == nil {
					res, ok := r.(workflows.RequestResult)
					require.True(t, ok, "update result is %T", r)
					o.result = res
				}
			},
		}, workflows.SyncRequest{Mode: mode, Trigger: poblysh.TriggerManual})
	}, d)
	return o
}

// answered fails the test unless the update was accepted and completed.
func (o *updateOutcome) answered(t *testing.T) workflows.RequestResult {
	t.Helper()
	require.True(t, o.done, "update never answered")
	require.NoError(t, o.rejected)
	require.True(t, o.accepted)
	require.NoError(t, o.err)
	return o.result
}

// signalAt schedules a sync-request signal at simulated time d.
func signalAt(env *testsuite.TestWorkflowEnvironment, d time.Duration, mode poblysh.SyncMode) {
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.SignalRequest, workflows.SyncRequest{Mode: mode, Trigger: poblysh.TriggerWebhook})
	}, d)
}

// progressAt queries the progress at simulated time d.
func progressAt(t *testing.T, env *testsuite.TestWorkflowEnvironment, d time.Duration) *workflows.SyncProgress {
	p := &workflows.SyncProgress{}
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(workflows.QueryProgress)
		require.NoError(t, err)
		require.NoError(t, v.Get(p))
	}, d)
	return p
}

// syncResult is the workflow's result; it fails the test if the workflow
// did not complete successfully.
func syncResult(t *testing.T, env *testsuite.TestWorkflowEnvironment) workflows.SyncResult {
	t.Helper()
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var r workflows.SyncResult
	require.NoError(t, env.GetWorkflowResult(&r))
	return r
}
