package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/activities"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/workflows"
)

// GlobalSchedules are the process-wide schedule intervals.
type GlobalSchedules struct {
	Refresh   time.Duration
	Renewal   time.Duration
	Retention time.Duration
}

// EnsureGlobalSchedules creates the sweeper schedules idempotently at
// start-up (and updates their interval if configuration changed): token
// refresh, watch renewal, retention. Overlap SKIP and a short catch-up
// window: a sweep missed while the cluster was down runs once, not N times.
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
// action and policies, then sets its paused state.
func (e *Engine) upsertSchedule(ctx context.Context, opts client.ScheduleOptions, paused bool) error {
	sc := e.Client.ScheduleClient()
	opts.Paused = paused
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
			err = h.Pause(ctx, client.SchedulePauseOptions{Note: "connection inactive"})
		} else {
			err = h.Unpause(ctx, client.ScheduleUnpauseOptions{Note: "connection active"})
		}
	}
	return temporalUnavailable(err)
}

// PollInterval is a connection's effective polling interval: its own
// override, else the provider's poll interval without push, or its (longer)
// reconcile interval when webhooks or watch channels deliver.
func (e *Engine) PollInterval(c *db.Connection) time.Duration {
	p, ok := e.Registry.Get(c.Provider)
	if !ok {
		return time.Hour
	}
	pol := p.Spec.Policy
	if c.PollIntervalSeconds != nil {
		return max(time.Duration(*c.PollIntervalSeconds)*time.Second, pol.MinPollInterval)
	}
	if c.PushEnabled && pol.ReconcileInterval > 0 {
		return pol.ReconcileInterval
	}
	return pol.PollInterval
}

// SyncSchedules makes a connection's polling schedule match its state:
// created with the effective interval, paused while the connection is
// paused, disabled or needs re-auth (no quota burned), deleted with it.
func (e *Engine) SyncSchedules(ctx context.Context, tenantID, connID string) error {
	c, err := e.connection(ctx, tenantID, connID)
	if poblysh.ErrorCode(err) == poblysh.ENOTFOUND {
		return e.DeleteSchedules(ctx, connID)
	}
	if err != nil {
		return err
	}
	every := e.PollInterval(c)
	in := workflows.PollInput{ConnectionInput: activities.ConnectionInput{TenantID: c.TenantID, ConnectionID: c.ID, Provider: c.Provider}}
	opts := client.ScheduleOptions{
		ID:            workflows.PollScheduleID(c.ID),
		Spec:          client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}, Jitter: every / 10},
		Action:        &client.ScheduleWorkflowAction{ID: "poll-run/" + c.ID, Workflow: workflows.PollConnection, Args: []any{in}, TaskQueue: e.TaskQueue},
		Overlap:       enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		CatchupWindow: time.Minute,
		Note:          fmt.Sprintf("incremental sync of %s connection %s every %s", c.Provider, c.ID, every),
	}
	return e.upsertSchedule(ctx, opts, !c.Active())
}

// DeleteSchedules removes a connection's schedules (missing is fine).
func (e *Engine) DeleteSchedules(ctx context.Context, connID string) error {
	err := e.Client.ScheduleClient().GetHandle(ctx, workflows.PollScheduleID(connID)).Delete(ctx)
	var nf *serviceerror.NotFound
	if err != nil && !errors.As(err, &nf) {
		return temporalUnavailable(err)
	}
	return nil
}
