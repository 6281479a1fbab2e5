package googledrive_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/googledrive"
	googlesandbox "github.com/poblysh/poblysh/sandbox/google"
	drivesandbox "github.com/poblysh/poblysh/sandbox/googledrive"
)

// TestOAuthWithGranularConsent connects through the sandbox's Google OAuth
// the way the service does; a user who unticks the Drive permission is
// refused by name.
func TestOAuthWithGranularConsent(t *testing.T) {
	h := newHarness(t, drivesandbox.Options{Seed: true}, pressConfig, nil)
	auth := h.prov.Connector.(connectors.Authorizer)
	connect := func() *oauth2.Token {
		cfg := auth.OAuth2Config("https://poblysh.example/api/v1/connect/google-drive/callback")
		verifier := oauth2.GenerateVerifier()
		u := cfg.AuthCodeURL("st", append(auth.AuthCodeOptions(), oauth2.S256ChallengeOption(verifier))...)
		require.Contains(t, u, "scope=openid+email+https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fdrive.metadata.readonly&")
		noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := noRedirect.Get(u)
		require.NoError(t, err)
		resp.Body.Close()
		back, err := url.Parse(resp.Header.Get("Location"))
		require.NoError(t, err)
		tok, err := cfg.Exchange(context.Background(), back.Query().Get("code"), oauth2.VerifierOption(verifier))
		require.NoError(t, err)
		return tok
	}
	tok := connect()
	require.NotEmpty(t, tok.RefreshToken)
	acct, err := auth.Identify(context.Background(), tok, http.DefaultClient)
	require.NoError(t, err)
	require.Equal(t, googlesandbox.Subject(h.sb.User()), acct.ID)
	check := h.prov.Connector.(connectors.ScopeChecker)
	require.Empty(t, check.MissingScopes(splitScope(tok)))

	require.NoError(t, h.sb.DeclineNext(googledrive.ScopeMetadata))
	partial := connect()
	require.Equal(t, []string{googledrive.ScopeMetadata}, check.MissingScopes(splitScope(partial)))
	require.Empty(t, check.MissingScopes([]string{"https://www.googleapis.com/auth/userinfo.email", "https://www.googleapis.com/auth/drive.readonly"}), "a wider Drive scope will do")

	rev := h.prov.Connector.(connectors.Revoker)
	require.NoError(t, rev.Revoke(context.Background(), acct, tok))
	h.tok = tok.AccessToken
	_, err = h.fetch(t, "changes", nil)
	require.ErrorIs(t, err, connectors.ErrUnauthorized)
}

func splitScope(tok *oauth2.Token) []string {
	s, _ := tok.Extra("scope").(string)
	return strings.Fields(s)
}

func TestValidateConfig(t *testing.T) {
	c, err := googledrive.Spec.New(connectors.Config{})
	require.NoError(t, err)
	v := c.(connectors.ConfigValidator)
	for _, tc := range []struct{ in, want, bad string }{
		{in: ``, want: `{"folders":["root"],"shared_drives":[]}`},
		{in: `{}`, want: `{"folders":["root"],"shared_drives":[]}`},
		{in: `{"folders":[" 1Xy2 ","1Xy2"]}`, want: `{"folders":["1Xy2"],"shared_drives":[]}`},
		{in: `{"shared_drives":["0AGx"]}`, want: `{"folders":[],"shared_drives":["0AGx"]}`},
		{in: `{"folders":["root"],"shared_drives":["0AGx"],"backfill_days":7}`, want: `{"folders":["root"],"shared_drives":["0AGx"],"backfill_days":7}`},
		{in: `{"folders":["a/b"]}`, bad: "folders[0]"},
		{in: `{"folders":[""]}`, bad: "folders[0]"},
		{in: `{"shared_drives":["root"]}`, bad: "shared_drives"},
		{in: `{"backfill_days":400}`, bad: "backfill_days"},
		{in: `{"backfill_days":0}`, bad: "backfill_days"},
		{in: `{"backfill_days":365}`, want: `{"folders":["root"],"shared_drives":[],"backfill_days":365}`},
		{in: `{"backfill_days":-1}`, bad: "backfill_days"},
		{in: `{"backfill_days":null}`, want: `{"folders":["root"],"shared_drives":[]}`},
		{in: `{"folder":["x"]}`, bad: "config"},
	} {
		got, err := v.ValidateConfig([]byte(tc.in))
		if tc.bad != "" {
			var ce *connectors.ConfigError
			require.ErrorAs(t, err, &ce, tc.in)
			require.Contains(t, ce.Fields, tc.bad, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.JSONEq(t, tc.want, string(got), tc.in)
	}
	for _, bad := range []map[string]string{{"PAGE_SIZE": "0"}, {"PAGE_SIZE": "1001"}, {"CHANNEL_TTL": "30"}, {"BACKFILL_DAYS": "0"}} {
		_, err := googledrive.Spec.New(connectors.Config{}.WithSettings(bad))
		require.ErrorIs(t, err, connectors.ErrInvalidConfig, "%v", bad)
	}
	env := map[string]string{"POBLYSH_GOOGLE_CLIENT_ID": "shared-id"}
	cfg, err := connectors.LoadConfig(googledrive.Spec, func(k string) string { return env[k] }, "", false)
	require.NoError(t, err)
	require.Equal(t, "shared-id", cfg.ClientID, "POBLYSH_GOOGLE_* serves every Google connector")
}
