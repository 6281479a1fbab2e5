package zohomail

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
	testCallback = "http://poblysh.test/api/v1/connect/zoho-mail/callback"
	testTenant   = "4f3e2d1c-0b9a-4877-8665-5443322110bb"
)

// fake is a running Zoho Mail sandbox with the connector configured
// against it (connectortest's helpers do the work).
type fake struct {
	sb       *zohosandbox.Server
	srv      *httptest.Server
	env      map[string]string
	provider *connectors.Provider
	conn     *Connector
}

// newFake starts a sandbox and configures the connector against it, paced
// so that tests do not wait; extra adds or overrides POBLYSH_ZOHO_MAIL_*
// variables.
func newFake(t testing.TB, opts zohosandbox.Options, extra map[string]string) *fake {
	t.Helper()
	sb := zohosandbox.ForProduct(zohosandbox.ProductMail, opts)
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	env := sb.Env(srv.URL)
	env["POBLYSH_ZOHO_MAIL_PACE"] = "60000"
	for k, v := range extra {
		env[k] = v
	}
	p := newProvider(t, env)
	return &fake{sb: sb, srv: srv, env: env, provider: p, conn: p.Connector.(*Connector)}
}

func newProvider(t testing.TB, env map[string]string) *connectors.Provider {
	return connectortest.NewProvider(t, Spec, env)
}

// connect authorizes as the sandbox user (EU), exchanges, identifies and
// validates cfg.
func (f *fake) connect(t testing.TB, cfg any) (connectors.Connection, *oauth2.Token) {
	return connectortest.Connect(t, f.provider, testCallback, testTenant, cfg)
}

func (f *fake) client(token string) *http.Client {
	return connectortest.Client(f.provider, "acct", token)
}

func (f *fake) drain(t *testing.T, conn connectors.Connection, hc *http.Client, stream string, cursor json.RawMessage) ([]connectors.Signal, json.RawMessage) {
	return connectortest.Drain(t, f.provider, conn, hc, stream, cursor)
}

func fixture(t *testing.T, name string) []byte { return connectortest.Fixture(t, name) }

func countKinds(sigs []connectors.Signal) map[string]int { return connectortest.CountKinds(sigs) }

// pressConfig is the seeded freelance reporter as the tenant's contact.
var tenantPress = map[string]any{"press": map[string]any{"addresses": []string{zohosandbox.SeedPressAddress}}}
