package main

import (
	"os/exec"
	"strings"

	"github.com/stretchr/testify/require"

	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func readAll(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// eventually polls cond every 100 ms until it holds or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func deref[T any](p *T) (v T) {
	if p != nil {
		v = *p
	}
	return v
}

// newHTTPServer serves h on loopback for the test and returns its URL.
func newHTTPServer(t testing.TB, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// requireNoSecrets checks that no token or key appears in the service's
// logs or in a pg_dump of its schema.
func (s *stack) requireNoSecrets(secrets ...string) {
	s.t.Helper()
	out, err := exec.Command("pg_dump", "--schema="+s.schema.Name, "--data-only", strings.Split(s.schema.OwnerURL, "?")[0]).CombinedOutput()
	require.NoError(s.t, err, string(out))
	logs := s.logs.String()
	secrets = append(secrets, s.adminKey, s.cryptoKey)
	for _, k := range []string{"WEBHOOK_SECRET", "CLIENT_SECRET"} {
		for name, v := range s.env {
			if strings.HasSuffix(name, k) && v != "" {
				secrets = append(secrets, v)
			}
		}
	}
	for _, secret := range secrets {
		require.NotContains(s.t, logs, secret, "a secret reached the logs")
		require.NotContains(s.t, string(out), secret, "a secret is stored in clear")
	}
}

// envOf is a lookupenv (os.LookupEnv's shape) over m, for run: a key in m
// is set, even to "".
func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}
