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
