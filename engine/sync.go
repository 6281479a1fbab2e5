package engine

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/client"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/activities"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/workflows"
)

func target(c *db.Connection, stream string) activities.Target {
	return activities.Target{TenantID: c.TenantID, ConnectionID: c.ID, Provider: c.Provider, Stream: stream}
}

// RequestSync asks every stream of a connection for a pass and returns the
// job each request became: the running pass it joined, or the queued
// follow-up. It uses update-with-start on the stream's deterministic
// workflow id, so concurrent callers never start a second writer.
func (e *Engine) RequestSync(ctx context.Context, c *db.Connection, mode poblysh.SyncMode, trigger poblysh.Trigger) ([]db.Job, error) {
	streams, err := e.Streams(c)
	if err != nil {
		return nil, err
	}
	jobs := make([]db.Job, 0, len(streams))
	for _, stream := range streams {
		j, err := e.requestStream(ctx, c, stream, mode, trigger)
		if err != nil {
			return jobs, err
		}
		jobs = append(jobs, *j)
	}
	return jobs, nil
}

func (e *Engine) requestStream(ctx context.Context, c *db.Connection, stream string, mode poblysh.SyncMode, trigger poblysh.Trigger) (*db.Job, error) {
	t := target(c, stream)
	id := workflows.SyncWorkflowID(c.ID, stream)
	start := e.Client.NewWithStartWorkflowOperation(e.startOptions(id, t, "sync"), workflows.SyncStream, workflows.SyncInput{Target: t})
	handle, err := e.Client.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateName:   workflows.UpdateRequest,
			Args:         []any{workflows.SyncRequest{Mode: mode, Trigger: trigger}},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err != nil {
		return nil, temporalUnavailable(fmt.Errorf("request sync of %s: %w", id, err))
	}
	var res workflows.RequestResult
	if err := handle.Get(ctx, &res); err != nil {
		return nil, temporalUnavailable(fmt.Errorf("request sync of %s: %w", id, err))
	}
	var job *db.Job
	err = e.DB.WithTenant(ctx, c.TenantID, func(tx *db.Tx) (err error) {
		job, err = tx.EnsureJob(ctx, db.Job{
			ID: res.JobID, ConnectionID: c.ID, Provider: c.Provider, Kind: poblysh.JobKindFor(res.Mode),
			Stream: stream, Trigger: trigger, Status: poblysh.JobQueued, WorkflowID: id, RunID: handle.RunID(),
		})
		return err
	})
	return job, err
}

// NudgeStream asks one stream for a coalesced incremental pass without
// waiting for an answer (webhook notifications, schedules).
func (e *Engine) NudgeStream(ctx context.Context, c *db.Connection, stream string, trigger poblysh.Trigger) error {
	t := target(c, stream)
	id := workflows.SyncWorkflowID(c.ID, stream)
	_, err := e.Client.SignalWithStartWorkflow(ctx, id, workflows.SignalRequest,
		workflows.SyncRequest{Mode: poblysh.ModeIncremental, Trigger: trigger},
		e.startOptions(id, t, "sync"), workflows.SyncStream, workflows.SyncInput{Target: t})
	if err != nil {
		return temporalUnavailable(fmt.Errorf("nudge %s: %w", id, err))
	}
	return nil
}

// NudgeConnection nudges every stream of a connection.
func (e *Engine) NudgeConnection(ctx context.Context, tenantID, connID string, trigger poblysh.Trigger) (int, error) {
	c, err := e.connection(ctx, tenantID, connID)
	if err != nil {
		return 0, err
	}
	streams, err := e.Streams(c)
	if err != nil {
		return 0, err
	}
	for _, s := range streams {
		if err := e.NudgeStream(ctx, c, s, trigger); err != nil {
			return 0, err
		}
	}
	return len(streams), nil
}

// StartRefresh starts (or joins) a connection's single refresher.
func (e *Engine) StartRefresh(ctx context.Context, due db.DueConnection) error {
	t := activities.Target{TenantID: due.TenantID, ConnectionID: due.ID, Provider: due.Provider}
	in := workflows.RefreshInput{
		ConnectionInput: activities.ConnectionInput{TenantID: due.TenantID, ConnectionID: due.ID, Provider: due.Provider},
		Trigger:         poblysh.TriggerSchedule, Force: true,
	}
	_, err := e.Client.ExecuteWorkflow(ctx, e.startOptions(workflows.RefreshWorkflowID(due.ID), t, "token_refresh"), workflows.RefreshToken, in)
	return temporalUnavailable(err)
}

// StartWatchReconcile starts or nudges a connection's watch manager.
func (e *Engine) StartWatchReconcile(ctx context.Context, due db.DueConnection, trigger poblysh.Trigger) error {
	t := activities.Target{TenantID: due.TenantID, ConnectionID: due.ID, Provider: due.Provider}
	id := workflows.WatchWorkflowID(due.ID)
	in := workflows.WatchInput{
		ConnectionInput: activities.ConnectionInput{TenantID: due.TenantID, ConnectionID: due.ID, Provider: due.Provider},
		Trigger:         trigger,
	}
	_, err := e.Client.SignalWithStartWorkflow(ctx, id, workflows.SignalWatch, nil, e.startOptions(id, t, "watch_renewal"), workflows.ReconcileWatches, in)
	return temporalUnavailable(err)
}
