package activities

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
)

// A rotated refresh token is stored even when the provider's answer arrives
// after the refreshing activity's context ended (its StartToClose deadline,
// a cancellation seen by a heartbeat, a worker stop). The exchange ran on
// the activity's context, so the answer was dropped, nothing was stored,
// and the next refresh spent a dead token: needs_reauth on a provider whose
// refresh tokens are single-use.
func TestRotatedTokenOutlivesTheActivityContext(t *testing.T) {
	t.Parallel()
	var slow atomic.Bool
	e := newRefreshEnv(t, fakesandbox.Options{}, func(_ *refreshEnv, h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r) // the provider has rotated by now
			if slow.Load() {
				time.Sleep(300 * time.Millisecond)
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
		})
	})
	before := e.stored()
	slow.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	_, err := e.acts.refresh(ctx, e.target, "", true)
	require.NoError(t, err, "the answer is stored though the context ended")
	require.Equal(t, 1, e.sb.OAuth.Refreshes, "the provider rotated the token")
	require.NotEqual(t, before.RefreshToken, e.stored().RefreshToken, "the rotated token is stored")

	slow.Store(false)
	_, err = e.acts.refresh(context.Background(), e.target, "", true)
	require.NoError(t, err)
	require.Equal(t, poblysh.HealthHealthy, e.health(), "the connection should not need re-authorization")
}
