package connectortest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh/connectors"
)

// Helpers for a connector's own tests against its sandbox: the provider as
// the service builds it, the OAuth browser leg and the code exchange, the
// engine's API client, and reading a stream to its end.

// PublicURL is the service's public URL in connector tests.
const PublicURL = "http://poblysh.test"

// NewProvider builds spec's provider from the environment variables env, as
// the service does (sandbox settings allowed).
func NewProvider(t testing.TB, spec *connectors.Spec, env map[string]string) *connectors.Provider {
	t.Helper()
	cfg, err := connectors.LoadConfig(spec, func(k string) string { return env[k] }, PublicURL, true)
	require.NoError(t, err)
	c, err := spec.New(cfg)
	require.NoError(t, err)
	return &connectors.Provider{Spec: spec, Config: cfg, Connector: c}
}

// Client is the engine's API client for p's account with token: paced and
// classified like every call the service makes.
func Client(p *connectors.Provider, account, token string) *http.Client {
	return connectors.NewRegistry(p).HTTPClient(p, account, token)
}

// Authorize follows the browser leg of p's OAuth flow to callback (the
// provider's redirect is not followed) and returns the callback's query.
func Authorize(t testing.TB, p *connectors.Provider, callback string, opts ...oauth2.AuthCodeOption) url.Values {
	t.Helper()
	auth, ok := p.Connector.(connectors.Authorizer)
	require.True(t, ok, "provider %s does not implement connectors.Authorizer", p.Spec.Name)
	return FollowAuthorization(t, auth.OAuth2Config(callback).AuthCodeURL("state-1", append(auth.AuthCodeOptions(), opts...)...), callback)
}

// FollowAuthorization GETs an authorization URL like a browser, expects
// the provider's 302 to callback (not followed) and returns its query.
func FollowAuthorization(t testing.TB, authURL, callback string) url.Values {
	t.Helper()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(authURL)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(loc.String(), callback), "redirected to %s, not the callback", loc)
	return loc.Query()
}

// Connect authorizes (Authorize with opts), exchanges the code as the
// service does, identifies the account and validates cfg; it returns the
// connection ("conn-1" of tenant) and its token.
func Connect(t testing.TB, p *connectors.Provider, callback, tenant string, cfg any, opts ...oauth2.AuthCodeOption) (connectors.Connection, *oauth2.Token) {
	t.Helper()
	cb := Authorize(t, p, callback, opts...)
	tok, err := connectors.NewRegistry(p).Exchange(context.Background(), p,
		connectors.ExchangeRequest{Code: cb.Get("code"), RedirectURL: callback, Callback: cb})
	require.NoError(t, err)
	acct, err := p.Connector.(connectors.Authorizer).Identify(context.Background(), tok, Client(p, "acct", tok.AccessToken))
	require.NoError(t, err)
	raw, err := json.Marshal(cfg)
	require.NoError(t, err)
	valid, err := p.Connector.(connectors.ConfigValidator).ValidateConfig(raw)
	require.NoError(t, err)
	return connectors.Connection{ID: "conn-1", TenantID: tenant, Account: acct, Config: valid}, tok
}

// Fetch reads one page of stream from cursor.
func Fetch(t testing.TB, p *connectors.Provider, conn connectors.Connection, hc *http.Client, stream string, cursor json.RawMessage) (*connectors.Page, error) {
	t.Helper()
	s, ok := p.Connector.(connectors.Syncer)
	require.True(t, ok, "provider %s does not implement connectors.Syncer", p.Spec.Name)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.FetchPage(ctx, connectors.PageRequest{Connection: conn, Stream: stream, Cursor: cursor, HTTP: hc, Now: time.Now()})
}

// Drain reads stream to its end from cursor (every page valid, every
// cursor advancing) and returns its Signals and resting cursor.
func Drain(t testing.TB, p *connectors.Provider, conn connectors.Connection, hc *http.Client, stream string, cursor json.RawMessage) ([]connectors.Signal, json.RawMessage) {
	t.Helper()
	sigs, next, _ := drainPages(t, p, conn, hc, stream, cursor)
	return sigs, next
}

// Fixture reads testdata/<name> of the package under test.
func Fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// CountKinds counts Signals by kind.
func CountKinds(sigs []connectors.Signal) map[string]int {
	out := map[string]int{}
	for _, s := range sigs {
		out[s.Kind]++
	}
	return out
}
