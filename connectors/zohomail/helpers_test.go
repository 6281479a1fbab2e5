package zohomail

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh/connectors"
	zohosandbox "github.com/poblysh/poblysh/sandbox/zoho"
)

const (
	testCallback = "http://poblysh.test/api/v1/connect/zoho-mail/callback"
	testTenant   = "4f3e2d1c-0b9a-4877-8665-5443322110bb"
)

type fake struct {
	sb       *zohosandbox.Server
	srv      *httptest.Server
	env      map[string]string
	provider *connectors.Provider
	conn     *Connector
}

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
	t.Helper()
	cfg, err := connectors.LoadConfig(Spec, func(k string) string { return env[k] }, "http://poblysh.test", true)
	require.NoError(t, err)
	c, err := Spec.New(cfg)
	require.NoError(t, err)
	return &connectors.Provider{Spec: Spec, Config: cfg, Connector: c}
}

// connect authorizes as the sandbox user (EU), exchanges, identifies and
// validates cfg.
func (f *fake) connect(t testing.TB, cfg any) (connectors.Connection, *oauth2.Token) {
	t.Helper()
	u := f.conn.OAuth2Config(testCallback).AuthCodeURL("state-1", f.conn.AuthCodeOptions()...)
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(u)
	require.NoError(t, err)
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	cb := loc.Query()
	ctx := connectors.WithHTTPClient(context.Background(), &http.Client{Timeout: 10 * time.Second})
	tok, err := f.conn.Exchange(ctx, connectors.ExchangeRequest{Code: cb.Get("code"), RedirectURL: testCallback, Callback: cb})
	require.NoError(t, err)
	acct, err := f.conn.Identify(context.Background(), tok, f.client(tok.AccessToken))
	require.NoError(t, err)
	raw, _ := json.Marshal(cfg)
	valid, err := f.conn.ValidateConfig(raw)
	require.NoError(t, err)
	return connectors.Connection{ID: "conn-1", TenantID: testTenant, Account: acct, Config: valid}, tok
}

func (f *fake) client(token string) *http.Client {
	return connectors.NewRegistry(f.provider).HTTPClient(f.provider, "acct", token)
}

func (f *fake) fetch(t *testing.T, conn connectors.Connection, hc *http.Client, stream string, cursor json.RawMessage) (*connectors.Page, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return f.conn.FetchPage(ctx, connectors.PageRequest{Connection: conn, Stream: stream, Cursor: cursor, HTTP: hc, Now: time.Now()})
}

func (f *fake) drain(t *testing.T, conn connectors.Connection, hc *http.Client, stream string, cursor json.RawMessage) ([]connectors.Signal, json.RawMessage) {
	t.Helper()
	var all []connectors.Signal
	for range 200 {
		p, err := f.fetch(t, conn, hc, stream, cursor)
		require.NoError(t, err)
		all = append(all, p.Signals...)
		cursor = p.Next
		if p.Done {
			return all, cursor
		}
	}
	t.Fatal("stream did not finish")
	return nil, nil
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

func countKinds(sigs []connectors.Signal) map[string]int {
	out := map[string]int{}
	for _, s := range sigs {
		out[s.Kind]++
	}
	return out
}

// pressConfig is the seeded freelance reporter as the tenant's contact.
var tenantPress = map[string]any{"press": map[string]any{"addresses": []string{zohosandbox.SeedPressAddress}}}
