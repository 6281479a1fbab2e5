package engine

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/lifecycle"
	"github.com/poblysh/poblysh/workflows"
)

// GlobalSchedules are the process-wide schedule intervals.
type GlobalSchedules struct {
	Refresh   time.Duration
	Renewal   time.Duration
	Retention time.Duration
	// Activation is how often connections stored while Temporal could not
	// be reached are looked for and activated.
	Activation time.Duration
}

// EnsureGlobalSchedules creates the sweeper schedules idempotently at
// start-up (and updates their interval if configuration changed): token
// refresh, watch renewal, retention, activation. Overlap SKIP and a short
// catch-up window: when the cluster is back, a sweep that fell due in its
// last 10 minutes runs once (not once per missed interval); one that fell
// due only before that, an outage longer than the window, does not run
// then and waits for its next interval.
func (e *Engine) EnsureGlobalSchedules(ctx context.Context, g GlobalSchedules) error {
	for _, s := range []struct {
		id    string
		every time.Duration
		wf    any
		arg   any
		note  string
	}{
		{workflows.RefreshScheduleID(e.TaskQueue), g.Refresh, workflows.RefreshSweep, workflows.SweepInput{}, "refresh OAuth tokens that expire soon"},
		{workflows.RenewalScheduleID(e.TaskQueue), g.Renewal, workflows.RenewalSweep, workflows.SweepInput{}, "renew watch channels before they expire"},
		{workflows.RetentionScheduleID(e.TaskQueue), g.Retention, workflows.Retention, workflows.RetentionInput{}, "prune raw payloads and expired Signals"},
		{workflows.ActivationScheduleID(e.TaskQueue), g.Activation, workflows.ActivationSweep, workflows.SweepInput{},
			"activate connections stored while Temporal could not be reached"},
	} {
		if err := e.upsertSchedule(ctx, client.ScheduleOptions{
			ID:            s.id,
			Spec:          client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: s.every}}},
			Action:        &client.ScheduleWorkflowAction{ID: s.id + "-run", Workflow: s.wf, Args: []any{s.arg}, TaskQueue: e.TaskQueue},
			Overlap:       enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
			CatchupWindow: 10 * time.Minute,
			Note:          s.note,
		}, false); err != nil {
			return err
		}
	}
	return nil
}

// upsertSchedule creates a schedule or, when it exists, updates its spec,
// action, policies and note, then sets its paused state. The note is what
// `temporal schedule describe` shows: what the schedule runs (the update's,
// not the creation's) and, while paused, why.
func (e *Engine) upsertSchedule(ctx context.Context, opts client.ScheduleOptions, paused bool) error {
	sc := e.Client.ScheduleClient()
	opts.Paused = paused
	what := opts.Note
	opts.Note = scheduleNote(what, paused)
	_, err := sc.Create(ctx, opts)
	if err == nil {
		return nil
	}
	var exists *serviceerror.AlreadyExists
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) && !errors.As(err, &exists) {
		return temporalUnavailable(fmt.Errorf("create schedule %s: %w", opts.ID, err))
	}
	h := sc.GetHandle(ctx, opts.ID)
	err = h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
		s := in.Description.Schedule
		s.Spec = &opts.Spec
		s.Action = opts.Action
		if s.Policy == nil {
			s.Policy = &client.SchedulePolicies{}
		}
		s.Policy.Overlap, s.Policy.CatchupWindow = opts.Overlap, opts.CatchupWindow
		if s.State == nil {
			s.State = &client.ScheduleState{}
		}
		// The paused state is left to Pause and Unpause below, which
		// write the note again.
		s.State.Note = scheduleNote(what, s.State.Paused)
		return &client.ScheduleUpdate{Schedule: &s}, nil
	}})
	if err != nil {
		return temporalUnavailable(fmt.Errorf("update schedule %s: %w", opts.ID, err))
	}
	desc, err := h.Describe(ctx)
	if err != nil {
		return temporalUnavailable(err)
	}
	if desc.Schedule.State.Paused != paused {
		if paused {
			err = h.Pause(ctx, client.SchedulePauseOptions{Note: opts.Note})
		} else {
			err = h.Unpause(ctx, client.ScheduleUnpauseOptions{Note: opts.Note})
		}
	}
	return temporalUnavailable(err)
}

// scheduleNote is the note of a schedule that runs what note says,
// saying so when it is paused (only a connection's schedule pauses).
func scheduleNote(note string, paused bool) string {
	if !paused {
		return note
	}
	return note + "; paused: connection inactive"
}

// SyncSchedules makes a connection's polling schedule match its state:
// created with the effective interval, paused while the connection is
// paused, disabled or needs re-auth (no quota burned), deleted with it.
//
// Callers race: a watch reconcile that read the connection while it was
// healthy can unpause the schedule just after a failed token refresh
// paused it. So each call reads the connection again after applying what
// it read, and applies again while the two differ: whichever call applies
// last has read a state at least as new as every write before its apply.
func (e *Engine) SyncSchedules(ctx context.Context, tenantID, connID string) error {
	c, err := e.connection(ctx, tenantID, connID)
	for range 5 {
		if poblysh.ErrorCode(err) == poblysh.ENOTFOUND {
			return e.DeleteSchedules(ctx, connID)
		}
		if err != nil {
			return err
		}
		applied := c
		if err := e.applySchedule(ctx, applied); err != nil {
			return err
		}
		if e.afterApply != nil {
			e.afterApply()
		}
		c, err = e.connection(ctx, tenantID, connID)
		if err == nil && c.Active() == applied.Active() && lifecycle.PollInterval(e.Registry, c) == lifecycle.PollInterval(e.Registry, applied) {
			return e.deleteSchedule(ctx, legacyPollScheduleID(c.ID))
		}
	}
	return temporalUnavailable(fmt.Errorf("schedule of connection %s: its state kept changing", connID))
}

// applySchedule creates or updates c's polling schedule as c is now.
func (e *Engine) applySchedule(ctx context.Context, c *db.Connection) error {
	every := lifecycle.PollInterval(e.Registry, c)
	in := workflows.PollInput{ConnectionRef: lifecycle.Ref(c)}
	opts := client.ScheduleOptions{
		ID:            workflows.PollScheduleID(e.TaskQueue, c.ID),
		Spec:          client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every, Offset: pollPhase(c.ID, every)}}, Jitter: every / 10},
		Action:        &client.ScheduleWorkflowAction{ID: workflows.PollRunID(e.TaskQueue, c.ID), Workflow: workflows.PollConnection, Args: []any{in}, TaskQueue: e.TaskQueue},
		Overlap:       enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		CatchupWindow: time.Minute,
		Note:          fmt.Sprintf("incremental sync of %s connection %s every %s", c.Provider, c.ID, every),
	}
	return e.upsertSchedule(ctx, opts, !c.Active())
}

// pollPhase spreads connections' polls over their interval. A Temporal
// interval matches epoch + n × interval + phase: with phase zero every
// connection with the same interval would poll at the same instant (only
// the 10 % jitter apart), 10,000 connections at 15 minutes in one
// 90-second burst. The phase is a hash of the connection id, stable
// across upserts, truncated to whole seconds (as Temporal truncates it).
func pollPhase(connID string, every time.Duration) time.Duration {
	secs := uint64(every / time.Second)
	if secs == 0 {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(connID))
	return time.Duration(h.Sum64()%secs) * time.Second
}

// legacyPollScheduleID is a connection's schedule id before ids carried the
// task queue; SyncSchedules and DeleteSchedules remove it.
func legacyPollScheduleID(connID string) string { return "poll/" + connID }

func (e *Engine) deleteSchedule(ctx context.Context, id string) error {
	err := e.Client.ScheduleClient().GetHandle(ctx, id).Delete(ctx)
	var nf *serviceerror.NotFound
	if err != nil && !errors.As(err, &nf) {
		return temporalUnavailable(err)
	}
	return nil
}

// DeleteSchedules removes a connection's schedules (missing is fine).
func (e *Engine) DeleteSchedules(ctx context.Context, connID string) error {
	if err := e.deleteSchedule(ctx, workflows.PollScheduleID(e.TaskQueue, connID)); err != nil {
		return err
	}
	return e.deleteSchedule(ctx, legacyPollScheduleID(connID))
}
