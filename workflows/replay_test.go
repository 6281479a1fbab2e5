package workflows_test

import (
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/poblysh/poblysh/activities"
	"github.com/poblysh/poblysh/engine"
	"github.com/poblysh/poblysh/workflows"
)

// newReplayer registers every workflow the worker runs, as the worker does.
func newReplayer(t *testing.T) worker.WorkflowReplayer {
	t.Helper()
	r := worker.NewWorkflowReplayer()
	for _, wf := range engine.Workflows {
		r.RegisterWorkflow(wf)
	}
	return r
}

func histories(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no recorded histories: run TestRecordHistories")
	return files
}

func loadHistory(t *testing.T, path string) *historypb.History {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, h.GetEvents())
	return h
}

func historyName(path string) string { return strings.TrimSuffix(filepath.Base(path), ".json") }

// TestReplay replays every history recorded from a dev server (testdata/,
// see TestRecordHistories) against today's workflow code. A failure means a
// change would break running workflows: guard it with workflow.GetVersion
// (keeping the old path) instead of re-recording the history.
func TestReplay(t *testing.T) {
	for _, path := range histories(t) {
		t.Run(historyName(path), func(t *testing.T) {
			require.NoError(t, newReplayer(t).ReplayWorkflowHistoryFromJSONFile(quietLogger(), path))
		})
	}
}

// Every workflow type the worker runs has at least one recorded history,
// so adding a workflow without recording one fails here.
func TestReplayCoversEveryWorkflow(t *testing.T) {
	covered := map[string]bool{}
	for _, path := range histories(t) {
		start := loadHistory(t, path).GetEvents()[0].GetWorkflowExecutionStartedEventAttributes()
		require.NotNil(t, start, "%s does not begin with WorkflowExecutionStarted", path)
		covered[start.GetWorkflowType().GetName()] = true
	}
	for _, wf := range engine.Workflows {
		name := runtime.FuncForPC(reflect.ValueOf(wf).Pointer()).Name()
		name = name[strings.LastIndex(name, ".")+1:]
		require.True(t, covered[name], "no recorded history for workflow %s", name)
	}
}

// The recorded histories exercise what they are named after; a re-record
// that lost a scenario (no continue-as-new, no follow-up) fails here.
func TestRecordedHistoriesCoverScenarios(t *testing.T) {
	for name, want := range map[string]struct {
		last       enumspb.EventType
		activities map[string]int // ActivityTaskScheduled per type
		continued  bool           // the run continues an earlier run
		updates    int            // accepted updates
		signals    int
		versions   []string // version markers (workflow.GetVersion) recorded
	}{
		"sync_backfill_update_with_start":    {last: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, activities: map[string]int{"BeginJob": 1, "SyncPage": 5, "FinishJob": 1}, updates: 1},
		"sync_incremental_signal_with_start": {last: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, activities: map[string]int{"BeginJob": 1, "SyncPage": 2, "FinishJob": 1}, signals: 1},
		"sync_continued_as_new_run1":         {last: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW, activities: map[string]int{"BeginJob": 1, "FinishJob": 0}, updates: 1},
		"sync_continued_as_new_run2":         {last: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, activities: map[string]int{"BeginJob": 0, "FinishJob": 1}, continued: true},
		"sync_coalesced_follow_up":           {last: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, activities: map[string]int{"BeginJob": 2, "SyncPage": 8, "FinishJob": 2}, updates: 6, signals: 5},
		"sync_manual_follow_up":              {last: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, activities: map[string]int{"BeginJob": 2, "FinishJob": 2}, updates: 2, signals: 1, versions: []string{"manual-pass-skips-debounce"}},
		"sync_late_follow_up":                {last: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, activities: map[string]int{"BeginJob": 2, "SyncPage": 2, "FinishJob": 2}, updates: 2, versions: []string{"late-follow-up-runs", "manual-pass-skips-debounce"}},
		"sync_late_backfill":                 {last: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, activities: map[string]int{"BeginJob": 2, "SyncPage": 2, "FinishJob": 2}, updates: 2, versions: []string{"no-join-closing-pass", "late-follow-up-runs", "manual-pass-skips-debounce"}},
		"sync_gave_up_keeps_follow_up":       {last: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, activities: map[string]int{"BeginJob": 2, "SyncPage": 2, "FinishJob": 2}, updates: 2, versions: []string{"give-up-is-timeout", "manual-pass-skips-debounce"}},
		"sync_rate_limited_then_transient":   {last: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, activities: map[string]int{"SyncPage": 3, "FinishJob": 1}, updates: 1},
		"sync_cursor_expired":                {last: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, activities: map[string]int{"SyncPage": 4, "ResetCursor": 1, "FinishJob": 1}, updates: 1},
		"sync_unauthorized":                  {last: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, activities: map[string]int{"SyncPage": 2, "FinishJob": 2}, updates: 1, signals: 1},
		"sync_unauthorized_described":        {last: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, activities: map[string]int{"SyncPage": 2, "FinishJob": 2}, updates: 1, signals: 1, versions: []string{"follow-up-cancel-records"}},
		"refresh_token_succeeded":            {last: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, activities: map[string]int{"BeginJob": 1, "RefreshToken": 1, "FinishJob": 1}},
		"refresh_token_revoked":              {last: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, activities: map[string]int{"BeginJob": 1, "RefreshToken": 1, "FinishJob": 1}},
		"refresh_sweep_run1":                 {last: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW, activities: map[string]int{"ListDueTokens": 1, "StartRefreshes": 1}},
		"refresh_sweep_run2":                 {last: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, activities: map[string]int{"ListDueTokens": 1, "StartRefreshes": 1}, continued: true},
		"renewal_sweep_run1":                 {last: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW, activities: map[string]int{"ListDueWatches": 1, "StartWatchReconciles": 1}},
		"renewal_sweep_run2":                 {last: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, activities: map[string]int{"ListDueWatches": 1, "StartWatchReconciles": 1}, continued: true},
		"activation_sweep_run1":              {last: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW, activities: map[string]int{"ListPendingActivations": 1, "ActivatePending": 1}},
		"activation_sweep_run2":              {last: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, activities: map[string]int{"ListPendingActivations": 1, "ActivatePending": 1}, continued: true},
		"poll_connection":                    {last: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, activities: map[string]int{"TriggerConnectionSync": 1}},
		"reconcile_watches":                  {last: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, activities: map[string]int{"BeginJob": 2, "ReconcileWatches": 2, "FinishJob": 2}, signals: 3},
		"retention":                          {last: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, activities: map[string]int{"Prune": 1}},
		"delete_tenant":                      {last: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, activities: map[string]int{"BeginTenantDeletion": 1, "DisconnectForDeletion": 2, "PurgeTenant": 1, "FinishOperatorJob": 1}},
		"delete_tenant_continued_run1":       {last: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW, activities: map[string]int{"BeginTenantDeletion": 1, "DisconnectForDeletion": 32, "PurgeTenant": 0, "FinishOperatorJob": 0}, versions: []string{"tenant-deletion-continues-as-new/32"}},
		"delete_tenant_paged":                {last: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, activities: map[string]int{"BeginTenantDeletion": 1, "TenantConnectionPage": 2, "DisconnectForDeletion": 7, "PurgeTenant": 1, "FinishOperatorJob": 1}, versions: []string{"tenant-deletion-pages"}},
		"sync_provider":                      {last: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, activities: map[string]int{"RequestProviderSyncs": 1}},
		"delete_tenant_continued_run2":       {last: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, activities: map[string]int{"BeginTenantDeletion": 1, "DisconnectForDeletion": 8, "PurgeTenant": 1, "FinishOperatorJob": 1}, continued: true},
	} {
		t.Run(name, func(t *testing.T) {
			events := loadHistory(t, filepath.Join("testdata", name+".json")).GetEvents()
			require.Equal(t, want.last, events[len(events)-1].GetEventType())
			require.Equal(t, want.continued, events[0].GetWorkflowExecutionStartedEventAttributes().GetContinuedExecutionRunId() != "")
			scheduled := map[string]int{}
			updates, signals := 0, 0
			var versions []string
			for _, e := range events {
				if m := e.GetMarkerRecordedEventAttributes(); m != nil && m.GetMarkerName() == "Version" {
					var id string
					require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(m.GetDetails()["change-id"], &id))
					versions = append(versions, id)
				}
				if a := e.GetActivityTaskScheduledEventAttributes(); a != nil {
					scheduled[a.GetActivityType().GetName()]++
				}
				if e.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED {
					updates++
				}
				if e.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED {
					signals++
				}
			}
			for typ, n := range want.activities {
				require.Equal(t, n, scheduled[typ], "%s scheduled", typ)
			}
			require.Equal(t, want.updates, updates, "accepted updates")
			require.Equal(t, want.signals, signals, "signals")
			require.Equal(t, want.versions, versions, "version markers")
		})
	}
}

// The replayer does fail on a nondeterministic change: a SyncStream that
// reads a page before beginning its job must not replay a recorded pass.
func TestReplayDetectsNondeterminism(t *testing.T) {
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(reorderedSyncStream, workflow.RegisterOptions{Name: workflows.SyncStreamName})
	err := r.ReplayWorkflowHistoryFromJSONFile(quietLogger(), filepath.Join("testdata", "sync_incremental_signal_with_start.json"))
	require.Error(t, err)
	require.ErrorContains(t, err, "TMPRL1100", "the SDK's nondeterminism error")
}

// reorderedSyncStream is SyncStream's first pass with two activities swapped.
func reorderedSyncStream(ctx workflow.Context, in workflows.SyncInput) (workflows.SyncResult, error) {
	var r workflows.SyncRequest
	workflow.GetSignalChannel(ctx, workflows.SignalRequest).ReceiveAsync(&r)
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	if err := workflow.ExecuteActivity(ctx, acts.SyncPage, activities.SyncPageInput{ConnectionRef: in.ConnectionRef}).Get(ctx, nil); err != nil {
		return workflows.SyncResult{}, err
	}
	err := workflow.ExecuteActivity(ctx, acts.BeginJob, activities.BeginJobInput{ConnectionRef: in.ConnectionRef}).Get(ctx, nil)
	return workflows.SyncResult{}, err
}
