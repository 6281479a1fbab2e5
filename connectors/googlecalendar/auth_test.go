package googlecalendar_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/googlecalendar"
	gcalsandbox "github.com/poblysh/poblysh/sandbox/googlecalendar"
)

// connect runs the browser leg of the OAuth flow against the sandbox the way
// the service does (PKCE, the connector's options) and exchanges the code.
func connect(t *testing.T, h *harness) (*oauth2.Token, connectors.Authorizer) {
	t.Helper()
	auth := h.prov.Connector.(connectors.Authorizer)
	cfg := auth.OAuth2Config("https://poblysh.example/api/v1/connect/google-calendar/callback")
	verifier := oauth2.GenerateVerifier()
	opts := append(auth.AuthCodeOptions(), oauth2.S256ChallengeOption(verifier))
	authURL := cfg.AuthCodeURL("state-123", opts...)
	q, err := url.Parse(authURL)
	require.NoError(t, err)
	for _, p := range []string{"access_type=offline", "prompt=consent", "include_granted_scopes=true", "code_challenge_method=S256"} {
		require.Contains(t, q.RawQuery, p)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(authURL)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	back, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, "state-123", back.Query().Get("state"))
	tok, err := cfg.Exchange(context.Background(), back.Query().Get("code"), oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	return tok, auth
}

func TestOAuthConnectIdentifyRevoke(t *testing.T) {
	h := newHarness(t, gcalsandbox.Options{Seed: true}, nil)
	tok, auth := connect(t, h)
	require.NotEmpty(t, tok.RefreshToken, "offline + consent yields a refresh token")
	require.NotEmpty(t, tok.Extra("id_token"))

	acct, err := auth.Identify(context.Background(), tok, http.DefaultClient)
	require.NoError(t, err)
	require.Equal(t, gcalsandbox.Subject(h.sb.User()), acct.ID, "the account is keyed by its OpenID subject")
	require.Equal(t, h.sb.User(), acct.Metadata["email"], "the email is kept for display")
	require.Equal(t, h.sb.User(), acct.Name)

	// Without an id_token, the userinfo endpoint identifies the same account.
	bare := (&oauth2.Token{AccessToken: tok.AccessToken}).WithExtra(map[string]any{})
	client := connectors.NewRegistry(h.prov).HTTPClient(h.prov, "", tok.AccessToken)
	acct2, err := auth.Identify(context.Background(), bare, client)
	require.NoError(t, err)
	require.Equal(t, acct, acct2)

	// Revoking the refresh token revokes the grant; revoking again is fine.
	rev := h.prov.Connector.(connectors.Revoker)
	require.NoError(t, rev.Revoke(context.Background(), acct, tok))
	_, err = h.fetchWith(t, tok.AccessToken)
	require.ErrorIs(t, err, connectors.ErrUnauthorized)
	require.NoError(t, rev.Revoke(context.Background(), acct, tok))
}

func (h *harness) fetchWith(t *testing.T, access string) (*connectors.Page, error) {
	t.Helper()
	old := h.tok
	h.tok = access
	defer func() { h.tok = old }()
	return h.fetch(t, primaryStream, nil)
}

func TestIdentifyRejectsForeignIDToken(t *testing.T) {
	h := newHarness(t, gcalsandbox.Options{}, nil)
	auth := h.prov.Connector.(connectors.Authorizer)
	enc := base64.RawURLEncoding.EncodeToString
	jwt := func(claims string) *oauth2.Token {
		return (&oauth2.Token{AccessToken: "x"}).WithExtra(map[string]any{
			"id_token": enc([]byte(`{"alg":"RS256"}`)) + "." + enc([]byte(claims)) + ".sig",
		})
	}
	_, err := auth.Identify(context.Background(), jwt(`{"aud":"someone-else","email":"eve@example.com"}`), http.DefaultClient)
	require.ErrorIs(t, err, connectors.ErrUnauthorized)
	_, err = auth.Identify(context.Background(), (&oauth2.Token{}).WithExtra(map[string]any{"id_token": "not-a-jwt"}), http.DefaultClient)
	require.ErrorIs(t, err, connectors.ErrUnauthorized)
	acct, err := auth.Identify(context.Background(), jwt(`{"aud":["x","`+h.sb.ClientID()+`"],"email":"Ada@Example.com","sub":"42","name":"Ada"}`), http.DefaultClient)
	require.NoError(t, err)
	require.Equal(t, connectors.Account{ID: "42", Name: "Ada", Metadata: map[string]string{"email": "ada@example.com"}}, acct)
	_, err = auth.Identify(context.Background(), jwt(`{"aud":"`+h.sb.ClientID()+`","email":"ada@example.com"}`), http.DefaultClient)
	require.ErrorIs(t, err, connectors.ErrUnauthorized, "no subject, no account")
}

// TestLegacyAccountDerivesTheSameKeys: a connection stored before accounts
// were keyed by subject (the email as id, no email metadata) reads
// "primary" as the same calendar, so its Signals dedupe against the ones
// stored before and after the migration.
func TestLegacyAccountDerivesTheSameKeys(t *testing.T) {
	h := newHarness(t, gcalsandbox.Options{Seed: true}, nil)
	current, _, _ := h.drain(t, primaryStream, nil)
	h.conn.Account = connectors.Account{ID: h.sb.User(), Name: h.sb.User()}
	h.mem = newMemory() // another connection: nothing remembered
	legacy, _, _ := h.drain(t, primaryStream, nil)
	require.NotEmpty(t, current)
	require.Equal(t, dedupeKeys(current), dedupeKeys(legacy))
	require.Contains(t, current[0].DedupeKey, h.sb.User(), "primary is keyed by the calendar's real id, the email")
}

// TestGrantedScopesAreChecked: Google's granular consent lets a user
// untick the calendar permission; such a grant is refused by name. The
// full names Google reports and wider calendar scopes count.
func TestGrantedScopesAreChecked(t *testing.T) {
	h := newHarness(t, gcalsandbox.Options{}, nil)
	check := h.prov.Connector.(connectors.ScopeChecker)
	const events = "https://www.googleapis.com/auth/calendar.events.readonly"
	for _, c := range []struct {
		granted []string
		missing []string
	}{
		{[]string{"openid", "https://www.googleapis.com/auth/userinfo.email", events}, nil},
		{[]string{"openid", "email", "https://www.googleapis.com/auth/calendar"}, nil},
		{[]string{"openid", "https://www.googleapis.com/auth/userinfo.email"}, []string{events}},
		{[]string{"https://www.googleapis.com/auth/calendar.events.owned.readonly", "email"}, []string{events}},
		{[]string{events}, []string{"email"}},
		{nil, []string{"email", events}},
	} {
		require.Equal(t, c.missing, check.MissingScopes(c.granted), "%v", c.granted)
	}
}

func TestSpecNewWithoutCredentials(t *testing.T) {
	c, err := googlecalendar.Spec.New(connectors.Config{})
	require.NoError(t, err, "an unconfigured provider still builds")
	require.Same(t, googlecalendar.Spec, c.Spec())
	env := map[string]string{"POBLYSH_GOOGLE_CLIENT_ID": "shared-id", "POBLYSH_GOOGLE_CLIENT_SECRET": "shared-secret"}
	cfg, err := connectors.LoadConfig(googlecalendar.Spec, func(k string) string { return env[k] }, "", false)
	require.NoError(t, err)
	require.Equal(t, "shared-id", cfg.ClientID, "POBLYSH_GOOGLE_* serves every Google connector")
	require.Equal(t, googlecalendar.Spec.Defaults, cfg.Endpoints)

	for _, bad := range []string{"30", "soon", "-5m"} {
		_, err := googlecalendar.Spec.New(connectors.Config{}.WithSettings(map[string]string{"CHANNEL_TTL": bad}))
		require.ErrorIs(t, err, connectors.ErrInvalidConfig, bad)
	}
}

func TestValidateConfig(t *testing.T) {
	c, err := googlecalendar.Spec.New(connectors.Config{})
	require.NoError(t, err)
	v := c.(connectors.ConfigValidator)
	cases := []struct {
		in, want string
		bad      string // field with the error, "" when valid
	}{
		{in: ``, want: `{"calendars":["primary"]}`},
		{in: `null`, want: `{"calendars":["primary"]}`},
		{in: `{}`, want: `{"calendars":["primary"]}`},
		{in: `{"calendars": []}`, want: `{"calendars":["primary"]}`},
		{in: `{"calendars": [" primary ", "team@group.calendar.google.com", "primary"]}`, want: `{"calendars":["primary","team@group.calendar.google.com"]}`},
		{in: `{"calendars": ["en.usa#holiday@group.v.calendar.google.com"]}`, want: `{"calendars":["en.usa#holiday@group.v.calendar.google.com"]}`},
		{in: `{"calendars": [""]}`, bad: "calendars[0]"},
		{in: `{"calendars": ["primary", "work calendar"]}`, bad: "calendars[1]"},
		{in: `{"calendars": ["team"]}`, bad: "calendars[0]"},
		{in: `{"calendars": ["a@b/c"]}`, bad: "calendars[0]"},
		{in: `{"calendar": ["primary"]}`, bad: "config"},
		{in: `{"calendars": "primary"}`, bad: "config"},
		{in: `[1]`, bad: "config"},
		{in: `{"backfill_days": 90}`, want: `{"calendars":["primary"],"backfill_days":90}`},
		{in: `{"calendars": ["primary"], "backfill_days": 3650}`, want: `{"calendars":["primary"],"backfill_days":3650}`},
		{in: `{"backfill_days": 1}`, want: `{"calendars":["primary"],"backfill_days":1}`},
		{in: `{"backfill_days": null}`, want: `{"calendars":["primary"]}`},
		{in: `{"backfill_days": 0}`, bad: "backfill_days"},
		{in: `{"backfill_days": 3651}`, bad: "backfill_days"},
		{in: `{"backfill_days": -5}`, bad: "backfill_days"},
		{in: `{"backfill_days": 2.5}`, bad: "backfill_days"},
		{in: `{"backfill_days": "30"}`, bad: "backfill_days"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := v.ValidateConfig([]byte(tc.in))
			if tc.bad != "" {
				var ce *connectors.ConfigError
				require.ErrorAs(t, err, &ce)
				require.Contains(t, ce.Fields, tc.bad)
				require.ErrorIs(t, err, connectors.ErrInvalidConfig)
				return
			}
			require.NoError(t, err)
			require.JSONEq(t, tc.want, string(got))
		})
	}
}
