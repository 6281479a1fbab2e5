package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/activities"
)

// SyncProviderName is the workflow type that finishes a sync of every
// connection of a provider that its request did not (POST
// /api/v1/sync/{provider} without connection_id).
const SyncProviderName = "SyncProvider"

// SyncProviderWorkflowID is one such sync's rest (requestID tells two
// requests apart: each hands on its own rest).
func SyncProviderWorkflowID(taskQueue, tenantID, provider, requestID string) string {
	return taskQueue + ":sync-provider/" + tenantID + "/" + provider + "/" + requestID
}

// SyncProviderInput names the tenant, the provider, the mode asked for and
// where the request stopped: the connections after After (a
// db.ConnectionCursor; "" for every connection) are asked. A cursor, not a
// list of ids: the rest of a tenant of 50,000 connections stays a few
// bytes of input, far under Temporal's payload limit.
type SyncProviderInput struct {
	TenantID string
	Provider string
	Mode     poblysh.SyncMode
	After    string `json:",omitempty"`
}

// SyncProvider asks every stream of the tenant's active connections of the
// provider after in.After for a manual pass, as the request would have
// (activities.RequestProviderSyncs, which records how far it got in its
// heartbeat, so a retry goes on from there). The jobs are Postgres's, as
// every sync request's: GET /api/v1/jobs lists them as they are asked.
func SyncProvider(ctx workflow.Context, in SyncProviderInput) (activities.ProviderSyncsResult, error) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Hour,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
			MaximumAttempts: 20, NonRetryableErrorTypes: activities.NonRetryable},
	})
	var res activities.ProviderSyncsResult
	err := workflow.ExecuteActivity(actx, a.RequestProviderSyncs, activities.ProviderSyncsInput{
		TenantID: in.TenantID, Provider: in.Provider, Mode: in.Mode, After: in.After,
	}).Get(ctx, &res)
	return res, err
}
