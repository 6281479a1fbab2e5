package zoho_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/zoho"
	zohosandbox "github.com/poblysh/poblysh/sandbox/zoho"
)

const callback = "http://poblysh.test/api/v1/connect/zoho-cliq/callback"

type env struct {
	sb   *zohosandbox.Server
	srv  *httptest.Server
	auth *zoho.Auth
	vars map[string]string
}

func newEnv(t *testing.T, opts zohosandbox.Options, extra map[string]string) *env {
	t.Helper()
	sb := zohosandbox.New(opts)
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	vars := sb.Env(srv.URL)
	for k, v := range extra {
		vars[k] = v
	}
	return &env{sb: sb, srv: srv, vars: vars, auth: newAuth(t, vars)}
}

var spec = &connectors.Spec{Name: "zoho-cliq", EnvFallback: "ZOHO", Defaults: connectors.Endpoints{
	AuthURL: "https://accounts.zoho.com/oauth/v2/auth", TokenURL: "https://accounts.zoho.com/oauth/v2/token"}}

func newAuth(t *testing.T, vars map[string]string) *zoho.Auth {
	t.Helper()
	cfg, err := connectors.LoadConfig(spec, func(k string) string { return vars[k] }, "http://poblysh.test", true)
	require.NoError(t, err)
	a, err := zoho.NewAuth("zoho-cliq", cfg, []string{"ZohoCliq.Messages.READ", "AaaServer.profile.READ"}, zoho.DefaultCliqHosts)
	require.NoError(t, err)
	return a
}

func ctx() context.Context {
	return connectors.WithHTTPClient(context.Background(), &http.Client{Timeout: 10 * time.Second})
}

// authorize follows the browser leg as login (with extra parameters: a
// PKCE challenge) and returns the callback query.
func (e *env) authorize(t *testing.T, login string, extra ...oauth2.AuthCodeOption) url.Values {
	t.Helper()
	opts := append(append(e.auth.AuthCodeOptions(), oauth2.SetAuthURLParam("login", login)), extra...)
	u := e.auth.OAuth2Config(callback).AuthCodeURL("st", opts...)
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(u)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	return loc.Query()
}

func TestAuthorizeAsksForOfflineConsentWithCommaScopes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, zohosandbox.Options{}, nil)
	u, err := url.Parse(e.auth.OAuth2Config(callback).AuthCodeURL("st", e.auth.AuthCodeOptions()...))
	require.NoError(t, err)
	q := u.Query()
	require.Equal(t, "ZohoCliq.Messages.READ,AaaServer.profile.READ", q.Get("scope"))
	require.Equal(t, "offline", q.Get("access_type"))
	require.Equal(t, "consent", q.Get("prompt"))
	require.True(t, strings.HasSuffix(u.Path, "/us/accounts/oauth/v2/auth"), "authorization starts at the US accounts server")
}

// A user of the EU data centre: the callback names eu and its accounts
// server, the code is redeemed there, and the token carries the DC.
func TestExchangeAtTheCallbacksAccountsServer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, zohosandbox.Options{}, nil)
	cb := e.authorize(t, zohosandbox.UserAda)
	require.Equal(t, "eu", cb.Get("location"))
	require.Equal(t, e.srv.URL+"/eu/accounts", cb.Get("accounts-server"))
	tok, err := e.auth.Exchange(ctx(), connectors.ExchangeRequest{Code: cb.Get("code"), RedirectURL: callback, Callback: cb})
	require.NoError(t, err)
	require.NotEmpty(t, tok.RefreshToken)
	require.WithinDuration(t, time.Now().Add(time.Hour), tok.Expiry, time.Minute)
	meta := zoho.Meta(tok)
	require.Equal(t, "eu", meta[zoho.MetaLocation])
	require.Equal(t, e.srv.URL+"/eu/accounts", meta[zoho.MetaAccountsServer])
	require.Equal(t, "https://www.zohoapis.eu", meta[zoho.MetaAPIDomain])
	base, err := e.auth.APIBase(connectors.Account{Metadata: meta})
	require.NoError(t, err)
	require.Equal(t, e.srv.URL+"/eu/cliq", base)

	// The EU code means nothing at the US server: Zoho answers HTTP 200
	// with error invalid_code, which is a refused grant.
	cb2 := e.authorize(t, zohosandbox.UserAda)
	cb2.Set("accounts-server", e.srv.URL+"/us/accounts")
	cb2.Set("location", "us")
	_, err = e.auth.Exchange(ctx(), connectors.ExchangeRequest{Code: cb2.Get("code"), RedirectURL: callback, Callback: cb2})
	require.ErrorIs(t, err, connectors.ErrUnauthorized)
	require.Contains(t, err.Error(), "invalid_code")
}

// With PKCE the verifier goes with the code to the accounts server the
// callback named (Ada's EU one, not the US server the authorization started
// at), and redeems it there; another connect's verifier does not: Zoho
// refuses the code (invalid_code), a refused grant.
func TestExchangeSendsTheVerifierToTheCallbacksAccountsServer(t *testing.T) {
	t.Parallel()
	sb := zohosandbox.New(zohosandbox.Options{})
	var sent atomic.Pointer[url.Values]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/oauth/v2/token") {
			_ = r.ParseForm()
			form := url.Values{"at": {strings.TrimSuffix(r.URL.Path, "/oauth/v2/token")}, "code_verifier": r.PostForm["code_verifier"]}
			sent.Store(&form)
		}
		sb.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	e := &env{sb: sb, srv: srv, vars: sb.Env(srv.URL)}
	e.auth = newAuth(t, e.vars)
	authorize := func(verifier string) url.Values {
		return e.authorize(t, zohosandbox.UserAda, oauth2.S256ChallengeOption(verifier))
	}

	verifier := oauth2.GenerateVerifier()
	cb := authorize(verifier)
	tok, err := e.auth.Exchange(ctx(), connectors.ExchangeRequest{Code: cb.Get("code"), Verifier: verifier, RedirectURL: callback, Callback: cb})
	require.NoError(t, err)
	require.NotEmpty(t, tok.RefreshToken)
	require.Equal(t, url.Values{"at": {"/eu/accounts"}, "code_verifier": {verifier}}, *sent.Load())

	cb = authorize(verifier)
	other := oauth2.GenerateVerifier()
	_, err = e.auth.Exchange(ctx(), connectors.ExchangeRequest{Code: cb.Get("code"), Verifier: other, RedirectURL: callback, Callback: cb})
	require.ErrorIs(t, err, connectors.ErrUnauthorized)
	require.Contains(t, err.Error(), "invalid_code")
	require.NotContains(t, err.Error(), other)
	require.Equal(t, url.Values{"at": {"/eu/accounts"}, "code_verifier": {other}}, *sent.Load())
}

// A forged accounts-server never receives the client secret.
func TestExchangeRefusesAccountsServersOffTheAllowlist(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(evil.Close)
	e := newEnv(t, zohosandbox.Options{}, nil)
	for name, cb := range map[string]url.Values{
		"elsewhere":          {"code": {"c"}, "accounts-server": {evil.URL}, "location": {"eu"}},
		"lookalike host":     {"code": {"c"}, "accounts-server": {"https://accounts.zoho.eu.evil.example"}},
		"path on the server": {"code": {"c"}, "accounts-server": {e.srv.URL + "/eu/accounts/../../x"}},
		"location mismatch":  {"code": {"c"}, "accounts-server": {e.srv.URL + "/eu/accounts"}, "location": {"us"}},
	} {
		_, err := e.auth.Exchange(ctx(), connectors.ExchangeRequest{Code: "c", RedirectURL: callback, Callback: cb})
		require.ErrorIs(t, err, connectors.ErrInvalidConfig, name)
	}
	require.Zero(t, hits.Load(), "nothing was sent to a server off the allowlist")

	// Zoho's real list is the default allowlist.
	real := newAuth(t, map[string]string{"POBLYSH_ZOHO_CLIQ_CLIENT_ID": "id", "POBLYSH_ZOHO_CLIQ_CLIENT_SECRET": "s"})
	for _, server := range []string{"https://accounts.zoho.eu", "https://ACCOUNTS.zoho.com.au/", "https://accounts.zohocloud.ca", "https://accounts.zoho.uk"} {
		dc, err := real.AccountDC(connectors.Account{Metadata: map[string]string{zoho.MetaAccountsServer: server}})
		require.NoError(t, err, server)
		require.NotEmpty(t, dc.Location)
	}
	_, err := real.AccountDC(connectors.Account{Metadata: map[string]string{zoho.MetaAccountsServer: "https://accounts.zoho.evil"}})
	require.ErrorIs(t, err, connectors.ErrInvalidConfig)
}

// Token errors arrive with HTTP 200; each is classified.
func TestTokenErrorsAnsweredWith200(t *testing.T) {
	t.Parallel()
	e := newEnv(t, zohosandbox.Options{}, nil)
	cb := e.authorize(t, zohosandbox.UserAda)

	bad := cloneVars(e.vars)
	bad["POBLYSH_ZOHO_CLIQ_CLIENT_SECRET"] = "wrong"
	_, err := newAuth(t, bad).Exchange(ctx(), connectors.ExchangeRequest{Code: cb.Get("code"), RedirectURL: callback, Callback: cb})
	require.ErrorIs(t, err, connectors.ErrInvalidConfig)
	require.Contains(t, err.Error(), "invalid_client_secret")

	// A DC with a secret of its own (CLIENT_SECRET_EU) uses it there.
	perDC := cloneVars(bad)
	perDC["POBLYSH_ZOHO_CLIQ_CLIENT_SECRET_EU"] = e.sb.Options().ClientSecret
	tok, err := newAuth(t, perDC).Exchange(ctx(), connectors.ExchangeRequest{Code: cb.Get("code"), RedirectURL: callback, Callback: cb})
	require.NoError(t, err)

	// The code is spent: invalid_code.
	_, err = e.auth.Exchange(ctx(), connectors.ExchangeRequest{Code: cb.Get("code"), RedirectURL: callback, Callback: cb})
	require.ErrorIs(t, err, connectors.ErrUnauthorized)

	acct := connectors.Account{ID: zohosandbox.UserAda, Metadata: zoho.Meta(tok)}
	_, err = e.auth.Refresh(ctx(), acct, "1000.unknown.refresh")
	require.ErrorIs(t, err, connectors.ErrUnauthorized, "an unknown refresh token is a refused grant")
}

func cloneVars(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Refresh happens at the account's own DC, keeps the (unrotated) refresh
// token, and stays under Zoho's 10 access tokens per 10 minutes: the 11th
// is refused here without a request.
func TestRefreshAtTheAccountsDCWithinZohosBudget(t *testing.T) {
	t.Parallel()
	e := newEnv(t, zohosandbox.Options{}, nil)
	cb := e.authorize(t, zohosandbox.UserAda)
	tok, err := e.auth.Exchange(ctx(), connectors.ExchangeRequest{Code: cb.Get("code"), RedirectURL: callback, Callback: cb})
	require.NoError(t, err)
	acct := connectors.Account{ID: zohosandbox.UserAda, Metadata: zoho.Meta(tok)}
	for i := range 10 {
		nt, err := e.auth.Refresh(ctx(), acct, tok.RefreshToken)
		require.NoError(t, err, "refresh %d", i+1)
		require.Equal(t, tok.RefreshToken, nt.RefreshToken, "Zoho does not rotate refresh tokens")
		require.NotEqual(t, tok.AccessToken, nt.AccessToken)
	}
	refreshes, _, _ := e.sb.Accounts("eu").Stats()
	require.Equal(t, 10, refreshes, "every refresh went to the EU accounts server")
	us, _, _ := e.sb.Accounts("us").Stats()
	require.Zero(t, us)
	_, err = e.auth.Refresh(ctx(), acct, tok.RefreshToken)
	require.ErrorIs(t, err, connectors.ErrRateLimited)
	d, ok := connectors.RetryAfter(err)
	require.True(t, ok)
	require.Greater(t, d, 9*time.Minute)
	refreshes, throttled, _ := e.sb.Accounts("eu").Stats()
	require.Equal(t, 10, refreshes)
	require.Zero(t, throttled, "the 11th refresh was never sent")

	// Zoho's own throttle answer (HTTP 200 "Access Denied") is a rate limit
	// too: a fresh process (budget empty) meets the server's count.
	_, err = newAuth(t, e.vars).Refresh(ctx(), acct, tok.RefreshToken)
	require.ErrorIs(t, err, connectors.ErrRateLimited)
	_, throttled, _ = e.sb.Accounts("eu").Stats()
	require.Equal(t, 1, throttled)
}

func TestRevokeAtTheAccountsDC(t *testing.T) {
	t.Parallel()
	e := newEnv(t, zohosandbox.Options{}, nil)
	cb := e.authorize(t, zohosandbox.UserSam)
	require.Equal(t, "us", cb.Get("location"))
	tok, err := e.auth.Exchange(ctx(), connectors.ExchangeRequest{Code: cb.Get("code"), RedirectURL: callback, Callback: cb})
	require.NoError(t, err)
	acct := connectors.Account{ID: zohosandbox.UserSam, Metadata: zoho.Meta(tok)}
	require.NoError(t, e.auth.Revoke(ctx(), acct, tok))
	_, _, revoked := e.sb.Accounts("us").Stats()
	require.Equal(t, 1, revoked)
	_, err = e.auth.Refresh(ctx(), acct, tok.RefreshToken)
	require.ErrorIs(t, err, connectors.ErrUnauthorized, "the revoked refresh token is refused")
	require.NoError(t, e.auth.Revoke(ctx(), acct, tok), "revoking twice is fine")
}

// A connect that fails at the identity lookup has no account to name the
// token's DC (Identify answers connectors.Account{}), yet revokes the token
// it received (Spec.RevokeUnusedGrant): the DC comes from the token, as
// Exchange stored it. A DC the token names off the allowlist still gets
// nothing.
func TestRevokeWithoutAccountAtTheTokensDC(t *testing.T) {
	t.Parallel()
	e := newEnv(t, zohosandbox.Options{}, nil)
	cb := e.authorize(t, zohosandbox.UserAda)
	tok, err := e.auth.Exchange(ctx(), connectors.ExchangeRequest{Code: cb.Get("code"), RedirectURL: callback, Callback: cb})
	require.NoError(t, err)
	require.NoError(t, e.auth.Revoke(ctx(), connectors.Account{}, tok))
	_, _, revoked := e.sb.Accounts("eu").Stats()
	require.Equal(t, 1, revoked)
	acct := connectors.Account{ID: zohosandbox.UserAda, Metadata: zoho.Meta(tok)}
	_, err = e.auth.Refresh(ctx(), acct, tok.RefreshToken)
	require.ErrorIs(t, err, connectors.ErrUnauthorized, "the revoked refresh token is refused")

	var calls atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { calls.Add(1) }))
	t.Cleanup(elsewhere.Close)
	forged := (&oauth2.Token{RefreshToken: "1000.rt"}).WithExtra(map[string]any{
		zoho.MetaLocation: "eu", zoho.MetaAccountsServer: elsewhere.URL})
	err = e.auth.Revoke(ctx(), connectors.Account{}, forged)
	require.ErrorIs(t, err, connectors.ErrInvalidConfig)
	require.Zero(t, calls.Load(), "a token is never sent to a server off the allowlist")
}

// A callback without accounts-server (a client without Multi DC) is
// exchanged at the configured TOKEN_URL's server.
func TestExchangeWithoutMultiDC(t *testing.T) {
	t.Parallel()
	e := newEnv(t, zohosandbox.Options{}, nil)
	cb := e.authorize(t, zohosandbox.UserSam)
	cb.Del("accounts-server")
	cb.Del("location")
	tok, err := e.auth.Exchange(ctx(), connectors.ExchangeRequest{Code: cb.Get("code"), RedirectURL: callback, Callback: cb})
	require.NoError(t, err)
	require.Equal(t, "us", zoho.Meta(tok)[zoho.MetaLocation])
}

// A revocation Zoho did not make is not reported as made: a throttled or
// refused answer without Zoho's error body is an error (the disconnect
// warns that the token may still be live, one of the user's 20).
func TestRevokeRefusedIsNotSuccess(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status int
		body   string
		want   error
	}{
		{http.StatusTooManyRequests, "<html>Too many requests</html>", connectors.ErrRateLimited},
		{http.StatusForbidden, "<html>Forbidden</html>", connectors.ErrTransient},
		{http.StatusBadGateway, "", connectors.ErrTransient},
		{http.StatusOK, `{"error":"invalid_token"}`, nil}, // already unknown to Zoho
		{http.StatusOK, `{"status":"success"}`, nil},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tc.status)
			_, _ = io.WriteString(w, tc.body)
		}))
		a := newAuth(t, map[string]string{"POBLYSH_ZOHO_ACCOUNTS_SERVERS": "us=" + srv.URL,
			"POBLYSH_ZOHO_CLIENT_ID": "id", "POBLYSH_ZOHO_CLIENT_SECRET": "s"})
		acct := connectors.Account{ID: "1", Metadata: map[string]string{"dc": "us", "accounts_server": srv.URL}}
		err := a.Revoke(ctx(), acct, &oauth2.Token{RefreshToken: "1000.rt"})
		srv.Close()
		if tc.want == nil {
			require.NoError(t, err, "HTTP %d %s", tc.status, tc.body)
			continue
		}
		require.ErrorIs(t, err, tc.want, "HTTP %d %s", tc.status, tc.body)
		require.NotContains(t, err.Error(), "1000.rt")
	}
}

// Zoho's accounts server answers a refused grant with HTTP 200 and an
// error field (providers.md). An answer without that field is not Zoho
// refusing the grant: a proxy's or WAF's 403 page, a 404 from a misrouted
// load balancer, a 408. It is transient (rate limited when it says when to
// come back), and the connection keeps its grant; read as a refusal, a
// healthy grant was moved to needs_reauth and left out of the keep-alive.
// Zoho's own error codes mean what they say at any status.
func TestRefreshWithoutZohosErrorIsNotARefusal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status int
		header string // Retry-After
		body   string
		want   error
	}{
		{http.StatusForbidden, "", "<html>Forbidden</html>", connectors.ErrTransient},
		{http.StatusNotFound, "", "<html>Not Found</html>", connectors.ErrTransient},
		{http.StatusRequestTimeout, "", "", connectors.ErrTransient},
		{http.StatusUnauthorized, "", `{"message":"unauthorized"}`, connectors.ErrTransient},
		{http.StatusForbidden, "30", "<html>Slow down</html>", connectors.ErrRateLimited},
		{http.StatusServiceUnavailable, "30", "", connectors.ErrRateLimited},
		{http.StatusOK, "", `{"error":"invalid_code"}`, connectors.ErrUnauthorized},
		{http.StatusBadRequest, "", `{"error":"invalid_code"}`, connectors.ErrUnauthorized},
	} {
		t.Run(fmt.Sprintf("HTTP %d %s", tc.status, tc.body), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.header != "" {
					w.Header().Set("Retry-After", tc.header)
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			a := newAuth(t, map[string]string{"POBLYSH_ZOHO_ACCOUNTS_SERVERS": "us=" + srv.URL,
				"POBLYSH_ZOHO_CLIENT_ID": "id", "POBLYSH_ZOHO_CLIENT_SECRET": "s"})
			acct := connectors.Account{ID: "1", Metadata: map[string]string{"dc": "us", "accounts_server": srv.URL}}
			_, err := a.Refresh(ctx(), acct, "1000.rt")
			require.Equal(t, tc.want, connectors.Kind(err), "%v", err)
			require.NotContains(t, err.Error(), "1000.rt")
			if tc.want == connectors.ErrRateLimited {
				d, ok := connectors.RetryAfter(err)
				require.True(t, ok)
				require.Equal(t, 30*time.Second, d)
			}
		})
	}
}

// Revoking a refresh token ends that token only: the user's other grants
// to the client (another connection, another product) still refresh.
func TestRevokeEndsOneRefreshTokenOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t, zohosandbox.Options{}, nil)
	var toks []*oauth2.Token
	for range 2 {
		cb := e.authorize(t, zohosandbox.UserSam)
		tok, err := e.auth.Exchange(ctx(), connectors.ExchangeRequest{Code: cb.Get("code"), RedirectURL: callback, Callback: cb})
		require.NoError(t, err)
		toks = append(toks, tok)
	}
	require.NotEqual(t, toks[0].RefreshToken, toks[1].RefreshToken)
	acct := connectors.Account{ID: zohosandbox.UserSam, Metadata: zoho.Meta(toks[0])}
	require.NoError(t, e.auth.Revoke(ctx(), acct, toks[0]))
	_, err := e.auth.Refresh(ctx(), acct, toks[0].RefreshToken)
	require.ErrorIs(t, err, connectors.ErrUnauthorized)
	_, err = e.auth.Refresh(ctx(), acct, toks[1].RefreshToken)
	require.NoError(t, err, "the other grant lives on")
}
