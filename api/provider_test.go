package api_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/api"
	"github.com/poblysh/poblysh/connectors"
)

// TestProviderScopesAreTheRequestedOnes: GET /providers lists, per
// provider, the scopes its authorization requests (swagger.yml
// Provider.scopes). It listed the spec's defaults, so a server that
// narrowed GitHub's with POBLYSH_GITHUB_SCOPES showed `repo` it never
// asked for.
func TestProviderScopesAreTheRequestedOnes(t *testing.T) {
	t.Parallel()
	env := map[string]string{"POBLYSH_GITHUB_CLIENT_ID": "id", "POBLYSH_GITHUB_CLIENT_SECRET": "secret",
		"POBLYSH_GITHUB_SCOPES": "public_repo,admin:repo_hook"}
	reg, err := connectors.Build(connectors.Registered(), func(k string) string { return env[k] }, "http://127.0.0.1:1", false)
	require.NoError(t, err)
	e := setup(t, func(d *api.Deps) { d.Registry = reg })
	_, key := e.tenant("Acme")
	r := e.do(http.MethodGet, "/api/v1/providers", key, "", "")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	loadOps(t).requireListed(t, "listProviders", r)
	var out struct {
		Providers []struct {
			Name   string   `json:"name"`
			Scopes []string `json:"scopes"`
		} `json:"providers"`
	}
	require.NoError(t, json.Unmarshal(r.body, &out))
	got := map[string][]string{}
	for _, p := range out.Providers {
		got[p.Name] = p.Scopes
	}
	require.Equal(t, []string{"public_repo", "admin:repo_hook"}, got["github"], "the scopes POBLYSH_GITHUB_SCOPES asks for")
	for _, p := range reg.Providers() {
		requested := p.Connector.(connectors.Authorizer).OAuth2Config("http://127.0.0.1:1/cb").Scopes
		require.Equal(t, requested, got[p.Spec.Name], "%s lists the scopes its authorization requests", p.Spec.Name)
	}
	require.Equal(t, []string{"channels:history", "groups:history", "channels:read", "groups:read", "reactions:read", "users:read"},
		got["slack"], "a provider without a scope setting lists its spec's")
}
