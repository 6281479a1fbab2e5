package activities

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/sandbox"
	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
)

// cancelAtTokenCall ends a refresh's context when the sandbox receives
// its refresh_token grant, before answering: the answer arrives after the
// activity's context ended (its deadline, a cancellation, a worker stop).
func cancelAtTokenCall(cancel context.CancelFunc) func(*refreshEnv, http.Handler) http.Handler {
	return func(_ *refreshEnv, h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/oauth/token" && r.PostFormValue("grant_type") == "refresh_token" {
				cancel()
			}
			h.ServeHTTP(w, r)
		})
	}
}

// TestRefusedRefreshRecordedAfterTheContextEnded: the provider's refusal
// of the refresh token arrives after the caller's context ended. It is
// final all the same: the connection needs re-authorization and its
// refresh token is marked refused (which ends its keep-alive). Recorded
// on the ended context, it was dropped: the connection stayed healthy
// until a later refresh spent the dead token again.
func TestRefusedRefreshRecordedAfterTheContextEnded(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := newRefreshEnv(t, fakesandbox.Options{}, cancelAtTokenCall(cancel))
	e.sb.OAuth.RevokeRefreshTokens()

	_, err := e.acts.refresh(ctx, e.target, "", true)
	var rerr *refreshError
	require.ErrorAs(t, err, &rerr)
	require.Equal(t, ErrTypeUnauthorized, rerr.typ)
	require.Error(t, ctx.Err(), "the context ended before the answer")
	require.Equal(t, poblysh.HealthNeedsReauth, e.health(), "the refusal is recorded")
	require.True(t, e.refreshRefused(), "the refused refresh token is marked")
	require.Contains(t, e.healthReason(), "invalid_grant")
}

// TestTransientRefreshFailureCountedAfterTheContextEnded: a transient
// refresh failure (the provider answered 503) is counted for the day also
// when it arrives after the caller's context ended. Its statement ran on
// that context: it failed, and the count rolled back.
func TestTransientRefreshFailureCountedAfterTheContextEnded(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := newRefreshEnv(t, fakesandbox.Options{}, cancelAtTokenCall(cancel))
	e.sb.TokenFaults.Add(sandbox.Fault{Status: 503})

	_, err := e.acts.refresh(ctx, e.target, "", true)
	require.Equal(t, connectors.ErrTransient, connectors.Kind(err))
	require.Error(t, ctx.Err(), "the context ended before the answer")
	require.Equal(t, 1, e.sb.TokenFaults.Hits, "not tried again once the context ended")
	var n int
	require.NoError(t, e.schema.DB.WithTenant(context.Background(), e.target.TenantID, func(tx *db.Tx) error {
		return tx.GetContext(context.Background(), &n, `SELECT refresh_failures FROM connections WHERE id = $1`, e.target.ConnectionID)
	}))
	require.Equal(t, 1, n, "the transient failure is counted")
	require.Equal(t, poblysh.HealthHealthy, e.health(), "a transient failure moves no health")
}
