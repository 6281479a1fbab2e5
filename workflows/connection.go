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
	activities.ConnectionInput
}

// PollOutput reports a poll.
type PollOutput struct {
	Streams int
}

// PollConnection runs from a connection's polling schedule: it asks every
// stream for a coalesced incremental pass (joining any pass already running).
func PollConnection(ctx workflow.Context, in PollInput) (PollOutput, error) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 2 * time.Second, MaximumAttempts: 5},
	})
	var r activities.TriggerResult
	err := workflow.ExecuteActivity(actx, a.TriggerConnectionSync, in.ConnectionInput).Get(ctx, &r)
	return PollOutput{Streams: r.Streams}, err
}

// WatchInput names the connection whose channels to reconcile.
type WatchInput struct {
	activities.ConnectionInput
	Trigger poblysh.Trigger
}

// WatchOutput reports the reconciliation.
type WatchOutput struct {
	Passes int
	activities.WatchResult
}

// ReconcileWatches is the single manager of a connection's push channels
// (workflow id watch/<connection>): it opens channels for configured targets
// that have none, renews channels near expiry (new channel first, then stop
// the old one, so no change is missed), and stops channels of targets no
// longer configured. Requests while it runs coalesce into one more pass.
func ReconcileWatches(ctx workflow.Context, in WatchInput) (WatchOutput, error) {
	ch := workflow.GetSignalChannel(ctx, SignalWatch)
	info := workflow.GetInfo(ctx)
	target := activities.Target{TenantID: in.TenantID, ConnectionID: in.ConnectionID, Provider: in.Provider}
	bctx := bookkeepingOptions(ctx)
	wctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Minute,
			MaximumAttempts: 8, NonRetryableErrorTypes: activities.NonRetryable,
		},
	})
	var out WatchOutput
	for {
		for ch.ReceiveAsync(nil) {
		}
		jobID := newJobID(ctx)
		if err := workflow.ExecuteActivity(bctx, a.BeginJob, activities.BeginJobInput{
			Target: target, JobID: jobID, Kind: poblysh.JobWatchRenewal, Trigger: in.Trigger,
			WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID,
		}).Get(ctx, nil); err != nil {
			return out, err
		}
		out.WatchResult = activities.WatchResult{}
		err := workflow.ExecuteActivity(wctx, a.ReconcileWatches, in.ConnectionInput).Get(ctx, &out.WatchResult)
		fin := activities.FinishJobInput{Target: target, JobID: jobID, Status: poblysh.JobSucceeded,
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

// RetentionInput is empty; settings come from configuration.
type RetentionInput struct{}

// RetentionOutput reports what was pruned.
type RetentionOutput struct {
	activities.PruneResult
}

// Retention runs daily: it drops raw payloads past their retention, Signals
// past the configured TTL, expired OAuth states and old intake records.
func Retention(ctx workflow.Context, _ RetentionInput) (RetentionOutput, error) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Minute,
		HeartbeatTimeout:    2 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 10 * time.Second, MaximumAttempts: 5},
	})
	var r activities.PruneResult
	err := workflow.ExecuteActivity(actx, a.Prune, activities.PruneInput{}).Get(ctx, &r)
	return RetentionOutput{PruneResult: r}, err
}
