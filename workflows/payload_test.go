package workflows_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"

	"github.com/poblysh/poblysh/activities"
	"github.com/poblysh/poblysh/workflows"
)

// The recorded histories carry the JSON of every workflow input and
// activity input and result. Today's types must read each of them without
// losing a field, and write it back under the same names (an empty stream
// may be left out), so workflows in flight across an upgrade keep their
// data: the replay tests check commands, not payloads.
func TestRecordedPayloadsKeepTheirFields(t *testing.T) {
	workflowInputs := map[string]func() any{
		workflows.SyncStreamName:      func() any { return &workflows.SyncInput{} },
		workflows.RefreshTokenName:    func() any { return &workflows.RefreshInput{} },
		workflows.RefreshSweepName:    func() any { return &workflows.SweepInput{} },
		workflows.RenewalSweepName:    func() any { return &workflows.SweepInput{} },
		workflows.ActivationSweepName: func() any { return &workflows.SweepInput{} },
		workflows.PollConnectionName:  func() any { return &workflows.PollInput{} },
		workflows.ReconcileWatchName:  func() any { return &workflows.WatchInput{} },
		workflows.RetentionName:       func() any { return &workflows.RetentionInput{} },
		workflows.DeleteTenantName:    func() any { return &workflows.DeleteTenantInput{} },
		workflows.SyncProviderName:    func() any { return &workflows.SyncProviderInput{} },
	}
	activityInputs := map[string]func() any{
		"BeginJob": func() any { return &activities.BeginJobInput{} }, "SyncPage": func() any { return &activities.SyncPageInput{} },
		"ResetCursor": func() any { return &activities.ResetCursorInput{} }, "FinishJob": func() any { return &activities.FinishJobInput{} },
		"RefreshToken": func() any { return &activities.RefreshTokenInput{} }, "ListDueTokens": func() any { return &activities.ListDueInput{} },
		"ListDueWatches": func() any { return &activities.ListDueInput{} }, "StartRefreshes": func() any { return &activities.StartManyInput{} },
		"StartWatchReconciles":   func() any { return &activities.StartManyInput{} },
		"ListPendingActivations": func() any { return &activities.ListDueInput{} },
		"ActivatePending":        func() any { return &activities.StartManyInput{} },
		"TriggerConnectionSync":  func() any { return &activities.TriggerConnectionSyncInput{} },
		"ReconcileWatches":       func() any { return &activities.ReconcileWatchesInput{} },
		"Prune":                  func() any { return &activities.PruneInput{} },
		"BeginTenantDeletion":    func() any { return &activities.TenantDeletionInput{} },
		"TenantConnectionPage":   func() any { return &activities.TenantDeletionInput{} },
		"DisconnectForDeletion":  func() any { return &activities.TenantDeletionInput{} },
		"PurgeTenant":            func() any { return &activities.TenantDeletionInput{} },
		"FinishOperatorJob":      func() any { return &activities.FinishOperatorJobInput{} },
		"RequestProviderSyncs":   func() any { return &activities.ProviderSyncsInput{} },
	}
	activityResults := map[string]func() any{
		"SyncPage": func() any { return &activities.SyncPageResult{} }, "RefreshToken": func() any { return &activities.RefreshTokenResult{} },
		"ListDueTokens": func() any { return &activities.ListDueResult{} }, "ListDueWatches": func() any { return &activities.ListDueResult{} },
		"StartRefreshes": func() any { return &activities.StartManyResult{} }, "StartWatchReconciles": func() any { return &activities.StartManyResult{} },
		"ListPendingActivations": func() any { return &activities.ListDueResult{} }, "ActivatePending": func() any { return &activities.StartManyResult{} },
		"TriggerConnectionSync": func() any { return &activities.TriggerConnectionSyncResult{} },
		"ReconcileWatches":      func() any { return &activities.ReconcileWatchesResult{} },
		"Prune":                 func() any { return &activities.PruneResult{} },
		"BeginTenantDeletion":   func() any { return &activities.BeginTenantDeletionResult{} },
		"TenantConnectionPage":  func() any { return &activities.TenantConnectionsResult{} },
		"PurgeTenant":           func() any { return &activities.PurgeTenantResult{} },
		"RequestProviderSyncs":  func() any { return &activities.ProviderSyncsResult{} },
	}
	checked := 0
	for _, path := range histories(t) {
		scheduled := map[int64]string{} // event id → activity type
		for _, e := range loadHistory(t, path).GetEvents() {
			if a := e.GetWorkflowExecutionStartedEventAttributes(); a != nil {
				checked += roundTrip(t, path, a.GetInput(), workflowInputs[a.GetWorkflowType().GetName()])
			}
			if a := e.GetActivityTaskScheduledEventAttributes(); a != nil {
				scheduled[e.GetEventId()] = a.GetActivityType().GetName()
				checked += roundTrip(t, path, a.GetInput(), activityInputs[a.GetActivityType().GetName()])
			}
			if a := e.GetActivityTaskCompletedEventAttributes(); a != nil {
				checked += roundTrip(t, path, a.GetResult(), activityResults[scheduled[a.GetScheduledEventId()]])
			}
		}
	}
	require.Greater(t, checked, 50, "payloads checked")
}

// roundTrip decodes each payload into a fresh value of its type and checks
// that encoding it again gives every recorded field back with its value
// (fields added since may be new), the due connections of the sweeps
// ("ID") included. It returns how many payloads it checked.
func roundTrip(t *testing.T, path string, p *commonpb.Payloads, fresh func() any) int {
	t.Helper()
	n := 0
	for _, payload := range p.GetPayloads() {
		if len(payload.GetData()) == 0 || string(payload.GetData()) == "null" || fresh == nil {
			continue
		}
		v := fresh()
		data := string(payload.GetData())
		if len(data) > 200 {
			data = data[:200] + "…"
		}
		require.NoError(t, json.Unmarshal(payload.GetData(), v), "%s: %s", path, data)
		again, err := json.Marshal(v)
		require.NoError(t, err)
		var want, got map[string]any
		require.NoError(t, json.Unmarshal(payload.GetData(), &want))
		require.NoError(t, json.Unmarshal(again, &got))
		for k, val := range want {
			if _, kept := got[k]; !kept && val == "" {
				continue // an empty stream may be left out
			}
			require.Equal(t, val, got[k], "%s: field %s of %s", path, k, data)
		}
		n++
	}
	return n
}
