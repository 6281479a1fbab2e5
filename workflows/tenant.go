package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/activities"
)

// DeleteTenantName is the tenant deletion's workflow type.
const DeleteTenantName = "DeleteTenant"

// TenantDeletionWorkflowID is the single deletion of a tenant.
func TenantDeletionWorkflowID(taskQueue, tenantID string) string {
	return taskQueue + ":delete-tenant/" + tenantID
}

// DeleteTenantInput names the tenant and the operator's job that reports
// the deletion (GET /api/v1/jobs with the admin key).
type DeleteTenantInput struct {
	TenantID string
	JobID    string
	// Disconnected counts the connections the runs before this one
	// disconnected (a deletion continues as new, see DeleteTenant).
	Disconnected int `json:",omitempty"`
}

// changeTenantDeletionContinues: a deletion continues as new when Temporal
// suggests it (its history would otherwise reach the 51,200-event limit,
// about six events a connection, and be terminated). Each check has its own
// change id, tenantDeletionContinues(n), after the deletion's n-th
// connection: the SDK answers a change id once per run, and one id for
// every check, replayed as the old path from a history the release before
// recorded (no marker), stayed the old path for the rest of the run, which
// then never continued.
const changeTenantDeletionContinues = "tenant-deletion-continues-as-new"

// tenantDeletionContinues is the change id of the check after the
// deletion's n-th disconnected connection (counted across its runs, so
// deterministic from the run's input and history):
// "tenant-deletion-continues-as-new/<n>".
func tenantDeletionContinues(n int) string {
	return fmt.Sprintf("%s/%d", changeTenantDeletionContinues, n)
}

// DeleteTenantResult counts what went.
type DeleteTenantResult struct {
	KeysRevoked  int
	Disconnected int
	Signals      int
}

// DeleteTenant removes a tenant: its keys are revoked first (nothing new
// arrives through the API), then every connection is disconnected as a
// connection deletion does (schedules and workflows stopped, watch channels
// stopped, tokens revoked at the provider where it allows), then its Signals
// are purged in batches and the tenant row goes with everything that names
// it. Each step is idempotent, so retries and a worker crash resume it.
//
// A connection takes about six history events, so a tenant with thousands
// of them continues as new when Temporal suggests it, after any
// connection but the last: the next run begins again (its job records the
// new run; the keys revoked since the deletion began are counted again,
// the same total) and lists only the connections still there. Only the
// last run purges and finishes the job; the result counts the whole
// deletion.
func DeleteTenant(ctx workflow.Context, in DeleteTenantInput) (DeleteTenantResult, error) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
			MaximumAttempts: 20, NonRetryableErrorTypes: activities.NonRetryable},
	})
	res := DeleteTenantResult{Disconnected: in.Disconnected}
	var next *DeleteTenantInput
	run := func() error {
		var begin activities.BeginTenantDeletionResult
		if err := workflow.ExecuteActivity(actx, a.BeginTenantDeletion, activities.TenantDeletionInput{
			TenantID: in.TenantID, JobID: in.JobID, RunID: workflow.GetInfo(ctx).WorkflowExecution.RunID,
		}).Get(ctx, &begin); err != nil {
			return err
		}
		res.KeysRevoked = begin.KeysRevoked
		for i, id := range begin.ConnectionIDs {
			if err := workflow.ExecuteActivity(actx, a.DisconnectForDeletion, activities.TenantDeletionInput{
				TenantID: in.TenantID, JobID: in.JobID, ConnectionID: id,
			}).Get(ctx, nil); err != nil {
				return err
			}
			res.Disconnected++
			if i < len(begin.ConnectionIDs)-1 && workflow.GetInfo(ctx).GetContinueAsNewSuggested() &&
				workflow.GetVersion(ctx, tenantDeletionContinues(res.Disconnected), workflow.DefaultVersion, 1) >= 1 {
				next = &DeleteTenantInput{TenantID: in.TenantID, JobID: in.JobID, Disconnected: res.Disconnected}
				return nil
			}
		}
		var purged activities.PurgeTenantResult
		if err := workflow.ExecuteActivity(actx, a.PurgeTenant, activities.TenantDeletionInput{
			TenantID: in.TenantID, JobID: in.JobID,
		}).Get(ctx, &purged); err != nil {
			return err
		}
		res.Signals = purged.Signals
		return nil
	}
	err := run()
	if err == nil && next != nil {
		return res, workflow.NewContinueAsNewError(ctx, DeleteTenantName, *next)
	}
	fin := activities.FinishOperatorJobInput{JobID: in.JobID, Status: poblysh.JobSucceeded}
	if err != nil {
		fin.Status, fin.Error = poblysh.JobFailed, err.Error()
	}
	if ferr := workflow.ExecuteActivity(actx, a.FinishOperatorJob, fin).Get(ctx, nil); ferr != nil && err == nil {
		err = ferr
	}
	return res, err
}
