package workflows_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/activities"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/engine"
	"github.com/poblysh/poblysh/testenv"
	"github.com/poblysh/poblysh/workflows"
)

var record = flag.Bool("record", false, "record the replay histories in testdata/ from a Temporal dev server (see TestRecordHistories)")

// TestRecordHistories records the histories TestReplay replays. It needs the
// Temporal CLI (testenv.CLIPath) and is skipped unless asked for:
//
//	go test ./workflows -run TestRecordHistories -count=1 -record
//	RECORD_HISTORIES=1 go test ./workflows -run TestRecordHistories -count=1
//
// It starts a dev server (testenv.Temporal: ContinueAsNew is suggested every
// 200 events), runs a worker with the real workflow functions and
// deterministic stub activities registered under the activities' names,
// drives one scenario per history the way the engine does (signal-with-start,
// update-with-start, triggers during a pass), checks each outcome, and
// exports every run with `temporal workflow show --output json` into
// testdata/<name>.json. Re-record after an intentional, versioned workflow
// change; never to make a failing replay pass.
func TestRecordHistories(t *testing.T) {
	if !*record && os.Getenv("RECORD_HISTORIES") != "1" {
		t.Skip("records histories from a dev server; run with -record or RECORD_HISTORIES=1")
	}
	r := newRecorder(t, "record-histories")
	require.NoError(t, os.MkdirAll("testdata", 0o755))

	t.Run("sync_incremental_signal_with_start", r.syncSignalWithStart)
	t.Run("sync_backfill_update_with_start", r.syncBackfill)
	t.Run("sync_continued_as_new", r.syncContinueAsNew)
	t.Run("sync_coalesced_follow_up", r.syncCoalesced)
	t.Run("sync_manual_follow_up", r.syncManualFollowUp)
	t.Run("sync_rate_limited_then_transient", r.syncRetried)
	t.Run("sync_cursor_expired", r.syncCursorExpired)
	t.Run("sync_unauthorized", r.syncUnauthorized)
	t.Run("sync_unauthorized_described", r.syncUnauthorizedDescribesFollowUp)
	t.Run("sync_late_follow_up", r.syncLateFollowUp)
	t.Run("sync_late_backfill", r.syncLateBackfill)
	t.Run("sync_gave_up_keeps_follow_up", r.syncGaveUpKeepsFollowUp)
	t.Run("refresh_token", r.refreshToken)
	t.Run("refresh_sweep", r.refreshSweep)
	t.Run("renewal_sweep", r.renewalSweep)
	t.Run("activation_sweep", r.activationSweep)
	t.Run("poll_connection", r.pollConnection)
	t.Run("reconcile_watches", r.reconcileWatches)
	t.Run("retention", r.retention)
	t.Run("delete_tenant", r.deleteTenant)
	t.Run("delete_tenant_continued", r.deleteBigTenant)
	t.Run("delete_tenant_paged", r.deletePagedTenant)
	t.Run("sync_provider", r.syncProvider)
}

// newRecorder runs a worker on the package's dev server, on taskQueue, with
// the real workflow functions and the stub activities.
func newRecorder(t *testing.T, taskQueue string) *recorder {
	srv := testenv.Temporal(t)
	c, err := client.NewClientFromExisting(srv.Client(), client.Options{Logger: quietLogger()})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	stubs := newStubActivities()
	w := worker.New(c, taskQueue, worker.Options{})
	for _, wf := range engine.Workflows {
		w.RegisterWorkflow(wf)
	}
	stubs.register(w)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	return &recorder{c: c, srv: srv, taskQueue: taskQueue, stubs: stubs}
}

// quietLogger drops SDK logs: the scenarios fail activities on purpose.
func quietLogger() log.Logger {
	return log.NewStructuredLogger(slog.New(slog.DiscardHandler))
}

// Recording targets: the connection id selects a stub activity's behaviour.
const (
	connSignal       = "conn-signal"
	connBackfill     = "conn-backfill"
	connContinue     = "conn-continue"
	connCoalesce     = "conn-coalesce"
	connRetried      = "conn-retried"
	connCursor       = "conn-cursor"
	connUnauthorized = "conn-unauthorized"
	connDescribed    = "conn-unauthorized-described"
	connRevoked      = "conn-revoked"
	connWatch        = "conn-watch"
	connPoll         = "conn-poll"
	connManual       = "conn-manual"
	connLate         = "conn-late"
	connLateBackfill = "conn-late-backfill"
	connGaveUp       = "conn-gave-up"
	connGaveUpBusy   = "conn-gave-up-busy"
	connGaveUpFlaky  = "conn-gave-up-flaky"
)

// giveUps: the first page of these connections waits until the test closes
// giveUpRelease (a follow-up is queued meanwhile), then fails with this
// error and a delay past the page's day, so the server gives up at once.
var giveUps = map[string]struct{ typ, msg string }{
	connGaveUp:      {activities.ErrTypeRateLimited, "429 too many requests"},
	connGaveUpBusy:  {activities.ErrTypeTenantBusy, "tenant is at its concurrent sync limit"},
	connGaveUpFlaky: {activities.ErrTypeTransient, "502 bad gateway"},
}

func recTarget(conn string) poblysh.ConnectionRef {
	return poblysh.ConnectionRef{TenantID: "tenant-rec", ConnectionID: conn, Provider: "github", Stream: "issues"}
}

func recConn(conn string) poblysh.ConnectionRef {
	return poblysh.ConnectionRef{TenantID: "tenant-rec", ConnectionID: conn, Provider: "github"}
}

// recPages is how many pages a stub stream has, per connection.
var recPages = map[string]int{
	connSignal: 2, connBackfill: 5, connContinue: 45, connCoalesce: 4, connRetried: 3, connCursor: 3, connUnauthorized: 3, connDescribed: 3,
	connManual: 3, connLate: 1, connLateBackfill: 1, connGaveUp: 1, connGaveUpBusy: 1, connGaveUpFlaky: 1,
}

// stubActivities answer like the real activities, deterministically, and
// remember what they were asked.
type stubActivities struct {
	mu       sync.Mutex
	pages    map[string]int // successful SyncPage calls per job
	resyncs  map[string]int // CursorExpired failures per job
	lists    map[string]int // ListDue calls per workflow id
	begins   map[string][]activities.BeginJobInput
	finishes map[string][]activities.FinishJobInput
	// connLate, connLateBackfill: the first page fails for good, and
	// recording that failure waits (lateFailing closed) until the test
	// closes lateRelease.
	lateFailed               map[string]bool
	lateFailing, lateRelease map[string]chan struct{}
	// giveUps: whether the first page failed, and its release.
	gaveUp        map[string]bool
	giveUpRelease map[string]chan struct{}
	// tenantBig's connections disconnected, and how often each.
	disconnected map[string]int
}

// late reports whether conn's first page fails and its failure waits.
func late(conn string) bool { return conn == connLate || conn == connLateBackfill }

func newStubActivities() *stubActivities {
	return &stubActivities{
		pages: map[string]int{}, resyncs: map[string]int{}, lists: map[string]int{}, disconnected: map[string]int{},
		begins: map[string][]activities.BeginJobInput{}, finishes: map[string][]activities.FinishJobInput{},
		lateFailed:  map[string]bool{},
		lateFailing: map[string]chan struct{}{connLate: make(chan struct{}), connLateBackfill: make(chan struct{})},
		lateRelease: map[string]chan struct{}{connLate: make(chan struct{}), connLateBackfill: make(chan struct{})},
		gaveUp:      map[string]bool{},
		giveUpRelease: map[string]chan struct{}{
			connGaveUp: make(chan struct{}), connGaveUpBusy: make(chan struct{}), connGaveUpFlaky: make(chan struct{}),
		},
	}
}

func (s *stubActivities) register(w worker.Worker) {
	reg := func(fn any, name string) { w.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name}) }
	reg(s.BeginJob, "BeginJob")
	reg(s.SyncPage, "SyncPage")
	reg(s.ResetCursor, "ResetCursor")
	reg(s.FinishJob, "FinishJob")
	reg(s.RefreshToken, "RefreshToken")
	reg(s.ListDue, "ListDueTokens")
	reg(s.StartMany, "StartRefreshes")
	reg(s.ListDue, "ListDueWatches")
	reg(s.StartMany, "StartWatchReconciles")
	reg(s.ListDue, "ListPendingActivations")
	reg(s.StartMany, "ActivatePending")
	reg(s.TriggerConnectionSync, "TriggerConnectionSync")
	reg(s.ReconcileWatches, "ReconcileWatches")
	reg(s.Prune, "Prune")
	reg(s.BeginTenantDeletion, "BeginTenantDeletion")
	reg(s.TenantConnectionPage, "TenantConnectionPage")
	reg(s.RequestProviderSyncs, "RequestProviderSyncs")
	reg(s.DisconnectForDeletion, "DisconnectForDeletion")
	reg(s.PurgeTenant, "PurgeTenant")
	reg(s.FinishOperatorJob, "FinishOperatorJob")
}

// tenantBig has bigConnections connections: more than one run's history
// holds on the dev server (ContinueAsNew suggested at 200 events).
const (
	tenantBig      = "tenant-rec-big"
	bigConnections = 40
)

// tenantPaged has pagedConnections connections, listed pagedPage at a
// time: three pages.
const (
	tenantPaged      = "tenant-rec-paged"
	pagedConnections = 7
	pagedPage        = 3
)

// pagedIDs is tenantPaged's page of connections from the from-th, and the
// cursor of the next ("" after the last), as the database answers.
func pagedIDs(from, page int) ([]string, string) {
	var ids []string
	for i := from; i < pagedConnections && len(ids) < page; i++ {
		ids = append(ids, fmt.Sprintf("conn-paged-%d", i))
	}
	if from+len(ids) >= pagedConnections {
		return ids, ""
	}
	return ids, fmt.Sprint(from + len(ids))
}

func (s *stubActivities) RequestProviderSyncs(_ context.Context, in activities.ProviderSyncsInput) (activities.ProviderSyncsResult, error) {
	return activities.ProviderSyncsResult{Connections: 3, Jobs: 6}, nil
}

func (s *stubActivities) TenantConnectionPage(_ context.Context, in activities.TenantDeletionInput) (activities.TenantConnectionsResult, error) {
	from, err := strconv.Atoi(in.Cursor)
	if err != nil {
		return activities.TenantConnectionsResult{}, err
	}
	ids, next := pagedIDs(from, in.Page)
	return activities.TenantConnectionsResult{ConnectionIDs: ids, Next: next}, nil
}

func (s *stubActivities) BeginTenantDeletion(_ context.Context, in activities.TenantDeletionInput) (activities.BeginTenantDeletionResult, error) {
	if in.TenantID == tenantPaged {
		ids, next := pagedIDs(0, in.Page)
		return activities.BeginTenantDeletionResult{KeysRevoked: 1, ConnectionIDs: ids, Next: next}, nil
	}
	if in.TenantID != tenantBig {
		return activities.BeginTenantDeletionResult{KeysRevoked: 2, ConnectionIDs: []string{"conn-a", "conn-b"}}, nil
	}
	// As the database answers: the connections not deleted yet, and every
	// key revoked since the deletion began.
	s.mu.Lock()
	defer s.mu.Unlock()
	var left []string
	for i := range bigConnections {
		if id := fmt.Sprintf("conn-big-%02d", i); s.disconnected[id] == 0 {
			left = append(left, id)
		}
	}
	return activities.BeginTenantDeletionResult{KeysRevoked: 3, ConnectionIDs: left}, nil
}

func (s *stubActivities) DisconnectForDeletion(_ context.Context, in activities.TenantDeletionInput) (struct{}, error) {
	if in.TenantID == tenantBig || in.TenantID == tenantPaged {
		s.mu.Lock()
		s.disconnected[in.ConnectionID]++
		s.mu.Unlock()
	}
	return struct{}{}, nil
}

func (s *stubActivities) PurgeTenant(context.Context, activities.TenantDeletionInput) (activities.PurgeTenantResult, error) {
	return activities.PurgeTenantResult{Signals: 120}, nil
}

func (s *stubActivities) FinishOperatorJob(context.Context, activities.FinishOperatorJobInput) (struct{}, error) {
	return struct{}{}, nil
}

func (s *stubActivities) BeginJob(_ context.Context, in activities.BeginJobInput) (activities.BeginJobResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.begins[in.ConnectionID] = append(s.begins[in.ConnectionID], in)
	return activities.BeginJobResult{}, nil
}

func (s *stubActivities) FinishJob(_ context.Context, in activities.FinishJobInput) (activities.FinishJobResult, error) {
	if late(in.ConnectionID) && in.Status == poblysh.JobFailed {
		close(s.lateFailing[in.ConnectionID])
		<-s.lateRelease[in.ConnectionID]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finishes[in.ConnectionID] = append(s.finishes[in.ConnectionID], in)
	return activities.FinishJobResult{}, nil
}

func (s *stubActivities) ResetCursor(context.Context, activities.ResetCursorInput) (activities.ResetCursorResult, error) {
	return activities.ResetCursorResult{}, nil
}

func (s *stubActivities) SyncPage(ctx context.Context, in activities.SyncPageInput) (activities.SyncPageResult, error) {
	attempt := activity.GetInfo(ctx).Attempt
	s.mu.Lock()
	page := s.pages[in.JobID] + 1
	resyncs := s.resyncs[in.JobID]
	s.mu.Unlock()
	switch in.ConnectionID {
	case connCoalesce, connUnauthorized, connDescribed, connManual:
		time.Sleep(300 * time.Millisecond) // triggers arrive while the pass runs
	}
	switch {
	case in.ConnectionID == connRetried && page == 2 && attempt == 1:
		return activities.SyncPageResult{}, temporal.NewApplicationErrorWithOptions("429 too many requests", activities.ErrTypeRateLimited,
			temporal.ApplicationErrorOptions{NextRetryDelay: time.Second, Category: temporal.ApplicationErrorCategoryBenign})
	case in.ConnectionID == connRetried && page == 2 && attempt == 2:
		return activities.SyncPageResult{}, temporal.NewApplicationErrorWithOptions("502 bad gateway", activities.ErrTypeTransient,
			temporal.ApplicationErrorOptions{NextRetryDelay: 500 * time.Millisecond})
	case in.ConnectionID == connCursor && page == 2 && resyncs == 0:
		s.mu.Lock()
		s.resyncs[in.JobID]++
		s.mu.Unlock()
		return activities.SyncPageResult{}, temporal.NewNonRetryableApplicationError("sync token expired", activities.ErrTypeCursorExpired, nil)
	case (in.ConnectionID == connUnauthorized || in.ConnectionID == connDescribed) && page == 2:
		return activities.SyncPageResult{}, temporal.NewNonRetryableApplicationError("401 bad credentials", activities.ErrTypeUnauthorized, nil)
	case late(in.ConnectionID):
		s.mu.Lock()
		failed := s.lateFailed[in.ConnectionID]
		s.lateFailed[in.ConnectionID] = true
		s.mu.Unlock()
		if !failed {
			return activities.SyncPageResult{}, temporal.NewNonRetryableApplicationError("404 calendar not found", activities.ErrTypeNotFound, nil)
		}
	case giveUps[in.ConnectionID].typ != "":
		s.mu.Lock()
		failed := s.gaveUp[in.ConnectionID]
		s.gaveUp[in.ConnectionID] = true
		s.mu.Unlock()
		if !failed {
			select {
			case <-s.giveUpRelease[in.ConnectionID]:
			case <-ctx.Done():
				return activities.SyncPageResult{}, ctx.Err()
			}
			e := giveUps[in.ConnectionID]
			return activities.SyncPageResult{}, temporal.NewApplicationErrorWithOptions(e.msg, e.typ,
				temporal.ApplicationErrorOptions{NextRetryDelay: 25 * time.Hour})
		}
	}
	s.mu.Lock()
	s.pages[in.JobID] = page
	s.mu.Unlock()
	return activities.SyncPageResult{Items: 10, Stored: 8, Duplicates: 2, Done: page >= recPages[in.ConnectionID]}, nil
}

func (s *stubActivities) RefreshToken(_ context.Context, in activities.RefreshTokenInput) (activities.RefreshTokenResult, error) {
	if in.ConnectionID == connRevoked {
		return activities.RefreshTokenResult{}, temporal.NewNonRetryableApplicationError("token refresh failed permanently: invalid_grant", activities.ErrTypeUnauthorized, nil)
	}
	exp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	return activities.RefreshTokenResult{Refreshed: true, ExpiresAt: &exp}, nil
}

// ListDue answers a full page on a sweep's first call and a short one after.
func (s *stubActivities) ListDue(ctx context.Context, in activities.ListDueInput) (activities.ListDueResult, error) {
	id := activity.GetInfo(ctx).WorkflowExecution.ID
	s.mu.Lock()
	s.lists[id]++
	n := s.lists[id]
	s.mu.Unlock()
	size := 3
	if n == 1 {
		size = in.Limit
	}
	out := make([]poblysh.ConnectionRef, size)
	for i := range out {
		out[i] = poblysh.ConnectionRef{ConnectionID: fmt.Sprintf("conn-%d-%03d", n, i), TenantID: "tenant-rec", Provider: "github"}
	}
	return activities.ListDueResult{Connections: out}, nil
}

func (s *stubActivities) StartMany(_ context.Context, in activities.StartManyInput) (activities.StartManyResult, error) {
	return activities.StartManyResult{Started: len(in.Connections)}, nil
}

func (s *stubActivities) TriggerConnectionSync(context.Context, activities.TriggerConnectionSyncInput) (activities.TriggerConnectionSyncResult, error) {
	return activities.TriggerConnectionSyncResult{Streams: 3}, nil
}

func (s *stubActivities) ReconcileWatches(context.Context, activities.ReconcileWatchesInput) (activities.ReconcileWatchesResult, error) {
	time.Sleep(time.Second) // a reconcile signal arrives meanwhile
	return activities.ReconcileWatchesResult{Created: 1, Active: 2, PushEnabled: true}, nil
}

func (s *stubActivities) Prune(context.Context, activities.PruneInput) (activities.PruneResult, error) {
	return activities.PruneResult{Pruned: db.Pruned{RawPayloads: 12, WebhookBodies: 3, Signals: 40, States: 2, WebhookEvents: 7}}, nil
}

func (s *stubActivities) jobs(conn string) ([]activities.BeginJobInput, []activities.FinishJobInput) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]activities.BeginJobInput(nil), s.begins[conn]...), append([]activities.FinishJobInput(nil), s.finishes[conn]...)
}

type recorder struct {
	c         client.Client
	srv       *testsuite.DevServer
	taskQueue string
	stubs     *stubActivities
}

// ctx bounds one scenario.
func (r *recorder) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func (r *recorder) options(id string) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID: id, TaskQueue: r.taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}
}

// requestSync is engine.requestStream: update-with-start on the stream's id.
// It returns the request's answer, the run, and the run's id (WorkflowRun.Get
// follows continue-as-new and moves GetRunID to the last run).
func (r *recorder) requestSync(ctx context.Context, t *testing.T, conn string, mode poblysh.SyncMode) (workflows.RequestResult, client.WorkflowRun, string) {
	id := workflows.SyncWorkflowID(r.taskQueue, conn, "issues")
	op := r.c.NewWithStartWorkflowOperation(r.options(id), workflows.SyncStream, workflows.SyncInput{ConnectionRef: recTarget(conn)})
	h, err := r.c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: op,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateName: workflows.UpdateRequest, WaitForStage: client.WorkflowUpdateStageCompleted,
			Args: []any{workflows.SyncRequest{Mode: mode, Trigger: poblysh.TriggerManual}},
		},
	})
	require.NoError(t, err)
	var res workflows.RequestResult
	require.NoError(t, h.Get(ctx, &res))
	run, err := op.Get(ctx)
	require.NoError(t, err)
	return res, run, run.GetRunID()
}

// update sends request-sync to a running stream workflow.
func (r *recorder) update(ctx context.Context, t *testing.T, conn string, mode poblysh.SyncMode) workflows.RequestResult {
	h, err := r.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflows.SyncWorkflowID(r.taskQueue, conn, "issues"), UpdateName: workflows.UpdateRequest,
		WaitForStage: client.WorkflowUpdateStageCompleted,
		Args:         []any{workflows.SyncRequest{Mode: mode, Trigger: poblysh.TriggerManual}},
	})
	require.NoError(t, err)
	var res workflows.RequestResult
	require.NoError(t, h.Get(ctx, &res))
	return res
}

func (r *recorder) signal(ctx context.Context, t *testing.T, conn string) {
	require.NoError(t, r.c.SignalWorkflow(ctx, workflows.SyncWorkflowID(r.taskQueue, conn, "issues"), "", workflows.SignalRequest,
		workflows.SyncRequest{Mode: poblysh.ModeIncremental, Trigger: poblysh.TriggerWebhook}))
}

// runs follows a run's continue-as-new chain and returns every run id.
func (r *recorder) runs(ctx context.Context, t *testing.T, id, first string) []string {
	out := []string{first}
	for run := first; ; {
		var last *historypb.HistoryEvent
		for it := r.c.GetWorkflowHistory(ctx, id, run, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT); it.HasNext(); {
			ev, err := it.Next()
			require.NoError(t, err)
			last = ev
		}
		require.NotNil(t, last)
		can := last.GetWorkflowExecutionContinuedAsNewEventAttributes()
		if can == nil {
			return out
		}
		run = can.GetNewExecutionRunId()
		out = append(out, run)
	}
}

// exportChain exports every run of the chain that started with first: as
// <name>.json when it is one run, else <name>_run1.json, <name>_run2.json...
func (r *recorder) exportChain(ctx context.Context, t *testing.T, id, first, name string, want int) {
	runs := r.runs(ctx, t, id, first)
	require.Len(t, runs, want, "runs of %s", id)
	if want == 1 {
		r.export(t, id, first, name)
		return
	}
	for i, run := range runs {
		r.export(t, id, run, fmt.Sprintf("%s_run%d", name, i+1))
	}
}

// export writes a run's history with the CLI, as an operator would.
func (r *recorder) export(t *testing.T, id, runID, name string) {
	cli, err := testenv.CLIPath()
	require.NoError(t, err)
	cmd := exec.Command(cli, "workflow", "show", "--workflow-id", id, "--run-id", runID, "--output", "json",
		"--address", r.srv.FrontendHostPort(), "--namespace", "default")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	path := filepath.Join("testdata", name+".json")
	require.NoError(t, os.WriteFile(path, out, 0o644))
	t.Logf("wrote %s (%d bytes)", path, len(out))
}

func (r *recorder) syncSignalWithStart(t *testing.T) {
	ctx := r.ctx(t)
	id := workflows.SyncWorkflowID(r.taskQueue, connSignal, "issues")
	run, err := r.c.SignalWithStartWorkflow(ctx, id, workflows.SignalRequest,
		workflows.SyncRequest{Mode: poblysh.ModeIncremental, Trigger: poblysh.TriggerWebhook},
		r.options(id), workflows.SyncStream, workflows.SyncInput{ConnectionRef: recTarget(connSignal)})
	require.NoError(t, err)
	first := run.GetRunID()
	var res workflows.SyncResult
	require.NoError(t, run.Get(ctx, &res))
	require.Equal(t, workflows.SyncResult{Passes: 1, Stored: 16}, res)
	begins, fins := r.stubs.jobs(connSignal)
	require.Len(t, begins, 1)
	require.False(t, begins[0].ResetCursor)
	require.Len(t, fins, 1)
	require.Equal(t, poblysh.JobSucceeded, fins[0].Status)
	r.exportChain(ctx, t, id, first, "sync_incremental_signal_with_start", 1)
}

func (r *recorder) syncBackfill(t *testing.T) {
	ctx := r.ctx(t)
	req, run, first := r.requestSync(ctx, t, connBackfill, poblysh.ModeBackfill)
	require.Equal(t, poblysh.JobQueued, req.Status)
	var res workflows.SyncResult
	require.NoError(t, run.Get(ctx, &res))
	require.Equal(t, workflows.SyncResult{Passes: 1, Stored: 40}, res, "the update-with-start request must run its pass")
	begins, fins := r.stubs.jobs(connBackfill)
	require.Len(t, begins, 1)
	require.Equal(t, req.JobID, begins[0].JobID)
	require.True(t, begins[0].ResetCursor)
	require.Len(t, fins, 1)
	require.Equal(t, poblysh.JobSucceeded, fins[0].Status)
	r.exportChain(ctx, t, run.GetID(), first, "sync_backfill_update_with_start", 1)
}

func (r *recorder) syncContinueAsNew(t *testing.T) {
	ctx := r.ctx(t)
	req, run, first := r.requestSync(ctx, t, connContinue, poblysh.ModeBackfill)
	var res workflows.SyncResult
	require.NoError(t, run.Get(ctx, &res))
	begins, fins := r.stubs.jobs(connContinue)
	require.Len(t, begins, 1, "the continued run must not begin the job (and reset the cursor) again")
	require.Len(t, fins, 1)
	require.Equal(t, req.JobID, fins[0].JobID)
	require.Equal(t, poblysh.JobSucceeded, fins[0].Status)
	require.Equal(t, 1, res.Passes)
	// 45 pages at ~6 events each cross the 200-event suggestion once.
	r.exportChain(ctx, t, run.GetID(), first, "sync_continued_as_new", 2)
}

func (r *recorder) syncCoalesced(t *testing.T) {
	ctx := r.ctx(t)
	running, run, first := r.requestSync(ctx, t, connCoalesce, poblysh.ModeIncremental)
	var queued []workflows.RequestResult
	for i := range 10 {
		if i%2 == 0 {
			r.signal(ctx, t, connCoalesce)
		} else {
			queued = append(queued, r.update(ctx, t, connCoalesce, poblysh.ModeIncremental))
		}
	}
	var res workflows.SyncResult
	require.NoError(t, run.Get(ctx, &res))
	require.Equal(t, 2, res.Passes)
	for _, q := range queued {
		require.Equal(t, queued[0].JobID, q.JobID)
		require.Equal(t, poblysh.JobQueued, q.Status)
		require.NotEqual(t, running.JobID, q.JobID)
	}
	begins, fins := r.stubs.jobs(connCoalesce)
	require.Len(t, begins, 2)
	require.Len(t, fins, 2)
	require.Equal(t, queued[0].JobID, begins[1].JobID)
	r.exportChain(ctx, t, run.GetID(), first, "sync_coalesced_follow_up", 1)
}

// syncManualFollowUp: a notification and a manual request during a pass
// coalesce into one follow-up, which starts without the debounce (the
// versioned path, changeManualSkipsDebounce).
func (r *recorder) syncManualFollowUp(t *testing.T) {
	ctx := r.ctx(t)
	_, run, first := r.requestSync(ctx, t, connManual, poblysh.ModeIncremental)
	r.signal(ctx, t, connManual)
	queued := r.update(ctx, t, connManual, poblysh.ModeIncremental)
	var res workflows.SyncResult
	require.NoError(t, run.Get(ctx, &res))
	require.Equal(t, 2, res.Passes)
	begins, fins := r.stubs.jobs(connManual)
	require.Len(t, begins, 2)
	require.Len(t, fins, 2)
	require.Equal(t, queued.JobID, begins[1].JobID)
	r.exportChain(ctx, t, run.GetID(), first, "sync_manual_follow_up", 1)
}

func (r *recorder) syncRetried(t *testing.T) {
	ctx := r.ctx(t)
	_, run, first := r.requestSync(ctx, t, connRetried, poblysh.ModeIncremental)
	var res workflows.SyncResult
	require.NoError(t, run.Get(ctx, &res))
	require.Equal(t, 1, res.Passes)
	_, fins := r.stubs.jobs(connRetried)
	require.Len(t, fins, 1)
	require.Equal(t, poblysh.JobSucceeded, fins[0].Status)
	r.exportChain(ctx, t, run.GetID(), first, "sync_rate_limited_then_transient", 1)
}

func (r *recorder) syncCursorExpired(t *testing.T) {
	ctx := r.ctx(t)
	_, run, first := r.requestSync(ctx, t, connCursor, poblysh.ModeIncremental)
	var res workflows.SyncResult
	require.NoError(t, run.Get(ctx, &res))
	require.Equal(t, 1, res.Passes)
	_, fins := r.stubs.jobs(connCursor)
	require.Len(t, fins, 1)
	require.Equal(t, poblysh.JobSucceeded, fins[0].Status)
	r.exportChain(ctx, t, run.GetID(), first, "sync_cursor_expired", 1)
}

func (r *recorder) syncUnauthorized(t *testing.T) {
	ctx := r.ctx(t)
	_, run, first := r.requestSync(ctx, t, connUnauthorized, poblysh.ModeBackfill)
	r.signal(ctx, t, connUnauthorized) // a follow-up the permanent failure cancels
	var res workflows.SyncResult
	require.NoError(t, run.Get(ctx, &res))
	require.Equal(t, 1, res.Passes)
	_, fins := r.stubs.jobs(connUnauthorized)
	require.Len(t, fins, 2)
	require.Equal(t, poblysh.JobFailed, fins[0].Status)
	require.Equal(t, activities.ErrTypeUnauthorized, fins[0].ErrorType)
	require.Equal(t, poblysh.JobCancelled, fins[1].Status)
	r.exportChain(ctx, t, run.GetID(), first, "sync_unauthorized", 1)
}

// syncUnauthorizedDescribesFollowUp: as syncUnauthorized, and the
// cancelled follow-up is described to FinishJob (kind, trigger, workflow
// and run: the versioned path, changeFollowUpCancelRecords), which writes
// its row cancelled when nobody has.
func (r *recorder) syncUnauthorizedDescribesFollowUp(t *testing.T) {
	ctx := r.ctx(t)
	_, run, first := r.requestSync(ctx, t, connDescribed, poblysh.ModeBackfill)
	r.signal(ctx, t, connDescribed) // a follow-up the permanent failure cancels
	var res workflows.SyncResult
	require.NoError(t, run.Get(ctx, &res))
	require.Equal(t, 1, res.Passes)
	_, fins := r.stubs.jobs(connDescribed)
	require.Len(t, fins, 2)
	require.Equal(t, poblysh.JobFailed, fins[0].Status)
	require.Equal(t, poblysh.JobCancelled, fins[1].Status)
	require.True(t, fins[1].FollowUp)
	require.Equal(t, poblysh.JobIncremental, fins[1].Kind)
	require.Equal(t, poblysh.TriggerWebhook, fins[1].Trigger)
	require.Equal(t, run.GetID(), fins[1].WorkflowID)
	require.Equal(t, first, fins[1].RunID)
	r.exportChain(ctx, t, run.GetID(), first, "sync_unauthorized_described", 1)
}

// syncLateFollowUp: a request that arrives while a permanent failure is
// being recorded runs as the next pass (the versioned path,
// changeLateFollowUpRuns); one queued before would have been cancelled.
func (r *recorder) syncLateFollowUp(t *testing.T) {
	r.syncLate(t, connLate, poblysh.ModeIncremental, "sync_late_follow_up")
}

// syncLateBackfill: a backfill request that arrives while a failed
// backfill's end is being recorded does not join it and runs as the next
// pass (the versioned path, changeNoJoinClosingPass).
func (r *recorder) syncLateBackfill(t *testing.T) {
	r.syncLate(t, connLateBackfill, poblysh.ModeBackfill, "sync_late_backfill")
}

// syncLate records a pass of conn in mode that fails for good, and a
// request of the same mode made while the failure is being recorded.
func (r *recorder) syncLate(t *testing.T, conn string, mode poblysh.SyncMode, name string) {
	ctx := r.ctx(t)
	_, run, first := r.requestSync(ctx, t, conn, mode)
	select {
	case <-r.stubs.lateFailing[conn]:
	case <-ctx.Done():
		t.Fatal("the first pass did not fail")
	}
	again := r.update(ctx, t, conn, mode)
	close(r.stubs.lateRelease[conn])
	var res workflows.SyncResult
	require.NoError(t, run.Get(ctx, &res))
	require.Equal(t, 2, res.Passes)
	begins, fins := r.stubs.jobs(conn)
	require.Len(t, begins, 2)
	require.Len(t, fins, 2)
	require.Equal(t, poblysh.JobFailed, fins[0].Status)
	require.Equal(t, activities.ErrTypeNotFound, fins[0].ErrorType)
	require.Equal(t, again.JobID, fins[1].JobID)
	require.Equal(t, poblysh.JobSucceeded, fins[1].Status)
	r.exportChain(ctx, t, run.GetID(), first, name, 1)
}

// syncGaveUpKeepsFollowUp: the server gives up on a rate-limited page and
// the job fails as a Timeout; the follow-up queued before runs (the
// versioned path, changeGiveUpIsTimeout).
func (r *recorder) syncGaveUpKeepsFollowUp(t *testing.T) {
	run, first := r.syncGiveUp(t, connGaveUp)
	r.exportChain(r.ctx(t), t, run.GetID(), first, "sync_gave_up_keeps_follow_up", 1)
}

// syncGiveUp records a pass of conn (one of giveUps) whose page the server
// stops retrying, after a manual request queued the follow-up, and checks
// the server's report and the jobs' ends.
func (r *recorder) syncGiveUp(t *testing.T, conn string) (client.WorkflowRun, string) {
	ctx := r.ctx(t)
	running, run, first := r.requestSync(ctx, t, conn, poblysh.ModeIncremental)
	queued := r.update(ctx, t, conn, poblysh.ModeIncremental)
	require.Equal(t, poblysh.JobQueued, queued.Status)
	require.NotEqual(t, running.JobID, queued.JobID)
	close(r.stubs.giveUpRelease[conn])
	var res workflows.SyncResult
	require.NoError(t, run.Get(ctx, &res))
	require.Equal(t, workflows.SyncResult{Passes: 2, Stored: 8}, res)

	// The server reports the last error with RetryState TIMEOUT, not a
	// timeout failure.
	want := giveUps[conn]
	var failed []*historypb.ActivityTaskFailedEventAttributes
	for it := r.c.GetWorkflowHistory(ctx, run.GetID(), first, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT); it.HasNext(); {
		ev, err := it.Next()
		require.NoError(t, err)
		if a := ev.GetActivityTaskFailedEventAttributes(); a != nil {
			failed = append(failed, a)
		}
	}
	require.Len(t, failed, 1)
	require.Equal(t, enumspb.RETRY_STATE_TIMEOUT, failed[0].GetRetryState())
	require.Equal(t, want.typ, failed[0].GetFailure().GetApplicationFailureInfo().GetType())
	require.Nil(t, failed[0].GetFailure().GetTimeoutFailureInfo())

	_, fins := r.stubs.jobs(conn)
	require.Len(t, fins, 2)
	require.Equal(t, running.JobID, fins[0].JobID)
	require.Equal(t, poblysh.JobFailed, fins[0].Status)
	require.Equal(t, "Timeout", fins[0].ErrorType)
	require.Equal(t, "gave up after retrying for a day: "+want.msg, fins[0].Error,
		"the activity's message, without Temporal's wrapping (the worker's identity)")
	require.Equal(t, queued.JobID, fins[1].JobID)
	require.Equal(t, poblysh.JobSucceeded, fins[1].Status)
	return run, first
}

func (r *recorder) refreshToken(t *testing.T) {
	ctx := r.ctx(t)
	for _, tc := range []struct {
		conn, name string
		status     poblysh.JobStatus
	}{
		{"conn-refresh", "refresh_token_succeeded", poblysh.JobSucceeded},
		{connRevoked, "refresh_token_revoked", poblysh.JobFailed},
	} {
		in := workflows.RefreshInput{ConnectionRef: recConn(tc.conn), Trigger: poblysh.TriggerSchedule, Force: true}
		run, err := r.c.ExecuteWorkflow(ctx, r.options(workflows.RefreshWorkflowID(r.taskQueue, tc.conn)), workflows.RefreshToken, in)
		require.NoError(t, err)
		first := run.GetRunID()
		var out workflows.RefreshResult
		require.NoError(t, run.Get(ctx, &out))
		require.Equal(t, tc.status == poblysh.JobSucceeded, out.Refreshed)
		_, fins := r.stubs.jobs(tc.conn)
		require.Len(t, fins, 1)
		require.Equal(t, tc.status, fins[0].Status)
		r.exportChain(ctx, t, run.GetID(), first, tc.name, 1)
	}
}

func (r *recorder) sweep(t *testing.T, wf any, id, name string) {
	ctx := r.ctx(t)
	run, err := r.c.ExecuteWorkflow(ctx, r.options(id), wf, workflows.SweepInput{})
	require.NoError(t, err)
	first := run.GetRunID()
	var out workflows.SweepResult
	require.NoError(t, run.Get(ctx, &out))
	require.Equal(t, workflows.SweepResult{Started: 3}, out)
	r.exportChain(ctx, t, id, first, name, 2) // a full page continues as new once
}

func (r *recorder) refreshSweep(t *testing.T) {
	r.sweep(t, workflows.RefreshSweep, workflows.RefreshScheduleID(r.taskQueue), "refresh_sweep")
}

func (r *recorder) renewalSweep(t *testing.T) {
	r.sweep(t, workflows.RenewalSweep, workflows.RenewalScheduleID(r.taskQueue), "renewal_sweep")
}

func (r *recorder) activationSweep(t *testing.T) {
	r.sweep(t, workflows.ActivationSweep, workflows.ActivationScheduleID(r.taskQueue), "activation_sweep")
}

func (r *recorder) pollConnection(t *testing.T) {
	ctx := r.ctx(t)
	run, err := r.c.ExecuteWorkflow(ctx, r.options(workflows.PollScheduleID(r.taskQueue, connPoll)), workflows.PollConnection,
		workflows.PollInput{ConnectionRef: recConn(connPoll)})
	require.NoError(t, err)
	first := run.GetRunID()
	var out workflows.PollResult
	require.NoError(t, run.Get(ctx, &out))
	require.Equal(t, workflows.PollResult{Streams: 3}, out)
	r.exportChain(ctx, t, run.GetID(), first, "poll_connection", 1)
}

// reconcileWatches is engine.StartWatchReconcile (signal-with-start), plus
// a second signal during the pass, which must run exactly one more pass.
func (r *recorder) reconcileWatches(t *testing.T) {
	ctx := r.ctx(t)
	id := workflows.WatchWorkflowID(r.taskQueue, connWatch)
	in := workflows.WatchInput{ConnectionRef: recConn(connWatch), Trigger: poblysh.TriggerConnect}
	run, err := r.c.SignalWithStartWorkflow(ctx, id, workflows.SignalWatch, nil, r.options(id), workflows.ReconcileWatches, in)
	require.NoError(t, err)
	first := run.GetRunID()
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, r.c.SignalWorkflow(ctx, id, "", workflows.SignalWatch, nil))
	require.NoError(t, r.c.SignalWorkflow(ctx, id, "", workflows.SignalWatch, nil))
	var out workflows.WatchResult
	require.NoError(t, run.Get(ctx, &out))
	require.Equal(t, 2, out.Passes)
	begins, fins := r.stubs.jobs(connWatch)
	require.Len(t, begins, 2)
	require.Len(t, fins, 2)
	r.exportChain(ctx, t, id, first, "reconcile_watches", 1)
}

func (r *recorder) retention(t *testing.T) {
	ctx := r.ctx(t)
	run, err := r.c.ExecuteWorkflow(ctx, r.options(workflows.RetentionScheduleID(r.taskQueue)), workflows.Retention, workflows.RetentionInput{})
	require.NoError(t, err)
	first := run.GetRunID()
	var out workflows.RetentionResult
	require.NoError(t, run.Get(ctx, &out))
	require.Equal(t, int64(40), out.Signals)
	r.exportChain(ctx, t, run.GetID(), first, "retention", 1)
}

func (r *recorder) deleteTenant(t *testing.T) {
	ctx := r.ctx(t)
	run, err := r.c.ExecuteWorkflow(ctx, r.options(workflows.TenantDeletionWorkflowID(r.taskQueue, "tenant-rec")), workflows.DeleteTenant,
		workflows.DeleteTenantInput{TenantID: "tenant-rec", JobID: "job-rec"})
	require.NoError(t, err)
	first := run.GetRunID()
	var out workflows.DeleteTenantResult
	require.NoError(t, run.Get(ctx, &out))
	require.Equal(t, workflows.DeleteTenantResult{KeysRevoked: 2, Disconnected: 2, Signals: 120}, out)
	r.exportChain(ctx, t, run.GetID(), first, "delete_tenant", 1)
}

// deletePagedTenant: a tenant's connections listed a page at a time (the
// versioned path: tenant-deletion-pages), each connection once.
func (r *recorder) deletePagedTenant(t *testing.T) {
	defer workflows.SetTenantDeletionPageForTest(pagedPage)()
	ctx := r.ctx(t)
	run, err := r.c.ExecuteWorkflow(ctx, r.options(workflows.TenantDeletionWorkflowID(r.taskQueue, tenantPaged)), workflows.DeleteTenant,
		workflows.DeleteTenantInput{TenantID: tenantPaged, JobID: "job-rec-paged"})
	require.NoError(t, err)
	first := run.GetRunID()
	var out workflows.DeleteTenantResult
	require.NoError(t, run.Get(ctx, &out))
	require.Equal(t, workflows.DeleteTenantResult{KeysRevoked: 1, Disconnected: pagedConnections, Signals: 120}, out)
	r.stubs.mu.Lock()
	for i := range pagedConnections {
		require.Equal(t, 1, r.stubs.disconnected[fmt.Sprintf("conn-paged-%d", i)], "connection %d disconnected once", i)
	}
	r.stubs.mu.Unlock()
	r.exportChain(ctx, t, run.GetID(), first, "delete_tenant_paged", 1)
}

// syncProvider: the rest of a sync of every connection of a provider,
// handed on by the request (engine.StartProviderSync).
func (r *recorder) syncProvider(t *testing.T) {
	ctx := r.ctx(t)
	run, err := r.c.ExecuteWorkflow(ctx, r.options(workflows.SyncProviderWorkflowID(r.taskQueue, "tenant-rec", "github", "req-1")), workflows.SyncProvider,
		workflows.SyncProviderInput{TenantID: "tenant-rec", Provider: "github", Mode: poblysh.ModeIncremental, After: "cursor"})
	require.NoError(t, err)
	first := run.GetRunID()
	var out activities.ProviderSyncsResult
	require.NoError(t, run.Get(ctx, &out))
	require.Equal(t, activities.ProviderSyncsResult{Connections: 3, Jobs: 6}, out)
	r.exportChain(ctx, t, run.GetID(), first, "sync_provider", 1)
}

// deleteBigTenant: a tenant with more connections than one run's history
// holds is deleted in two runs (the versioned path: the first run's
// marker is tenant-deletion-continues-as-new/32, the check after its 32nd
// connection), each connection once.
func (r *recorder) deleteBigTenant(t *testing.T) {
	ctx := r.ctx(t)
	run, err := r.c.ExecuteWorkflow(ctx, r.options(workflows.TenantDeletionWorkflowID(r.taskQueue, tenantBig)), workflows.DeleteTenant,
		workflows.DeleteTenantInput{TenantID: tenantBig, JobID: "job-rec-big"})
	require.NoError(t, err)
	first := run.GetRunID()
	var out workflows.DeleteTenantResult
	require.NoError(t, run.Get(ctx, &out))
	require.Equal(t, workflows.DeleteTenantResult{KeysRevoked: 3, Disconnected: bigConnections, Signals: 120}, out)
	r.stubs.mu.Lock()
	require.Len(t, r.stubs.disconnected, bigConnections)
	for id, n := range r.stubs.disconnected {
		require.Equal(t, 1, n, "%s disconnected once", id)
	}
	r.stubs.mu.Unlock()
	r.exportChain(ctx, t, run.GetID(), first, "delete_tenant_continued", 2)
}
