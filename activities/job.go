package activities

import (
	"context"
	"time"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/metrics"
)

// BeginJobInput starts (or resumes) a job.
type BeginJobInput struct {
	poblysh.ConnectionRef
	JobID      string
	Kind       poblysh.JobKind
	Trigger    poblysh.Trigger
	WorkflowID string
	RunID      string
	// ResetCursor clears the stream cursor first (a backfill's first page).
	ResetCursor bool
}

// BeginJobResult is empty; it exists so fields can be added.
type BeginJobResult struct{}

// BeginJob creates (or adopts) the job row of a pass and marks it running;
// for a backfill it clears the stream's cursor first.
func (a *Activities) BeginJob(ctx context.Context, in BeginJobInput) (BeginJobResult, error) {
	err := a.DB.WithTenant(ctx, in.TenantID, func(tx *db.Tx) error {
		// The connection (and so the tenant) must be here: a job row for a
		// connection this database does not have is another stack's task.
		// (A connection deleted meanwhile is still a row: its pass is
		// cancelled by the page activity, as before.)
		if ok, err := tx.ConnectionExists(ctx, in.ConnectionID); err != nil {
			return err
		} else if !ok {
			return poblysh.NotFound("connection " + in.ConnectionID + " of tenant " + in.TenantID)
		}
		if _, err := tx.EnsureJob(ctx, db.Job{
			ID: in.JobID, ConnectionID: in.ConnectionID, Provider: in.Provider, Kind: in.Kind,
			Stream: in.Stream, Trigger: in.Trigger, WorkflowID: in.WorkflowID, RunID: in.RunID,
		}); err != nil {
			return err
		}
		if err := tx.StartJob(ctx, in.JobID, in.RunID, in.Kind); err != nil {
			return err
		}
		if in.ResetCursor {
			return tx.ResetCursor(ctx, in.ConnectionID, in.Stream)
		}
		return nil
	})
	return BeginJobResult{}, a.translate(ctx, in.ConnectionRef, err)
}

// ResetCursorInput clears a stream's cursor.
type ResetCursorInput struct{ poblysh.ConnectionRef }

// ResetCursorResult is empty.
type ResetCursorResult struct{}

// ResetCursor clears a stream's cursor (the provider said it expired).
func (a *Activities) ResetCursor(ctx context.Context, in ResetCursorInput) (ResetCursorResult, error) {
	a.logger(ctx, in.ConnectionRef).Warn("cursor expired at the provider; clearing it for a full resync")
	err := a.DB.WithTenant(ctx, in.TenantID, func(tx *db.Tx) error {
		return tx.ResetCursor(ctx, in.ConnectionID, in.Stream)
	})
	return ResetCursorResult{}, a.translate(ctx, in.ConnectionRef, err)
}

// FinishJobInput ends a job.
type FinishJobInput struct {
	poblysh.ConnectionRef
	JobID  string
	Status poblysh.JobStatus
	// Error is the last failure's message; ErrorType its type.
	Error     string
	ErrorType string
	Context   map[string]any
	// Synced marks a completed sync pass (last sync time, health healed).
	Synced bool
	// FollowUp: the job is a follow-up pass its workflow queued and
	// cancels before it began. One requested by signal (a webhook, a poll,
	// a schedule) has no row (BeginJob writes it; the API writes it first
	// only for POST /sync, after Temporal answered), so a missing row is a
	// pass not recorded yet, not another stack's job, as long as the
	// connection is here.
	FollowUp bool `json:",omitempty"`
	// Kind, Trigger, WorkflowID and RunID describe a FollowUp as its
	// workflow queued it: a missing row is then written, cancelled, so
	// that the API's row of a POST /sync answered before the cancellation
	// (db.Tx.EnsureJob) finds it final and changes nothing. A workflow of
	// an earlier version sends none of them, and a missing row stays
	// unwritten (the API's row, if it comes, stays queued).
	Kind       poblysh.JobKind `json:",omitempty"`
	Trigger    poblysh.Trigger `json:",omitempty"`
	WorkflowID string          `json:",omitempty"`
	RunID      string          `json:",omitempty"`
}

// FinishJobResult is empty.
type FinishJobResult struct{}

// FinishJob records a job's final status, counts it in metrics, and for a
// completed sync pass stamps the connection's last sync and freshness and
// heals its health (poblysh.EventSynced) unless a resource is still lost.
// A job already final is left as it is, and nothing else is done or
// counted: this is a retry whose first attempt committed all of it, or the
// job was cancelled meanwhile (its connection deleted), and its first final
// status and finished_at stay.
func (a *Activities) FinishJob(ctx context.Context, in FinishJobInput) (FinishJobResult, error) {
	var job *db.Job
	var finished, synced bool
	var newest *time.Time
	err := a.DB.WithTenant(ctx, in.TenantID, func(tx *db.Tx) error {
		var err error
		job, finished, err = tx.FinishJob(ctx, in.JobID, in.Status, in.Error, withType(in.Context, in.ErrorType))
		if poblysh.ErrorCode(err) == poblysh.ENOTFOUND {
			if in.FollowUp {
				// A follow-up not recorded yet: it is written cancelled,
				// unless the connection is not here either (another
				// stack's).
				job = nil
				if ok, err := tx.ConnectionExists(ctx, in.ConnectionID); err != nil {
					return err
				} else if !ok {
					return poblysh.NotFound("connection " + in.ConnectionID + " of tenant " + in.TenantID)
				}
				if in.Kind == "" {
					return nil // an earlier workflow's input: nothing to write it with
				}
				job, finished, err = tx.FinishUnrecordedJob(ctx, db.Job{ID: in.JobID, ConnectionID: in.ConnectionID,
					Provider: in.Provider, Kind: in.Kind, Stream: in.Stream, Trigger: in.Trigger,
					WorkflowID: in.WorkflowID, RunID: in.RunID}, in.Status, in.Error, withType(in.Context, in.ErrorType))
				return err
			}
			// Never a success: the job was deleted with its connection, or
			// is another stack's (translate fails non-retryably).
			return poblysh.NotFound("job " + in.JobID + " of connection " + in.ConnectionID)
		}
		if err != nil || !finished || !in.Synced {
			return err
		}
		synced = true
		return markSynced(ctx, tx, in.ConnectionID)
	})
	if err != nil {
		return FinishJobResult{}, a.translate(ctx, in.ConnectionRef, err)
	}
	if synced {
		// After the commit, in its own transaction: in a big tenant the read
		// can take a second, and the pass's transaction holds the
		// connection's row. It only feeds a gauge, so a failure is logged,
		// not the activity's (its retry would find the job final and
		// change nothing).
		err := a.DB.WithTenant(ctx, in.TenantID, func(tx *db.Tx) (err error) {
			newest, err = tx.NewestSignalTime(ctx, in.ConnectionID)
			return err
		})
		if err != nil {
			a.logger(ctx, in.ConnectionRef).WithError(err).Warn("freshness not read")
		}
	}
	switch {
	case job == nil:
		a.logger(ctx, in.ConnectionRef).WithField("job_id", in.JobID).Debug("follow-up cancelled before it was recorded; not written (no kind)")
	case !finished:
		a.logger(ctx, in.ConnectionRef).WithFields(map[string]any{"job_id": in.JobID, "status": job.Status, "asked": in.Status}).
			Info("job already final; left as it is")
	default:
		CountFinishedJob(job)
		log := a.logger(ctx, in.ConnectionRef).WithFields(map[string]any{"job_id": in.JobID, "status": in.Status,
			"pages": job.Pages, "signals_stored": job.SignalsStored, "duplicates": job.Duplicates})
		if in.Status == poblysh.JobFailed {
			log.WithField("error", in.Error).Warn("job failed")
		} else {
			log.Info("job finished")
		}
	}
	if newest != nil {
		// A provider whose clock runs ahead dates its newest item in our
		// future: that is fresh, not a negative age.
		metrics.SetConnection(metrics.Freshness, in.Provider, in.ConnectionID, max(a.now().Sub(*newest), 0).Seconds())
	}
	return FinishJobResult{}, nil
}

// CountFinishedJob counts a job that just reached its final status in
// poblysh_jobs_total and poblysh_job_duration_seconds: once per job, by
// whoever moved it there (its workflow's FinishJob, or the engine's
// reconciliation when the workflow closed without it).
func CountFinishedJob(j *db.Job) {
	metrics.JobsTotal.WithLabelValues(j.Provider, string(j.Kind), string(j.Status)).Inc()
	if j.StartedAt != nil && j.FinishedAt != nil {
		metrics.JobDuration.WithLabelValues(j.Provider, string(j.Kind)).Observe(j.FinishedAt.Sub(*j.StartedAt).Seconds())
	}
}

// markSynced records a completed sync pass of a live connection in tx.
func markSynced(ctx context.Context, tx *db.Tx, connID string) error {
	if err := tx.MarkSynced(ctx, connID); err != nil {
		return err
	}
	lost, err := tx.HasLostResources(ctx, connID)
	if err != nil {
		return err
	}
	_, _, err = tx.ApplyHealth(ctx, connID, poblysh.HealthEvent{Kind: poblysh.EventSynced, LostAccess: lost})
	if poblysh.ErrorCode(err) == poblysh.ENOTFOUND {
		return nil // deleted meanwhile: nothing to heal
	}
	return err
}

func withType(ctx map[string]any, typ string) map[string]any {
	if typ == "" {
		return ctx
	}
	out := map[string]any{"error_type": typ}
	for k, v := range ctx {
		out[k] = v
	}
	return out
}
