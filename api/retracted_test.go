package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestIncludeRetractedParameter: include_retracted is a boolean; anything
// else is a 400 naming it.
func TestIncludeRetractedParameter(t *testing.T) {
	t.Parallel()
	e := setup(t)
	_, key := e.tenant("Acme")
	r := e.do(http.MethodGet, "/api/v1/signals?include_retracted=maybe", key, "", "")
	er := requireError(t, r, http.StatusBadRequest, "invalid_request")
	require.Contains(t, er.Details["include_retracted"], "true or false")
	for _, path := range []string{"/api/v1/signals?include_retracted=true", "/api/v1/signals?include_retracted=false&since=2026-01-01T00:00:00Z"} {
		r := e.do(http.MethodGet, path, key, "", "")
		require.Equal(t, http.StatusOK, r.status, "%s: %s", path, r.body)
	}
}
