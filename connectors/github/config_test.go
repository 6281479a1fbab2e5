package github

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
)

func TestValidateConfig(t *testing.T) {
	c := connectorWithSecret(t, "")
	tests := []struct {
		name   string
		in     string
		want   string            // normalized config, when valid
		fields map[string]string // ConfigError fields, when invalid
	}{
		{"normalizes case, URLs and duplicates", `{"repos":[" Octo-Org/Hello-World ","https://github.com/octo-org/hello-world.git","octocat/Spoon_Knife.js"]}`,
			`{"repos":["octo-org/hello-world","octocat/spoon_knife.js"]}`, nil},
		{"missing repos", `{}`, "", map[string]string{"repos": "at least one repository is required"}},
		{"empty repos", `{"repos":[]}`, "", map[string]string{"repos": "at least one repository is required"}},
		{"wrong type", `{"repos":"octo-org/hello-world"}`, "", map[string]string{"repos": "must be an array of strings"}},
		{"unknown field", `{"repos":["a/b"],"branches":["main"]}`, "", map[string]string{"branches": "unknown field"}},
		{"bad entries are reported by index", `{"repos":["octo-org/hello-world","no-slash","a/b/c","-bad/x","ok/.."]}`, "", map[string]string{
			"repos[1]": `"no-slash" must be owner/name`,
			"repos[2]": `"a/b/c" must be owner/name`,
			"repos[3]": `"-bad/x": owner must be a GitHub account name`,
			"repos[4]": `"ok/..": name may hold letters, digits, '.', '-' and '_'`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.ValidateConfig(json.RawMessage(tc.in))
			if tc.fields == nil {
				require.NoError(t, err)
				require.JSONEq(t, tc.want, string(out))
				return
			}
			var ce *connectors.ConfigError
			require.ErrorAs(t, err, &ce)
			require.ErrorIs(t, err, connectors.ErrInvalidConfig)
			require.Equal(t, tc.fields, ce.Fields)
		})
	}
	for _, bad := range []string{``, `null`, `[]`, `"x"`, `{`} {
		_, err := c.ValidateConfig(json.RawMessage(bad))
		require.ErrorIs(t, err, connectors.ErrInvalidConfig, "config %q", bad)
	}
}

func TestStreamsAndResources(t *testing.T) {
	c := connectorWithSecret(t, "")
	conn := connectors.Connection{Config: json.RawMessage(`{"repos":["octo-org/hello-world","octocat/spoon-knife"]}`)}
	streams, err := c.Streams(conn)
	require.NoError(t, err)
	require.Equal(t, []string{
		"pulls:octo-org/hello-world", "releases:octo-org/hello-world", "commits:octo-org/hello-world",
		"pulls:octocat/spoon-knife", "releases:octocat/spoon-knife", "commits:octocat/spoon-knife",
	}, streams)
	refs, err := c.ResourceRefs(conn)
	require.NoError(t, err)
	require.Equal(t, []string{"octo-org/hello-world", "octocat/spoon-knife"}, refs, "repositories are resources to prove, never routes")
	ref, ok := c.StreamResource("commits:octocat/spoon-knife")
	require.True(t, ok)
	require.Equal(t, "octocat/spoon-knife", ref)

	_, err = c.Streams(connectors.Connection{Config: json.RawMessage(`{"repos":[]}`)})
	require.ErrorIs(t, err, connectors.ErrInvalidConfig)
	for _, s := range []string{"issues:a/b", "pulls:ab", "pulls:/b", "nothing"} {
		_, _, _, err := parseStream(s)
		require.ErrorIs(t, err, connectors.ErrInvalidConfig, s)
	}
}

func TestNew(t *testing.T) {
	// Unconfigured providers are listed, not broken.
	c, err := New(connectors.Config{})
	require.NoError(t, err)
	gc := c.(*Connector)
	require.Equal(t, "https://api.github.com/", gc.apiURL)
	require.Equal(t, "https://api.github.com/applications/{client_id}/token", gc.revokeURL)
	require.Equal(t, 100, gc.pageSize)
	require.Same(t, Spec, c.Spec())

	// A relocated API moves the revocation endpoint along, unless it is set.
	cfg := connectors.Config{Endpoints: connectors.Endpoints{APIURL: "http://127.0.0.1:9/", RevokeURL: defaults.RevokeURL}}
	c, err = New(cfg)
	require.NoError(t, err)
	require.Equal(t, "http://127.0.0.1:9/applications/{client_id}/token", c.(*Connector).revokeURL)
	cfg.Endpoints.RevokeURL = "https://ghe.example/api/v3/applications/{client_id}/token"
	c, err = New(cfg)
	require.NoError(t, err)
	require.Equal(t, cfg.Endpoints.RevokeURL, c.(*Connector).revokeURL)

	c, err = New(connectors.Config{}.WithSettings(map[string]string{"PAGE_SIZE": "10", "SCOPES": "public_repo, admin:repo_hook"}))
	require.NoError(t, err)
	require.Equal(t, 10, c.(*Connector).pageSize)
	require.Equal(t, []string{"public_repo", "admin:repo_hook"}, c.(*Connector).OAuth2Config("https://x/cb").Scopes)
	for _, bad := range []string{"0", "101", "ten"} {
		_, err = New(connectors.Config{}.WithSettings(map[string]string{"PAGE_SIZE": bad}))
		require.Error(t, err, bad)
	}
	_, err = New(connectors.Config{Endpoints: connectors.Endpoints{APIURL: "not a url"}})
	require.Error(t, err)
}

func TestSpec(t *testing.T) {
	require.Contains(t, connectors.Registered(), Spec)
	require.Equal(t, "github", Spec.Name)
	require.ElementsMatch(t, []string{"code.pushed", "pull_request.opened", "pull_request.merged", "pull_request.closed", "release.published"}, Spec.Kinds)
	require.Equal(t, []string{"repo", "admin:repo_hook"}, Spec.Scopes)
	require.True(t, Spec.PKCE)
	require.InDelta(t, 15.0, float64(Spec.Policy.Rate), 1e-9, "the secondary limit: 900 points a minute")
	require.True(t, Spec.Policy.Budget, "the primary budget comes from the answers")
	require.Equal(t, 15*time.Minute, Spec.Policy.PollInterval)
	require.Equal(t, 6*time.Hour, Spec.Policy.ReconcileInterval)
	require.True(t, Spec.Policy.Token.Expires)
	require.True(t, Spec.Policy.Token.RotatesRefreshToken)
	require.Equal(t, 30*time.Minute, Spec.Policy.Token.RefreshBefore)
	var _ connectors.Authorizer = (*Connector)(nil)
	var _ connectors.Revoker = (*Connector)(nil)
	var _ connectors.ConfigValidator = (*Connector)(nil)
	var _ connectors.Syncer = (*Connector)(nil)
	var _ connectors.WebhookReceiver = (*Connector)(nil)
	var _ connectors.AccessProver = (*Connector)(nil)
	var _ connectors.ChannelKeyed = (*Connector)(nil)
	var _ connectors.Watcher = (*Connector)(nil)
	var _ connectors.Classifier = (*Connector)(nil)
}
