package sandbox

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// testFake is a minimal Fake for the registry's own tests.
type testFake struct {
	http.Handler
	o Options
}

func (f testFake) Env(base string) map[string]string {
	return map[string]string{"POBLYSH_REGISTRY_TEST_API_URL": base + "/api/", "POBLYSH_REGISTRY_TEST_CLIENT_ID": f.o.ClientID}
}

func TestRegistry(t *testing.T) {
	Register("registry-test-b", func(o Options) (Fake, error) { return testFake{http.NotFoundHandler(), o}, nil })
	Register("registry-test-a", func(o Options) (Fake, error) {
		if err := CheckFaults("registry-test-a", o.Faults, "slow"); err != nil {
			return nil, err
		}
		return testFake{http.NotFoundHandler(), o}, nil
	})
	names := Registered()
	require.True(t, slices.IsSorted(names))
	require.Subset(t, names, []string{"registry-test-a", "registry-test-b"})

	f, err := New("registry-test-a", Options{ClientID: "cid", Faults: []string{"slow"}})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"POBLYSH_REGISTRY_TEST_API_URL": "http://x/api/", "POBLYSH_REGISTRY_TEST_CLIENT_ID": "cid"}, f.Env("http://x"))
	_, err = New("registry-test-a", Options{Faults: []string{"slow", "fast"}})
	require.EqualError(t, err, `sandbox registry-test-a: unknown fault "fast" (known: slow)`)
	_, err = New("registry-test-nope", Options{})
	require.ErrorContains(t, err, `sandbox: no fake registered for "registry-test-nope" (known: `)
	require.ErrorContains(t, err, "registry-test-a, registry-test-b")

	require.PanicsWithValue(t, "sandbox: Register called twice for registry-test-a", func() {
		Register("registry-test-a", func(Options) (Fake, error) { return nil, nil })
	})
	require.PanicsWithValue(t, "sandbox: Register needs a name and a constructor", func() { Register("", nil) })
	require.PanicsWithValue(t, "sandbox: Register needs a name and a constructor", func() { Register("registry-test-c", nil) })
	require.NotContains(t, Registered(), "registry-test-c")

	require.Equal(t, "http://svc/api/v1/webhooks/jira", WebhookURL("http://svc/", "jira"))
	require.Empty(t, WebhookURL("", "jira"), "nowhere until a target is set")
	require.EqualError(t, CheckFaults("x", []string{"a"}), `sandbox x: unknown fault "a" (this fake has no named faults)`)
	require.NoError(t, CheckFaults("x", nil))
}

func TestControlJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			require.Equal(t, "application/json", r.Header.Get("Content-Type"))
			WriteJSON(w, http.StatusCreated, map[string]string{"method": r.Method})
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/garbled":
			_, _ = w.Write([]byte("not json"))
		default:
			WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "no such thing"})
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	var out struct{ Method string }
	require.NoError(t, ControlJSON(ctx, nil, http.MethodPatch, srv.URL+"/", "/ok", map[string]int{"n": 1}, &out))
	require.Equal(t, http.MethodPatch, out.Method)
	require.NoError(t, ControlJSON(ctx, srv.Client(), http.MethodPost, srv.URL, "/empty", nil, &out), "an empty answer decodes to nothing")
	require.NoError(t, ControlJSON(ctx, srv.Client(), http.MethodPost, srv.URL, "/garbled", nil, nil), "nil out ignores the answer")
	require.ErrorContains(t, ControlJSON(ctx, srv.Client(), http.MethodPost, srv.URL, "/garbled", nil, &out), "unreadable answer not json")
	err := ControlJSON(ctx, srv.Client(), http.MethodPost, srv.URL, "/missing", nil, &out)
	require.ErrorContains(t, err, "/missing: 400 Bad Request")
	require.ErrorContains(t, err, "no such thing", "the error quotes the body")
}
