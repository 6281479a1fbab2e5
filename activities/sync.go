package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
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

// SyncPageInput asks for the next pages of a stream.
type SyncPageInput struct {
	poblysh.ConnectionRef
	JobID string
	RunID string
}

// SyncPageResult is small on purpose: workflow history never carries pages.
type SyncPageResult struct {
	// Pages counts the pages fetched and stored (0 in results recorded
	// before an activity could store several: one).
	Pages      int
	Items      int
	Stored     int
	Duplicates int
	Done       bool
}

// Batching: one SyncPage activity stores up to PagesPerActivity pages, each
// in its own transaction with its cursor, and starts another page only
// while it has run less than batchTime and its deadline is further than
// batchDeadlineMargin away, so the workflow still hears of progress (and
// handles requests) every few seconds, a paced provider does not hold one
// activity for minutes, and a worker that stops finishes after its current
// page. It divides the cost of an activity (the Temporal round trip, the
// lease, reading the connection and its tokens) among the pages.
const (
	DefaultPagesPerActivity = 10
	batchTime               = 5 * time.Second
	batchDeadlineMargin     = 30 * time.Second
)

// SyncPage fetches pages of a stream from its stored cursor, normalizes
// them, and stores each page's Signals, the new cursor, the page's
// fingerprints and the job's progress in one transaction per page. A
// retried attempt re-reads the cursor, so it either fetches the next page
// or redoes the same one, idempotently. An error on any page is the
// activity's error; the pages stored before it stay stored, so a retry
// starts after them.
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
	st := &syncStream{a: a, in: in, p: p, syncer: syncer}
	if rs, ok := p.Connector.(connectors.ResourceStreams); ok {
		st.ref, st.hasRef = rs.StreamResource(in.Stream)
	}
	err = a.DB.WithTenant(ctx, in.TenantID, func(tx *db.Tx) error {
		var err error
		if st.conn, err = tx.FindConnection(ctx, in.ConnectionID); err != nil {
			return err
		}
		if st.cur, err = tx.GetCursor(ctx, in.ConnectionID, in.Stream); err != nil {
			return err
		}
		if st.hasRef {
			if st.res, err = tx.FindResource(ctx, in.ConnectionID, st.ref); poblysh.ErrorCode(err) == poblysh.ENOTFOUND {
				st.res, err = nil, nil
			} else if err != nil {
				return err
			}
		}
		st.tok, err = tx.LoadTokens(ctx, a.KeyRing, in.ConnectionID)
		return err
	})
	if err := a.live(ctx, in.ConnectionRef, st.conn, err); err != nil {
		return SyncPageResult{}, err
	}
	if !st.configured(st.conn) {
		// A PATCH or a reconnect removed the stream (its resource) while
		// its pass ran or waited: nothing more is read or stored for it.
		a.logger(ctx, in.ConnectionRef).Info("the connection's config no longer names the stream; its pass ends")
		return SyncPageResult{}, streamGone(in.Stream)
	}
	st.view = lifecycle.View(st.conn)

	var out SyncPageResult
	var shown *connectors.Resource // the first the pages showed of the stream's resource
	start := time.Now()
	for {
		page, err := st.next(ctx)
		if err != nil {
			// Every page fails as it would alone (a 429 waits for its
			// Retry-After); the pages stored before it stay stored, with
			// their cursor and the job's progress, and the retry starts
			// after them.
			if out.Pages > 0 {
				a.logger(ctx, in.ConnectionRef).WithError(err).WithField("pages_stored", out.Pages).
					Info("a page failed after the batch stored others; the retry starts after them")
			}
			return SyncPageResult{}, err
		}
		if page.Moved != "" {
			// The stream's resource is elsewhere for good: the
			// connection follows it, and the streams it has then go on.
			if err := st.follow(ctx, page.Moved); err != nil {
				return SyncPageResult{}, err
			}
			out.Done = true
			return out, nil
		}
		if shown == nil {
			shown = page.Resource
		}
		out.Pages++
		out.Items += page.Items
		out.Stored += st.stored
		out.Duplicates += st.duplicates
		out.Done = page.Done
		if page.Done || !a.batchMore(ctx, out.Pages, start) {
			break
		}
	}
	st.checkResource(ctx, shown)
	metrics.SetConnection(metrics.PollInterval, in.Provider, in.ConnectionID, lifecycle.PollInterval(a.Registry, st.conn).Seconds())
	return out, nil
}

// batchMore says whether the activity starts another page after n.
func (a *Activities) batchMore(ctx context.Context, n int, start time.Time) bool {
	limit := a.PagesPerActivity
	if limit <= 0 {
		limit = DefaultPagesPerActivity
	}
	if n >= limit || time.Since(start) >= batchTime || ctx.Err() != nil {
		return false
	}
	if !activity.IsActivity(ctx) {
		return true
	}
	if d := activity.GetInfo(ctx).Deadline; !d.IsZero() && time.Until(d) < batchDeadlineMargin {
		return false
	}
	select {
	case <-activity.GetWorkerStopChannel(ctx):
		return false
	default:
		return true
	}
}

// syncStream is one SyncPage activity's state between its pages.
type syncStream struct {
	a      *Activities
	in     SyncPageInput
	p      *connectors.Provider
	syncer connectors.Syncer
	ref    string
	hasRef bool
	conn   *db.Connection
	view   connectors.Connection
	cur    db.Cursor
	tok    *db.Tokens
	res    *db.Resource
	hc     *http.Client
	// What the last page stored.
	stored, duplicates int
}

// next fetches, normalizes and stores the page at the stream's cursor and
// moves the cursor past it.
func (st *syncStream) next(ctx context.Context) (*connectors.Page, error) {
	a, in := st.a, st.in
	// Refresh ahead of a known expiry instead of burning a 401.
	if st.tok.RefreshToken != "" && st.tok.Expiry != nil && st.tok.Expiry.Before(a.now().Add(time.Minute)) {
		tok, err := a.refresh(ctx, in.ConnectionRef, st.tok.AccessToken, true)
		if err != nil {
			return nil, a.translate(ctx, in.ConnectionRef, err)
		}
		st.tok = tok
	}
	fetch := func(access string) (*connectors.Page, error) {
		st.hc = a.Registry.HTTPClient(st.p, st.conn.ExternalAccountID, access)
		return st.syncer.FetchPage(ctx, connectors.PageRequest{
			Connection: st.view, Stream: in.Stream, Cursor: st.cur.Value, Now: a.now(), HTTP: st.hc,
			Memory: memory{db: a.DB, ref: in.ConnectionRef}, Resource: st.proved(),
		})
	}
	page, err := fetch(st.tok.AccessToken)
	if errors.Is(err, connectors.ErrUnauthorized) && st.tok.RefreshToken != "" {
		// The token expired early or was rotated elsewhere: refresh on
		// demand once and retry.
		a.logger(ctx, in.ConnectionRef).Info("provider answered 401; refreshing the token once")
		var tok *db.Tokens
		if tok, err = a.refresh(ctx, in.ConnectionRef, st.tok.AccessToken, true); err == nil {
			st.tok = tok
			page, err = fetch(tok.AccessToken)
		}
	} else if errors.Is(err, connectors.ErrUnauthorized) {
		if tok, ok := a.replacedTokens(ctx, in.ConnectionRef, st.tok.AccessToken); ok {
			// Re-authorized since this page loaded its token (a
			// provider without refresh tokens, such as Slack): the
			// refusal was of the old grant; retry once with the new.
			a.logger(ctx, in.ConnectionRef).Info("provider refused a token the connection no longer holds; retrying with its new one")
			st.tok = tok
			page, err = fetch(tok.AccessToken)
			if errors.Is(err, connectors.ErrUnauthorized) {
				if _, again := a.replacedTokens(ctx, in.ConnectionRef, tok.AccessToken); again {
					// Re-authorized again meanwhile: still not the
					// stored grant's refusal. The next attempt reads
					// the token then stored.
					return nil, temporal.NewApplicationErrorWithOptions("the connection was re-authorized while a page ran: "+err.Error(), ErrTypeTransient,
						temporal.ApplicationErrorOptions{NextRetryDelay: time.Second})
				}
			}
		}
	}
	if err != nil {
		if k := connectors.Kind(err); st.hasRef && (k == connectors.ErrNotFound || k == connectors.ErrForbidden) {
			// The resource's routes go and health names it; no retry helps.
			if !a.loseAccess(ctx, in.ConnectionRef, st.p, st.ref, err) {
				return nil, streamGone(in.Stream)
			}
			typ := ErrTypeNotFound
			if k == connectors.ErrForbidden {
				typ = ErrTypeForbidden
			}
			return nil, temporal.NewNonRetryableApplicationError(err.Error(), typ, nil)
		}
		return nil, a.translate(ctx, in.ConnectionRef, err)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if page.Moved != "" {
		return page, nil // nothing to store: SyncPage follows the resource
	}
	if page.Account != nil {
		if err := st.recordAccount(ctx, page.Account); err != nil {
			return nil, a.translate(ctx, in.ConnectionRef, err)
		}
	}
	batch, err := ingest.NewBatch(in.Provider, page.Signals)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidConfig, nil)
	}
	batch.Retracts = st.p.Spec.Retracts
	var stored db.Stored
	begin := a.DB.WithTenant
	if len(batch.Rows) > 0 {
		begin = a.DB.WithTenantSignals // the writer lock in the first statement
	}
	err = begin(ctx, in.TenantID, func(tx *db.Tx) error {
		// The stream is still configured as the page is stored: a PATCH
		// that removed it while the page was read committed first, or
		// waits for the page (ShareConnection). A deleted connection is
		// AdvanceCursor's to refuse.
		c, err := tx.ShareConnection(ctx, in.ConnectionID)
		switch {
		case poblysh.ErrorCode(err) == poblysh.ENOTFOUND:
		case err != nil:
			return err
		case !st.configured(c):
			return errStreamRemoved
		}
		if stored, err = batch.Store(ctx, tx, in.TenantID, in.ConnectionID); err != nil {
			return err
		}
		if err := tx.AdvanceCursor(ctx, in.ConnectionID, in.Stream, page.Next, st.cur.Version); err != nil {
			return err
		}
		if err := tx.PutFingerprints(ctx, in.ConnectionID, fingerprints(page.Fingerprints)); err != nil {
			return err
		}
		return tx.AddJobProgress(ctx, in.JobID, db.JobProgress{
			Pages: 1, Items: page.Items, Stored: len(stored.Kinds), Duplicates: stored.Duplicates, RunID: in.RunID,
		})
	})
	if errors.Is(err, errStreamRemoved) {
		a.logger(ctx, in.ConnectionRef).Info("the connection's config stopped naming the stream while a page was read; the page is not stored and its pass ends")
		return nil, streamGone(in.Stream)
	}
	if errors.Is(err, db.ErrCursorMoved) {
		return nil, temporal.NewApplicationErrorWithOptions("cursor moved; re-reading it", ErrTypeTransient,
			temporal.ApplicationErrorOptions{NextRetryDelay: time.Second})
	}
	if err != nil {
		return nil, a.translate(ctx, in.ConnectionRef, err)
	}
	// A deletion that committed while the page was read and stored could
	// not mark what the page had not committed: re-apply it now. On
	// failure the page stays stored (a retry would read the next page);
	// the retention run re-applies every tombstone.
	if err := batch.Reapply(ctx, a.DB, in.TenantID, nil); err != nil {
		a.logger(ctx, in.ConnectionRef).WithError(err).Warn("could not re-apply retractions to the page's Signals; the retention run will")
	}
	metrics.PagesTotal.WithLabelValues(in.Provider).Inc()
	batch.Count(stored)
	var moved *time.Time
	if !st.cur.UpdatedAt.IsZero() {
		moved = &st.cur.UpdatedAt
	}
	now := a.now()
	observePollLag(in.ConnectionRef, moved, stored.OccurredAt, now)
	// The cursor as AdvanceCursor left it: the next page starts there.
	st.cur.Value, st.cur.Version, st.cur.UpdatedAt = page.Next, st.cur.Version+1, now
	st.stored, st.duplicates = len(stored.Kinds), stored.Duplicates
	return page, nil
}

// errStreamRemoved rolls back a page whose stream the connection's config
// stopped naming while the page was read.
var errStreamRemoved = errors.New("the connection's config no longer names the stream")

// configured reports whether c's config still names the stream, as the
// connector lists its streams (a Slack org install's workspaces, a Drive's
// changes: streams of the config, whether or not they read a resource of
// it). A config the connector cannot list streams of is not held against
// the page: FetchPage fails on it as before.
func (st *syncStream) configured(c *db.Connection) bool {
	streams, err := st.syncer.Streams(lifecycle.View(c))
	return err != nil || slices.Contains(streams, st.in.Stream)
}

// proved is the stream's resource as the connection last proved it
// (granted or since lost), for the connector to follow by its id; nil
// when none is recorded with an id.
func (st *syncStream) proved() *connectors.Resource {
	if st.res == nil || st.res.ResourceID == "" {
		return nil
	}
	return &connectors.Resource{Ref: st.res.Ref, ID: st.res.ResourceID, Name: st.res.Name, RouteKeys: st.res.RouteKeys}
}

// recordAccount stores the account a page names anew (Page.Account: a
// Jira site whose URL was renamed) before the page, so that the pages
// after it name it the same way, and starts the connection's watch pass,
// whose channels' route keys may name it (connectors.ChannelRekeyer). It
// is stored over the account the activity read only: one a
// re-authorization stored since is kept. An account of another id is a
// connector's mistake, and is not stored.
func (st *syncStream) recordAccount(ctx context.Context, acct *connectors.Account) error {
	a, in := st.a, st.in
	log := a.logger(ctx, in.ConnectionRef)
	if acct.ID != st.conn.ExternalAccountID {
		log.Warn("a page named another account than the connection's; not stored")
		return nil
	}
	if acct.Name == st.view.Account.Name && maps.Equal(acct.Metadata, st.view.Account.Metadata) {
		return nil
	}
	raw, err := json.Marshal(acct)
	if err != nil {
		return fmt.Errorf("encode the account: %w", err)
	}
	var stored bool
	err = a.DB.WithTenant(ctx, in.TenantID, func(tx *db.Tx) (err error) {
		stored, err = tx.RenameAccount(ctx, in.ConnectionID, st.conn.Account, raw, acct.Name)
		return err
	})
	if err != nil || !stored {
		return err
	}
	st.conn.Account, st.conn.DisplayName = raw, acct.Name
	st.view = lifecycle.View(st.conn)
	log.Info("the provider names the connection's account anew (renamed); stored")
	if a.Orchestrator != nil {
		ref := poblysh.ConnectionRef{TenantID: in.TenantID, ConnectionID: in.ConnectionID, Provider: in.Provider}
		if err := a.Orchestrator.StartWatchReconcile(ctx, ref, poblysh.TriggerSchedule); err != nil {
			log.WithError(err).Warn("could not start a watch pass after the account was renamed; its channels keep their old route keys until the next one")
		}
	}
	return nil
}

// checkResource records what the stored pages showed of the stream's
// resource (shown, when a page described it): a new name or route keys,
// or that the token can read it again. A resource keeps its id through a
// rename or a transfer: a page showing another id under the ref read
// another resource (a new repository that took a renamed one's old name),
// which is never recorded in place of the proved one.
func (st *syncStream) checkResource(ctx context.Context, shown *connectors.Resource) {
	a, in, ref, res := st.a, st.in, st.ref, st.res
	if !st.hasRef {
		return
	}
	if shown != nil && (shown.Ref != ref || shown.ID == "") {
		shown = nil
	}
	if shown != nil && res != nil && res.ResourceID != "" && shown.ID != res.ResourceID {
		a.logger(ctx, in.ConnectionRef).WithField("resource", ref).WithField("id", shown.ID).WithField("proved_id", res.ResourceID).
			Warn("a page showed another resource than the one proved under this ref; not recorded")
		shown = nil
	}
	if res != nil && res.Access == db.AccessGranted && shown != nil &&
		(shown.Name != res.Name || res.ResourceID == "" || !sameKeys(shown.RouteKeys, res.RouteKeys)) {
		// Renamed or transferred (same id), or reached through other keys
		// now (a Slack org-wide install granted or refused workspaces):
		// the token just read it as it is; record it, and route it so.
		if kept, err := a.recordProof(ctx, in.ConnectionRef, st.p, &connectors.AccessReport{Granted: []connectors.Resource{*shown}}); err != nil {
			a.logger(ctx, in.ConnectionRef).WithError(err).WithField("resource", ref).Warn("could not record the resource as read")
		} else if len(kept.Granted) > 0 {
			a.logger(ctx, in.ConnectionRef).WithField("resource", ref).WithField("name", shown.Name).
				WithField("route_keys", shown.RouteKeys).Info("resource changed at the provider")
		}
	}
	if res == nil || res.Access != db.AccessGranted {
		// The token just read the resource: route it again. A page that
		// showed it (the one proved, by id) is the proof; else prove the
		// ref. A failure here costs nothing stored; the next page tries
		// again.
		var err error
		if shown != nil {
			_, err = a.recordProof(ctx, in.ConnectionRef, st.p, &connectors.AccessReport{Granted: []connectors.Resource{*shown}})
		} else {
			err = a.regainAccess(ctx, in.ConnectionRef, st.p, ref, st.hc, st.view)
		}
		if err != nil {
			a.logger(ctx, in.ConnectionRef).WithError(err).WithField("resource", ref).Warn("could not re-prove access")
		}
	}
}

// sameKeys reports whether two sets of route keys hold the same keys, in
// any order.
func sameKeys(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
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
		metrics.SetConnection(metrics.PollLag, t.Provider, t.ConnectionID, worst.Seconds())
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
		// The tenant's own cap (PATCH /tenants/{id}), read by every
		// activity so a change applies within one batch (batchTime); the
		// environment's default otherwise.
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
