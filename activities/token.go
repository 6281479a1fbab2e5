package activities

import (
	"context"
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/metrics"
)

// refresh spends the connection's refresh token under its token lock and
// stores the new tokens (a rotated refresh token in the same statement as
// the access token). seen is the access token the caller found wanting
// ("" from the sweeper): when the stored token differs, another writer
// refreshed while we waited for the lock, and its token is reused instead of
// spending the refresh token again. Without force, a token that is not due
// is left alone. Permanent failures move the connection to needs_reauth
// (which pauses its schedules); transient ones are counted per day.
func (a *Activities) refresh(ctx context.Context, t Target, seen string, force bool) (*db.Tokens, error) {
	p, err := a.provider(t.Provider)
	if err != nil {
		return nil, err
	}
	pol := p.Spec.Policy.Token
	var out *db.Tokens
	err = a.DB.WithTenant(ctx, t.TenantID, func(tx *db.Tx) error {
		if err := tx.LockTokens(ctx, t.ConnectionID); err != nil {
			return err
		}
		conn, err := tx.FindConnection(ctx, t.ConnectionID)
		if err != nil {
			return err
		}
		cur, err := tx.LoadTokens(ctx, a.KeyRing, t.ConnectionID)
		if err != nil {
			return err
		}
		if seen != "" && cur.AccessToken != seen {
			out = cur // someone refreshed while we waited for the lock
			return nil
		}
		if !force && cur.Expiry != nil && cur.Expiry.Sub(a.now()) > pol.RefreshBefore {
			out = cur
			return nil
		}
		if cur.RefreshToken == "" {
			return errors.Join(connectors.ErrUnauthorized, errors.New("the provider issued no refresh token; reconnect"))
		}
		tok, err := a.Registry.Refresh(ctx, p, ConnectorConnection(conn).Account, cur.RefreshToken)
		if err != nil {
			return err
		}
		next := db.Tokens{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, TokenType: tok.TokenType}
		if !tok.Expiry.IsZero() {
			e := tok.Expiry.UTC()
			next.Expiry = &e
		}
		if err := tx.SaveTokens(ctx, a.KeyRing, t.ConnectionID, next); err != nil {
			return err
		}
		if next.RefreshToken == "" {
			next.RefreshToken = cur.RefreshToken // not rotated: the old one stays valid
		}
		out = &next
		return nil
	})
	switch {
	case err == nil:
		metrics.TokenRefreshes.WithLabelValues(t.Provider, "ok").Inc()
		return out, nil
	case connectors.Kind(err) == connectors.ErrUnauthorized || connectors.Kind(err) == connectors.ErrInvalidConfig:
		metrics.TokenRefreshes.WithLabelValues(t.Provider, "revoked").Inc()
		a.setHealth(ctx, t, poblysh.HealthNeedsReauth, "token refresh failed permanently: "+err.Error())
		return nil, temporal.NewNonRetryableApplicationError("token refresh failed permanently: "+err.Error(), ErrTypeUnauthorized, nil)
	case poblysh.ErrorCode(err) == poblysh.ENOTFOUND:
		return nil, temporal.NewNonRetryableApplicationError("connection was deleted", ErrTypeConnectionInactive, nil)
	default:
		metrics.TokenRefreshes.WithLabelValues(t.Provider, "transient").Inc()
		var n int
		_ = a.DB.WithTenant(context.WithoutCancel(ctx), t.TenantID, func(tx *db.Tx) (err error) {
			n, err = tx.RecordRefreshFailure(ctx, t.ConnectionID)
			return err
		})
		a.logger(ctx, t).WithError(err).WithField("failures_today", n).Warn("token refresh failed; will retry")
		return nil, err
	}
}

// RefreshToken refreshes a connection's token if it is due (or Force).
func (a *Activities) RefreshToken(ctx context.Context, in RefreshInput) (RefreshResult, error) {
	t := Target{TenantID: in.TenantID, ConnectionID: in.ConnectionID, Provider: in.Provider}
	var conn *db.Connection
	err := a.DB.WithTenant(ctx, in.TenantID, func(tx *db.Tx) (err error) {
		conn, err = tx.FindConnection(ctx, in.ConnectionID)
		return err
	})
	if poblysh.ErrorCode(err) == poblysh.ENOTFOUND {
		return RefreshResult{}, temporal.NewNonRetryableApplicationError("connection was deleted", ErrTypeConnectionInactive, nil)
	}
	if err != nil {
		return RefreshResult{}, a.translate(ctx, t, err)
	}
	if !conn.Active() {
		return RefreshResult{}, inactive(conn)
	}
	before := conn.TokenRefreshedAt
	tok, err := a.refresh(ctx, t, "", in.Force)
	if err != nil {
		return RefreshResult{}, a.translate(ctx, t, err)
	}
	refreshed := tok.RefreshedAt == nil || before == nil || tok.RefreshedAt.After(*before)
	return RefreshResult{Refreshed: refreshed, ExpiresAt: tok.Expiry}, nil
}

// ListDueTokens lists connections whose tokens the sweep should refresh.
func (a *Activities) ListDueTokens(ctx context.Context, in ListDueInput) (ListDueResult, error) {
	var out []db.DueConnection
	err := a.DB.WithSystem(ctx, func(tx *db.Tx) error {
		for _, p := range a.Registry.Providers() {
			pol := p.Spec.Policy.Token
			if !pol.Expires && pol.KeepAliveAfter == 0 {
				continue
			}
			// The window covers the next sweep too (it runs hourly).
			window := pol.RefreshBefore + time.Hour
			due, err := tx.TokensDue(ctx, p.Spec.Name, window, pol.KeepAliveAfter, in.Limit-len(out))
			if err != nil {
				return err
			}
			out = append(out, due...)
			if len(out) >= in.Limit {
				break
			}
		}
		return nil
	})
	return ListDueResult{Connections: out}, err
}

// StartRefreshes starts one RefreshToken workflow per connection.
func (a *Activities) StartRefreshes(ctx context.Context, in StartManyInput) (StartManyResult, error) {
	n := 0
	for _, c := range in.Connections {
		if err := a.Orchestrator.StartRefresh(ctx, c); err != nil {
			return StartManyResult{Started: n}, err
		}
		n++
	}
	return StartManyResult{Started: n}, nil
}
