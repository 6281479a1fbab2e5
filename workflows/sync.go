package workflows

import (
	"errors"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/activities"
)

// SyncRequest asks for a pass over a stream.
type SyncRequest struct {
	Mode    poblysh.SyncMode
	Trigger poblysh.Trigger
}

// RequestResult tells a caller which job its request became.
type RequestResult struct {
	JobID  string
	Status poblysh.JobStatus // running: joined the current pass; queued: the follow-up
	Mode   poblysh.SyncMode
	Joined bool // true when an existing job absorbed the request
}

// Pass is one sync pass over a stream (one job).
type Pass struct {
	JobID      string
	Mode       poblysh.SyncMode
	Trigger    poblysh.Trigger
	Started    bool // BeginJob ran (the cursor was reset for a backfill)
	Pages      int
	Items      int
	Stored     int
	Duplicates int
	Resyncs    int
}

// Debounce is the quiet period a follow-up pass waits for before it starts
// (and the run lingers after its last pass), so a burst of notifications
// runs one pass and at most one follow-up; MaxDebounce bounds the wait under
// a steady stream of requests.
const (
	Debounce    = 2 * time.Second
	MaxDebounce = 30 * time.Second
)

// changeManualSkipsDebounce versions the start of manual passes without the
// debounce (runs recorded before it replay with the debounce).
const changeManualSkipsDebounce = "manual-pass-skips-debounce"

// changeLateFollowUpRuns versions the follow-up rule after a permanent
// failure: a request that arrives while the failure is being recorded runs
// (runs recorded before it replay cancelling it).
const changeLateFollowUpRuns = "late-follow-up-runs"

// changeNoJoinClosingPass versions accept: a backfill request does not join
// a backfill whose end is being recorded (it has read its last page, or
// failed), and becomes the follow-up (runs recorded before it replay the
// join).
const changeNoJoinClosingPass = "no-join-closing-pass"

// changeFollowUpCancelRecords versions fail: the follow-up it cancels is
// described to FinishJob (kind, trigger, workflow and run), which writes
// its row cancelled when nobody has yet, so the API's row of a POST /sync
// answered before the cancellation cannot be stored queued for good
// (runs recorded before it replay the bare input, and a missing row stays
// unwritten).
const changeFollowUpCancelRecords = "follow-up-cancel-records"

// changeGiveUpIsTimeout versions fail: a page the server stops retrying
// because its next retry would come after the page's day (ScheduleToClose)
// fails as a Timeout, as one whose day ran out does, and a rate limit's
// give-up keeps the follow-up (runs recorded before it replay the last
// error's type and, for a rate limit, the cancelled follow-up).
const changeGiveUpIsTimeout = "give-up-is-timeout"

// SyncInput starts or continues a stream's sync workflow.
type SyncInput struct {
	poblysh.ConnectionRef
	// Current is the pass in progress when continuing as new.
	Current *Pass
	// Pending is the coalesced follow-up pass, if one was requested.
	Pending *Pass
	// Urgent: a manual request joined Pending, which starts without the
	// debounce in the next run too.
	Urgent bool `json:",omitempty"`
}

// SyncResult summarizes the passes a run completed.
type SyncResult struct {
	Passes int
	Stored int
}

// SyncProgress is what the progress query answers.
type SyncProgress struct {
	Current *Pass
	Pending *Pass
	Passes  int
}

// activity options for one page: short per attempt; rate limits and
// transient failures retry (with the delay the activity computes) for up to
// a day before the job fails.
func pageOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    3 * time.Minute,
		HeartbeatTimeout:       20 * time.Second,
		ScheduleToCloseTimeout: 24 * time.Hour,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        5 * time.Minute,
			NonRetryableErrorTypes: activities.NonRetryable,
		},
	})
}

// bookkeeping options: Postgres writes that must eventually happen.
func bookkeepingOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
		},
	})
}

type syncState struct {
	in      SyncInput
	current *Pass
	pending *Pass
	passes  int
	stored  int
	// requests counts accepted requests, so debounce can tell a quiet period.
	requests int
	// urgent: a manual request joined the pending pass, which then starts
	// without the debounce.
	urgent bool
	// closing: the current pass's end (success or failure) is being
	// recorded; it reads no more pages, so it covers no new request.
	closing bool
}

// SyncStream runs sync passes over one stream of one connection. Requests
// arrive by signal (webhook nudges, schedules) or update (API callers, who
// get the job id back). A request while a pass runs is coalesced into at
// most one follow-up pass; a backfill request while a backfill runs joins
// it. Each pass loops one activity per page: fetch, normalize, store the
// Signals and advance the cursor in one Postgres transaction. The cursor
// lives in Postgres, so the history carries only counts, and a crash
// anywhere resumes from the last stored page.
func SyncStream(ctx workflow.Context, in SyncInput) (SyncResult, error) {
	s := &syncState{in: in, current: in.Current, pending: in.Pending, urgent: in.Urgent}
	if err := workflow.SetQueryHandler(ctx, QueryProgress, func() (SyncProgress, error) {
		return SyncProgress{Current: s.current, Pending: s.pending, Passes: s.passes}, nil
	}); err != nil {
		return SyncResult{}, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateRequest, func(ctx workflow.Context, r SyncRequest) (RequestResult, error) {
		return s.accept(ctx, r), nil
	}, workflow.UpdateHandlerOptions{Validator: validateRequest}); err != nil {
		return SyncResult{}, err
	}
	ch := workflow.GetSignalChannel(ctx, SignalRequest)
	drain := func() {
		var r SyncRequest
		for ch.ReceiveAsync(&r) {
			if validateRequest(r) == nil {
				s.accept(ctx, r)
			}
			r = SyncRequest{}
		}
	}
	for {
		drain()
		if s.current == nil {
			if s.passes > 0 || s.pending == nil {
				// After a pass, wait for a quiet period: requests arriving
				// meanwhile coalesce into the one follow-up.
				if err := s.quiet(ctx, ch, drain); err != nil {
					return SyncResult{}, err
				}
			}
			if s.pending == nil {
				// Nothing left: finish. A request racing this completion is
				// delivered to the next run by Temporal.
				if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
					return SyncResult{}, err
				}
				drain()
				if s.pending == nil {
					return SyncResult{Passes: s.passes, Stored: s.stored}, nil
				}
			}
			s.current, s.pending, s.urgent, s.closing = s.pending, nil, false, false
		}
		can, err := s.runPass(ctx, drain)
		if err != nil {
			return SyncResult{}, err
		}
		if can {
			drain()
			if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
				return SyncResult{}, err
			}
			next := s.in
			next.Current, next.Pending, next.Urgent = s.current, s.pending, s.urgent
			// A signal arriving while the worker holds this task makes
			// Temporal refuse the close (UnhandledCommand) and abort the
			// updates this task carried; the engine asks them again
			// (engine.taskFailed).
			return SyncResult{}, workflow.NewContinueAsNewError(ctx, SyncStream, next)
		}
		s.current = nil
	}
}

// quiet waits until no request arrived for Debounce (at most MaxDebounce).
// A pass that a user asked for (POST /sync) does not wait: the debounce is
// for bursts of notifications, and a person who pressed "sync now" expects
// it to start now. Requests that arrive while it runs still coalesce into
// one follow-up.
func (s *syncState) quiet(ctx workflow.Context, ch workflow.ReceiveChannel, drain func()) error {
	start := workflow.Now(ctx)
	for {
		drain()
		if s.pending != nil && (s.urgent || s.pending.Trigger == poblysh.TriggerManual) &&
			workflow.GetVersion(ctx, changeManualSkipsDebounce, workflow.DefaultVersion, 1) >= 1 {
			return nil
		}
		seen := s.requests
		more, err := workflow.AwaitWithTimeout(ctx, Debounce, func() bool {
			return ch.Len() > 0 || s.requests != seen
		})
		if err != nil {
			return err
		}
		if !more || workflow.Now(ctx).Sub(start) >= MaxDebounce {
			return nil
		}
	}
}

func validateRequest(r SyncRequest) error {
	if !r.Mode.Valid() {
		return errors.New("mode must be backfill or incremental")
	}
	return nil
}

// accept coalesces a request and returns the job it became.
func (s *syncState) accept(ctx workflow.Context, r SyncRequest) RequestResult {
	s.requests++
	if s.current != nil && s.current.Mode == poblysh.ModeBackfill && r.Mode == poblysh.ModeBackfill && s.pending == nil &&
		!(s.closing && workflow.GetVersion(ctx, changeNoJoinClosingPass, workflow.DefaultVersion, 1) >= 1) {
		// A full read is already running: it covers this request.
		return RequestResult{JobID: s.current.JobID, Status: poblysh.JobRunning, Mode: s.current.Mode, Joined: true}
	}
	if r.Trigger == poblysh.TriggerManual {
		s.urgent = true // the pending pass, joined or new, starts without the debounce
	}
	if s.pending != nil {
		if r.Mode == poblysh.ModeBackfill {
			s.pending.Mode = poblysh.ModeBackfill
		}
		return RequestResult{JobID: s.pending.JobID, Status: poblysh.JobQueued, Mode: s.pending.Mode, Joined: true}
	}
	s.pending = &Pass{JobID: newJobID(ctx), Mode: r.Mode, Trigger: r.Trigger}
	status := poblysh.JobQueued
	return RequestResult{JobID: s.pending.JobID, Status: status, Mode: r.Mode}
}

func newJobID(ctx workflow.Context) string {
	var id string
	_ = workflow.SideEffect(ctx, func(workflow.Context) any { return uuid.NewString() }).Get(&id)
	return id
}

// runPass runs s.current to the end. It returns true when the workflow
// should continue as new (the pass is then resumed by the next run).
func (s *syncState) runPass(ctx workflow.Context, drain func()) (bool, error) {
	p := s.current
	info := workflow.GetInfo(ctx)
	bctx := bookkeepingOptions(ctx)
	if !p.Started && info.GetContinueAsNewSuggested() {
		// A stream triggered over and over runs pass after pass that each
		// end on their first page, never reaching the check below: start
		// this pass in a fresh run, or the history grows without bound.
		return true, nil
	}
	if !p.Started {
		err := workflow.ExecuteActivity(bctx, a.BeginJob, activities.BeginJobInput{
			ConnectionRef: s.in.ConnectionRef, JobID: p.JobID, Kind: poblysh.JobKindFor(p.Mode), Trigger: p.Trigger,
			WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID,
			ResetCursor: p.Mode == poblysh.ModeBackfill,
		}).Get(ctx, nil)
		if err != nil {
			return false, err
		}
		p.Started = true
	}
	pctx := pageOptions(ctx)
	for {
		var r activities.SyncPageResult
		err := workflow.ExecuteActivity(pctx, a.SyncPage, activities.SyncPageInput{
			ConnectionRef: s.in.ConnectionRef, JobID: p.JobID, RunID: info.WorkflowExecution.RunID,
		}).Get(ctx, &r)
		if err != nil {
			var appErr *temporal.ApplicationError
			if errors.As(err, &appErr) && appErr.Type() == activities.ErrTypeCursorExpired && p.Resyncs < 3 {
				// The provider no longer accepts our cursor: clear it and
				// read everything again; dedupe keys keep Signals unique.
				if err := workflow.ExecuteActivity(bctx, a.ResetCursor, activities.ResetCursorInput{ConnectionRef: s.in.ConnectionRef}).Get(ctx, nil); err != nil {
					return false, err
				}
				p.Resyncs++
				continue
			}
			drain()
			return false, s.fail(ctx, err)
		}
		p.Pages += max(r.Pages, 1) // results recorded before batching carry no count
		p.Items += r.Items
		p.Stored += r.Stored
		p.Duplicates += r.Duplicates
		s.stored += r.Stored
		drain()
		if r.Done {
			break
		}
		if info.GetContinueAsNewSuggested() {
			return true, nil
		}
	}
	s.passes++
	s.closing = true
	return false, workflow.ExecuteActivity(bctx, a.FinishJob, activities.FinishJobInput{
		ConnectionRef: s.in.ConnectionRef, JobID: p.JobID, Status: poblysh.JobSucceeded, Synced: true,
	}).Get(ctx, nil)
}

// fail ends the current pass as failed (or cancelled when the connection
// went inactive) and drops the follow-up that was requested before: a
// permanent error would fail it too. A request that arrives once the
// failure is being recorded is kept and runs: its caller may have seen the
// failure and fixed its cause (re-shared a calendar, re-authorized).
func (s *syncState) fail(ctx workflow.Context, cause error) error {
	p := s.current
	requests := s.requests
	s.closing = true
	status, msg, typ := poblysh.JobFailed, cause.Error(), ""
	var appErr *temporal.ApplicationError
	if errors.As(cause, &appErr) {
		typ, msg = appErr.Type(), appErr.Message()
		if typ == activities.ErrTypeConnectionInactive {
			status = poblysh.JobCancelled
		}
	}
	giveUpIsTimeout := func() bool {
		return workflow.GetVersion(ctx, changeGiveUpIsTimeout, workflow.DefaultVersion, 1) >= 1
	}
	// The server gives up on a page when its day runs out during an attempt
	// or a wait (a TimeoutError), but also as soon as the next retry would
	// come after it: then it reports the last error (a rate limit, a
	// transient failure) with RetryState TIMEOUT, hours early after a long
	// Retry-After. Both are the day's retries running out.
	var timeout *temporal.TimeoutError
	var actErr *temporal.ActivityError
	if errors.As(cause, &timeout) ||
		errors.As(cause, &actErr) && actErr.RetryState() == enumspb.RETRY_STATE_TIMEOUT && giveUpIsTimeout() {
		// The activity's own message: cause.Error() carries Temporal's
		// wrapping, the worker's identity (pid, host) among it, into a
		// field every tenant reads.
		typ, msg = "Timeout", "gave up after retrying for a day: "+failureMessage(cause)
	}
	err := workflow.ExecuteActivity(bookkeepingOptions(ctx), a.FinishJob, activities.FinishJobInput{
		ConnectionRef: s.in.ConnectionRef, JobID: p.JobID, Status: status, Error: msg, ErrorType: typ,
		Context: map[string]any{"stream": s.in.Stream, "pages": p.Pages, "items": p.Items, "mode": string(p.Mode)},
	}).Get(ctx, nil)
	s.passes++
	late := func() bool {
		return s.requests != requests && workflow.GetVersion(ctx, changeLateFollowUpRuns, workflow.DefaultVersion, 1) >= 1
	}
	// Retried failures say nothing lasting about the connection: the trouble
	// (an outage, the provider's or the tenant's rate limit) may be over by
	// the follow-up.
	retried := typ == activities.ErrTypeTransient || typ == "Timeout" ||
		(typ == activities.ErrTypeRateLimited || typ == activities.ErrTypeTenantBusy) && giveUpIsTimeout()
	if s.pending != nil && !retried && !late() {
		// Permanent failure or inactive connection: the follow-up would
		// end the same way. It never began: one requested by signal has no
		// job row, nor has one the API has not recorded yet, which
		// FollowUp tells FinishJob is no error; described, FinishJob
		// writes that row cancelled. (The SDK matches a scheduled activity
		// by id and type, not input, so histories recorded without these
		// fields replay either way, as testdata/sync_unauthorized does;
		// the version says which runs send them.)
		fin := activities.FinishJobInput{
			ConnectionRef: s.in.ConnectionRef, JobID: s.pending.JobID, Status: poblysh.JobCancelled,
			Error: "cancelled: the previous pass failed permanently (" + typ + ")", FollowUp: true,
		}
		if workflow.GetVersion(ctx, changeFollowUpCancelRecords, workflow.DefaultVersion, 1) >= 1 {
			info := workflow.GetInfo(ctx)
			fin.Kind, fin.Trigger = poblysh.JobKindFor(s.pending.Mode), s.pending.Trigger
			fin.WorkflowID, fin.RunID = info.WorkflowExecution.ID, info.WorkflowExecution.RunID
		}
		_ = workflow.ExecuteActivity(bookkeepingOptions(ctx), a.FinishJob, fin).Get(ctx, nil)
		s.pending = nil
	}
	return err
}
