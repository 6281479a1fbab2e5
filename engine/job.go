package engine

import (
	"context"
	"errors"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/activities"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/workflows"
)

// Live is Temporal's view of a job, merged into GET /jobs/{id}.
type Live struct {
	ExecutionStatus string     `json:"execution_status"`
	Attempt         int32      `json:"attempt"`
	PendingActivity *string    `json:"pending_activity"`
	ActivityState   *string    `json:"activity_state"`
	NextRetryAt     *time.Time `json:"next_retry_at"`
	LastFailure     *string    `json:"last_failure"`
	RateLimited     bool       `json:"rate_limited"`
	// Waiting is true when the job waits: on a retry delay, behind the
	// current pass, for a worker, or for its paused run's unpause.
	Waiting bool `json:"waiting"`
}

// QueuedBehindPass is Live.ActivityState of a queued follow-up while the
// current pass of its stream runs: no activity of its own is pending.
const QueuedBehindPass = "queued behind the running pass"

var statusNames = map[enumspb.WorkflowExecutionStatus]string{
	enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:          "Running",
	enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:        "Completed",
	enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:           "Failed",
	enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:         "Canceled",
	enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:       "Terminated",
	enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW: "ContinuedAsNew",
	enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:        "TimedOut",
	enumspb.WORKFLOW_EXECUTION_STATUS_PAUSED:           "Paused",
}

// LiveJob reads the live state of a job's run from Temporal. It returns nil
// without error when the job is final or its run is gone (Postgres then holds
// everything there is to know). A job still open whose run is closed
// is settled here (reconciliation, see reconcile.go): *j is updated in
// place to the settled row, and, being final, it has no live view (one
// that could not be settled keeps it, showing the closed run).
func (e *Engine) LiveJob(ctx context.Context, j *db.Job) (*Live, error) {
	if j.Status.Final() {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	// The job's own run, not the workflow id's latest: after a termination
	// and a new trigger's start, the latest run is another job's, and this
	// job showed as running with that run's pending page.
	desc, err := e.describeRun(ctx, j)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return nil, nil
	}
	if err != nil {
		return nil, temporalUnavailable(err)
	}
	live := &Live{ExecutionStatus: statusNames[desc.Status]}
	if live.ExecutionStatus == "" {
		live.ExecutionStatus = strings.TrimPrefix(desc.Status.String(), "WORKFLOW_EXECUTION_STATUS_")
	}
	if closed(desc.Status) {
		if _, err := e.reconcile(ctx, j, desc.Status, desc.WorkflowExecution.RunID); err != nil {
			e.log().WithError(err).WithField("job_id", j.ID).Warn("could not settle the job of a closed workflow")
		}
		if j.Status.Final() {
			return nil, nil
		}
		return live, nil
	}
	// Open: running, or paused (no task of it is dispatched until it is
	// unpaused, so it waits), or a status Temporal added later.
	if desc.Status == enumspb.WORKFLOW_EXECUTION_STATUS_PAUSED {
		live.Waiting = true
	}
	// Is this job the pass running now, or the queued follow-up? Postgres
	// knows (the pass's BeginJob marks its job running); a workflow query
	// would wait for a worker to answer it, so a busy or stopped worker
	// would hold this read for the whole timeout.
	if j.Status == poblysh.JobQueued && j.TenantID != "" && workflows.IsSyncWorkflowID(j.WorkflowID) {
		var behind bool
		if err := e.DB.WithTenant(ctx, j.TenantID, func(tx *db.Tx) (err error) {
			behind, err = tx.PassRunning(ctx, j)
			return err
		}); err != nil {
			return nil, err
		}
		if behind {
			live.Waiting = true
			reason := QueuedBehindPass
			live.ActivityState = &reason
			return live, nil
		}
	}
	if raw := desc.RawResponse; raw != nil && len(raw.GetPendingActivities()) > 0 {
		pa := raw.GetPendingActivities()[0]
		name := pa.GetActivityType().GetName()
		state := strings.TrimPrefix(pa.GetState().String(), "PENDING_ACTIVITY_STATE_")
		live.PendingActivity, live.ActivityState = &name, &state
		live.Attempt = pa.GetAttempt()
		if f := pa.GetLastFailure(); f != nil {
			msg := f.GetMessage()
			live.LastFailure = &msg
			if info := f.GetApplicationFailureInfo(); info != nil {
				live.RateLimited = info.GetType() == activities.ErrTypeRateLimited
			}
		}
		if t := pa.GetNextAttemptScheduleTime(); t != nil && pa.GetState() == enumspb.PENDING_ACTIVITY_STATE_SCHEDULED && pa.GetAttempt() > 1 {
			at := t.AsTime()
			live.NextRetryAt = &at
			live.Waiting = true
		}
	}
	return live, nil
}
