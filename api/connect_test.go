package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-openapi/spec"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/api"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/lifecycle"
	"github.com/poblysh/poblysh/sandbox"
	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
	gcalsandbox "github.com/poblysh/poblysh/sandbox/googlecalendar"
	slacksandbox "github.com/poblysh/poblysh/sandbox/slack"
	zohosandbox "github.com/poblysh/poblysh/sandbox/zoho"
)

// withProviders points the registry at provider sandboxes (their env).
func withProviders(t *testing.T, env map[string]string) func(*api.Deps) {
	return func(d *api.Deps) {
		reg, err := connectors.Build(connectors.Registered(), func(k string) string { return env[k] }, "http://127.0.0.1:1", false)
		require.NoError(t, err)
		d.Registry, d.Connections.Registry = reg, reg
	}
}

// sandboxed serves the API with the fake provider's and Google Calendar's
// sandboxes configured.
func sandboxed(t *testing.T) (*apiEnv, *fakesandbox.Server, *gcalsandbox.Server) {
	t.Helper()
	f := fakesandbox.New(fakesandbox.Options{})
	fsrv := httptest.NewServer(f)
	t.Cleanup(fsrv.Close)
	gc := gcalsandbox.New(gcalsandbox.Options{})
	gsrv := httptest.NewServer(gc)
	t.Cleanup(gsrv.Close)
	env := f.Env(fsrv.URL)
	for k, v := range gc.Env(gsrv.URL) {
		env[k] = v
	}
	return setup(t, withProviders(t, env)), f, gc
}

// browser is a user agent with its own cookie jar that follows no
// redirect, so each leg of the flow can be looked at. The API's public URL
// in these tests is unreachable (127.0.0.1:1): here() rewrites it.
type browser struct {
	t    *testing.T
	e    *apiEnv
	http *http.Client
}

func (e *apiEnv) browser() *browser {
	jar, err := cookiejar.New(nil)
	require.NoError(e.t, err)
	return &browser{t: e.t, e: e, http: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// here moves a URL of the API's public base onto the test server.
func (b *browser) here(raw string) string {
	if strings.HasPrefix(raw, "/") {
		return b.e.url + raw
	}
	return strings.Replace(raw, "http://127.0.0.1:1", b.e.url, 1)
}

// do sends method to u like a browser (Accept: text/html first).
func (b *browser) do(method, u string) response {
	b.t.Helper()
	req, err := http.NewRequest(method, b.here(u), nil)
	require.NoError(b.t, err)
	req.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.http.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

// authorize runs the browser from a connect of the tenant of key (body:
// its request) to the provider and back, and returns the callback URL.
func (b *browser) authorize(key, provider, body string) string {
	b.t.Helper()
	r := b.e.do(http.MethodPost, "/api/v1/connect/"+provider, key, "application/json", body)
	require.Equal(b.t, http.StatusOK, r.status, "%s", r.body)
	var started map[string]string
	require.NoError(b.t, json.Unmarshal(r.body, &started))
	require.Equal(b.t, http.StatusOK, b.do(http.MethodGet, started["authorization_url"]).status)
	r = b.do(http.MethodPost, started["authorization_url"])
	require.Equal(b.t, http.StatusSeeOther, r.status, "%s", r.body)
	r = b.do(http.MethodGet, r.header.Get("Location"))
	require.Equal(b.t, http.StatusFound, r.status, "%s", r.body)
	return r.header.Get("Location")
}

// start asks the API for a connect and returns its answer.
func (e *apiEnv) start(key, provider string) map[string]string {
	e.t.Helper()
	r := e.do(http.MethodPost, "/api/v1/connect/"+provider, key, "application/json", `{}`)
	require.Equal(e.t, http.StatusOK, r.status, "%s", r.body)
	var out map[string]string
	require.NoError(e.t, json.Unmarshal(r.body, &out))
	return out
}

// count runs a count query in the system scope.
func (e *apiEnv) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	require.NoError(e.t, e.schema.DB.WithSystem(context.Background(), func(tx *db.Tx) error {
		return tx.GetContext(context.Background(), &n, q, args...)
	}))
	return n
}

// TestStartPageBindsTheBrowser: the authorization URL is a start page
// that names the tenant and the provider and binds the flow to the browser
// that opened it; only that browser's click continues to the provider, and
// the callback completes only in that browser. Otherwise the callback
// answers 400 (HTML for a browser, JSON for others) and stores nothing.
func TestStartPageBindsTheBrowser(t *testing.T) {
	t.Parallel()
	e, _, _ := sandboxed(t)
	_, key := e.tenant("Acme")

	started := e.start(key, "fake")
	start, err := url.Parse(started["authorization_url"])
	require.NoError(t, err)
	require.Equal(t, "/api/v1/connect/fake/start", start.Path, "the user is sent to the service's start page")
	session := start.Query().Get("session")
	require.NotEmpty(t, session)
	require.NotEqual(t, started["state"], session, "the session is not the OAuth state")
	require.NotContains(t, started["authorization_url"], started["state"])

	// The page names tenant and provider, sets the binding cookie, and is
	// locked down (no framing, no Referer, no external anything).
	alice := e.browser()
	page := alice.do(http.MethodGet, started["authorization_url"])
	require.Equal(t, http.StatusOK, page.status, "%s", page.body)
	require.Contains(t, page.header.Get("Content-Type"), "text/html")
	html := string(page.body)
	require.Contains(t, html, "Acme wants to connect your Fake (engine test provider) account to Poblysh")
	require.Contains(t, html, `<form method="post">`)
	require.NotContains(t, html, "<script")
	require.NotContains(t, html, "http", "no external assets or links")
	require.Contains(t, page.header.Get("Content-Security-Policy"), "default-src 'none'")
	require.Contains(t, page.header.Get("Content-Security-Policy"), "frame-ancestors 'none'")
	require.Equal(t, "no-referrer", page.header.Get("Referrer-Policy"))
	require.Equal(t, "DENY", page.header.Get("X-Frame-Options"))
	require.Equal(t, "no-store", page.header.Get("Cache-Control"))
	cookie := page.header.Get("Set-Cookie")
	for _, attr := range []string{"poblysh_connect_", "Path=/api/v1/connect/fake/", "HttpOnly", "SameSite=Lax", "Max-Age="} {
		require.Contains(t, cookie, attr)
	}
	require.Equal(t, 1, e.count(`SELECT count(*) FROM oauth_states WHERE binding_hash IS NOT NULL AND approved_at IS NULL`))

	// A click from a browser without the cookie (another browser, or a
	// cross-site form, which SameSite=Lax strips) goes nowhere.
	mallory := e.browser()
	r := mallory.do(http.MethodPost, started["authorization_url"])
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Contains(t, string(r.body), "not started in this browser")
	require.Empty(t, r.header.Get("Location"))
	require.Zero(t, e.count(`SELECT count(*) FROM oauth_states WHERE approved_at IS NOT NULL`))

	// Alice's click continues to the provider with the state and PKCE.
	r = alice.do(http.MethodPost, started["authorization_url"])
	require.Equal(t, http.StatusSeeOther, r.status, "%s", r.body)
	authz, err := url.Parse(r.header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, "/oauth/authorize", authz.Path)
	require.Equal(t, started["state"], authz.Query().Get("state"))
	require.Equal(t, "S256", authz.Query().Get("code_challenge_method"))
	require.Equal(t, "no-referrer", r.header.Get("Referrer-Policy"), "the session does not leak to the provider")
	r = alice.do(http.MethodGet, authz.String())
	require.Equal(t, http.StatusFound, r.status)
	callback := r.header.Get("Location")
	require.Contains(t, callback, "/api/v1/connect/fake/callback?")

	// Mallory gets hold of the callback URL: without Alice's cookie it
	// answers a page that says what happened, spends the state, stores
	// nothing and keeps no secret.
	r = mallory.do(http.MethodGet, callback)
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Contains(t, r.header.Get("Content-Type"), "text/html")
	require.Contains(t, string(r.body), "Nothing was connected")
	require.Contains(t, string(r.body), "not started in this browser")
	require.Contains(t, string(r.body), r.header.Get("X-Request-Id"), "the page quotes the request id")
	require.Zero(t, e.count(`SELECT count(*) FROM connections`))
	require.Equal(t, 1, e.count(`SELECT count(*) FROM oauth_states WHERE used_at IS NOT NULL AND verifier_ct IS NULL AND state_ct IS NULL`))
	r = alice.do(http.MethodGet, callback)
	require.Equal(t, http.StatusBadRequest, r.status, "the state was spent by the failed attempt")
	require.Contains(t, string(r.body), "already used")

	// Other clients get the JSON error shape.
	started = e.start(key, "fake")
	alice.do(http.MethodGet, started["authorization_url"])
	r = alice.do(http.MethodPost, started["authorization_url"])
	r = alice.do(http.MethodGet, r.header.Get("Location"))
	cb, err := url.Parse(alice.here(r.header.Get("Location")))
	require.NoError(t, err)
	e2 := requireError(t, e.do(http.MethodGet, cb.RequestURI(), "", "", ""), http.StatusBadRequest, poblysh.EINVALID)
	require.Contains(t, e2.Message, "not started in this browser")
	require.Zero(t, e.count(`SELECT count(*) FROM connections`))

	// Another browser that opens the link after Alice clicked takes the
	// binding over: Alice's callback fails, and so does the other
	// browser's without a click of its own.
	started = e.start(key, "fake")
	alice.do(http.MethodGet, started["authorization_url"])
	r = alice.do(http.MethodPost, started["authorization_url"])
	r = alice.do(http.MethodGet, r.header.Get("Location"))
	callback = r.header.Get("Location")
	bob := e.browser()
	require.Equal(t, http.StatusOK, bob.do(http.MethodGet, started["authorization_url"]).status)
	r = bob.do(http.MethodGet, callback)
	require.Equal(t, http.StatusBadRequest, r.status, "bound to Bob's browser, but Bob never clicked")
	require.Contains(t, string(r.body), "not started in this browser")
	require.Zero(t, e.count(`SELECT count(*) FROM connections`))

	// Bad and spent links answer a page too.
	r = alice.do(http.MethodGet, "/api/v1/connect/fake/start?session=forged")
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Contains(t, string(r.body), "This link cannot be used (unknown link)")
	r = alice.do(http.MethodGet, started["authorization_url"])
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Contains(t, string(r.body), "already used")
	requireError(t, e.do(http.MethodGet, "/api/v1/connect/fake/start", "", "", ""), http.StatusBadRequest, poblysh.EINVALID)
	r = alice.do(http.MethodGet, "/api/v1/connect/nope/start?session=x")
	require.Equal(t, http.StatusNotFound, r.status)
}

// TestGoogleMissingScopeIsRefused: a Google user who unticks the calendar
// permission on the granular consent screen gets a 400 that names the
// scope, and no connection is created.
func TestGoogleMissingScopeIsRefused(t *testing.T) {
	t.Parallel()
	e, _, gc := sandboxed(t)
	_, key := e.tenant("Acme")
	const events = "https://www.googleapis.com/auth/calendar.events.readonly"
	require.NoError(t, gc.DeclineNext(events))

	started := e.start(key, "google-calendar")
	alice := e.browser()
	page := alice.do(http.MethodGet, started["authorization_url"])
	require.Contains(t, string(page.body), "Acme wants to connect your Google Calendar account to Poblysh")
	r := alice.do(http.MethodPost, started["authorization_url"])
	require.Equal(t, http.StatusSeeOther, r.status)
	r = alice.do(http.MethodGet, r.header.Get("Location"))
	require.Equal(t, http.StatusFound, r.status)
	r = alice.do(http.MethodGet, r.header.Get("Location"))
	require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	require.Contains(t, string(r.body), "did not grant the required scope "+events)
	require.Zero(t, e.count(`SELECT count(*) FROM connections`), "no connection is created")
}

// TestListingConnectionsWritesNothing: reading connections, even one that
// needs re-authorization, creates no OAuth state; re-authorization is
// asked for with POST /connections/{id}/reconnect, whose state is bound to
// the connection, its tenant and provider.
func TestListingConnectionsWritesNothing(t *testing.T) {
	t.Parallel()
	e, _, _ := sandboxed(t)
	tenant, key := e.tenant("Acme")
	_, otherKey := e.tenant("Other")
	ctx := context.Background()
	var id string
	require.NoError(t, e.schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "fake", ExternalAccountID: "acct-1", DisplayName: "Acct"})
		if err != nil {
			return err
		}
		id = c.ID
		return tx.SetHealth(ctx, c.ID, poblysh.HealthNeedsReauth, "token revoked")
	}))

	list := e.do(http.MethodGet, "/api/v1/connections", key, "", "")
	require.Equal(t, http.StatusOK, list.status, "%s", list.body)
	require.Contains(t, string(list.body), `"health":"needs_reauth"`)
	require.NotContains(t, string(list.body), "reconnect_url")
	one := e.do(http.MethodGet, "/api/v1/connections/"+id, key, "", "")
	require.Equal(t, http.StatusOK, one.status)
	require.NotContains(t, string(one.body), "reconnect_url")
	require.Zero(t, e.count(`SELECT count(*) FROM oauth_states`), "reading connections wrote an OAuth state")

	requireError(t, e.do(http.MethodPost, "/api/v1/connections/"+id+"/reconnect", otherKey, "", ""), http.StatusNotFound, poblysh.ENOTFOUND)
	requireError(t, e.do(http.MethodPost, "/api/v1/connections/not-a-uuid/reconnect", key, "", ""), http.StatusNotFound, poblysh.ENOTFOUND)
	requireError(t, e.do(http.MethodPost, "/api/v1/connections/"+id+"/reconnect", key, "application/json",
		`{"redirect_uri": "https://evil.example.com/done"}`), http.StatusBadRequest, poblysh.EINVALID)
	require.Zero(t, e.count(`SELECT count(*) FROM oauth_states`))

	r := e.do(http.MethodPost, "/api/v1/connections/"+id+"/reconnect", key, "", "")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var out map[string]string
	require.NoError(t, json.Unmarshal(r.body, &out))
	require.Len(t, out, 3)
	require.Contains(t, out["authorization_url"], "/api/v1/connect/fake/start?session=")
	require.NotEmpty(t, out["state"])
	require.NotEmpty(t, out["expires_at"])
	require.Equal(t, 1, e.count(`SELECT count(*) FROM oauth_states WHERE connection_id = $1 AND tenant_id = $2 AND provider = 'fake'`, id, tenant))
	page := e.browser().do(http.MethodGet, out["authorization_url"])
	require.Contains(t, string(page.body), "Acme wants to reconnect your Fake (engine test provider) account to Poblysh")
}

// TestConnectRefusedOnceTheTenantIsBeingDeleted: an organisation whose
// deletion has begun gains no connection. The deletion lists the tenant's
// connections once and disconnects each (schedules, workflows, the grant
// at the provider); a connection stored after that list lost its row with
// the tenant but kept its schedules and its grant. A user at the
// provider's consent screen when the deletion begins is refused at the
// callback before the code is exchanged; a start page opened afterwards
// says so; and a deletion that begins while the code is being exchanged
// (the state already spent) is refused when the connection would be
// stored.
func TestConnectRefusedOnceTheTenantIsBeingDeleted(t *testing.T) {
	t.Parallel()
	f := fakesandbox.New(fakesandbox.Options{})
	var exchanges atomic.Int32
	var duringExchange atomic.Pointer[func()]
	fsrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth/token" {
			exchanges.Add(1)
			if hook := duringExchange.Swap(nil); hook != nil {
				(*hook)()
			}
		}
		f.ServeHTTP(w, r)
	}))
	t.Cleanup(fsrv.Close)
	e := setup(t, withProviders(t, f.Env(fsrv.URL)))
	ctx := context.Background()
	beginDeletion := func(tenant string) {
		require.NoError(t, e.schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
			_, started, err := tx.BeginTenantDeletion(ctx, tenant, uuid.NewString(), "tenant-deletion/"+tenant)
			require.True(t, started)
			return err
		}))
	}
	connections := func(tenant string) int {
		return e.count(`SELECT count(*) FROM connections WHERE tenant_id = $1`, tenant)
	}

	// At the consent screen when the deletion begins.
	doomed, key := e.tenant("Doomed")
	started := e.start(key, "fake")
	alice := e.browser()
	require.Equal(t, http.StatusOK, alice.do(http.MethodGet, started["authorization_url"]).status)
	r := alice.do(http.MethodPost, started["authorization_url"])
	require.Equal(t, http.StatusSeeOther, r.status, "%s", r.body)
	r = alice.do(http.MethodGet, r.header.Get("Location"))
	require.Equal(t, http.StatusFound, r.status, "%s", r.body)
	callback := r.header.Get("Location")
	beginDeletion(doomed)
	r = alice.do(http.MethodGet, callback)
	require.Equal(t, http.StatusConflict, r.status, "%s", r.body)
	require.Contains(t, string(r.body), "Nothing was connected")
	require.Contains(t, strings.ToLower(string(r.body)), "the organisation is being deleted")
	require.Zero(t, connections(doomed))
	require.Zero(t, exchanges.Load(), "the code is not exchanged: no grant is made for a tenant being deleted")

	// A start page opened after the deletion began.
	doomed2, key2 := e.tenant("Doomed too")
	started = e.start(key2, "fake")
	beginDeletion(doomed2)
	r = e.browser().do(http.MethodGet, started["authorization_url"])
	require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	require.Contains(t, strings.ToLower(string(r.body)), "the organisation is being deleted")

	// The deletion begins while the code is exchanged.
	doomed3, key3 := e.tenant("Doomed three")
	hook := func() { beginDeletion(doomed3) }
	duringExchange.Store(&hook)
	e.temporal.take()
	r = e.connect(key3)
	require.Equal(t, http.StatusConflict, r.status, "%s", r.body)
	require.Contains(t, strings.ToLower(string(r.body)), "the organisation is being deleted")
	require.Nil(t, duringExchange.Load(), "the deletion began during the exchange")
	require.Zero(t, connections(doomed3), "nothing is stored after the deletion listed the connections")
	require.Empty(t, e.temporal.take(), "nothing is scheduled for it")

	// Another organisation connects as ever.
	_, key4 := e.tenant("Alive")
	r = e.connect(key4)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
}

// TestCallbackAnswersCarryThePageHeaders: every answer of the callback, the
// 200 with the connection, the 302 to the connect's redirect_uri and the
// errors (HTML for a browser, JSON otherwise), goes to a browser with the
// page headers: never stored by a cache (the answer names a tenant's
// connection to whoever holds the browser), never sniffed or framed, no
// Referer. The 200's connection carries no webhook_url: that URL holds the
// connection's secret token, and the tenant reads it with
// GET /connections/{id}.
func TestCallbackAnswersCarryThePageHeaders(t *testing.T) {
	t.Parallel()
	zm := zohosandbox.ForProduct(zohosandbox.ProductMail, zohosandbox.Options{Seed: true, WebhookSecret: "mail-hook-secret"})
	zsrv := httptest.NewServer(zm)
	t.Cleanup(zsrv.Close)
	f := fakesandbox.New(fakesandbox.Options{})
	fsrv := httptest.NewServer(f)
	t.Cleanup(fsrv.Close)
	env := zm.Env(zsrv.URL)
	for k, v := range f.Env(fsrv.URL) {
		env[k] = v
	}
	e := setup(t, withProviders(t, env), func(d *api.Deps) { d.Connections.RedirectAllowlist = []string{"https://app.example.com/"} })
	_, key := e.tenant("Acme")
	requirePageHeaders := func(r response, what string) {
		t.Helper()
		require.Equal(t, "no-store", r.header.Get("Cache-Control"), what)
		require.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"), what)
		require.Equal(t, "no-referrer", r.header.Get("Referrer-Policy"), what)
		require.Equal(t, "DENY", r.header.Get("X-Frame-Options"), what)
		require.Contains(t, r.header.Get("Content-Security-Policy"), "frame-ancestors 'none'", what)
	}
	alice := e.browser()

	// No redirect_uri: 200 with the connection, without its webhook URL.
	callback := alice.authorize(key, "zoho-mail", `{}`)
	r := alice.do(http.MethodGet, callback)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	requirePageHeaders(r, "200")
	var done struct{ Connection map[string]any }
	require.NoError(t, json.Unmarshal(r.body, &done))
	require.Equal(t, "zoho-mail", done.Connection["provider"])
	require.Contains(t, done.Connection, "webhook_url")
	require.Nil(t, done.Connection["webhook_url"], "the callback's answer carries no webhook URL")
	require.NotContains(t, string(r.body), "/api/v1/webhooks/")
	one := e.do(http.MethodGet, "/api/v1/connections/"+done.Connection["id"].(string), key, "", "")
	require.Equal(t, http.StatusOK, one.status, "%s", one.body)
	var own map[string]any
	require.NoError(t, json.Unmarshal(one.body, &own))
	require.Contains(t, own["webhook_url"], "http://127.0.0.1:1/api/v1/webhooks/zoho-mail?token=", "the tenant's own view has it")

	// Errors: the spent state answers 400, an HTML page or the JSON shape.
	r = alice.do(http.MethodGet, callback)
	require.Equal(t, http.StatusBadRequest, r.status)
	requirePageHeaders(r, "400 page")
	cb, err := url.Parse(alice.here(callback))
	require.NoError(t, err)
	r = requireErrorResponse(t, e.do(http.MethodGet, cb.RequestURI(), "", "", ""), http.StatusBadRequest, poblysh.EINVALID)
	requirePageHeaders(r, "400 JSON")

	// With a redirect_uri: 302 there, with the connection's id.
	r = alice.do(http.MethodGet, alice.authorize(key, "fake", `{"redirect_uri": "https://app.example.com/done"}`))
	require.Equal(t, http.StatusFound, r.status, "%s", r.body)
	require.Regexp(t, `^https://app\.example\.com/done\?connection_id=[0-9a-f-]{36}$`, r.header.Get("Location"))
	requirePageHeaders(r, "302")
}

// TestFailedZohoIdentifyRevokesTheGrant: a Zoho connect that fails at the
// identity lookup, after the code exchange, revokes the refresh token it
// received (Spec.RevokeUnusedGrant), though no account names the token's
// data centre: the token does. Zoho keeps 20 refresh tokens per user and
// client and removes the oldest for the 21st, so each such failure left
// a token live that could end a working connection's (of any tenant):
// the revocation went nowhere, its account having no accounts server.
func TestFailedZohoIdentifyRevokesTheGrant(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		product string
		fail    func(*testing.T, *zohosandbox.Server)
		status  int
		says    string
	}{
		"zoho mail fails listing the accounts": {zohosandbox.ProductMail, func(t *testing.T, z *zohosandbox.Server) {
			z.Faults.Add(sandbox.Fault{Status: http.StatusInternalServerError, PathPrefix: "/eu/mail/api/accounts", Count: 100})
		}, http.StatusBadGateway, "reading the account identity"},
		"a cliq-only user connects zoho mail": {zohosandbox.ProductMail, func(t *testing.T, z *zohosandbox.Server) {
			require.NoError(t, z.RemoveMailbox(zohosandbox.UserAda))
		}, http.StatusBadRequest, "the user has no Zoho Mail account"},
		"zoho accounts fails the user info": {zohosandbox.ProductCliq, func(t *testing.T, z *zohosandbox.Server) {
			z.Faults.Add(sandbox.Fault{Status: http.StatusInternalServerError, PathPrefix: "/eu/accounts/oauth/user/info", Count: 100})
		}, http.StatusBadGateway, "reading the account identity"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			zs := zohosandbox.ForProduct(tc.product, zohosandbox.Options{Seed: true})
			srv := httptest.NewServer(zs)
			t.Cleanup(srv.Close)
			e := setup(t, withProviders(t, zs.Env(srv.URL)))
			_, key := e.tenant("Acme")
			ada := e.browser()
			callback := ada.authorize(key, tc.product, `{}`)
			tc.fail(t, zs)
			r := ada.do(http.MethodGet, callback)
			require.Equal(t, tc.status, r.status, "%s", r.body)
			require.Contains(t, string(r.body), tc.says)
			_, _, revoked := zs.Accounts("eu").Stats()
			require.Equal(t, 1, revoked, "the failed connect revoked the refresh token it received")
			require.Zero(t, e.count(`SELECT count(*) FROM connections`), "nothing is stored")
		})
	}
}

// TestFailedGitHubIdentifyRevokesTheToken: GitHub's revocation needs no
// account (DELETE /applications/{client_id}/token names the token), so a
// connect that fails at the identity lookup revokes its token too
// (Spec.RevokeUnusedGrant): GitHub keeps 10 per user, app and scopes and
// revokes the oldest past them.
func TestFailedGitHubIdentifyRevokesTheToken(t *testing.T) {
	t.Parallel()
	gh := githubsandbox.New(githubsandbox.Options{Seed: true})
	srv := httptest.NewServer(gh)
	t.Cleanup(srv.Close)
	e := setup(t, withProviders(t, gh.Env(srv.URL)))
	_, key := e.tenant("Acme")
	b := e.browser()
	callback := b.authorize(key, "github", `{"config": {"repos": ["`+githubsandbox.SeedRepo+`"]}}`)
	gh.Faults.Add(sandbox.Fault{Status: http.StatusInternalServerError, PathPrefix: "/user", Count: 100})
	r := b.do(http.MethodGet, callback)
	require.Equal(t, http.StatusBadGateway, r.status, "%s", r.body)
	require.Contains(t, string(r.body), "reading the account identity")
	require.Len(t, gh.OAuth.Issued(), 1)
	for _, tok := range gh.OAuth.Issued() {
		_, err := gh.OAuth.Check(tok)
		require.Error(t, err, "the failed connect revoked the token it received")
	}
}

// TestCallbackCodeIsCheckedBeforeTheStateIsSpent: a callback whose code is
// missing or longer than completeConnect's maxLength (4096) is refused with
// a message that says which, before the state is looked at, so it spends
// nothing: the same browser completes with the real callback afterwards. A
// code up to 4096 characters is taken to the provider's exchange (the
// limit was 2048, refused as "no authorization code", and spent the state,
// so the retry answered "already used").
func TestCallbackCodeIsCheckedBeforeTheStateIsSpent(t *testing.T) {
	t.Parallel()
	e, _, _ := sandboxed(t)
	ops := loadOps(t)
	_, key := e.tenant("Acme")
	alice := e.browser()
	authorize := func() *url.URL {
		started := e.start(key, "fake")
		require.Equal(t, http.StatusOK, alice.do(http.MethodGet, started["authorization_url"]).status)
		r := alice.do(http.MethodPost, started["authorization_url"])
		require.Equal(t, http.StatusSeeOther, r.status, "%s", r.body)
		r = alice.do(http.MethodGet, r.header.Get("Location"))
		require.Equal(t, http.StatusFound, r.status, "%s", r.body)
		cb, err := url.Parse(alice.here(r.header.Get("Location")))
		require.NoError(t, err)
		require.NotEmpty(t, cb.Query().Get("code"))
		return cb
	}
	withCode := func(cb *url.URL, code string) string {
		q := cb.Query()
		if code == "" {
			q.Del("code")
		} else {
			q.Set("code", code)
		}
		u := *cb
		u.RawQuery = q.Encode()
		return u.RequestURI()
	}
	unspent := `SELECT count(*) FROM oauth_states WHERE used_at IS NULL AND approved_at IS NOT NULL`
	i := slices.IndexFunc(ops["completeConnect"].op.Parameters, func(p spec.Parameter) bool { return p.Name == "code" })
	require.GreaterOrEqual(t, i, 0)
	require.EqualValues(t, lifecycle.MaxCodeLength, *ops["completeConnect"].op.Parameters[i].MaxLength, "swagger.yml's limit is the callback's")

	cb := authorize()
	long := withCode(cb, strings.Repeat("c", 4097))
	r := alice.do(http.MethodGet, long)
	require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	require.Contains(t, string(r.body), "longer than 4096 characters")
	er := requireError(t, e.do(http.MethodGet, long, "", "", ""), http.StatusBadRequest, poblysh.EINVALID)
	require.Equal(t, map[string]string{"code": "must be at most 4096 characters"}, er.Details)
	ops.requireListed(t, "completeConnect", e.do(http.MethodGet, long, "", "", ""))
	require.Equal(t, 1, e.count(unspent), "a refused code spends no state")

	r = alice.do(http.MethodGet, withCode(cb, ""))
	require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	require.Contains(t, string(r.body), "carries no authorization code")
	require.Equal(t, 1, e.count(unspent), "a missing code spends no state")
	require.Zero(t, e.count(`SELECT count(*) FROM connections`))

	r = alice.do(http.MethodGet, cb.RequestURI())
	require.Equal(t, http.StatusOK, r.status, "the real callback still completes: %s", r.body)
	require.Equal(t, 1, e.count(`SELECT count(*) FROM connections`))

	// 4096 characters pass the check: the provider's exchange refuses
	// this made-up code, and the attempt spends the state.
	cb = authorize()
	r = alice.do(http.MethodGet, withCode(cb, strings.Repeat("c", 4096)))
	require.Contains(t, string(r.body), "exchanging the authorization code", "%d %s", r.status, r.body)
	require.Zero(t, e.count(unspent))
}

// requireErrorResponse is requireError that hands the response on.
func requireErrorResponse(t *testing.T, r response, status int, code string) response {
	t.Helper()
	requireError(t, r, status, code)
	return r
}

// TestUnknownProviderPageRepeatsNoURLText: the browser pages' error for a
// provider name in the path that names no provider does not repeat what
// was written there (anyone can send a link on the service's host; the
// page must not show their sentence as the service's words). A
// provider-shaped name is still named, for pages and for API clients.
func TestUnknownProviderPageRepeatsNoURLText(t *testing.T) {
	t.Parallel()
	e := setup(t)
	b := e.browser()
	spoof := "Your%20Slack%20workspace%20was%20suspended.%20Call%20+1%20555%200100%20to%20restore%20it"
	for _, u := range []string{
		"/api/v1/connect/" + spoof + "/start",
		"/api/v1/connect/" + spoof + "/callback?state=x&code=y",
	} {
		r := b.do(http.MethodGet, u)
		require.Equal(t, http.StatusNotFound, r.status, "%s: %s", u, r.body)
		require.Contains(t, r.header.Get("Content-Type"), "text/html", u)
		require.Contains(t, string(r.body), "Unknown provider", u)
		require.NotContains(t, string(r.body), "555 0100", "%s: the page repeats text from the URL", u)
	}
	r := b.do(http.MethodPost, "/api/v1/connect/"+spoof+"/start")
	require.Equal(t, http.StatusNotFound, r.status, "%s", r.body)
	require.NotContains(t, string(r.body), "555 0100", "the page repeats text from the URL")

	r = b.do(http.MethodGet, "/api/v1/connect/myspace/start")
	require.Equal(t, http.StatusNotFound, r.status, "%s", r.body)
	require.Contains(t, string(r.body), "Unknown provider myspace", "a provider-shaped name is named")
}

// TestStartPageCookieIsSecureBehindHTTPS: the binding cookie is Secure
// whenever the public URL's scheme is https, however it is written (a URL
// scheme is case-insensitive, and POBLYSH_PUBLIC_URL is used as written),
// and only then.
func TestStartPageCookieIsSecureBehindHTTPS(t *testing.T) {
	t.Parallel()
	f := fakesandbox.New(fakesandbox.Options{})
	fsrv := httptest.NewServer(f)
	t.Cleanup(fsrv.Close)
	env := f.Env(fsrv.URL)
	for public, secure := range map[string]bool{
		"https://connect.example.com": true,
		"HTTPS://connect.example.com": true,
		"Https://Connect.Example.com": true,
		"http://connect.example.com":  false,
		"HTTP://connect.example.com":  false,
	} {
		t.Run(public, func(t *testing.T) {
			t.Parallel()
			e := setup(t, func(d *api.Deps) {
				reg, err := connectors.Build(connectors.Registered(), func(k string) string { return env[k] }, public, true)
				require.NoError(t, err)
				d.Registry, d.Connections.Registry = reg, reg
			})
			_, key := e.tenant("Acme")
			link := e.start(key, "fake")["authorization_url"]
			require.True(t, strings.HasPrefix(link, public+"/"), "the link is on the public URL as written: %s", link)
			start, err := url.Parse(link)
			require.NoError(t, err)
			page := e.browser().do(http.MethodGet, start.RequestURI())
			require.Equal(t, http.StatusOK, page.status, "%s", page.body)
			cookie := page.header.Get("Set-Cookie")
			require.Contains(t, cookie, "poblysh_connect_")
			if secure {
				require.Contains(t, cookie, "; Secure", "an https public URL gives a Secure cookie")
			} else {
				require.NotContains(t, cookie, "Secure")
			}
		})
	}
}

// TestStartLinkSurvivesAddedParameters: the start link is mailed and
// pasted, and mail tools and trackers append their own parameters
// (utm_source, fbclid, mc_eid...): the start page and its click ignore any
// parameter they do not take, so the flow completes (the form posts to the
// page's own URL, added parameters included). A session given twice is
// still refused, and a browser is answered with the HTML page, not the
// error JSON, as for every error of the browser-facing routes.
func TestStartLinkSurvivesAddedParameters(t *testing.T) {
	t.Parallel()
	e, _, _ := sandboxed(t)
	_, key := e.tenant("Acme")

	started := e.start(key, "fake")
	link := started["authorization_url"] + "&utm_source=newsletter&utm_medium=email&fbclid=IwAR0x&Call_555_0100=now"
	alice := e.browser()
	page := alice.do(http.MethodGet, link)
	require.Equal(t, http.StatusOK, page.status, "%s", page.body)
	require.Contains(t, string(page.body), "Acme wants to connect your Fake (engine test provider) account to Poblysh")
	require.NotContains(t, string(page.body), "555", "an added parameter is not repeated on the page")
	r := alice.do(http.MethodPost, link)
	require.Equal(t, http.StatusSeeOther, r.status, "%s", r.body)
	r = alice.do(http.MethodGet, r.header.Get("Location"))
	require.Equal(t, http.StatusFound, r.status, "%s", r.body)
	r = alice.do(http.MethodGet, r.header.Get("Location"))
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, 1, e.count(`SELECT count(*) FROM connections`), "the mailed link connected")

	// API clients are not refused an added parameter either.
	started = e.start(key, "fake")
	u, err := url.Parse(started["authorization_url"] + "&utm_source=newsletter")
	require.NoError(t, err)
	r = e.do(http.MethodGet, u.RequestURI(), "", "", "")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)

	// A session given twice is ambiguous: refused, as a page for a
	// browser and as the error JSON for others, on the page and the click.
	twice := started["authorization_url"] + "&session=other"
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		r = alice.do(method, twice)
		require.Equal(t, http.StatusBadRequest, r.status, "%s: %s", method, r.body)
		require.Contains(t, r.header.Get("Content-Type"), "text/html", method)
		require.Contains(t, string(r.body), "given more than once: session", method)
		require.Equal(t, "DENY", r.header.Get("X-Frame-Options"), "the page headers go with it")
		u, err := url.Parse(twice)
		require.NoError(t, err)
		er := requireError(t, e.do(method, u.RequestURI(), "", "application/x-www-form-urlencoded", ""), http.StatusBadRequest, poblysh.EINVALID)
		require.Contains(t, er.Message, "given more than once: session", method)
	}
}

// needsReauth makes connection id of tenant need re-authorization, as a
// refused refresh does.
func (e *apiEnv) needsReauth(tenant, id string) {
	e.t.Helper()
	require.NoError(e.t, e.schema.DB.WithTenant(context.Background(), tenant, func(tx *db.Tx) error {
		return tx.SetHealth(context.Background(), id, poblysh.HealthNeedsReauth, "token revoked")
	}))
}

// routeKeys lists a connection's webhook routes, sorted.
func (e *apiEnv) routeKeys(id string) []string {
	e.t.Helper()
	var keys []string
	require.NoError(e.t, e.schema.DB.WithSystem(context.Background(), func(tx *db.Tx) error {
		return tx.SelectContext(context.Background(), &keys, `SELECT route_key FROM webhook_routes WHERE connection_id = $1 ORDER BY route_key`, id)
	}))
	return keys
}

// TestPlainConnectKeepsTheCalendarsOfItsConnection: a connection that
// needs re-authorization is sent (by the sync's 409) to POST
// /connections/{id}/reconnect; a client that connects the provider
// afresh instead, without a config, re-authorizes it as it is: the
// calendars chosen by PATCH stay, proved again with the new token. The
// connect normalized the missing config into the provider's default
// (primary only), which the callback then wrote over them. A first
// connect without a config, and a connect after the connection was
// deleted, take that default.
func TestPlainConnectKeepsTheCalendarsOfItsConnection(t *testing.T) {
	t.Parallel()
	e, _, gc := sandboxed(t)
	tenant, key := e.tenant("Acme")
	first := connectionOf(t, e.connectTo(key, "google-calendar"))
	require.JSONEq(t, `{"calendars":["primary"]}`, string(first.Config), "no config: the provider's default")
	id := first.ID
	gc.AddCalendar(gcalsandbox.TeamCalendarID, "Press team", "Europe/Berlin")
	both := `{"calendars":["` + gcalsandbox.TeamCalendarID + `","primary"]}`
	r := e.do(http.MethodPatch, "/api/v1/connections/"+id, key, "application/json", `{"config":`+both+`}`)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)

	e.needsReauth(tenant, id)
	er := requireError(t, e.do(http.MethodPost, "/api/v1/sync/google-calendar", key, "application/json", `{"connection_id": "`+id+`"}`),
		http.StatusConflict, poblysh.ECONFLICT)
	require.Contains(t, er.Message, "reconnect it with POST /api/v1/connections/"+id+"/reconnect")

	for _, body := range []string{`{}`, `{"config": null}`, `{"config": {}}`} {
		e.needsReauth(tenant, id)
		c := connectionOf(t, e.connectWith(key, "google-calendar", body))
		require.Equal(t, id, c.ID, "%s: the same connection, healed in place", body)
		require.Equal(t, "healthy", c.Health, body)
		require.JSONEq(t, both, string(c.Config), "%s: the connection keeps its calendars", body)
		require.Equal(t, 2, e.count(`SELECT count(*) FROM connection_resources WHERE connection_id = $1`, id),
			"%s: both proved again with the new token", body)
	}

	// A connect naming calendars still replaces them.
	c := connectionOf(t, e.connectWith(key, "google-calendar", `{"config": {"calendars": ["`+gcalsandbox.TeamCalendarID+`"]}}`))
	require.JSONEq(t, `{"calendars":["`+gcalsandbox.TeamCalendarID+`"]}`, string(c.Config))

	// Deleted, then connected afresh: a new start, with the default.
	r = e.do(http.MethodDelete, "/api/v1/connections/"+id, key, "", "")
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	c = connectionOf(t, e.connectTo(key, "google-calendar"))
	require.Equal(t, id, c.ID)
	require.JSONEq(t, `{"calendars":["primary"]}`, string(c.Config))
}

// TestPlainSlackConnectKeepsItsChannelRoutes: a Slack connection reading
// chosen channels, connected again without a config, keeps reading them:
// its routes still come from the channels its new token proved, not from
// the workspace's install key, which routes every channel the bot is in
// (the missing config was normalized into "every channel").
func TestPlainSlackConnectKeepsItsChannelRoutes(t *testing.T) {
	t.Parallel()
	sl := slacksandbox.New(slacksandbox.Options{Seed: true})
	srv := httptest.NewServer(sl)
	t.Cleanup(srv.Close)
	e := setup(t, withProviders(t, sl.Env(srv.URL)))
	tenant, key := e.tenant("Acme")
	chosen := `{"channels":["` + slacksandbox.ChannelGeneral + `"]}`
	id := connectionOf(t, e.connectWith(key, "slack", `{"config": `+chosen+`}`)).ID
	routed := []string{"app:" + slacksandbox.DefaultTeamID, "channel:" + slacksandbox.ChannelGeneral}
	require.Equal(t, routed, e.routeKeys(id))

	e.needsReauth(tenant, id)
	c := connectionOf(t, e.connectTo(key, "slack"))
	require.Equal(t, id, c.ID)
	require.Equal(t, "healthy", c.Health)
	require.JSONEq(t, chosen, string(c.Config))
	require.Equal(t, routed, e.routeKeys(id), "routed by the channel its token proved, not by the install key")
	require.Equal(t, []string{slacksandbox.ChannelGeneral}, e.resourceRefs(id))
}

// resourceRefs lists the refs of a connection's proved resources, sorted.
func (e *apiEnv) resourceRefs(id string) []string {
	e.t.Helper()
	var refs []string
	require.NoError(e.t, e.schema.DB.WithSystem(context.Background(), func(tx *db.Tx) error {
		return tx.SelectContext(context.Background(), &refs, `SELECT ref FROM connection_resources WHERE connection_id = $1 ORDER BY ref`, id)
	}))
	return refs
}
