package activities

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
)

// reconnectTokens are the tokens a user's reconnect stores.
var reconnectTokens = db.Tokens{AccessToken: "access-from-reconnect", RefreshToken: "refresh-from-reconnect", TokenType: "Bearer"}

// reconnect stores a new grant for the connection as lifecycle's store
// does: the row locked by UpsertConnection, the tokens saved, one
// transaction, no token lock. pid (optional) receives its session's
// backend pid before it touches the row.
func (e *refreshEnv) reconnect(pid chan<- int) error {
	ctx := context.Background()
	return e.schema.DB.WithTenant(ctx, e.target.TenantID, func(tx *db.Tx) error {
		if pid != nil {
			var p int
			if err := tx.GetContext(ctx, &p, `SELECT pg_backend_pid()`); err != nil {
				return err
			}
			pid <- p
		}
		if _, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "fake",
			ExternalAccountID: fakesandbox.DefaultAccountID, ConnectionID: e.target.ConnectionID}); err != nil {
			return err
		}
		return tx.SaveTokens(ctx, e.acts.KeyRing, e.target.ConnectionID, reconnectTokens)
	})
}

// refreshRefused reports whether the connection's refresh token is marked
// refused (MarkRefreshRefused).
func (e *refreshEnv) refreshRefused() bool {
	e.t.Helper()
	ctx := context.Background()
	var refused bool
	require.NoError(e.t, e.schema.DB.WithTenant(ctx, e.target.TenantID, func(tx *db.Tx) error {
		return tx.GetContext(ctx, &refused, `SELECT refresh_refused_at IS NOT NULL FROM connections WHERE id = $1`, e.target.ConnectionID)
	}))
	return refused
}

// requireReconnectWorking checks that the connection holds the reconnect's
// grant, healthy, its refresh token not marked refused.
func (e *refreshEnv) requireReconnectWorking() {
	e.t.Helper()
	got := e.stored()
	require.Equal(e.t, reconnectTokens.AccessToken, got.AccessToken, "the reconnect's tokens are stored")
	require.Equal(e.t, reconnectTokens.RefreshToken, got.RefreshToken)
	require.Equal(e.t, poblysh.HealthHealthy, e.health(), "the reconnected grant works; the refusal was of the old one")
	require.False(e.t, e.refreshRefused(), "the reconnect's refresh token was never refused")
}

// TestRefusedRefreshLeavesAReconnectedGrantWorking: the user removed the
// app at the provider, so a refresh's old refresh token is refused
// (invalid_grant), while the user reconnects. The refusal was of the old
// grant: whenever the reconnect commits, the connection ends with the
// reconnect's grant, healthy, its refresh token not marked refused, and
// its schedules not paused.
func TestRefusedRefreshLeavesAReconnectedGrantWorking(t *testing.T) {
	t.Parallel()

	// The reconnect commits as the refusal is being recorded, after any
	// look for tokens stored meanwhile that comes before the recording
	// transaction: the statement that marks the refresh token refused is
	// held until the reconnect has committed or waits for the row. It used
	// to commit between that look and the recording: the new grant was
	// marked refused and moved to needs_reauth (schedules paused).
	t.Run("while the refusal is recorded", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		e := newRefreshEnv(t, fakesandbox.Options{}, nil)
		old := e.stored()
		e.sb.OAuth.RevokeRefreshTokens()

		reconnected := make(chan error, 1)
		hookErr := make(chan error, 1)
		hook := func() {
			pid := make(chan int, 1)
			go func() { reconnected <- e.reconnect(pid) }()
			var p int
			select {
			case p = <-pid:
			case err := <-reconnected:
				reconnected <- err
				return
			}
			for {
				select {
				case err := <-reconnected:
					reconnected <- err // committed (or failed): read again below
					return
				case <-time.After(5 * time.Millisecond):
				}
				var waiting bool
				if err := e.schema.DB.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_locks WHERE pid = $1 AND NOT granted)`, p).Scan(&waiting); err != nil {
					hookErr <- err
					return
				}
				if waiting { // for the row the refusal's transaction holds
					return
				}
			}
		}
		acts := e.heldAt("refresh_refused_at = now()", hook)

		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		_, err := acts.refresh(rctx, e.target, old.AccessToken, true)
		require.ErrorIs(t, err, connectors.ErrUnauthorized, "the refusal was recorded before the reconnect, on the grant it refused")
		select {
		case err := <-hookErr:
			require.NoError(t, err)
		default:
		}
		select {
		case err := <-reconnected:
			require.NoError(t, err)
		case <-time.After(20 * time.Second):
			t.Fatal("the reconnect did not commit")
		}
		e.requireReconnectWorking()
	})

	// The reconnect commits while the provider refuses the old token,
	// before the refusal is recorded: nothing is recorded, and the refresh
	// returns the reconnect's tokens.
	t.Run("before the refusal is recorded", func(t *testing.T) {
		t.Parallel()
		reconnected := make(chan error, 1)
		var once sync.Once
		e := newRefreshEnv(t, fakesandbox.Options{}, func(e *refreshEnv, h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/oauth/token" && r.PostFormValue("grant_type") == "refresh_token" {
					once.Do(func() { reconnected <- e.reconnect(nil) })
				}
				h.ServeHTTP(w, r)
			})
		})
		old := e.stored()
		e.sb.OAuth.RevokeRefreshTokens()

		out, err := e.acts.refresh(context.Background(), e.target, old.AccessToken, true)
		require.NoError(t, <-reconnected)
		require.NoError(t, err)
		require.Equal(t, reconnectTokens.AccessToken, out.AccessToken, "the reconnect's tokens are returned")
		e.requireReconnectWorking()
		e.requireLogged("refresh token refused, but newer tokens were stored meanwhile; keeping those")
	})

	// A refresh refused before the provider is asked (there is no refresh
	// token to spend, or the grant has ended) is a refusal of the tokens
	// it read too: the reconnect commits after that decision and before
	// the refusal is recorded, and is kept. Untagged, the refusal marked
	// the reconnected grant refused and needs_reauth.
	t.Run("without a refresh token, before the refusal is recorded", func(t *testing.T) {
		t.Parallel()
		e := newRefreshEnv(t, fakesandbox.Options{}, nil)
		e.owner(`UPDATE connections SET refresh_token_ct = NULL WHERE id = $1`, e.target.ConnectionID) // SaveTokens keeps a stored one
		old := e.stored()
		require.Empty(t, old.RefreshToken)
		e.refuseWhileReconnecting(old.AccessToken, "the provider issued no refresh token")
	})
	t.Run("past the grant's end, before the refusal is recorded", func(t *testing.T) {
		t.Parallel()
		e := newRefreshEnv(t, fakesandbox.Options{}, nil)
		p, ok := e.acts.Registry.Get("fake")
		require.True(t, ok)
		p.Connector = grantEnded{Connector: p.Connector, end: time.Now().Add(-time.Hour)}
		e.refuseWhileReconnecting(e.stored().AccessToken, "authorization ended on")
	})
}

// grantEnded is a connector whose grants ended at end (a
// connectors.GrantExpirer, as Jira's).
type grantEnded struct {
	connectors.Connector
	end time.Time
}

func (g grantEnded) GrantExpiry(connectors.Connection) time.Time { return g.end }

// heldAt is the env's activities on a database session of their own whose
// statement containing marker is held until hook returns (dbtest.Proxy.HoldAt).
func (e *refreshEnv) heldAt(marker string, hook func()) *Activities {
	t := e.t
	t.Helper()
	proxy := dbtest.NewProxy(t, dbtest.URL(t))
	proxy.HoldAt(marker, hook)
	other, err := db.Open(context.Background(), proxy.URL(dbtest.URL(t)),
		db.Options{Role: "poblysh_app", Schema: e.schema.Name, MaxConns: 4})
	require.NoError(t, err)
	t.Cleanup(other.Close)
	acts := *e.acts
	acts.DB = other
	return &acts
}

// refuseWhileReconnecting refreshes a grant that is refused without asking
// the provider (reason is in the refusal) while the user reconnects: the
// reconnect commits just before the refusal's recording transaction reads
// the stored tokens. The refresh returns the reconnect's tokens and
// records nothing.
func (e *refreshEnv) refuseWhileReconnecting(access, reason string) {
	t := e.t
	t.Helper()
	ctx := context.Background()
	reconnected := make(chan error, 1)
	acts := e.heldAt("deleted_at IS NULL FOR UPDATE", func() { reconnected <- e.reconnect(nil) })

	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := acts.refresh(rctx, e.target, access, true)
	select {
	case err := <-reconnected:
		require.NoError(t, err)
	default:
		t.Fatal("the refusal was recorded without reading the stored tokens under the row lock")
	}
	require.NoError(t, err)
	require.Equal(t, reconnectTokens.AccessToken, out.AccessToken, "the reconnect's tokens are returned")
	e.requireReconnectWorking()
	e.requireLogged("refresh token refused, but newer tokens were stored meanwhile; keeping those")
	require.Contains(t, e.logs.String(), reason)
}
