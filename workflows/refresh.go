package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/activities"
)

// RefreshInput refreshes one connection's token.
type RefreshInput struct {
	poblysh.ConnectionRef
	JobID   string
	Trigger poblysh.Trigger
	Force   bool
}

// RefreshResult reports the refresh.
type RefreshResult struct {
	Refreshed bool
}

// RefreshToken is the single writer of a connection's tokens (workflow id
// token-refresh/<connection>). Transient failures retry with backoff (and are
// counted per day); a revoked grant fails at once and the activity moves the
// connection to needs_reauth, which pauses its scheduled work.
func RefreshToken(ctx workflow.Context, in RefreshInput) (RefreshResult, error) {
	info := workflow.GetInfo(ctx)
	target := in.ConnectionRef
	if in.JobID == "" {
		in.JobID = newJobID(ctx)
	}
	bctx := bookkeepingOptions(ctx)
	if err := workflow.ExecuteActivity(bctx, a.BeginJob, activities.BeginJobInput{
		ConnectionRef: target, JobID: in.JobID, Kind: poblysh.JobTokenRefresh, Trigger: in.Trigger,
		WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID,
	}).Get(ctx, nil); err != nil {
		return RefreshResult{}, err
	}
	rctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        5 * time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        5 * time.Minute,
			MaximumAttempts:        6,
			NonRetryableErrorTypes: activities.NonRetryable,
		},
	})
	var r activities.RefreshTokenResult
	err := workflow.ExecuteActivity(rctx, a.RefreshToken, activities.RefreshTokenInput{
		ConnectionRef: in.ConnectionRef, Force: in.Force,
	}).Get(ctx, &r)
	fin := activities.FinishJobInput{ConnectionRef: target, JobID: in.JobID, Status: poblysh.JobSucceeded}
	if err != nil {
		fin.Status, fin.Error, fin.ErrorType = poblysh.JobFailed, failureMessage(err), errorType(err)
		if fin.ErrorType == activities.ErrTypeConnectionInactive {
			fin.Status = poblysh.JobCancelled
		}
	}
	if ferr := workflow.ExecuteActivity(bctx, a.FinishJob, fin).Get(ctx, nil); ferr != nil {
		return RefreshResult{}, ferr
	}
	return RefreshResult{Refreshed: r.Refreshed}, nil
}

// errorType is the ApplicationError type in err's chain ("" if none).
func errorType(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Type()
	}
	return ""
}

// failureMessage is what a job records of an activity failure: the
// activity's own message, without Temporal's wrapping (event ids, identity).
func failureMessage(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	var timeout *temporal.TimeoutError
	if errors.As(err, &timeout) {
		return "timed out: " + timeout.Message()
	}
	return err.Error()
}

// SweepInput pages a sweep across continue-as-new.
type SweepInput struct {
	Rounds int
	// Since is the token or renewal sweep's first listing
	// (ListDueResult.ListedAt): later rounds leave out the connections
	// listed from then on.
	Since *time.Time `json:",omitempty"`
}

// changeSweepSkipsListed versions the token and renewal sweeps' rounds
// carrying their first listing's time, so that each lists connections not
// yet listed (runs recorded before it replay without). It is asked only
// when a list returns ListedAt, so one marker covers both sweeps: the
// renewal sweep's list returned none before its listing marked what it
// lists, and its runs recorded before then replay without asking.
const changeSweepSkipsListed = "sweep-skips-listed"

// SweepResult counts started workflows.
type SweepResult struct {
	Started int
}

// RefreshSweep runs from an hourly schedule: it lists connections whose
// token expires within their provider's window (or whose refresh token has
// been idle past the keep-alive age) and starts one RefreshToken workflow
// per connection.
func RefreshSweep(ctx workflow.Context, in SweepInput) (SweepResult, error) {
	return sweep(ctx, in, a.ListDueTokens, a.StartRefreshes)
}

// RenewalSweep runs from a schedule: it finds connections with a watch
// channel about to expire (or marked due: its provider said it is gone) and
// starts their ReconcileWatches workflow, which opens a new channel before
// stopping the old one.
func RenewalSweep(ctx workflow.Context, in SweepInput) (SweepResult, error) {
	return sweep(ctx, in, a.ListDueWatches, a.StartWatchReconciles)
}

// ActivationSweep runs from a schedule: it finds connections stored while
// Temporal could not be reached to activate them (a connect's schedule,
// watch channels and backfill; an update's change and catch-up) and
// activates them, a small page at a time: activating one waits for the
// answer of each of its streams' sync requests.
func ActivationSweep(ctx workflow.Context, in SweepInput) (SweepResult, error) {
	return sweepPages(ctx, in, a.ListPendingActivations, a.ActivatePending, 25)
}

func sweep(ctx workflow.Context, in SweepInput, list, start any) (SweepResult, error) {
	return sweepPages(ctx, in, list, start, 500)
}

// sweepPages lists page connections due, starts (or does) their work, and
// continues as new while the page comes back full, for 20 rounds. The
// token and renewal sweeps' lists mark what they list, and their later
// rounds leave out what the rounds before them listed (Since, the first
// round's time): the refreshes or watch passes a round starts may not have
// run when the next round lists, and one that fails leaves its connection
// due, so by themselves they took nothing off the list.
func sweepPages(ctx workflow.Context, in SweepInput, list, start any, page int) (SweepResult, error) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 5 * time.Second, MaximumAttempts: 5},
	})
	var due activities.ListDueResult
	if err := workflow.ExecuteActivity(actx, list, activities.ListDueInput{Limit: page, Since: in.Since}).Get(ctx, &due); err != nil {
		return SweepResult{}, err
	}
	var res activities.StartManyResult
	if len(due.Connections) > 0 {
		if err := workflow.ExecuteActivity(actx, start, activities.StartManyInput{Connections: due.Connections}).Get(ctx, &res); err != nil {
			return SweepResult{}, err
		}
	}
	// A full page means more may be due.
	if len(due.Connections) == page && in.Rounds < 20 {
		next := SweepInput{Rounds: in.Rounds + 1, Since: in.Since}
		if next.Since == nil && due.ListedAt != nil &&
			workflow.GetVersion(ctx, changeSweepSkipsListed, workflow.DefaultVersion, 1) >= 1 {
			next.Since = due.ListedAt
		}
		return SweepResult{Started: res.Started}, workflow.NewContinueAsNewError(ctx, workflow.GetInfo(ctx).WorkflowType.Name, next)
	}
	return SweepResult{Started: res.Started}, nil
}
