package activities

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
)

// TestRefresherThatWaitedOnARefusedSpendDoesNotSpendItAgain: two
// refreshers of one connection found its access token wanting; the
// provider has ended the grant (the user removed the app). The first
// spends the refresh token and is refused. The second waited for that
// spend, on the token lock or (the first's session lost) on its in-flight
// mark: it ends with the first's refusal, and the provider is not asked
// again with the token it refused. It used to take the lock once the
// first had let go of it and spend the refused token once more.
func TestRefresherThatWaitedOnARefusedSpendDoesNotSpendItAgain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// lost ends the first refresher's lock session while the
		// provider holds its answer: the second waits on the mark.
		lost bool
	}{{"on the token lock", false}, {"on the in-flight mark", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var grants atomic.Int32
			atProvider, release := make(chan struct{}), make(chan struct{})
			e := newRefreshEnv(t, fakesandbox.Options{}, func(e *refreshEnv, h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/oauth/token" && r.PostFormValue("grant_type") == "refresh_token" && grants.Add(1) == 1 {
						close(atProvider)
						select {
						case <-release:
						case <-time.After(30 * time.Second):
						}
					}
					h.ServeHTTP(w, r)
				})
			})
			first := e.stored()
			e.sb.OAuth.RevokeRefreshTokens()

			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			errs := make([]error, 2)
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[0] = e.acts.refresh(ctx, e.target, first.AccessToken, true)
			}()
			<-atProvider // the first holds the lock, its spend marked
			if tc.lost {
				e.owner(`SELECT pg_terminate_backend(pid, 5000) FROM pg_locks
					WHERE locktype = 'advisory' AND granted AND objsubid = 1
					  AND ((classid::bigint << 32) | objid::bigint) = hashtextextended('poblysh-token:' || $1, 0)`, e.target.ConnectionID)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[1] = e.acts.refresh(ctx, e.target, first.AccessToken, true)
			}()
			if tc.lost {
				e.waitFor(func() bool {
					return strings.Contains(e.logs.String(), "another refresher is spending this refresh token; waiting for its answer")
				})
			} else {
				e.waitFor(e.tokenLockWaited)
			}
			close(release)
			wg.Wait()

			require.ErrorIs(t, errs[0], connectors.ErrUnauthorized)
			require.ErrorIs(t, errs[1], connectors.ErrUnauthorized, "the second ends with the first's refusal")
			require.Equal(t, int32(1), grants.Load(), "the refused refresh token was sent to the provider once")
			require.Equal(t, poblysh.HealthNeedsReauth, e.health())
			require.True(t, e.refreshRefused())
			require.Contains(t, e.healthReason(), "invalid_grant", "the provider's refusal is what is recorded")
			require.Equal(t, first.RefreshToken, e.stored().RefreshToken)
		})
	}
}

// waitFor polls cond until it holds (failing the test after 20 s).
func (e *refreshEnv) waitFor(cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatal("condition not reached")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// tokenLockWaited reports whether a session waits for the connection's
// token lock.
func (e *refreshEnv) tokenLockWaited() bool {
	e.t.Helper()
	ctx := context.Background()
	var waiting bool
	require.NoError(e.t, e.schema.DB.WithTenant(ctx, e.target.TenantID, func(tx *db.Tx) error {
		return tx.GetContext(ctx, &waiting, `SELECT EXISTS (SELECT FROM pg_locks
			WHERE locktype = 'advisory' AND NOT granted AND objsubid = 1
			  AND ((classid::bigint << 32) | objid::bigint) = hashtextextended('poblysh-token:' || $1, 0))`, e.target.ConnectionID)
	}))
	return waiting
}
