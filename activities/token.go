package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/lifecycle"
	"github.com/poblysh/poblysh/metrics"
)

// refresh spends the connection's refresh token under its token lock and
// stores what the provider answered in a short transaction of its own that
// commits right away (see persistRefreshed): the provider has already
// spent the old refresh token by then, so nothing else may fail first.
// seen is the access token the caller found wanting ("" from the
// sweeper): when the stored token differs, another writer refreshed while
// we waited for the lock, and its token is reused instead of spending the
// refresh token again. Before the provider is called the spend is marked
// (committed), so a refresher that gets the lock because the first one's
// session died waits for the answer instead of spending the token again.
// Without force, a token that is not due is left alone. A refused grant
// (ErrUnauthorized) moves the connection to needs_reauth (which pauses its
// schedules; a paused connection stays disabled) and marks its refresh
// token refused, which the sweep then no longer keeps alive, unless the
// refused tokens were replaced meanwhile (a reconnect): those are
// returned instead (recordRefusal); a refused
// OAuth client (ErrInvalidConfig: the operator's client ID or secret)
// degrades it and keeps the grant, which the next refresh after the fix
// spends as usual; transient failures are counted per day. A refusal and a
// deleted connection come back as a *refreshError: a neutral error whose
// cause keeps its kind for callers outside activities (the API's access
// checks), which translate makes the activity's non-retryable failure.
func (a *Activities) refresh(ctx context.Context, t poblysh.ConnectionRef, seen string, force bool) (*db.Tokens, error) {
	p, err := a.provider(t.Provider)
	if err != nil {
		return nil, err
	}
	out, err := a.refreshLocked(ctx, p, t, seen, force)
	switch {
	case err == nil:
		metrics.TokenRefreshes.WithLabelValues(t.Provider, "ok").Inc()
		return out, nil
	case connectors.Kind(err) == connectors.ErrUnauthorized:
		if stored := a.recordRefusal(ctx, t, err); stored != nil {
			a.logger(ctx, t).WithError(err).Warn("refresh token refused, but newer tokens were stored meanwhile; keeping those")
			metrics.TokenRefreshes.WithLabelValues(t.Provider, "ok").Inc()
			return stored, nil
		}
		metrics.TokenRefreshes.WithLabelValues(t.Provider, "revoked").Inc()
		return nil, &refreshError{msg: "token refresh failed permanently: " + err.Error(), typ: ErrTypeUnauthorized, err: err}
	case connectors.Kind(err) == connectors.ErrInvalidConfig:
		metrics.TokenRefreshes.WithLabelValues(t.Provider, "client_refused").Inc()
		detail := "check " + clientSettings(p.Spec) + ": " + err.Error()
		a.logger(ctx, t).WithError(err).Error("the provider refused the OAuth client at token refresh; check " + clientSettings(p.Spec))
		a.recordHealth(ctx, t, poblysh.HealthEvent{Kind: poblysh.EventClientRefused, Detail: detail})
		return nil, &refreshError{msg: "token refresh refused the OAuth client: " + detail, typ: ErrTypeInvalidConfig, err: err}
	case poblysh.ErrorCode(err) == poblysh.ENOTFOUND:
		return nil, &refreshError{msg: "connection was deleted", typ: ErrTypeConnectionInactive, err: err}
	case errors.Is(err, db.ErrTokenLockBusy):
		// Another refresh holds the lock (a slow provider): not a failure
		// of this token; a retry finds what that refresh stored.
		a.logger(ctx, t).WithError(err).Info("another refresh of this token is taking long; will retry")
		return nil, err
	default:
		metrics.TokenRefreshes.WithLabelValues(t.Provider, "transient").Inc()
		// Counted also when ctx has ended (the answer came after the
		// activity's deadline): on ctx, the statement failed and the
		// count rolled back.
		var n int
		bctx := context.WithoutCancel(ctx)
		_ = a.DB.WithTenant(bctx, t.TenantID, func(tx *db.Tx) (err error) {
			n, err = tx.RecordRefreshFailure(bctx, t.ConnectionID)
			return err
		})
		a.logger(ctx, t).WithError(err).WithField("failures_today", n).Warn("token refresh failed; will retry")
		return nil, err
	}
}

// refusedGrant is a refresh refused for good (ErrUnauthorized: the
// provider refused the refresh token, or there is none, or the grant has
// ended) and the tokens stored when it was decided: the access token,
// which recordRefusal compares with what is stored when it records it,
// and the refresh token, whose in-flight mark it clears. recorded is a
// refusal recorded before (the stored refresh token is marked refused),
// which is not recorded again.
type refusedGrant struct {
	error
	access   string
	refresh  string
	recorded bool
}

func (e *refusedGrant) Unwrap() error { return e.error }

// refused wraps err as a refusal of cur when it is one.
func refused(err error, cur *db.Tokens) error {
	if connectors.Kind(err) != connectors.ErrUnauthorized {
		return err
	}
	return &refusedGrant{error: err, access: cur.AccessToken, refresh: cur.RefreshToken}
}

// recordRefusal records a refused grant: the connection moves to
// needs_reauth (which pauses its schedules; a paused connection stays
// disabled) and its refresh token is marked refused, which ends its
// keep-alive. It first reads the stored tokens in the same transaction,
// locking the row: when their access token is no longer the one the
// refusal was of, new tokens were stored meanwhile (a reconnect, or a
// refresher whose in-flight mark had gone stale) and the refusal says
// nothing about them: nothing is recorded, and those tokens are returned.
// A reconnect locks the row too (UpsertConnection), so it commits either
// before the read, and is seen, or after the refusal is recorded, which
// it then heals; read in a transaction of its own, a reconnect that
// committed between the read and the record was marked refused and
// needs_reauth. It runs even when ctx has ended (the answer came after the
// activity's deadline): the refusal is final; dropped, the connection
// stayed healthy until a later refresh spent the dead token again.
//
// A refused spend's in-flight mark (MarkRefreshSpend) goes in the same
// transaction, not before (spendFailed leaves it): a refresher that waited
// for that spend, on its mark or on the token lock, finds the refused
// token marked refused once the mark is gone, and ends with the refusal
// instead of spending the token again (refreshOnce). Should the record
// fail, the mark lapses after spendInFlightFor.
func (a *Activities) recordRefusal(ctx context.Context, t poblysh.ConnectionRef, err error) *db.Tokens {
	bctx := context.WithoutCancel(ctx)
	var of *refusedGrant
	errors.As(err, &of)
	if of != nil && of.recorded {
		return nil
	}
	var stored *db.Tokens
	a.recordHealthOf(bctx, t, func(tx *db.Tx) (poblysh.HealthEvent, error) {
		stored = nil // a retried transaction reads again
		cur, lerr := tx.LoadTokensForUpdate(bctx, a.KeyRing, t.ConnectionID)
		if lerr != nil && !errors.Is(lerr, db.ErrNoStoredToken) {
			return poblysh.HealthEvent{}, lerr
		}
		if of != nil && of.refresh != "" {
			if err := tx.ClearRefreshSpend(bctx, t.ConnectionID, of.refresh); err != nil {
				return poblysh.HealthEvent{}, err
			}
		}
		switch {
		case lerr == nil && of != nil && cur.AccessToken != "" && cur.AccessToken != of.access:
			stored = cur
			return poblysh.HealthEvent{}, nil // nothing to record
		}
		return poblysh.HealthEvent{Kind: poblysh.EventRefreshFailed, Detail: err.Error()}, tx.MarkRefreshRefused(bctx, t.ConnectionID)
	})
	return stored
}

// refreshError is a refresh that no retry fixes (a refused grant, a
// refused OAuth client, a deleted connection), whose health event refresh
// has recorded. It wraps its cause, so connectors.Kind and
// poblysh.ErrorCode see what failed (the API answers a refused grant 400,
// as it does without a refresh token); translate turns it into the
// activity's non-retryable failure of type typ without recording health
// again.
type refreshError struct {
	msg string
	typ string // the activity failure's type (ErrType*)
	err error
}

func (e *refreshError) Error() string { return e.msg }
func (e *refreshError) Unwrap() error { return e.err }

// clientSettings names the variables that hold a provider's OAuth client,
// for the operator whose client the token endpoint refused.
func clientSettings(s *connectors.Spec) string {
	n := "POBLYSH_" + s.EnvName()
	out := n + "_CLIENT_ID and " + n + "_CLIENT_SECRET"
	if s.EnvFallback != "" {
		out += " (or POBLYSH_" + s.EnvFallback + "_*)"
	}
	return out
}

// replacedTokens returns the connection's stored tokens when their access
// token is not the one a provider just refused: the connection was
// re-authorized meanwhile, and the refusal says nothing about it. A page
// that loaded its token before a disconnect and reconnect otherwise marked
// the new grant needs_reauth.
func (a *Activities) replacedTokens(ctx context.Context, t poblysh.ConnectionRef, refused string) (*db.Tokens, bool) {
	var cur *db.Tokens
	err := a.DB.WithTenant(ctx, t.TenantID, func(tx *db.Tx) (err error) {
		cur, err = tx.LoadTokens(ctx, a.KeyRing, t.ConnectionID)
		return err
	})
	if err != nil || cur.AccessToken == "" || cur.AccessToken == refused {
		return nil, false
	}
	return cur, true
}

// tokenLock holds the connection's token lock, which persistRefreshed may
// have to take again on a new session.
type tokenLock struct{ l *db.TokenLock }

func (h *tokenLock) release() {
	if h.l != nil {
		h.l.Release()
		h.l = nil
	}
}

// refreshLocked refreshes under the token lock. When another refresher is
// spending the stored refresh token (its mark is recent: it lost the lock
// with its session while the provider answered), it waits for that answer
// to be stored instead of spending the token again, then decides anew.
func (a *Activities) refreshLocked(ctx context.Context, p *connectors.Provider, t poblysh.ConnectionRef, seen string, force bool) (*db.Tokens, error) {
	for {
		out, busy, err := a.refreshOnce(ctx, p, t, seen, force)
		if busy == nil {
			return out, err
		}
		if out, err := a.awaitSpend(ctx, t, busy); out != nil || err != nil {
			return out, err
		}
	}
}

// spendInFlight is a spend of a refresh token that another refresher
// marked: the tokens it found and how long ago the spend began.
type spendInFlight struct {
	cur *db.Tokens
	age time.Duration
}

// refreshOnce is one turn under the token lock. It returns busy (and
// releases the lock) when the stored refresh token is marked as being
// spent by another refresher.
func (a *Activities) refreshOnce(ctx context.Context, p *connectors.Provider, t poblysh.ConnectionRef, seen string, force bool) (*db.Tokens, *spendInFlight, error) {
	l, err := a.DB.LockTokens(ctx, t.TenantID, t.ConnectionID)
	if err != nil {
		return nil, nil, err
	}
	lock := &tokenLock{l: l}
	defer lock.release()
	var conn *db.Connection
	var cur *db.Tokens
	var spending bool
	var age time.Duration
	err = l.Tx(ctx, func(tx *db.Tx) (err error) {
		if conn, err = tx.FindConnection(ctx, t.ConnectionID); err != nil {
			return err
		}
		if cur, err = tx.LoadTokens(ctx, a.KeyRing, t.ConnectionID); err != nil {
			return err
		}
		age, spending, err = tx.RefreshSpend(ctx, t.ConnectionID, cur.RefreshToken)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if seen != "" && cur.AccessToken != seen {
		return cur, nil, nil // someone refreshed while we waited for the lock
	}
	if err := a.checkGrant(ctx, t, p, conn); err != nil {
		return nil, nil, refused(err, cur)
	}
	if !force && cur.Expiry != nil && cur.Expiry.Sub(a.now()) > p.Spec.Policy.Token.RefreshBefore {
		return cur, nil, nil
	}
	if cur.RefreshToken == "" {
		return nil, nil, refused(errors.Join(connectors.ErrUnauthorized, errors.New("the provider issued no refresh token; reconnect")), cur)
	}
	if cur.RefusedAt != nil {
		// The provider refused this refresh token (to the refresher this
		// one waited for, on the lock or on its spend's mark, or to an
		// earlier one) and the refusal is recorded: asked again, it
		// answers the same. New tokens (a reconnect) clear the mark.
		return nil, nil, &refusedGrant{error: fmt.Errorf("%w: the provider refused the stored refresh token at %s; reconnect",
			connectors.ErrUnauthorized, cur.RefusedAt.UTC().Format(time.RFC3339)), access: cur.AccessToken, refresh: cur.RefreshToken, recorded: true}
	}
	if spending && age < spendInFlightFor {
		return nil, &spendInFlight{cur: cur, age: age}, nil
	}
	if err := l.Tx(ctx, func(tx *db.Tx) error { return tx.MarkRefreshSpend(ctx, t.ConnectionID, cur.RefreshToken) }); err != nil {
		return nil, nil, fmt.Errorf("mark the refresh token as being spent: %w", err)
	}
	tok, spent, err := a.spendRefreshToken(ctx, p, t, lifecycle.View(conn).Account, cur)
	if err != nil {
		return a.spendFailed(ctx, t, cur, err)
	}
	next := &db.Tokens{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, TokenType: tok.TokenType}
	switch {
	case tok.RefreshToken != "" && tok.RefreshToken != spent:
		next.PrevRefreshToken = spent // rotated: keep the spent one for one more try
	case spent == cur.RefreshToken:
		next.RefreshToken, next.PrevRefreshToken = spent, cur.PrevRefreshToken // not rotated
	default:
		next.RefreshToken = spent // the previous token answered without rotating; the rejected one goes
	}
	if !tok.Expiry.IsZero() {
		e := tok.Expiry.UTC()
		next.Expiry = &e
	}
	out, err := a.persistRefreshed(ctx, lock, t, cur, next)
	if err == nil && conn.Health == poblysh.HealthDegraded {
		a.recordRefreshed(context.WithoutCancel(ctx), t)
	}
	return out, nil, err
}

// recordRefreshed records a successful refresh of a degraded connection,
// which heals a degradation by a refused OAuth client only
// (poblysh.Health.NextFrom): to degraded again, naming the resource, when
// one is still recorded as lost (the check a completed sync makes, in the
// transaction that applies the move).
func (a *Activities) recordRefreshed(ctx context.Context, t poblysh.ConnectionRef) {
	a.recordHealthOf(ctx, t, func(tx *db.Tx) (poblysh.HealthEvent, error) {
		ev := poblysh.HealthEvent{Kind: poblysh.EventRefreshed}
		lost, err := tx.LostResource(ctx, t.ConnectionID)
		if lost != nil {
			ev.LostAccess, ev.Detail = true, lost.Ref+": "+lost.Reason
		}
		return ev, err
	})
}

// spendFailed ends a spend the provider did not answer with tokens: the
// mark goes, so nobody waits for an answer that will not be stored. A
// refusal comes back as a refusal of cur: whether the connection still
// holds it (newer tokens may have been stored meanwhile, by a reconnect or
// by a refresher whose spend had gone unmarked or whose mark had gone
// stale) is decided where it is recorded (recordRefusal), which also
// removes its mark: a refresher waiting for this spend then finds the
// refusal recorded, not an unmarked token to spend again.
func (a *Activities) spendFailed(ctx context.Context, t poblysh.ConnectionRef, cur *db.Tokens, err error) (*db.Tokens, *spendInFlight, error) {
	if connectors.Kind(err) == connectors.ErrUnauthorized {
		return nil, nil, refused(err, cur)
	}
	bctx := context.WithoutCancel(ctx)
	if cerr := a.DB.WithTenant(bctx, t.TenantID, func(tx *db.Tx) error {
		return tx.ClearRefreshSpend(bctx, t.ConnectionID, cur.RefreshToken)
	}); cerr != nil {
		a.logger(ctx, t).WithError(cerr).Warn("could not clear the refresh token's in-flight mark")
	}
	return nil, nil, err
}

// awaitSpend waits, without the token lock, for the spend another
// refresher marked to end. It returns the tokens that spend stored, or
// nothing once its mark is gone or older than spendInFlightFor (the spend
// ended without storing tokens, or its refresher died): the caller then
// takes the lock and decides anew.
func (a *Activities) awaitSpend(ctx context.Context, t poblysh.ConnectionRef, busy *spendInFlight) (*db.Tokens, error) {
	a.logger(ctx, t).WithField("spend_age", busy.age.String()).Info("another refresher is spending this refresh token; waiting for its answer")
	wait := persistBackoff
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: waiting for another refresher's answer: %v", connectors.ErrTransient, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
		var stored *db.Tokens
		var age time.Duration
		var spending bool
		err := a.DB.WithTenant(ctx, t.TenantID, func(tx *db.Tx) (err error) {
			if stored, err = tx.LoadTokens(ctx, a.KeyRing, t.ConnectionID); err != nil {
				return err
			}
			age, spending, err = tx.RefreshSpend(ctx, t.ConnectionID, busy.cur.RefreshToken)
			return err
		})
		switch {
		case err != nil:
			return nil, err
		case stored.AccessToken != busy.cur.AccessToken || stored.RefreshToken != busy.cur.RefreshToken:
			return stored, nil
		case !spending || age >= spendInFlightFor:
			return nil, nil
		}
	}
}

// spendRefreshToken calls the provider's token endpoint and returns its
// answer and the refresh token that earned it. When the outcome is unknown
// (network error, timeout, 5xx: the provider may have rotated the token
// before the answer was lost) the same token is tried once more; when the
// stored token is rejected, the previous one (spent by the last rotating
// refresh) is tried once. A provider with a reuse leeway (Jira: 10 minutes)
// answers both. Only then is the rejection final.
//
// Each exchange runs to its answer even when ctx ends meanwhile (the
// activity's deadline, a cancellation, a worker stop), bounded by the
// token client's own timeout: a provider that rotates has spent the old
// token by the time it answers, and an answer dropped here left only a
// dead token stored. A context that has ended only keeps another exchange
// from starting.
func (a *Activities) spendRefreshToken(ctx context.Context, p *connectors.Provider, t poblysh.ConnectionRef, acct connectors.Account, cur *db.Tokens) (*oauth2.Token, string, error) {
	log := a.logger(ctx, t)
	xctx := context.WithoutCancel(ctx)
	tok, err := a.Registry.Refresh(xctx, p, acct, cur.RefreshToken)
	if err != nil && connectors.Kind(err) == connectors.ErrTransient && ctx.Err() == nil {
		log.WithError(err).Warn("token refresh outcome unknown; trying the same refresh token once more")
		select {
		case <-ctx.Done():
			return nil, "", err
		case <-time.After(retryUnknownAfter):
		}
		tok, err = a.Registry.Refresh(xctx, p, acct, cur.RefreshToken)
	}
	if err == nil {
		return tok, cur.RefreshToken, nil
	}
	prev := cur.PrevRefreshToken
	if connectors.Kind(err) != connectors.ErrUnauthorized || prev == "" || prev == cur.RefreshToken || ctx.Err() != nil {
		return nil, "", err
	}
	log.WithError(err).Warn("refresh token rejected; trying the previous refresh token once")
	tok, perr := a.Registry.Refresh(xctx, p, acct, prev)
	if perr != nil {
		log.WithError(perr).Warn("the previous refresh token was rejected too")
		return nil, "", err
	}
	return tok, prev, nil
}

// Tunables of a refresh (variables so tests can shorten them).
var (
	// retryUnknownAfter is the pause before trying a refresh token again
	// after an unknown outcome.
	retryUnknownAfter = 500 * time.Millisecond
	// persistFor bounds how long new tokens are retried into the database;
	// persistBackoff is the first pause between attempts (doubling).
	persistFor     = 30 * time.Second
	persistBackoff = 100 * time.Millisecond
	// spendInFlightFor is how long a marked spend of a refresh token may
	// still store its answer: its exchanges (at most three: the token, the
	// same once more after an unknown outcome, the previous one) and
	// persistFor. A mark older than that is of a refresher that died.
	spendInFlightFor = 3*connectors.TokenTimeout + retryUnknownAfter + persistFor
)

// persistRefreshed stores the tokens the provider answered, in a short
// transaction on the token lock's session. If the commit fails it tries
// again (a lost session took the lock with it: then on a new session,
// under the lock taken again) until persistFor has passed, whether or not
// the activity is being cancelled: the old refresh token is spent, so these
// tokens are the connection's only way back. Each attempt first reads what
// is stored, locking the row: an earlier attempt whose commit did land is
// not repeated, and tokens another writer stored meanwhile win (a
// refresher while the lock was lost, or a reconnect, which replaces tokens
// under the row lock without the token lock: overwritten, its tokens were
// lost, and for a provider that does not rotate (Zoho) the connection kept
// the old refresh token, the one the reconnect revokes).
func (a *Activities) persistRefreshed(ctx context.Context, lock *tokenLock, t poblysh.ConnectionRef, cur, next *db.Tokens) (*db.Tokens, error) {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), persistFor)
	defer cancel()
	log := a.logger(ctx, t)
	wait := persistBackoff
	for attempt := 1; ; attempt++ {
		var out *db.Tokens
		var err error
		if lock.l == nil {
			lock.l, err = a.DB.LockTokens(pctx, t.TenantID, t.ConnectionID)
		}
		if err == nil {
			err = lock.l.Tx(pctx, func(tx *db.Tx) error {
				stored, err := tx.LoadTokensForUpdate(pctx, a.KeyRing, t.ConnectionID)
				if err != nil {
					return err
				}
				switch {
				case stored.AccessToken == cur.AccessToken && stored.RefreshToken == cur.RefreshToken:
					if err := tx.SaveTokens(pctx, a.KeyRing, t.ConnectionID, *next); err != nil {
						return err
					}
					out = next
				case stored.AccessToken == next.AccessToken && stored.RefreshToken == next.RefreshToken:
					out = stored // an earlier attempt committed after all
				default:
					// Another writer (a refresh while the lock was lost, a
					// re-connect) stored newer tokens: those win.
					log.Warn("new tokens were stored meanwhile by another writer; keeping those")
					out = stored
				}
				return nil
			})
		}
		if err == nil {
			return out, nil
		}
		if poblysh.ErrorCode(err) == poblysh.ENOTFOUND {
			return nil, err // deleted meanwhile: nothing to keep
		}
		if pctx.Err() != nil {
			log.WithError(err).Error("the provider's new tokens could not be stored; the connection may need to be re-authorized")
			return nil, fmt.Errorf("store refreshed tokens: %w", err)
		}
		log.WithError(err).WithField("attempt", attempt).Warn("could not store the refreshed tokens; retrying")
		select {
		case <-pctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
		if lock.l != nil && !lock.l.Alive(pctx) {
			lock.release() // the session died, and the lock with it
		}
	}
}

// RefreshTokenInput refreshes one connection's token.
type RefreshTokenInput struct {
	poblysh.ConnectionRef
	// Force refreshes even when the token is not about to expire.
	Force bool
}

// RefreshTokenResult reports a refresh.
type RefreshTokenResult struct {
	Refreshed bool
	ExpiresAt *time.Time
}

// RefreshToken refreshes a connection's token if it is due (or Force), a
// paused connection's too (refreshable).
func (a *Activities) RefreshToken(ctx context.Context, in RefreshTokenInput) (RefreshTokenResult, error) {
	t := in.ConnectionRef
	var conn *db.Connection
	err := a.DB.WithTenant(ctx, in.TenantID, func(tx *db.Tx) (err error) {
		conn, err = tx.FindConnection(ctx, in.ConnectionID)
		return err
	})
	if err := a.refreshable(ctx, t, conn, err); err != nil {
		return RefreshTokenResult{}, err
	}
	before := conn.TokenRefreshedAt
	tok, err := a.refresh(ctx, t, "", in.Force)
	if err != nil {
		return RefreshTokenResult{}, a.translate(ctx, t, err)
	}
	refreshed := tok.RefreshedAt == nil || before == nil || tok.RefreshedAt.After(*before)
	return RefreshTokenResult{Refreshed: refreshed, ExpiresAt: tok.Expiry}, nil
}
