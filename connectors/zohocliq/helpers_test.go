package zohocliq

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/connectortest"
	zohosandbox "github.com/poblysh/poblysh/sandbox/zoho"
)

const (
	testCallback = "http://poblysh.test/api/v1/connect/zoho-cliq/callback"
	testTenant   = "4f3e2d1c-0b9a-4877-8665-5443322110aa"
)

// fake is a running sandbox with the connector configured against it.
type fake struct {
	sb       *zohosandbox.Server
	srv      *httptest.Server
	env      map[string]string
	provider *connectors.Provider
	conn     *Connector
}

// newFake starts a sandbox and configures the connector against it; extra
// adds or overrides POBLYSH_ZOHO_CLIQ_* variables.
func newFake(t testing.TB, opts zohosandbox.Options, extra map[string]string) *fake {
	t.Helper()
	sb := zohosandbox.ForProduct(zohosandbox.ProductCliq, opts)
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	env := sb.Env(srv.URL)
	for k, v := range extra {
		env[k] = v
	}
	p := newProvider(t, env)
	return &fake{sb: sb, srv: srv, env: env, provider: p, conn: p.Connector.(*Connector)}
}

// newProvider builds the provider from environment variables as the
// service does.
func newProvider(t testing.TB, env map[string]string) *connectors.Provider {
	return connectortest.NewProvider(t, Spec, env)
}

// connect authorizes as login (default: the sandbox user), exchanges,
// identifies and validates cfg, and returns the connection and its token.
func (f *fake) connect(t testing.TB, login string, cfg any) (connectors.Connection, *oauth2.Token) {
	return connectortest.Connect(t, f.provider, testCallback, testTenant, cfg, loginOption(login)...)
}

// loginOption asks the accounts server for login's account ("": the
// sandbox user).
func loginOption(login string) []oauth2.AuthCodeOption {
	if login == "" {
		return nil
	}
	return []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("login", login)}
}

// client is the engine's client for the account with token.
func (f *fake) client(token string) *http.Client {
	return connectortest.Client(f.provider, "acct", token)
}

// fetch reads one page.
func (f *fake) fetch(t *testing.T, conn connectors.Connection, hc *http.Client, stream string, cursor json.RawMessage) (*connectors.Page, error) {
	return connectortest.Fetch(t, f.provider, conn, hc, stream, cursor)
}

// drain reads a stream to Done and returns its Signals and resting cursor.
func (f *fake) drain(t *testing.T, conn connectors.Connection, hc *http.Client, stream string, cursor json.RawMessage) ([]connectors.Signal, json.RawMessage) {
	return connectortest.Drain(t, f.provider, conn, hc, stream, cursor)
}

// fast is settings that keep tests from waiting on real pacing.
func fast(extra map[string]string) map[string]string {
	out := map[string]string{"POBLYSH_ZOHO_CLIQ_PACE": "messages=60000,mentions=60000,channels=60000,users=60000"}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

func fixture(t *testing.T, name string) []byte { return connectortest.Fixture(t, name) }

func countKinds(sigs []connectors.Signal) map[string]int { return connectortest.CountKinds(sigs) }

// adaConfig is a connection of the sandbox user over the two seeded channels.
var adaConfig = map[string]any{"channels": []string{zohosandbox.UniqueLaunch, zohosandbox.UniquePress}, "track_mentions": true}
