package zohocliq

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
	t.Helper()
	cfg, err := connectors.LoadConfig(Spec, func(k string) string { return env[k] }, "http://poblysh.test", true)
	require.NoError(t, err)
	c, err := Spec.New(cfg)
	require.NoError(t, err)
	return &connectors.Provider{Spec: Spec, Config: cfg, Connector: c}
}

// authorize follows the browser leg and returns the callback's query (code,
// location, accounts-server).
func (f *fake) authorize(t testing.TB, login string) url.Values {
	t.Helper()
	opts := f.conn.AuthCodeOptions()
	if login != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login", login))
	}
	u := f.conn.OAuth2Config(testCallback).AuthCodeURL("state-1", opts...)
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	return loc.Query()
}

// tokenClient is the engine's client for token endpoints.
func tokenCtx() context.Context {
	return connectors.WithHTTPClient(context.Background(), &http.Client{Timeout: 10 * time.Second})
}

// connect authorizes as login (default: the sandbox user), exchanges,
// identifies and validates cfg, and returns the connection and its token.
func (f *fake) connect(t testing.TB, login string, cfg any) (connectors.Connection, *oauth2.Token) {
	t.Helper()
	cb := f.authorize(t, login)
	tok, err := f.conn.Exchange(tokenCtx(), connectors.ExchangeRequest{Code: cb.Get("code"), RedirectURL: testCallback, Callback: cb})
	require.NoError(t, err)
	acct, err := f.conn.Identify(context.Background(), tok, f.client(tok.AccessToken))
	require.NoError(t, err)
	raw, _ := json.Marshal(cfg)
	valid, err := f.conn.ValidateConfig(raw)
	require.NoError(t, err)
	return connectors.Connection{ID: "conn-1", TenantID: testTenant, Account: acct, Config: valid}, tok
}

// client is the engine's client for the account with token.
func (f *fake) client(token string) *http.Client {
	return connectors.NewRegistry(f.provider).HTTPClient(f.provider, "acct", token)
}

// fetch reads one page.
func (f *fake) fetch(t *testing.T, conn connectors.Connection, hc *http.Client, stream string, cursor json.RawMessage) (*connectors.Page, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return f.conn.FetchPage(ctx, connectors.PageRequest{Connection: conn, Stream: stream, Cursor: cursor, HTTP: hc, Now: time.Now()})
}

// drain reads a stream to Done and returns its Signals and resting cursor.
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

// fast is settings that keep tests from waiting on real pacing.
func fast(extra map[string]string) map[string]string {
	out := map[string]string{"POBLYSH_ZOHO_CLIQ_PACE": "messages=60000,mentions=60000,channels=60000,users=60000"}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// fixture reads testdata/<name>.
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

// adaConfig is a connection of the sandbox user over the two seeded channels.
var adaConfig = map[string]any{"channels": []string{zohosandbox.UniqueLaunch, zohosandbox.UniquePress}, "track_mentions": true}
