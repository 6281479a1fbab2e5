package activities

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/metrics"
)

// BeginJob creates (or adopts) the job row of a pass and marks it running;
// for a backfill it clears the stream's cursor first.
func (a *Activities) BeginJob(ctx context.Context, in BeginJobInput) (BeginJobResult, error) {
	err := a.DB.WithTenant(ctx, in.TenantID, func(tx *db.Tx) error {
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
	return BeginJobResult{}, a.translate(ctx, in.Target, err)
}

// ResetCursor clears a stream's cursor (the provider said it expired).
func (a *Activities) ResetCursor(ctx context.Context, in ResetCursorInput) (ResetCursorResult, error) {
	a.logger(ctx, in.Target).Warn("cursor expired at the provider; clearing it for a full resync")
	err := a.DB.WithTenant(ctx, in.TenantID, func(tx *db.Tx) error {
		return tx.ResetCursor(ctx, in.ConnectionID, in.Stream)
	})
	return ResetCursorResult{}, a.translate(ctx, in.Target, err)
}

// leaseTTL bounds how long a crashed worker's slot stays taken.
const leaseTTL = 5 * time.Minute

// SyncPage fetches one page of a stream from its stored cursor, normalizes
// it, and stores the Signals, the new cursor and the job's progress in one
// transaction. A retried attempt re-reads the cursor, so it either fetches
// the next page or redoes the same one, idempotently.
func (a *Activities) SyncPage(ctx context.Context, in SyncPageInput) (SyncPageResult, error) {
	if n := attempt(ctx); n > 1 {
		metrics.ActivityRetries.WithLabelValues("SyncPage").Inc()
	}
	p, err := a.provider(in.Provider)
	if err != nil {
		return SyncPageResult{}, err
	}
	syncer, ok := p.Connector.(connectors.Syncer)
	if !ok {
		return SyncPageResult{}, temporal.NewNonRetryableApplicationError(in.Provider+" has no sync streams", ErrTypeInvalidConfig, nil)
	}
	release, err := a.acquireLease(ctx, in.Target)
	if err != nil {
		return SyncPageResult{}, err
	}
	defer release()
	defer keepAlive(ctx)()

	var conn *db.Connection
	var cur db.Cursor
	var tok *db.Tokens
	err = a.DB.WithTenant(ctx, in.TenantID, func(tx *db.Tx) error {
		var err error
		if conn, err = tx.FindConnection(ctx, in.ConnectionID); err != nil {
			return err
		}
		if cur, err = tx.GetCursor(ctx, in.ConnectionID, in.Stream); err != nil {
			return err
		}
		tok, err = tx.LoadTokens(ctx, a.KeyRing, in.ConnectionID)
		return err
	})
	if poblysh.ErrorCode(err) == poblysh.ENOTFOUND {
		return SyncPageResult{}, temporal.NewNonRetryableApplicationError("connection was deleted", ErrTypeConnectionInactive, nil)
	}
	if err != nil {
		return SyncPageResult{}, a.translate(ctx, in.Target, err)
	}
	if !conn.Active() {
		return SyncPageResult{}, inactive(conn)
	}
	// Refresh ahead of a known expiry instead of burning a 401.
	if tok.RefreshToken != "" && tok.Expiry != nil && tok.Expiry.Before(a.now().Add(time.Minute)) {
		if tok, err = a.refresh(ctx, in.Target, tok.AccessToken, true); err != nil {
			return SyncPageResult{}, a.translate(ctx, in.Target, err)
		}
	}
	view := ConnectorConnection(conn)
	fetch := func(access string) (*connectors.Page, error) {
		return syncer.FetchPage(ctx, connectors.PageRequest{
			Connection: view, Stream: in.Stream, Cursor: cur.Value, Now: a.now(),
			HTTP: a.Registry.HTTPClient(p, conn.ExternalAccountID, access),
		})
	}
	page, err := fetch(tok.AccessToken)
	if errors.Is(err, connectors.ErrUnauthorized) && tok.RefreshToken != "" {
		// The token expired early or was rotated elsewhere: refresh on
		// demand once and retry.
		a.logger(ctx, in.Target).Info("provider answered 401; refreshing the token once")
		if tok, err = a.refresh(ctx, in.Target, tok.AccessToken, true); err == nil {
			page, err = fetch(tok.AccessToken)
		}
	}
	if err != nil {
		return SyncPageResult{}, a.translate(ctx, in.Target, err)
	}
	if ctx.Err() != nil {
		return SyncPageResult{}, ctx.Err()
	}
	sigs, err := ToNewSignals(page.Signals)
	if err != nil {
		return SyncPageResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidConfig, nil)
	}
	var stored db.Stored
	err = a.DB.WithTenant(ctx, in.TenantID, func(tx *db.Tx) error {
		var err error
		if stored, err = tx.InsertSignals(ctx, in.ConnectionID, in.Provider, sigs); err != nil {
			return err
		}
		if err := tx.AdvanceCursor(ctx, in.ConnectionID, in.Stream, page.Next, cur.Version); err != nil {
			return err
		}
		return tx.AddJobProgress(ctx, in.JobID, db.JobProgress{
			Pages: 1, Items: page.Items, Stored: len(stored.Kinds), Duplicates: stored.Duplicates, RunID: in.RunID,
		})
	})
	if errors.Is(err, db.ErrCursorMoved) {
		return SyncPageResult{}, temporal.NewApplicationErrorWithOptions("cursor moved; re-reading it", ErrTypeTransient,
			temporal.ApplicationErrorOptions{NextRetryDelay: time.Second})
	}
	if err != nil {
		return SyncPageResult{}, a.translate(ctx, in.Target, err)
	}
	metrics.PagesTotal.WithLabelValues(in.Provider).Inc()
	for _, k := range stored.Kinds {
		metrics.SignalsStored.WithLabelValues(in.Provider, k).Inc()
	}
	if stored.Duplicates > 0 {
		metrics.SignalDuplicates.WithLabelValues(in.Provider).Add(float64(stored.Duplicates))
	}
	return SyncPageResult{Items: page.Items, Stored: len(stored.Kinds), Duplicates: stored.Duplicates, Done: page.Done}, nil
}

// ToNewSignals converts connector Signals for storage (page activities and
// the webhook intake). A Signal without kind
// or dedupe key is a connector bug that retrying cannot fix.
func ToNewSignals(in []connectors.Signal) ([]db.NewSignal, error) {
	out := make([]db.NewSignal, 0, len(in))
	for _, s := range in {
		if s.Kind == "" || s.DedupeKey == "" || s.OccurredAt.IsZero() {
			return nil, errors.New("connector produced a Signal without kind, dedupe key or timestamp")
		}
		if s.Payload.Attributes == nil {
			s.Payload.Attributes = map[string]any{}
		}
		payload, err := json.Marshal(s.Payload)
		if err != nil {
			return nil, err
		}
		var raw []byte
		if len(s.Raw) > 0 && json.Valid(s.Raw) {
			raw = s.Raw
		}
		out = append(out, db.NewSignal{
			Kind: s.Kind, OccurredAt: s.OccurredAt.UTC(), DedupeKey: s.DedupeKey, AliasKeys: s.AliasKeys,
			Payload: payload, Raw: raw,
		})
	}
	return out, nil
}

// acquireLease takes one of the tenant's concurrent sync slots; when none is
// free the activity retries shortly (benign: it is waiting, not failing), so
// one tenant's backfill cannot occupy every worker slot.
func (a *Activities) acquireLease(ctx context.Context, t Target) (func(), error) {
	limit := a.TenantConcurrency
	if limit <= 0 {
		return func() {}, nil
	}
	holder := t.ConnectionID + "/" + t.Stream
	if activity.IsActivity(ctx) {
		holder = activity.GetInfo(ctx).WorkflowExecution.ID
	}
	var ok bool
	err := a.DB.WithTenant(ctx, t.TenantID, func(tx *db.Tx) (err error) {
		ok, err = tx.AcquireLease(ctx, holder, limit, leaseTTL)
		return err
	})
	if err != nil {
		return nil, a.translate(ctx, t, err)
	}
	if !ok {
		return nil, temporal.NewApplicationErrorWithOptions("tenant is at its concurrent sync limit", ErrTypeTenantBusy,
			temporal.ApplicationErrorOptions{NextRetryDelay: backoff(1, 2*time.Second, 2*time.Second), Category: temporal.ApplicationErrorCategoryBenign})
	}
	return func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = a.DB.WithTenant(rctx, t.TenantID, func(tx *db.Tx) error { return tx.ReleaseLease(rctx, holder) })
	}, nil
}

// FinishJob records a job's final status, counts it in metrics, and for a
// completed sync pass stamps the connection's last sync and freshness.
func (a *Activities) FinishJob(ctx context.Context, in FinishJobInput) (FinishJobResult, error) {
	var job *db.Job
	var newest *time.Time
	err := a.DB.WithTenant(ctx, in.TenantID, func(tx *db.Tx) error {
		var err error
		job, err = tx.FinishJob(ctx, in.JobID, in.Status, in.Error, withType(in.Context, in.ErrorType))
		if poblysh.ErrorCode(err) == poblysh.ENOTFOUND {
			return nil // a follow-up cancelled before it ever started
		}
		if err != nil || !in.Synced {
			return err
		}
		if err := tx.MarkSynced(ctx, in.ConnectionID); err != nil {
			return err
		}
		newest, err = tx.NewestSignalTime(ctx, in.ConnectionID)
		return err
	})
	if err != nil {
		return FinishJobResult{}, a.translate(ctx, in.Target, err)
	}
	if job != nil {
		metrics.JobsTotal.WithLabelValues(job.Provider, string(job.Kind), string(job.Status)).Inc()
		if job.StartedAt != nil && job.FinishedAt != nil {
			metrics.JobDuration.WithLabelValues(job.Provider, string(job.Kind)).Observe(job.FinishedAt.Sub(*job.StartedAt).Seconds())
		}
		log := a.logger(ctx, in.Target).WithFields(map[string]any{"job_id": in.JobID, "status": in.Status,
			"pages": job.Pages, "signals_stored": job.SignalsStored, "duplicates": job.Duplicates})
		if in.Status == poblysh.JobFailed {
			log.WithField("error", in.Error).Warn("job failed")
		} else {
			log.Info("job finished")
		}
	}
	if newest != nil {
		metrics.Freshness.WithLabelValues(in.Provider, in.ConnectionID).Set(a.now().Sub(*newest).Seconds())
	}
	return FinishJobResult{}, nil
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

// keepAlive heartbeats every few seconds until stopped, so a worker that
// dies mid-page is detected within the heartbeat timeout (not the whole
// start-to-close timeout) while a slow, paced provider call stays alive.
func keepAlive(ctx context.Context) (stop func()) {
	if !activity.IsActivity(ctx) {
		return func() {}
	}
	done := make(chan struct{})
	activity.RecordHeartbeat(ctx)
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx)
			}
		}
	}()
	return func() { close(done) }
}
