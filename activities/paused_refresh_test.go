package activities

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
)

// callsOrchestrator records what activities ask of the orchestrator; a
// call it does not implement panics (the embedded interface is nil).
type callsOrchestrator struct {
	Orchestrator
	mu    sync.Mutex
	calls []string
}

func (o *callsOrchestrator) NudgeConnection(context.Context, poblysh.ConnectionRef, poblysh.Trigger) (int, error) {
	o.record("NudgeConnection")
	return 0, nil
}

func (o *callsOrchestrator) SyncSchedules(context.Context, string, string) error {
	o.record("SyncSchedules")
	return nil
}

func (o *callsOrchestrator) record(call string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, call)
}

// The sweep's keep-alive refreshes a paused connection's token (pausing
// stops syncing, not the authorization; an unused refresh token lapses at
// the provider): the RefreshToken activity spends the refresh token and
// stores the answer, and nothing else moves: the connection stays paused
// and disabled, no sync is asked for, its cursor is untouched. Once the
// provider refuses the refresh token, the connection stays paused and
// disabled (only a resume lifts that) and the sweep stops listing it,
// until a reconnect stores new tokens.
func TestRefreshTokenKeepsAPausedConnectionsRefreshTokenAlive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newRefreshEnv(t, fakesandbox.Options{}, nil)
	orch := &callsOrchestrator{}
	e.acts.Orchestrator = orch
	require.NoError(t, e.schema.DB.WithTenant(ctx, e.target.TenantID, func(tx *db.Tx) error {
		if err := tx.AdvanceCursor(ctx, e.target.ConnectionID, "items", json.RawMessage(`{"page":3}`), 0); err != nil {
			return err
		}
		pause(t, tx, e.target.ConnectionID)
		return nil
	}))
	cursor := func() db.Cursor {
		var c db.Cursor
		require.NoError(t, e.schema.DB.WithTenant(ctx, e.target.TenantID, func(tx *db.Tx) (err error) {
			c, err = tx.GetCursor(ctx, e.target.ConnectionID, "items")
			return err
		}))
		return c
	}
	// due ages the stored tokens past the keep-alive (31 days unused) and
	// lists what the sweep's keep-alive finds due.
	due := func() []poblysh.ConnectionRef {
		var out []poblysh.ConnectionRef
		require.NoError(t, e.schema.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
			if _, err := tx.ExecContext(ctx, `UPDATE connections SET token_refreshed_at = now() - interval '31 days'`); err != nil {
				return err
			}
			out, _, err = tx.TokensDue(ctx, []db.TokenSweep{{Provider: "fake", KeepAlive: 30 * 24 * time.Hour}}, nil, 10)
			return err
		}))
		return out
	}
	before, cur := e.stored(), cursor()
	refreshes := e.sb.OAuth.Refreshes

	res, err := e.acts.RefreshToken(ctx, RefreshTokenInput{ConnectionRef: e.target, Force: true})
	require.NoError(t, err, "a paused connection's token is refreshed")
	require.True(t, res.Refreshed)
	require.Equal(t, refreshes+1, e.sb.OAuth.Refreshes)
	after := e.stored()
	require.NotEqual(t, before.RefreshToken, after.RefreshToken, "the rotated refresh token is stored")
	require.NotEqual(t, before.AccessToken, after.AccessToken)
	c := e.connection()
	require.True(t, c.Paused, "still paused")
	require.Equal(t, poblysh.HealthDisabled, c.Health)
	require.Equal(t, cur, cursor(), "the cursor is untouched")
	require.Empty(t, orch.calls, "no sync is asked for, no schedule changed")
	require.Len(t, due(), 1, "its refresh token is kept alive")

	// The user revokes the grant while the connection is paused.
	require.True(t, e.sb.OAuth.Revoke(after.RefreshToken))
	_, err = e.acts.RefreshToken(ctx, RefreshTokenInput{ConnectionRef: e.target, Force: true})
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.Equal(t, ErrTypeUnauthorized, appErr.Type())
	require.True(t, appErr.NonRetryable())
	c = e.connection()
	require.True(t, c.Paused)
	require.Equal(t, poblysh.HealthDisabled, c.Health, "only a resume lifts disabled")
	require.Empty(t, due(), "a refused refresh token is not tried again every hour")
	require.Equal(t, cur, cursor())

	// A reconnect stores new tokens: kept alive again.
	require.NoError(t, e.schema.DB.WithTenant(ctx, e.target.TenantID, func(tx *db.Tx) error {
		return tx.SaveTokens(ctx, e.acts.KeyRing, e.target.ConnectionID, db.Tokens{AccessToken: "a2", RefreshToken: "r2", TokenType: "Bearer"})
	}))
	require.Len(t, due(), 1)
}

// The RefreshToken activity still refuses a connection that needs
// re-authorization, paused or not, and a deleted one.
func TestRefreshTokenSkipsInactiveConnections(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newRefreshEnv(t, fakesandbox.Options{}, nil)
	refreshes := e.sb.OAuth.Refreshes
	require.NoError(t, e.schema.DB.WithTenant(ctx, e.target.TenantID, func(tx *db.Tx) error {
		return tx.SetHealth(ctx, e.target.ConnectionID, poblysh.HealthNeedsReauth, "revoked")
	}))
	for _, paused := range []bool{false, true} {
		require.NoError(t, e.schema.DB.WithTenant(ctx, e.target.TenantID, func(tx *db.Tx) error {
			_, err := tx.UpdateConnection(ctx, e.target.ConnectionID, db.ConnectionPatch{Paused: &paused})
			return err
		}))
		_, err := e.acts.RefreshToken(ctx, RefreshTokenInput{ConnectionRef: e.target, Force: true})
		require.True(t, isType(err, ErrTypeConnectionInactive), "paused %v: %v", paused, err)
	}
	require.NoError(t, e.schema.DB.WithTenant(ctx, e.target.TenantID, func(tx *db.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE connections SET deleted_at = now() WHERE id = $1`, e.target.ConnectionID)
		return err
	}))
	_, err := e.acts.RefreshToken(ctx, RefreshTokenInput{ConnectionRef: e.target, Force: true})
	require.True(t, isType(err, ErrTypeConnectionInactive), "deleted: %v", err)
	require.Equal(t, refreshes, e.sb.OAuth.Refreshes, "no refresh token was spent")
}

func (e *refreshEnv) connection() *db.Connection {
	e.t.Helper()
	var c *db.Connection
	require.NoError(e.t, e.schema.DB.WithTenant(context.Background(), e.target.TenantID, func(tx *db.Tx) (err error) {
		c, err = tx.FindConnection(context.Background(), e.target.ConnectionID)
		return err
	}))
	return c
}
