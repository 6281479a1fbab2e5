package engine

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/workflows"
)

// DeleteTenant starts a tenant's deletion (workflows.DeleteTenant) and
// answers its job, an operator's job that GET /api/v1/jobs shows to the
// admin key. The tenant leaves the admin API at once. Asking again while
// the deletion runs answers the same job.
//
// revoked says this call committed the revocation of the tenant's keys
// (BeginTenantDeletion's mark), also when it then failed (the workflow's
// start): the caller empties its key cache then, and only then on an
// error (a tenant not found, or a mark that did not commit, revoked
// nothing).
func (e *Engine) DeleteTenant(ctx context.Context, tenantID string) (job *db.Job, revoked bool, err error) {
	id := workflows.TenantDeletionWorkflowID(e.TaskQueue, tenantID)
	var started bool
	err = e.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
		job, started, err = tx.BeginTenantDeletion(ctx, tenantID, uuid.NewString(), id)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	rejoin := !started && !job.Status.Final()
	if !started && job.Status.Final() {
		// A deletion that failed part-way: start it again under a new job.
		err = e.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
			job, err = tx.RestartTenantDeletion(ctx, uuid.NewString(), id)
			return err
		})
		if err != nil {
			return nil, false, err
		}
	}
	// Asked again while the deletion is open: its workflow runs (joined,
	// USE_EXISTING), or was never started (the process died between the
	// mark's commit and this call, which nothing else retries) and is
	// started now for the same job.
	opts := client.StartWorkflowOptions{ID: id, TaskQueue: e.TaskQueue, StaticSummary: "delete tenant " + tenantID,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING}
	run, err := e.Client.ExecuteWorkflow(ctx, opts, workflows.DeleteTenant, workflows.DeleteTenantInput{TenantID: tenantID, JobID: job.ID})
	if err != nil && rejoin {
		// The open job may belong to a run Temporal cannot be asked about
		// now: it stays as it is. Its keys were revoked by the call that
		// began it.
		return nil, false, temporalUnavailable(fmt.Errorf("start %s: %w", id, err))
	}
	if err != nil {
		// The job must not stay queued for a workflow that never started.
		fctx := context.WithoutCancel(ctx)
		_ = e.DB.WithSystem(fctx, func(tx *db.Tx) error {
			return tx.FinishOperatorJob(fctx, job.ID, poblysh.JobFailed, "could not start the deletion workflow")
		})
		return nil, started, temporalUnavailable(fmt.Errorf("start %s: %w", id, err))
	}
	job.RunID = run.GetRunID()
	return job, started, nil
}
