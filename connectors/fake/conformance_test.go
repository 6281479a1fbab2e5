package fake_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/connectortest"
	"github.com/poblysh/poblysh/connectors/fake"
	"github.com/poblysh/poblysh/sandbox"
	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
)

const (
	secret   = "fake-webhook-secret-for-tests"
	pageSize = "10"
	redirect = "https://connectors.example.com/api/v1/connect/fake/callback"
)

// seeded streams: 25 items in 3 pages, 12 in 2 pages.
var seeded = map[string]int{"items": 25, "audit": 12}

// harness is the fake connector wired to a fresh sandbox.
type harness struct {
	sb    *fakesandbox.Server
	url   string
	reg   *connectors.Registry
	prov  *connectors.Provider
	conn  connectors.Connection
	token *oauth2.Token
}

func provider(t *testing.T, env map[string]string, webhookSecret string) *connectors.Provider {
	t.Helper()
	env["POBLYSH_FAKE_WEBHOOK_SECRET"] = webhookSecret
	cfg, err := connectors.LoadConfig(fake.Spec, func(k string) string { return env[k] }, "https://connectors.example.com", true)
	require.NoError(t, err)
	c, err := fake.Spec.New(cfg)
	require.NoError(t, err)
	return &connectors.Provider{Spec: fake.Spec, Config: cfg, Connector: c}
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	sb := fakesandbox.New(fakesandbox.Options{Streams: map[string]int{"items": seeded["items"], "audit": seeded["audit"]}, WebhookSecret: secret})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	env := sb.Env(srv.URL)
	env["POBLYSH_FAKE_PAGE_SIZE"] = pageSize
	h := &harness{sb: sb, url: srv.URL, prov: provider(t, env, secret)}
	h.reg = connectors.NewRegistry(h.prov)
	cfg, err := h.prov.Connector.(connectors.ConfigValidator).ValidateConfig([]byte(`{"streams":["items","audit"]}`))
	require.NoError(t, err)
	h.token = h.authorize(t)
	acct, err := h.prov.Connector.(connectors.Authorizer).Identify(context.Background(), h.token,
		h.reg.HTTPClient(h.prov, "", h.token.AccessToken))
	require.NoError(t, err)
	require.Equal(t, fakesandbox.DefaultAccountID, acct.ID)
	h.conn = connectors.Connection{ID: "conn-1", TenantID: "tenant-1", Account: acct, Config: cfg}
	return h
}

// authorize runs the OAuth code flow with PKCE like the API does: follow
// the authorization URL, take the code from the redirect, exchange it.
func (h *harness) authorize(t *testing.T) *oauth2.Token {
	t.Helper()
	auth := h.prov.Connector.(connectors.Authorizer)
	verifier := oauth2.GenerateVerifier()
	u := auth.OAuth2Config(redirect).AuthCodeURL("state-1", append(auth.AuthCodeOptions(), oauth2.S256ChallengeOption(verifier))...)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(u)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	back, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, "state-1", back.Query().Get("state"))
	tok, err := h.reg.Exchange(context.Background(), h.prov, connectors.ExchangeRequest{
		Code: back.Query().Get("code"), Verifier: verifier, RedirectURL: redirect, Callback: back.Query(),
	})
	require.NoError(t, err)
	require.NotEmpty(t, tok.AccessToken)
	require.NotEmpty(t, tok.RefreshToken)
	require.WithinDuration(t, time.Now().Add(time.Hour), tok.Expiry, time.Minute)
	return tok
}

func TestConformance(t *testing.T) {
	hooks := webhookCases(t)
	connectortest.Run(t, func(t *testing.T) *connectortest.Env {
		h := newHarness(t)
		env := h.sb.Env(h.url)
		env["POBLYSH_FAKE_PAGE_SIZE"] = pageSize
		return &connectortest.Env{
			Provider:    h.prov,
			Connection:  h.conn,
			AccessToken: h.token.AccessToken,
			Expected:    seeded,
			InjectFault: h.sb.Faults.Add,
			ErrorCases: append(connectortest.DefaultErrorCases(),
				connectortest.ErrorCase{Name: "410 cursor expired", Fault: sandbox.Fault{Status: http.StatusGone}, Want: connectors.ErrCursorExpired},
				connectortest.ErrorCase{Name: "502", Fault: sandbox.Fault{Status: http.StatusBadGateway}, Want: connectors.ErrTransient},
				connectortest.ErrorCase{Name: "503 with Retry-After", Fault: sandbox.Fault{Status: 503, RetryAfter: 12}, Want: connectors.ErrRateLimited, WantRetryAfter: 12 * time.Second},
				connectortest.ErrorCase{Name: "400", Fault: sandbox.Fault{Status: http.StatusBadRequest}, Want: connectors.ErrInvalidConfig},
			),
			Webhooks:    hooks,
			WrongSecret: provider(t, env, "not-the-secret"),
			NoSecret:    provider(t, env, ""),
		}
	})
}

// webhookCases are deliveries signed by a second sandbox with the same
// secret, so building them does not change the seeded history.
func webhookCases(t *testing.T) []connectortest.WebhookCase {
	src := fakesandbox.New(fakesandbox.Options{WebhookSecret: secret})
	req := func(d sandbox.Delivery) *connectors.WebhookRequest {
		return &connectors.WebhookRequest{Header: d.Header, Body: d.Body, Now: time.Now()}
	}
	items := src.Add("items", 3)
	posted := "message.posted"
	return []connectortest.WebhookCase{
		{Name: "payload with items", Request: req(src.Build(fakesandbox.Delivery{Stream: "items", Items: items})), WantKinds: []string{posted, posted, posted}},
		{Name: "payload with one item", Request: req(src.Build(fakesandbox.Delivery{Stream: "audit", Items: src.Add("audit", 1)})), WantKinds: []string{posted}},
		{Name: "notify only", Request: req(src.Build(fakesandbox.Delivery{Stream: "items", Notify: true})), WantNotify: true},
		{Name: "empty delivery is ignored", Request: req(src.Build(fakesandbox.Delivery{Stream: "items"}))},
	}
}

// TestCursorExpiresAtTheProvider: the sandbox's own 410 on a stored cursor
// (not an injected fault) maps to ErrCursorExpired, and a fresh read works.
func TestCursorExpiresAtTheProvider(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := h.prov.Connector.(connectors.Syncer)
	hc := h.reg.HTTPClient(h.prov, h.conn.Account.ID, h.token.AccessToken)
	fetch := func(cursor json.RawMessage) (*connectors.Page, error) {
		return s.FetchPage(context.Background(), connectors.PageRequest{Connection: h.conn, Stream: "items", Cursor: cursor, HTTP: hc, Now: time.Now()})
	}
	first, err := fetch(nil)
	require.NoError(t, err)
	require.Len(t, first.Signals, 10)
	require.JSONEq(t, `{"after":10}`, string(first.Next))
	h.sb.ExpireCursors()
	_, err = fetch(first.Next)
	require.ErrorIs(t, err, connectors.ErrCursorExpired)
	again, err := fetch(nil)
	require.NoError(t, err, "a full read after expiry works")
	require.Equal(t, first.Signals[0].DedupeKey, again.Signals[0].DedupeKey)
	_, err = fetch(json.RawMessage(`"garbage"`))
	require.ErrorIs(t, err, connectors.ErrCursorExpired, "an unreadable stored cursor is treated as expired")
}

// TestTokensRotateAndRevoke: refresh rotates the refresh token (the old one
// is then invalid_grant → ErrUnauthorized), revocation kills the grant.
func TestTokensRotateAndRevoke(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	next, err := h.reg.Refresh(ctx, h.prov, h.conn.Account, h.token.RefreshToken)
	require.NoError(t, err)
	require.NotEqual(t, h.token.AccessToken, next.AccessToken)
	require.NotEqual(t, h.token.RefreshToken, next.RefreshToken, "the fake rotates refresh tokens")
	_, err = h.reg.Refresh(ctx, h.prov, h.conn.Account, h.token.RefreshToken)
	require.ErrorIs(t, err, connectors.ErrUnauthorized, "a spent refresh token is invalid_grant")

	s := h.prov.Connector.(connectors.Syncer)
	page := func(tok string) error {
		_, err := s.FetchPage(ctx, connectors.PageRequest{Connection: h.conn, Stream: "items",
			HTTP: h.reg.HTTPClient(h.prov, h.conn.Account.ID, tok), Now: time.Now()})
		return err
	}
	require.NoError(t, page(next.AccessToken))
	attempted, err := h.reg.Revoke(ctx, h.prov, h.conn.Account, next)
	require.NoError(t, err)
	require.True(t, attempted)
	require.ErrorIs(t, page(next.AccessToken), connectors.ErrUnauthorized)
	_, err = h.reg.Refresh(ctx, h.prov, h.conn.Account, next.RefreshToken)
	require.ErrorIs(t, err, connectors.ErrUnauthorized)

	// Wrong client credentials are a configuration problem, not a revoked grant.
	env := h.sb.Env(h.url)
	env["POBLYSH_FAKE_CLIENT_SECRET"] = "wrong"
	bad := provider(t, env, secret)
	_, err = connectors.NewRegistry(bad).Refresh(ctx, bad, h.conn.Account, next.RefreshToken)
	require.ErrorIs(t, err, connectors.ErrInvalidConfig)
}

func TestValidateConfig(t *testing.T) {
	t.Parallel()
	c, err := fake.New(connectors.Config{})
	require.NoError(t, err)
	v := c.(connectors.ConfigValidator)
	got, err := v.ValidateConfig([]byte(`{}`))
	require.NoError(t, err)
	require.JSONEq(t, `{"streams":["items"]}`, string(got))
	for _, bad := range []string{`{"streams":["Bad Name"]}`, `{"stream":["items"]}`, `[]`, `{"streams":"items"}`} {
		_, err := v.ValidateConfig([]byte(bad))
		var ce *connectors.ConfigError
		require.ErrorAs(t, err, &ce, bad)
		require.Contains(t, ce.Fields, "streams")
		require.ErrorIs(t, err, connectors.ErrInvalidConfig)
	}
	_, err = fake.New(connectors.Config{}.WithSettings(map[string]string{"PAGE_SIZE": "5000"}))
	require.ErrorContains(t, err, "POBLYSH_FAKE_PAGE_SIZE")
}

func TestParseWebhookNeedsDeliveryID(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	d := h.sb.Build(fakesandbox.Delivery{Stream: "items", Notify: true})
	d.Header.Del("X-Fake-Delivery")
	recv := h.prov.Connector.(connectors.WebhookReceiver)
	r := &connectors.WebhookRequest{Header: d.Header, Body: d.Body}
	require.NoError(t, recv.VerifyWebhook(r), "the signature covers the body only")
	_, err := recv.ParseWebhook(r)
	require.ErrorContains(t, err, "delivery id")
}
