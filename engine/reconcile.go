package engine

import (
	"context"
	"errors"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/activities"
	"github.com/poblysh/poblysh/db"
)

// Jobs and Temporal cannot drift apart for long: a job still queued or
// running in Postgres whose workflow Temporal reports closed (completed,
// failed, cancelled, terminated, timed out) will never be finished by its
// workflow. Reconciliation settles it from the workflow's close event and
// records that it did (error_context.reconciled), on read (LiveJob, so GET
// /jobs/{id} never shows such a job running) and in the worker's sweep
// (SweepJobs, for the jobs nobody reads).

// settleFrom maps a closed workflow to the job's final status and message.
func (e *Engine) settleFrom(ctx context.Context, j *db.Job, status enumspb.WorkflowExecutionStatus, runID string) (poblysh.JobStatus, string) {
	reason := ""
	iter := e.Client.GetWorkflowHistory(ctx, j.WorkflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
	if iter.HasNext() {
		if ev, err := iter.Next(); err == nil {
			if a := ev.GetWorkflowExecutionTerminatedEventAttributes(); a != nil {
				reason = a.GetReason()
			} else if a := ev.GetWorkflowExecutionFailedEventAttributes(); a != nil {
				reason = a.GetFailure().GetMessage()
			}
		}
	}
	with := func(s string) string {
		if reason != "" {
			return s + ": " + reason
		}
		return s
	}
	switch status {
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		if j.Status == poblysh.JobQueued {
			return poblysh.JobCancelled, "settled by reconciliation: the workflow completed without running this job"
		}
		return poblysh.JobFailed, "settled by reconciliation: the workflow completed without finishing this job"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		return poblysh.JobCancelled, with("settled by reconciliation: the workflow was terminated")
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return poblysh.JobCancelled, "settled by reconciliation: the workflow was cancelled"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		return poblysh.JobFailed, "settled by reconciliation: the workflow timed out"
	default: // failed: reconcile settles closed runs only
		return poblysh.JobFailed, with("settled by reconciliation: the workflow failed")
	}
}

// closed reports whether Temporal closed a run in status for good: only
// those runs settle their jobs. Every other status is open: running,
// paused (Temporal: "It remains Open"; it waits for an unpause), a status
// Temporal adds later (never settle what is not known to be closed), and
// continued as new, whose job describeRun hands on to the run it started.
// Reconciliation skipped only running, continued-as-new and unspecified
// runs, and settled a paused workflow's job as failed.
func closed(status enumspb.WorkflowExecutionStatus) bool {
	switch status {
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, enumspb.WORKFLOW_EXECUTION_STATUS_FAILED,
		enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED, enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED,
		enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		return true
	}
	return false
}

// reconcile settles j when its run is closed (see closed) and updates *j
// in place.
// It reports whether it settled the job; a job it settles is counted in
// the job metrics, as its workflow's FinishJob would have (SettleJob
// answers nil for a job already final, so a second reconciliation counts
// nothing).
func (e *Engine) reconcile(ctx context.Context, j *db.Job, status enumspb.WorkflowExecutionStatus, runID string) (bool, error) {
	if j.Status.Final() || !closed(status) {
		return false, nil
	}
	final, msg := e.settleFrom(ctx, j, status, runID)
	name := statusNames[status]
	var settled *db.Job
	err := e.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
		settled, err = tx.SettleJob(ctx, j.ID, final, msg, map[string]any{
			"reconciled": true, "workflow_status": name, "previous_status": string(j.Status),
			"reconciled_at": time.Now().UTC().Format(time.RFC3339),
		})
		return err
	})
	if err != nil || settled == nil {
		return false, err
	}
	activities.CountFinishedJob(settled)
	e.log().WithFields(map[string]any{"job_id": j.ID, "tenant_id": j.TenantID, "workflow_id": j.WorkflowID,
		"was": j.Status, "now": final, "workflow_status": name}).Warn("job settled by reconciliation: its workflow is closed")
	*j = *settled
	return true, nil
}

// settleUnknown fails an open job whose workflow Temporal does not know.
func (e *Engine) settleUnknown(ctx context.Context, j *db.Job) (bool, error) {
	var settled *db.Job
	err := e.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
		settled, err = tx.SettleJob(ctx, j.ID, poblysh.JobFailed,
			"its workflow is unknown to Temporal: it never started, or it closed and its history is past retention",
			map[string]any{"reconciled": true, "workflow_status": "unknown", "previous_status": string(j.Status),
				"reconciled_at": time.Now().UTC().Format(time.RFC3339)})
		return err
	})
	if err != nil || settled == nil {
		return false, err
	}
	activities.CountFinishedJob(settled)
	e.log().WithFields(map[string]any{"job_id": j.ID, "tenant_id": j.TenantID, "workflow_id": j.WorkflowID, "was": j.Status}).
		Warn("job settled by reconciliation: its workflow is unknown to Temporal")
	*j = *settled
	return true, nil
}

// describeRun describes the run that carries j: its own run first, since a
// workflow terminated and then started again by a new trigger has a
// running latest run while the job's run is closed. A run that continued
// as new hands the job on to the run it started, followed through its
// close event (the latest run may be a later trigger's, after the chain
// was terminated); a job with no run id yet reads the latest run.
func (e *Engine) describeRun(ctx context.Context, j *db.Job) (*client.WorkflowExecutionDescription, error) {
	runID := j.RunID
	for hops := 0; ; hops++ {
		desc, err := e.Client.DescribeWorkflow(ctx, j.WorkflowID, runID)
		if err != nil || runID == "" || desc.Status != enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW {
			if err == nil && hops > 0 && runID != "" && j.RunID != "" {
				// A queued job keeps the run it was accepted on until a
				// pass begins it: recorded, the next read (each GET, each
				// sweep) starts here instead of walking the chain again.
				from := j.RunID
				if ferr := e.DB.WithSystem(ctx, func(tx *db.Tx) error { return tx.FollowJobRun(ctx, j.ID, from, runID) }); ferr == nil {
					j.RunID = runID
				}
			}
			return desc, err
		}
		if runID = e.continuedTo(ctx, j.WorkflowID, runID); runID == "" || hops == maxChainHops {
			runID = "" // unreadable chain: the latest run, as before
		}
	}
}

// maxChainHops bounds how many continued-as-new runs describeRun follows
// before it reads the latest run instead.
const maxChainHops = 100

// continuedTo returns the run a run that continued as new started, "" when
// its close event cannot be read.
func (e *Engine) continuedTo(ctx context.Context, workflowID, runID string) string {
	iter := e.Client.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
	if !iter.HasNext() {
		return ""
	}
	ev, err := iter.Next()
	if err != nil {
		return ""
	}
	return ev.GetWorkflowExecutionContinuedAsNewEventAttributes().GetNewExecutionRunId()
}

// SweepJobs reconciles the open jobs idle for at least idle and answers
// how many it settled.
func (e *Engine) SweepJobs(ctx context.Context, idle time.Duration) (int, error) {
	batch := e.sweepBatch
	if batch == 0 {
		batch = 500
	}
	var open []db.Job
	if err := e.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
		open, err = tx.OpenJobs(ctx, idle, batch)
		return err
	}); err != nil {
		return 0, err
	}
	n := 0
	var checked []string
	var err error
	for i := range open {
		var ok bool
		if ok, err = e.sweepJob(ctx, &open[i]); err != nil {
			break
		}
		if ok {
			n++
		} else {
			checked = append(checked, open[i].ID)
		}
	}
	// A job whose workflow rightly still runs (a page retrying a 429 stores
	// no progress; a follow-up waits behind a long backfill) stays idle, and
	// the batch is the idlest jobs: unmarked, a batch of such jobs came back
	// every round and the sweep never reached a job whose workflow had
	// closed. Marked, they go behind the jobs not yet checked.
	if len(checked) > 0 {
		if merr := e.DB.WithSystem(ctx, func(tx *db.Tx) error {
			return tx.MarkJobsChecked(ctx, checked)
		}); merr != nil && err == nil {
			err = merr
		}
	}
	return n, err
}

// sweepJob reconciles one open job of the sweep and reports whether it
// settled it.
func (e *Engine) sweepJob(ctx context.Context, j *db.Job) (bool, error) {
	desc, err := e.describeRun(ctx, j)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		// Unknown to Temporal: it closed and its history passed the
		// namespace's retention, or it never started (a process died
		// between the job and the start). Either way no run will settle
		// it; left open, such jobs stayed the oldest and, 500 of them,
		// kept the sweep from ever reaching another job.
		return e.settleUnknown(ctx, j)
	}
	if err != nil {
		return false, temporalUnavailable(err)
	}
	return e.reconcile(ctx, j, desc.Status, desc.WorkflowExecution.RunID)
}

// RunJobSweep runs SweepJobs every interval until ctx ends (the worker
// process runs it).
func (e *Engine) RunJobSweep(ctx context.Context, every, idle time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := e.SweepJobs(ctx, idle); err != nil && ctx.Err() == nil {
				e.log().WithError(err).Warn("job reconciliation sweep failed")
			}
		}
	}
}
