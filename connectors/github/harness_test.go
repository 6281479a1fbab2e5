package github

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/sandbox"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
)

const (
	testWebhookSecret = "It's a Secret to Everybody"
	testCallbackURL   = "https://poblysh.test/api/v1/webhooks/github"
	seedPullsStream   = "pulls:octo-org/hello-world"
	seedRelStream     = "releases:octo-org/hello-world"
	seedCommitsStream = "commits:octo-org/hello-world"
)

// harness is one connector wired to a fresh sandbox over HTTP.
type harness struct {
	srv   *githubsandbox.Server
	ts    *httptest.Server
	env   map[string]string
	p     *connectors.Provider
	reg   *connectors.Registry
	conn  connectors.Connection
	token string
	// now is the connector's clock when set (a sandbox with its own
	// Options.Clock), else time.Now.
	now func() time.Time
	// proved is the repository the engine hands FetchPage as proved.
	proved *connectors.Resource
}

// newHarness starts a seeded sandbox, configures the connector from the
// sandbox's Env (plus extra POBLYSH_GITHUB_* settings), issues a token and
// identifies the account.
func newHarness(t testing.TB, opts githubsandbox.Options, extra map[string]string) *harness {
	t.Helper()
	opts.Seed = true
	if opts.WebhookSecret == "" {
		opts.WebhookSecret = testWebhookSecret
	}
	srv := githubsandbox.New(opts)
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { srv.Wait(); ts.Close() })
	env := srv.Env(ts.URL)
	for k, v := range extra {
		env[k] = v
	}
	h := &harness{srv: srv, ts: ts, env: env, p: providerFrom(t, env)}
	h.reg = connectors.NewRegistry(h.p)
	tok, err := srv.IssueToken("")
	require.NoError(t, err)
	h.token = tok.AccessToken
	acc, err := h.p.Connector.(connectors.Authorizer).Identify(context.Background(), nil, h.client())
	require.NoError(t, err)
	cfg, err := h.p.Connector.(connectors.ConfigValidator).ValidateConfig(json.RawMessage(`{"repos":["Octo-Org/Hello-World"]}`))
	require.NoError(t, err)
	h.conn = connectors.Connection{ID: "conn-1", TenantID: "tenant-1", Account: acc, Config: cfg}
	return h
}

// providerFrom builds the github provider from environment variables, the
// way the service does.
func providerFrom(t testing.TB, env map[string]string) *connectors.Provider {
	t.Helper()
	cfg, err := connectors.LoadConfig(Spec, func(k string) string { return env[k] }, "https://poblysh.test", true)
	require.NoError(t, err)
	c, err := Spec.New(cfg)
	require.NoError(t, err)
	return &connectors.Provider{Spec: Spec, Config: cfg, Connector: c}
}

// withSecret returns the provider configured like h but with another webhook secret.
func (h *harness) withSecret(t testing.TB, secret string) *connectors.Provider {
	env := map[string]string{}
	for k, v := range h.env {
		env[k] = v
	}
	env["POBLYSH_GITHUB_WEBHOOK_SECRET"] = secret
	return providerFrom(t, env)
}

// client is the engine's client for the harness account: authorized, paced, classifying.
func (h *harness) client() *http.Client {
	return h.reg.HTTPClient(h.p, "583231", h.token)
}

func (h *harness) connector() *Connector { return h.p.Connector.(*Connector) }

// fetch reads one page of a stream.
func (h *harness) fetch(t *testing.T, stream string, cur json.RawMessage) (*connectors.Page, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return h.connector().FetchPage(ctx, connectors.PageRequest{
		Connection: h.conn, Stream: stream, Cursor: cur, HTTP: h.client(), Now: h.clock(), Resource: h.proved,
	})
}

func (h *harness) clock() time.Time {
	if h.now != nil {
		return h.now()
	}
	return time.Now()
}

// drain reads a stream to Done and returns its Signals, the resting cursor and the page count.
func (h *harness) drain(t *testing.T, stream string, cur json.RawMessage) ([]connectors.Signal, json.RawMessage, int) {
	t.Helper()
	var all []connectors.Signal
	for pages := 1; pages < 1000; pages++ {
		p, err := h.fetch(t, stream, cur)
		require.NoError(t, err, "%s page %d", stream, pages)
		all = append(all, p.Signals...)
		cur = p.Next
		if p.Done {
			return all, cur, pages
		}
	}
	t.Fatalf("%s did not finish", stream)
	return nil, nil, 0
}

// webhookRequest turns a sandbox delivery into what the engine hands the connector.
func webhookRequest(d sandbox.Delivery) *connectors.WebhookRequest {
	return &connectors.WebhookRequest{Header: d.Header.Clone(), Body: d.Body, Now: time.Now()}
}

// kindsOf lists Signal kinds in order.
func kindsOf(sigs []connectors.Signal) []string {
	var out []string
	for _, s := range sigs {
		out = append(out, s.Kind)
	}
	return out
}

// keysOf lists dedupe keys in order.
func keysOf(sigs []connectors.Signal) []string {
	var out []string
	for _, s := range sigs {
		out = append(out, s.DedupeKey)
	}
	return out
}

// fixture reads testdata/<name>.
func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	require.True(t, json.Valid(b), "testdata/%s is not JSON", name)
	return b
}
