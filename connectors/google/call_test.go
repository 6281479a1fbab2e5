package google_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/google"
)

// TestCallWithAPlainClient: a client that does not classify (the sandbox's
// plain one, a test's) still gets the neutral errors, Google's 403 rate
// limit included, and JSON answers decode.
func TestCallWithAPlainClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/ok":
			require.Equal(t, "application/json", r.Header.Get("Content-Type"))
			_, _ = w.Write([]byte(`{"id":"1"}`))
		case "/limited":
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"error":{"code":403,"errors":[{"domain":"usageLimits","reason":"userRateLimitExceeded"}]}}`))
		case "/denied":
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"error":{"code":403,"errors":[{"domain":"global","reason":"insufficientPermissions"}]}}`))
		case "/gone", "/gone/channels/stop":
			w.WriteHeader(http.StatusNotFound)
		case "/denied/channels/stop":
			w.WriteHeader(http.StatusForbidden)
		default:
			_, _ = w.Write([]byte(`not json`))
		}
	}))
	defer srv.Close()
	var out struct{ ID string }
	require.NoError(t, google.Call(context.Background(), srv.Client(), http.MethodPost, srv.URL+"/ok", map[string]string{"a": "b"}, &out, google.Classify))
	require.Equal(t, "1", out.ID)
	for path, want := range map[string]error{"/limited": connectors.ErrRateLimited, "/denied": connectors.ErrForbidden, "/gone": connectors.ErrNotFound, "/junk": connectors.ErrTransient} {
		err := google.Call(context.Background(), srv.Client(), http.MethodGet, srv.URL+path, nil, &out, google.Classify)
		require.ErrorIs(t, err, want, path)
	}
	// channels.stop of a channel Google no longer knows is fine.
	require.NoError(t, google.StopChannel(context.Background(), srv.Client(), srv.URL+"/gone/", connectors.Channel{ID: "c"}, google.Classify))
	require.ErrorIs(t, google.StopChannel(context.Background(), srv.Client(), srv.URL+"/denied/", connectors.Channel{ID: "c"}, google.Classify), connectors.ErrForbidden)
}
