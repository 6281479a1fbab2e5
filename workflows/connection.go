package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/activities"
)

// PollInput names the connection a polling schedule belongs to.
type PollInput struct {
	poblysh.ConnectionRef
}

// PollResult reports a poll.
type PollResult struct {
	Streams int
}

// PollConnection runs from a connection's polling schedule: it asks every
// stream for a coalesced incremental pass (joining any pass already running).
func PollConnection(ctx workflow.Context, in PollInput) (PollResult, error) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 2 * time.Second, MaximumAttempts: 5},
	})
	var r activities.TriggerConnectionSyncResult
	err := workflow.ExecuteActivity(actx, a.TriggerConnectionSync, activities.TriggerConnectionSyncInput{ConnectionRef: in.ConnectionRef}).Get(ctx, &r)
	return PollResult{Streams: r.Streams}, err
}

// WatchInput names the connection whose channels to reconcile.
type WatchInput struct {
	poblysh.ConnectionRef
	Trigger poblysh.Trigger
}

// WatchResult reports the reconciliation.
type WatchResult struct {
	Passes int
	activities.ReconcileWatchesResult
}

// ReconcileWatches is the single manager of a connection's push channels
// (workflow id watch/<connection>): it opens channels for configured targets
// that have none, renews channels near expiry (new channel first, then stop
// the old one, so no change is missed), and stops channels of targets no
// longer configured. Requests while it runs coalesce into one more pass.
func ReconcileWatches(ctx workflow.Context, in WatchInput) (WatchResult, error) {
	ch := workflow.GetSignalChannel(ctx, SignalWatch)
	info := workflow.GetInfo(ctx)
	target := in.ConnectionRef
	bctx := bookkeepingOptions(ctx)
	wctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Minute,
			MaximumAttempts: 8, NonRetryableErrorTypes: activities.NonRetryable,
		},
	})
	var out WatchResult
	for {
		for ch.ReceiveAsync(nil) {
		}
		jobID := newJobID(ctx)
		if err := workflow.ExecuteActivity(bctx, a.BeginJob, activities.BeginJobInput{
			ConnectionRef: target, JobID: jobID, Kind: poblysh.JobWatchRenewal, Trigger: in.Trigger,
			WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID,
		}).Get(ctx, nil); err != nil {
			return out, err
		}
		out.ReconcileWatchesResult = activities.ReconcileWatchesResult{}
		err := workflow.ExecuteActivity(wctx, a.ReconcileWatches, activities.ReconcileWatchesInput{ConnectionRef: in.ConnectionRef}).Get(ctx, &out.ReconcileWatchesResult)
		fin := activities.FinishJobInput{ConnectionRef: target, JobID: jobID, Status: poblysh.JobSucceeded,
			Context: map[string]any{"created": out.Created, "stopped": out.Stopped, "active": out.Active}}
		if out.WatchError != "" {
			fin.Context["watch_error"] = out.WatchError
		}
		if err != nil {
			fin.Status, fin.Error, fin.ErrorType = poblysh.JobFailed, failureMessage(err), errorType(err)
			if fin.ErrorType == activities.ErrTypeConnectionInactive {
				fin.Status = poblysh.JobCancelled
			}
		}
		if ferr := workflow.ExecuteActivity(bctx, a.FinishJob, fin).Get(ctx, nil); ferr != nil {
			return out, ferr
		}
		out.Passes++
		if !ch.ReceiveAsync(nil) {
			return out, nil
		}
		in.Trigger = poblysh.TriggerManual
	}
}
