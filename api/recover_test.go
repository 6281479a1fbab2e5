package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/require"
)

// TestPanicAnswers500WithoutInternals serves a route that panics through
// the real middleware chain: the client gets a 500 with the request id and
// nothing else; the log gets the panic and the stack under the same id.
func TestPanicAnswers500WithoutInternals(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	log := logrus.New()
	log.SetOutput(&logs)
	log.SetFormatter(&logrus.JSONFormatter{})
	r, d, err := newRouter(Deps{Log: log})
	require.NoError(t, err)
	r.Handle("/boom", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("pq: password authentication failed for user secret_user")
	})).Methods(http.MethodGet).Name("boom")
	srv := httptest.NewServer(wrap(d, r))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/boom")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	var got struct {
		Error errorBody `json:"error"`
	}
	require.NoError(t, json.Unmarshal(body, &got))
	id := resp.Header.Get("X-Request-Id")
	require.NotEmpty(t, id)
	require.Equal(t, errorBody{Code: "internal", Message: "internal error", RequestID: id}, got.Error)
	for _, leak := range []string{"secret_user", "panic", "goroutine", ".go:"} {
		require.NotContains(t, string(body), leak)
	}

	// The log line carries the request id, the panic and a stack; the
	// access log records the 500 under the route's name.
	var sawPanic, sawAccess bool
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var f map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &f), line)
		if f["msg"] == "panic serving request" {
			sawPanic = true
			require.Equal(t, id, f["request_id"])
			require.Contains(t, f["panic"], "secret_user")
			require.Contains(t, f["stack"], "recover_test.go")
		}
		if f["msg"] == "http request" && f["route"] == "boom" {
			sawAccess = true
			require.Equal(t, id, f["request_id"])
			require.EqualValues(t, http.StatusInternalServerError, f["status"])
		}
	}
	require.True(t, sawPanic, "logs: %s", logs.String())
	require.True(t, sawAccess, "a panic's 500 is access-logged (and counted) like any response: %s", logs.String())
}
