package activities

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
)

// A worker takes a connection's token lock and marks its refresh token as
// being spent (a refresh mid-flight), then its host vanishes without
// closing its sessions. A refresh on a live worker (a sync page's, after a
// 401) gets the lock once the server has ended the vanished session
// (idle longer than the token lock's bound), waits out the dead spend's
// window (spendInFlightFor), then spends the token itself. Before, the
// server kept the session, and the lock, until TCP keepalive gave up
// (over two hours by default): the refresh waited in pg_advisory_lock
// until its context ended.
func TestRefreshAfterARefresherVanished(t *testing.T) {
	// Not parallel: shortens spendInFlightFor.
	defer func(d time.Duration) { spendInFlightFor = d }(spendInFlightFor)
	spendInFlightFor = 3 * time.Second
	ctx := context.Background()
	e := newRefreshEnv(t, fakesandbox.Options{}, nil)
	var other *db.DB
	var held *db.TokenLock
	t.Cleanup(func() { // after the proxy's, which closes its connections
		if held != nil {
			held.Release()
		}
		if other != nil {
			other.Close()
		}
	})
	proxy := dbtest.NewProxy(t, dbtest.URL(t))
	var err error
	other, err = db.Open(ctx, proxy.URL(dbtest.URL(t)), db.Options{Role: "poblysh_app", Schema: e.schema.Name, MaxConns: 2, TokenLockIdle: 2 * time.Second})
	require.NoError(t, err)

	// The other worker's refresh, mid-flight: lock held, spend marked.
	first := e.stored()
	held, err = other.LockTokens(ctx, e.target.TenantID, e.target.ConnectionID)
	require.NoError(t, err)
	require.NoError(t, held.Tx(ctx, func(tx *db.Tx) error {
		return tx.MarkRefreshSpend(ctx, e.target.ConnectionID, first.RefreshToken)
	}))
	proxy.Vanish()
	refreshes := e.sb.OAuth.Refreshes

	rctx, cancel := context.WithTimeout(ctx, 3*spendInFlightFor+5*time.Second)
	defer cancel()
	start := time.Now()
	tok, err := e.acts.refresh(rctx, e.target, first.AccessToken, true)
	took := time.Since(start)
	t.Logf("refresh returned after %s: %v", took.Round(time.Millisecond), err)
	require.NoError(t, err, "the vanished refresher's session does not block the refresh")
	require.Less(t, took, 3*spendInFlightFor)
	require.Equal(t, refreshes+1, e.sb.OAuth.Refreshes, "the refresh token was spent once")
	stored := e.stored()
	require.Equal(t, tok.AccessToken, stored.AccessToken)
	require.NotEqual(t, first.RefreshToken, stored.RefreshToken, "rotated")
	require.Equal(t, "healthy", string(e.health()))
}
