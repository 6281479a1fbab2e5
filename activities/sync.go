package activities

import (
	"context"
	"errors"
	"net/http"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/ingest"
	"github.com/poblysh/poblysh/lifecycle"
	"github.com/poblysh/poblysh/metrics"
)

// leaseTTL bounds how long a crashed worker's slot stays taken.
const leaseTTL = 5 * time.Minute

// SyncPageInput asks for one page of a stream.
type SyncPageInput struct {
	poblysh.ConnectionRef
	JobID string
	RunID string
}

// SyncPageResult is small on purpose: workflow history never carries pages.
type SyncPageResult struct {
	Items      int
	Stored     int
	Duplicates int
	Done       bool
}

// SyncPage fetches one page of a stream from its stored cursor, normalizes
// it, and stores the Signals, the new cursor, the page's fingerprints and
// the job's progress in one transaction. A retried attempt re-reads the cursor, so it either fetches
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
	release, err := a.acquireLease(ctx, in.ConnectionRef)
	if err != nil {
		return SyncPageResult{}, err
	}
	defer release()
	defer keepAlive(ctx)()

	// The resource the stream reads (a repository, a channel): a sync that
	// cannot read it drops its routes, one that can brings them back.
	ref, hasRef := "", false
	if rs, ok := p.Connector.(connectors.ResourceStreams); ok {
		ref, hasRef = rs.StreamResource(in.Stream)
	}
	var conn *db.Connection
	var cur db.Cursor
	var tok *db.Tokens
	var res *db.Resource
	err = a.DB.WithTenant(ctx, in.TenantID, func(tx *db.Tx) error {
		var err error
		if conn, err = tx.FindConnection(ctx, in.ConnectionID); err != nil {
			return err
		}
		if cur, err = tx.GetCursor(ctx, in.ConnectionID, in.Stream); err != nil {
			return err
		}
		if hasRef {
			if res, err = tx.FindResource(ctx, in.ConnectionID, ref); poblysh.ErrorCode(err) == poblysh.ENOTFOUND {
				res, err = nil, nil
			} else if err != nil {
				return err
			}
		}
		tok, err = tx.LoadTokens(ctx, a.KeyRing, in.ConnectionID)
		return err
	})
	if err := a.live(ctx, in.ConnectionRef, conn, err); err != nil {
		return SyncPageResult{}, err
	}
	// Refresh ahead of a known expiry instead of burning a 401.
	if tok.RefreshToken != "" && tok.Expiry != nil && tok.Expiry.Before(a.now().Add(time.Minute)) {
		if tok, err = a.refresh(ctx, in.ConnectionRef, tok.AccessToken, true); err != nil {
			return SyncPageResult{}, a.translate(ctx, in.ConnectionRef, err)
		}
	}
	view := lifecycle.View(conn)
	var hc *http.Client
	fetch := func(access string) (*connectors.Page, error) {
		hc = a.Registry.HTTPClient(p, conn.ExternalAccountID, access)
		return syncer.FetchPage(ctx, connectors.PageRequest{
			Connection: view, Stream: in.Stream, Cursor: cur.Value, Now: a.now(), HTTP: hc,
			Memory: memory{db: a.DB, ref: in.ConnectionRef},
		})
	}
	page, err := fetch(tok.AccessToken)
	if errors.Is(err, connectors.ErrUnauthorized) && tok.RefreshToken != "" {
		// The token expired early or was rotated elsewhere: refresh on
		// demand once and retry.
		a.logger(ctx, in.ConnectionRef).Info("provider answered 401; refreshing the token once")
		if tok, err = a.refresh(ctx, in.ConnectionRef, tok.AccessToken, true); err == nil {
			page, err = fetch(tok.AccessToken)
		}
	}
	if err != nil {
		if k := connectors.Kind(err); hasRef && (k == connectors.ErrNotFound || k == connectors.ErrForbidden) {
			// The resource's routes go and health names it; no retry helps.
			a.loseAccess(ctx, in.ConnectionRef, p, ref, err)
			typ := ErrTypeNotFound
			if k == connectors.ErrForbidden {
				typ = ErrTypeForbidden
			}
			return SyncPageResult{}, temporal.NewNonRetryableApplicationError(err.Error(), typ, nil)
		}
		return SyncPageResult{}, a.translate(ctx, in.ConnectionRef, err)
	}
	if ctx.Err() != nil {
		return SyncPageResult{}, ctx.Err()
	}
	batch, err := ingest.NewBatch(in.Provider, page.Signals)
	if err != nil {
		return SyncPageResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidConfig, nil)
	}
	var stored db.Stored
	err = a.DB.WithTenant(ctx, in.TenantID, func(tx *db.Tx) error {
		var err error
		if stored, err = batch.Store(ctx, tx, in.TenantID, in.ConnectionID); err != nil {
			return err
		}
		if err := tx.AdvanceCursor(ctx, in.ConnectionID, in.Stream, page.Next, cur.Version); err != nil {
			return err
		}
		if err := tx.PutFingerprints(ctx, in.ConnectionID, fingerprints(page.Fingerprints)); err != nil {
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
		return SyncPageResult{}, a.translate(ctx, in.ConnectionRef, err)
	}
	if hasRef && res != nil && res.Access == db.AccessGranted && page.Resource != nil && page.Resource.Ref == ref &&
		(page.Resource.Name != res.Name || page.Resource.ID != res.ResourceID) {
		// Renamed or transferred (the provider redirected the old name):
		// the token just read it under its new name; record it.
		if err := a.recordProof(ctx, in.ConnectionRef, p, &connectors.AccessReport{Granted: []connectors.Resource{*page.Resource}}); err != nil {
			a.logger(ctx, in.ConnectionRef).WithError(err).WithField("resource", ref).Warn("could not record the resource's new name")
		} else {
			a.logger(ctx, in.ConnectionRef).WithField("resource", ref).WithField("name", page.Resource.Name).Info("resource renamed at the provider")
		}
	}
	if hasRef && (res == nil || res.Access != db.AccessGranted) {
		// The token just read the resource: prove it and route it again.
		// A failure here costs nothing stored; the next page tries again.
		if err := a.regainAccess(ctx, in.ConnectionRef, p, ref, hc, view); err != nil {
			a.logger(ctx, in.ConnectionRef).WithError(err).WithField("resource", ref).Warn("could not re-prove access")
		}
	}
	metrics.PagesTotal.WithLabelValues(in.Provider).Inc()
	batch.Count(stored)
	var moved *time.Time
	if !cur.UpdatedAt.IsZero() {
		moved = &cur.UpdatedAt
	}
	observePollLag(in.ConnectionRef, moved, stored.OccurredAt, a.now())
	metrics.PollInterval.WithLabelValues(in.Provider, in.ConnectionID).Set(lifecycle.PollInterval(a.Registry, conn).Seconds())
	return SyncPageResult{Items: page.Items, Stored: len(stored.Kinds), Duplicates: stored.Duplicates, Done: page.Done}, nil
}

// observePollLag measures polling freshness: the lag from provider time to
// storage of the Signals a page stored that happened after the stream's
// cursor last moved (for a pass's first page: the end of the stream's
// previous pass; earlier happenings are a backfill's, or reached the
// provider late). Per stream, so one stream finishing does not hide
// another's Signals. A connection's largest such lag per page is its
// poblysh_connection_poll_lag_seconds, to compare with its poll interval
// (the SLA of a polling provider).
func observePollLag(t poblysh.ConnectionRef, lastSync *time.Time, occurred []time.Time, now time.Time) {
	if lastSync == nil {
		return
	}
	var worst time.Duration
	seen := false
	for _, at := range occurred {
		if !at.After(*lastSync) {
			continue
		}
		lag := max(now.Sub(at), 0)
		metrics.PollLagSeconds.WithLabelValues(t.Provider).Observe(lag.Seconds())
		worst, seen = max(worst, lag), true
	}
	if seen {
		metrics.PollLag.WithLabelValues(t.Provider, t.ConnectionID).Set(worst.Seconds())
	}
}

// acquireLease takes one of the tenant's concurrent sync slots; when none is
// free the activity retries shortly (benign: it is waiting, not failing), so
// one tenant's backfill cannot occupy every worker slot.
func (a *Activities) acquireLease(ctx context.Context, t poblysh.ConnectionRef) (func(), error) {
	holder := t.ConnectionID + "/" + t.Stream
	if activity.IsActivity(ctx) {
		holder = activity.GetInfo(ctx).WorkflowExecution.ID
	}
	var ok bool
	var limit int
	err := a.DB.WithTenant(ctx, t.TenantID, func(tx *db.Tx) (err error) {
		// The tenant's own cap (PATCH /tenants/{id}), read on every page so
		// a change applies at once; the environment's default otherwise.
		if limit, err = tx.TenantSyncConcurrency(ctx, a.TenantConcurrency); err != nil || limit <= 0 {
			ok = true
			return err
		}
		ok, err = tx.AcquireLease(ctx, holder, limit, leaseTTL)
		return err
	})
	if err != nil {
		return nil, a.translate(ctx, t, err)
	}
	if limit <= 0 {
		return func() {}, nil
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
