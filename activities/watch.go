package activities

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/lifecycle"
)

// maxChannelLife bounds a push channel's expiry as stored. No provider here
// grants a longer one (Jira's webhooks last 30 days, Google's channels a
// week by default); a later expiry (a provider's garbage, milliseconds read
// as seconds) would never be renewed, or would not fit Postgres and fail
// the pass after the channel was made, so the channel is renewed as if it
// lived this long: renewing early costs one more channel.
const maxChannelLife = 31 * 24 * time.Hour

// channelExpiry is a new channel's expiry as stored: nil when it has none;
// one past maxChannelLife from now, or before year 1 (garbage Postgres
// cannot hold either), becomes now + maxChannelLife, reported by capped.
func channelExpiry(expires, now time.Time) (at *time.Time, capped bool) {
	if expires.IsZero() {
		return nil, false
	}
	if limit := now.Add(maxChannelLife); expires.After(limit) || expires.Year() < 1 {
		limit = limit.UTC()
		return &limit, true
	}
	e := expires.UTC()
	return &e, false
}

// due reports whether a channel must be renewed or replaced now: the
// renewal sweep's rule (db.RenewWithin), so that a pass the sweep starts
// renews what the sweep found due.
func (a *Activities) due(c db.WatchChannel) bool {
	return c.RenewalDue(a.now(), a.RenewalInterval)
}

// ReconcileWatchesInput names the connection whose channels to reconcile.
type ReconcileWatchesInput struct {
	poblysh.ConnectionRef
}

// ReconcileWatchesResult reports a watch reconciliation.
type ReconcileWatchesResult struct {
	Created, Stopped, Active int
	PushEnabled              bool
	// WatchError says why channels could not be registered (the connection
	// then polls); "" when registration worked or was not attempted.
	WatchError string
	// Uncovered lists the targets without an open channel while others
	// have one: push is then off (PushEnabled false), so the connection
	// polls at its interval, not only for reconciliation.
	Uncovered []string `json:",omitempty"`
}

// storeChannelsFor bounds the store of the channels a provider just made,
// which runs on after the pass's context has ended.
const storeChannelsFor = 30 * time.Second

// ReconcileWatches brings a connection's push channels in line with its
// config: opens channels for targets without one, replaces channels that
// expire within a day (the new channel first, then the old one is stopped,
// so no change falls between them; a ChannelRenewer's are extended in
// place, and so are those whose route key it would build otherwise now:
// renewChannels) and a SecretBound provider's channels made under another
// webhook secret than its current one (rotated), registers again channels
// a ChannelChecker finds gone or disabled at the provider (GitHub hooks,
// which never expire), stops
// channels of targets no longer configured, rewrites the connection's
// webhook routes and records whether push covers every target
// (lifecycle.RecordPush). Without a public URL nothing is registered and
// the connection polls.
//
// A provider call refused with the token the pass began with (it expired
// or was rotated early) refreshes the token once and runs the pass again,
// as a sync page does; only a second refusal is the grant's.
func (a *Activities) ReconcileWatches(ctx context.Context, in ReconcileWatchesInput) (ReconcileWatchesResult, error) {
	res, err := a.reconcileWatches(ctx, in, false)
	var refused *refusedToken
	if !errors.As(err, &refused) {
		return res, err
	}
	a.logger(ctx, in.ConnectionRef).Info("provider answered 401 to a watch call; refreshing the token once")
	if _, err := a.refresh(ctx, in.ConnectionRef, refused.token, true); err != nil {
		return res, a.translate(ctx, in.ConnectionRef, err)
	}
	return a.reconcileWatches(ctx, in, true)
}

// refusedToken reports that the provider refused token (401) during a
// watch pass that may still refresh it.
type refusedToken struct {
	token string
	err   error
}

func (e *refusedToken) Error() string { return e.err.Error() }
func (e *refusedToken) Unwrap() error { return e.err }

func (a *Activities) reconcileWatches(ctx context.Context, in ReconcileWatchesInput, refreshed bool) (ReconcileWatchesResult, error) {
	t := in.ConnectionRef
	p, err := a.provider(in.Provider)
	if err != nil {
		return ReconcileWatchesResult{}, err
	}
	var conn *db.Connection
	var channels []db.WatchChannel
	// The pass holds a lease while it may register channels at the
	// provider: a delete marks the connection first (then no lease is
	// granted) and waits for the lease to end before it lists the channels
	// it stops and revokes the token, so none made meanwhile is left there.
	lease := a.now().Add(2 * time.Minute)
	if activity.IsActivity(ctx) {
		lease = activity.GetInfo(ctx).Deadline
	}
	// ...and past it by the store that outlives the deadline: channels
	// the provider answered with at the deadline are stored after it.
	lease = lease.Add(storeChannelsFor + 5*time.Second)
	leased := false
	_, watchable := p.Connector.(connectors.Watcher)
	watchable = watchable && p.Config.PublicURLSet
	err = a.DB.WithTenant(ctx, in.TenantID, func(tx *db.Tx) (err error) {
		if conn, err = tx.FindConnection(ctx, in.ConnectionID); err != nil || !conn.Active() {
			return err
		}
		if leased, err = tx.TakeWatchLease(ctx, in.ConnectionID, lease); err != nil || !leased {
			return cmp.Or(err, error(poblysh.NotFound("connection"))) // being deleted
		}
		if watchable {
			// Taken off when the pass ends with nothing refused: one that
			// fails or is refused is tried again, whether or not a channel
			// is left for the renewal sweep to renew.
			base, ceiling := a.watchRetryBounds(p)
			if err := tx.MarkWatchRetry(ctx, in.ConnectionID, a.now(), base, ceiling); err != nil {
				return err
			}
		}
		channels, err = tx.ActiveWatchChannels(ctx, in.ConnectionID)
		return err
	})
	if leased {
		defer func() {
			// Ended whatever became of the pass (a cancelled one too).
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := a.DB.WithTenant(ctx, in.TenantID, func(tx *db.Tx) error { return tx.EndWatchLease(ctx, in.ConnectionID, lease) }); err != nil {
				a.logger(ctx, t).WithError(err).Warn("could not end the watch pass's lease; a delete waits for it to expire")
			}
		}()
	}
	if err := a.live(ctx, t, conn, err); err != nil {
		return ReconcileWatchesResult{}, err
	}
	// The token is refreshed first when it is about to expire: channel
	// calls must not be refused with a stale token.
	auth, err := a.authorize(ctx, t)
	if err != nil {
		return ReconcileWatchesResult{}, a.live(ctx, t, nil, err)
	}
	fail := func(err error) error {
		if !refreshed && connectors.Kind(err) == connectors.ErrUnauthorized && auth.tok.RefreshToken != "" {
			return &refusedToken{token: auth.tok.AccessToken, err: err}
		}
		if connectors.Kind(err) == connectors.ErrUnauthorized {
			if _, ok := a.replacedTokens(ctx, t, auth.tok.AccessToken); ok {
				// Re-authorized while the pass ran (a provider without
				// refresh tokens, such as a GitHub OAuth app): not the
				// stored grant's refusal. The next attempt uses it.
				return temporal.NewApplicationErrorWithOptions("the connection was re-authorized while its watch pass ran: "+err.Error(), ErrTypeTransient,
					temporal.ApplicationErrorOptions{NextRetryDelay: time.Second})
			}
		}
		return a.translate(ctx, t, err)
	}
	view := lifecycle.View(conn)
	hc := auth.client
	var res ReconcileWatchesResult

	// Resources the connection has never proved (it predates proofs) are
	// proved now; only granted ones are watched and routed.
	granted, prover, err := a.provedRefs(ctx, t, p, view, hc)
	if err != nil {
		return res, fail(err)
	}
	_, keyed := p.Connector.(connectors.ChannelKeyed)
	// A SecretBound provider's channels made under another webhook secret
	// than its current one (rotated) are replaced: their notifications
	// carry a token the current secret refuses. Without a secret none
	// verifies.
	secretID, bound := "", false
	if b, ok := p.Connector.(connectors.SecretBound); ok {
		secretID, bound = b.SecretID(), true
	}
	gone := map[string]bool{} // channels CheckWatch found stale, by row id
	var held map[string]bool  // channels a failed renewal cleanup holds (renewChannels), by row id
	stale := func(c db.WatchChannel) bool {
		if held[c.ID] {
			return false // left as it is until the next pass retries
		}
		return a.due(c) || (keyed && !c.HasSecret) || (bound && (secretID == "" || c.SecretID != secretID)) || gone[c.ID]
	}

	watcher, canWatch := p.Connector.(connectors.Watcher)
	var want []string // what the connection watches, when it can
	if canWatch && p.Config.PublicURLSet {
		if want, err = watcher.WatchTargets(view); err != nil {
			return res, fail(err)
		}
		if prover {
			want = slices.DeleteFunc(want, func(target string) bool { return !granted[target] })
		}
		wanted := map[string]bool{}
		for _, target := range want {
			wanted[target] = true
		}
		if r, ok := watcher.(connectors.ChannelRenewer); ok {
			if channels, held, err = a.renewChannels(ctx, t, p, r, conn, view, hc, channels, wanted); err != nil {
				return res, fail(err)
			}
		}
		if c, ok := watcher.(connectors.ChannelChecker); ok {
			// Channels that never expire are looked at here only: one
			// deleted or disabled at the provider is registered again.
			for _, ch := range channels {
				if !wanted[ch.Target] || stale(ch) {
					continue
				}
				isStale, err := c.CheckWatch(ctx, connectors.CheckWatchRequest{Connection: view, HTTP: hc, Channel: channelOf(ch)})
				if connectors.Kind(err) == connectors.ErrUnauthorized {
					return res, fail(err)
				}
				log := a.logger(ctx, t).WithField("channel_id", ch.ChannelID)
				if err != nil {
					log.WithError(err).Warn("could not check a push channel at the provider; it is kept as it is")
					continue
				}
				if isStale {
					log.Warn("a push channel is gone, disabled or changed at the provider; it is registered again")
					gone[ch.ID] = true
				}
			}
		}
		have := map[string][]db.WatchChannel{}
		for _, c := range channels {
			have[c.Target] = append(have[c.Target], c)
		}
		var open []string
		for _, target := range want {
			fresh := false
			for _, c := range have[target] {
				if !stale(c) {
					fresh = true
				}
			}
			if !fresh {
				open = append(open, target)
			}
		}
		reused := map[string]bool{} // channel ids the provider answered with
		if len(open) > 0 || (len(want) == 0 && !prover) {
			// The stored secrets of the stale channels registered again: a
			// provider that edits one in place (a GitHub hook disabled, or
			// whose secret was removed) gives it back the secret stored
			// for it, which verifies what it signs from the edit on; a new
			// secret was refused until this pass stored it.
			var secrets map[string]string
			var stale []string
			for _, target := range open {
				for _, c := range have[target] {
					if keyed && c.HasSecret {
						stale = append(stale, c.ChannelID)
					}
				}
			}
			if len(stale) > 0 {
				var unreadable []string
				err := a.DB.WithTenant(ctx, in.TenantID, func(tx *db.Tx) (err error) {
					secrets, unreadable, err = tx.WatchChannelSecrets(ctx, a.KeyRing, in.ConnectionID, stale)
					return err
				})
				if err != nil {
					return res, fail(err)
				}
				if len(unreadable) > 0 {
					a.logger(ctx, t).WithField("channel_ids", unreadable).
						Warn("stored channel secrets do not decrypt (a key removed before reencrypt moved them); the provider gives those channels new secrets")
				}
			}
			created, err := watcher.Watch(ctx, connectors.WatchRequest{
				Connection: view, HTTP: hc, CallbackURL: p.Config.WebhookURL(p.Spec.Name), Targets: open, Now: a.now(),
				Secrets: secrets,
			})
			if k := connectors.Kind(err); k == connectors.ErrForbidden || k == connectors.ErrInvalidConfig {
				// The grant may not register hooks (or no webhook secret is
				// set): deliveries can still be set up by hand; meanwhile the
				// connection polls. Not a health problem. Channels registered
				// before the refusal (GitHub: the repositories before one the
				// token may not manage) are kept: they exist at the provider
				// and deliver.
				a.logger(ctx, t).WithError(err).Warn("could not register push channels; the connection polls instead")
				res.WatchError = err.Error()
				err = nil
			}
			if err != nil && len(created) == 0 {
				return res, fail(err)
			}
			watchErr := err
			// What the provider made is stored even when the pass's context
			// has ended meanwhile (its deadline, a cancellation): dropped,
			// it stayed at the provider, delivering, and the retry made
			// another. Stored, the next pass uses it or stops it.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeChannelsFor)
			defer cancel()
			err = a.DB.WithTenant(sctx, in.TenantID, func(tx *db.Tx) error {
				// The row first, as RebuildRoutes below locks it: taken
				// after the channels' inserts (whose foreign key holds KEY
				// SHARE on it), it deadlocked with a PATCH that pauses.
				// A deleted connection stores nothing: its channels stop.
				if _, err := tx.LockConnection(sctx, in.ConnectionID); err != nil {
					return err
				}
				for _, c := range created {
					w := db.WatchChannel{ConnectionID: in.ConnectionID, Provider: in.Provider, ChannelID: c.ID,
						ResourceID: c.ResourceID, Target: c.Target, Stream: c.Stream, RouteKey: c.RouteKey, Secret: c.Secret,
						SecretID: secretID}
					var capped bool
					if w.ExpiresAt, capped = channelExpiry(c.Expires, a.now()); capped {
						a.logger(ctx, t).WithFields(map[string]any{"channel_id": c.ID, "provider_expiry": c.Expires.String()}).
							Warn("the provider's channel expiry is past any channel's life; it is renewed as if it ended " + w.ExpiresAt.Format(time.RFC3339))
					}
					if err := tx.InsertWatchChannel(sctx, a.KeyRing, w); err != nil {
						return err
					}
				}
				// Routed in the same transaction: a delivery on a new
				// channel the moment it is stored must not be unroutable
				// (acknowledged and lost). The old channels keep their
				// routes until they are stopped below.
				return lifecycle.RebuildRoutes(sctx, tx, p, conn)
			})
			if err != nil {
				// Not stored: stopped, so that nothing here is unknown.
				for _, c := range created {
					err := watcher.StopWatch(sctx, connectors.StopWatchRequest{Connection: view, HTTP: hc, Channel: c})
					if err != nil && connectors.Kind(err) != connectors.ErrNotFound {
						a.logger(ctx, t).WithError(err).WithField("channel_id", c.ID).Warn("could not stop a push channel that could not be stored; it stays at the provider until it expires")
					}
				}
				return res, fail(err)
			}
			if watchErr != nil {
				return res, fail(watchErr)
			}
			for _, c := range created {
				reused[c.ID] = true
			}
			res.Created = len(created)
			a.confirmChannels(ctx, t, p, watcher, view, auth, created)
			if activity.IsActivity(ctx) {
				activity.RecordHeartbeat(ctx, res.Created)
			}
		}
		// Stop what is superseded or no longer configured (new ones exist now).
		for _, c := range channels {
			if wanted[c.Target] && !stale(c) || reused[c.ChannelID] {
				// A stale channel the provider answered with again (GitHub
				// reuses the repository's hook, given a new secret and
				// events) is the one just stored: stopping it deleted the
				// hook and turned push off.
				continue
			}
			if err := a.stopChannel(ctx, t, watcher, view, hc, c); err != nil {
				return res, fail(err)
			}
			res.Stopped++
		}
	} else if canWatch {
		// No public URL: channels cannot reach us; stop any left over.
		for _, c := range channels {
			if err := a.stopChannel(ctx, t, watcher, view, hc, c); err != nil {
				return res, fail(err)
			}
			res.Stopped++
		}
	}
	err = a.DB.WithTenant(ctx, in.TenantID, func(tx *db.Tx) error { return lifecycle.RebuildRoutes(ctx, tx, p, conn) })
	if err != nil {
		return res, fail(err)
	}
	// Push works when every target has an open, routed channel (or the
	// provider pushes to an app-level URL that routes by account):
	// lifecycle.RecordPush, which a proof that loses or grants a resource
	// records too.
	//
	// A target uncovered now that the pass did not try to watch (its
	// resource was not granted when the pass began, or the config named it
	// only after the pass read it) but that is granted now gets one more
	// pass, which watches it: a sync that read a lost resource again while
	// this pass was stopping its channel saw the channel still open and
	// routed, so its proof started no pass, and nothing else would (a
	// GitHub hook never expires). Only such a target starts one: the next
	// pass wants it, so a target it cannot watch (refused) or one lost
	// again starts no pass after pass.
	var unwatched []string
	err = a.DB.WithTenant(ctx, in.TenantID, func(tx *db.Tx) error {
		if res.WatchError == "" {
			// Nothing refused: a target left without a channel is one the
			// provider cannot watch (a holiday calendar), which a retry
			// would ask about in vain; and a connection that cannot watch
			// (no public URL) has nothing to retry.
			if err := tx.ClearWatchRetry(ctx, in.ConnectionID); err != nil {
				return err
			}
		}
		push, err := lifecycle.RecordPush(ctx, tx, p, conn)
		res.Active, res.PushEnabled, res.Uncovered = push.Active, push.On, push.Uncovered
		if err != nil || !prover || len(push.Uncovered) == 0 {
			return err
		}
		rows, err := tx.ListResources(ctx, in.ConnectionID)
		for _, r := range rows {
			if r.Access == db.AccessGranted && slices.Contains(push.Uncovered, r.Ref) && !slices.Contains(want, r.Ref) {
				unwatched = append(unwatched, r.Ref)
			}
		}
		return err
	})
	if err != nil {
		return res, fail(err)
	}
	if len(res.Uncovered) > 0 {
		// A count: targets are tenant input (a calendar id can be an address).
		a.logger(ctx, t).WithField("uncovered", len(res.Uncovered)).
			Info("targets without a push channel (refused, or ones the provider cannot watch): the connection polls at its interval")
	}
	if a.Orchestrator != nil {
		if err := a.Orchestrator.SyncSchedules(ctx, in.TenantID, in.ConnectionID); err != nil {
			return res, fail(err)
		}
		if len(unwatched) > 0 {
			// Signals this pass's own workflow, which runs one more pass
			// when this one ends. Not sent, the pass is retried, and the
			// retry watches the target.
			a.logger(ctx, t).WithField("unwatched", len(unwatched)).
				Info("targets granted while the pass ran have no push channel; one more watch pass follows")
			if err := a.Orchestrator.StartWatchReconcile(ctx, t.Connection(), poblysh.TriggerSchedule); err != nil {
				return res, fail(err)
			}
		}
	}
	return res, nil
}

// defaultWatchRetry is the first wait before a failed or refused watch
// is tried again when no renewal interval is set (POBLYSH_RENEWAL_INTERVAL's
// default), defaultWatchRetryCeiling the longest when the provider has no
// reconcile interval.
const (
	defaultWatchRetry        = 30 * time.Minute
	defaultWatchRetryCeiling = 6 * time.Hour
)

// watchRetryBounds are the first and the longest wait before a watch that
// failed or was refused is tried again (db.MarkWatchRetry): one renewal
// sweep interval (the sweep lists it), and the provider's reconcile
// interval (how often a connection with push reads anyway), so a watch
// refused for good costs a pass that often.
func (a *Activities) watchRetryBounds(p *connectors.Provider) (base, ceiling time.Duration) {
	base = cmp.Or(a.RenewalInterval, defaultWatchRetry)
	ceiling = max(cmp.Or(p.Spec.Policy.ReconcileInterval, defaultWatchRetryCeiling), base)
	return base, ceiling
}

// confirmChannels asks the provider to deliver again what channels refused
// before they were stored and routed (connectors.WatchConfirmer: GitHub's
// first ping of a new hook, and any event in that moment, arrive before
// its secret is stored and are refused). A confirmation refused with the
// token the pass began with (expired, or ended by another activity's
// refresh: GitHub ends the old access token when a refresh token is spent)
// is tried again once with the token refresh gives (the stored one when
// it differs). A failure is logged only: the channel works either way, and
// the next sync reads what push missed.
func (a *Activities) confirmChannels(ctx context.Context, t poblysh.ConnectionRef, p *connectors.Provider, w connectors.Watcher,
	view connectors.Connection, auth *authorized, created []connectors.Channel) {
	c, ok := w.(connectors.WatchConfirmer)
	if !ok {
		return
	}
	hc, used := auth.client, auth.tok.AccessToken
	for _, ch := range created {
		confirm := func() error {
			return c.ConfirmWatch(ctx, connectors.ConfirmWatchRequest{Connection: view, HTTP: hc, Channel: ch, Now: a.now()})
		}
		err := confirm()
		if errors.Is(err, connectors.ErrUnauthorized) && auth.tok.RefreshToken != "" {
			tok, rerr := a.refresh(ctx, t, used, true)
			if rerr != nil {
				err = errors.Join(err, rerr)
			} else {
				hc, used = a.Registry.HTTPClient(p, auth.conn.ExternalAccountID, tok.AccessToken), tok.AccessToken
				err = confirm()
			}
		}
		if err != nil {
			a.logger(ctx, t).WithError(err).WithField("channel_id", ch.ID).Warn("could not confirm a new push channel")
		}
	}
}

// channelOf is a stored channel as its provider knows it.
func channelOf(c db.WatchChannel) connectors.Channel {
	return connectors.Channel{ID: c.ChannelID, ResourceID: c.ResourceID, Target: c.Target, Stream: c.Stream, RouteKey: c.RouteKey}
}

func (a *Activities) stopChannel(ctx context.Context, t poblysh.ConnectionRef, w connectors.Watcher, view connectors.Connection, hc *http.Client, c db.WatchChannel) error {
	err := w.StopWatch(ctx, connectors.StopWatchRequest{Connection: view, HTTP: hc, Channel: channelOf(c)})
	if err != nil && connectors.Kind(err) != connectors.ErrNotFound {
		return err
	}
	return a.DB.WithTenant(ctx, t.TenantID, func(tx *db.Tx) error { return tx.MarkWatchStopped(ctx, c.ID) })
}

// provedRefs proves the resources of the connection's config that have no
// recorded proof yet, and returns the refs it may read now. prover is false
// for connectors whose routes do not come from tenant input.
func (a *Activities) provedRefs(ctx context.Context, t poblysh.ConnectionRef, p *connectors.Provider, view connectors.Connection, hc *http.Client) (map[string]bool, bool, error) {
	prover, ok := p.Connector.(connectors.AccessProver)
	if !ok {
		return nil, false, nil
	}
	refs, err := prover.ResourceRefs(view)
	if err != nil {
		return nil, true, err
	}
	var rows []db.Resource
	if err := a.DB.WithTenant(ctx, t.TenantID, func(tx *db.Tx) (err error) {
		rows, err = tx.ListResources(ctx, t.ConnectionID)
		return err
	}); err != nil {
		return nil, true, err
	}
	granted, known := map[string]bool{}, map[string]bool{}
	for _, r := range rows {
		known[r.Ref] = true
		granted[r.Ref] = r.Access == db.AccessGranted
	}
	var missing []string
	for _, ref := range refs {
		if !known[ref] {
			missing = append(missing, ref)
		}
	}
	if len(missing) > 0 {
		report, err := prover.ProveAccess(ctx, connectors.AccessRequest{Connection: view, HTTP: hc, Only: missing})
		if err != nil {
			return nil, true, err
		}
		kept, err := a.recordProof(ctx, t, p, report)
		if err != nil {
			return nil, true, err
		}
		for _, r := range kept.Granted {
			granted[r.Ref] = true
		}
	}
	return granted, true, nil
}
