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

// changeTenantDeletionPages: a deletion lists the tenant's connections a
// page at a time (tenantDeletionPage of them: BeginTenantDeletion's
// first, then TenantConnectionPage's), disconnecting each page before it
// asks for the next. Its one list of every connection grew with the
// tenant, and Temporal refuses an activity result past its blob size
// limit (2 MB, some 50,000 connection ids): such a tenant could not be
// deleted. A run the release before began goes on with its one list.
const changeTenantDeletionPages = "tenant-deletion-pages"

// tenantDeletionPage is how many connections a deletion lists at a time:
// about 20 KB of ids, well under Temporal's warning for one payload
// (512 KB), and fewer than a run disconnects (about 680) before Temporal
// suggests it continue as new. A variable for the tests alone.
var tenantDeletionPage = 500

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
// The connections are listed a page at a time (changeTenantDeletionPages),
// so no activity's answer grows with the tenant.
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
	// Asked once per run, before its first activity: a run replayed from
	// the release before has no marker and keeps its one list.
	paged := workflow.GetVersion(ctx, changeTenantDeletionPages, workflow.DefaultVersion, 1) >= 1
	run := func() error {
		beginIn := activities.TenantDeletionInput{TenantID: in.TenantID, JobID: in.JobID, RunID: workflow.GetInfo(ctx).WorkflowExecution.RunID}
		if paged {
			beginIn.Page = tenantDeletionPage
		}
		var begin activities.BeginTenantDeletionResult
		if err := workflow.ExecuteActivity(actx, a.BeginTenantDeletion, beginIn).Get(ctx, &begin); err != nil {
			return err
		}
		res.KeysRevoked = begin.KeysRevoked
		// ids is the page being disconnected, cursor the next page's
		// ("" when it is the last: always so without pages).
		ids, cursor := begin.ConnectionIDs, begin.Next
		for {
			for i, id := range ids {
				if err := workflow.ExecuteActivity(actx, a.DisconnectForDeletion, activities.TenantDeletionInput{
					TenantID: in.TenantID, JobID: in.JobID, ConnectionID: id,
				}).Get(ctx, nil); err != nil {
					return err
				}
				res.Disconnected++
				last := i == len(ids)-1 && cursor == ""
				if !last && workflow.GetInfo(ctx).GetContinueAsNewSuggested() &&
					workflow.GetVersion(ctx, tenantDeletionContinues(res.Disconnected), workflow.DefaultVersion, 1) >= 1 {
					next = &DeleteTenantInput{TenantID: in.TenantID, JobID: in.JobID, Disconnected: res.Disconnected}
					return nil
				}
			}
			if cursor == "" {
				break
			}
			var page activities.TenantConnectionsResult
			if err := workflow.ExecuteActivity(actx, a.TenantConnectionPage, activities.TenantDeletionInput{
				TenantID: in.TenantID, JobID: in.JobID, Page: tenantDeletionPage, Cursor: cursor,
			}).Get(ctx, &page); err != nil {
				return err
			}
			ids, cursor = page.ConnectionIDs, page.Next
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
