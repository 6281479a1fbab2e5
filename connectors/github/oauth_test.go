package github

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/connectortest"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
)

const testRedirect = "https://poblysh.test/api/v1/connect/github/callback"

// recordingTransport asks for JSON token answers when json is set and
// records the Content-Type of the last answer.
type recordingTransport struct {
	json        bool
	contentType string
}

func (rt *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if rt.json {
		r = r.Clone(r.Context())
		r.Header.Set("Accept", "application/json")
	}
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		rt.contentType = resp.Header.Get("Content-Type")
	}
	return resp, err
}

// authorize runs the browser leg: GET the authorization URL, read the code
// from the redirect to testRedirect.
func authorize(t *testing.T, authURL string) url.Values {
	t.Helper()
	return connectortest.FollowAuthorization(t, authURL, testRedirect)
}

func TestOAuthCodeExchange(t *testing.T) {
	for _, mode := range []string{"form", "json"} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t, githubsandbox.Options{}, nil)
			cfg := h.connector().OAuth2Config(testRedirect)
			require.Equal(t, []string{"repo", "admin:repo_hook"}, cfg.Scopes)
			rt := &recordingTransport{json: mode == "json"}
			ctx := connectors.WithHTTPClient(context.Background(), &http.Client{Transport: rt})

			verifier := oauth2.GenerateVerifier()
			q := authorize(t, cfg.AuthCodeURL("state-1", oauth2.S256ChallengeOption(verifier)))
			require.Equal(t, "state-1", q.Get("state"))
			tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
			require.NoError(t, err)
			if mode == "json" {
				require.Contains(t, rt.contentType, "application/json")
			} else {
				require.Contains(t, rt.contentType, "application/x-www-form-urlencoded")
			}
			require.True(t, strings.HasPrefix(tok.AccessToken, "gho_"), "OAuth App token")
			require.Empty(t, tok.RefreshToken)
			require.True(t, tok.Expiry.IsZero(), "OAuth App tokens do not expire")
			require.Equal(t, "repo,admin:repo_hook", tok.Extra("scope"))

			// The code is single-use; GitHub answers HTTP 200 with an error.
			_, err = cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
			var re *oauth2.RetrieveError
			require.ErrorAs(t, err, &re)
			require.Equal(t, "bad_verification_code", re.ErrorCode)
			require.Equal(t, http.StatusOK, re.Response.StatusCode)
			require.ErrorIs(t, connectors.ClassifyOAuthError(err), connectors.ErrUnauthorized)

			// PKCE is enforced.
			q = authorize(t, cfg.AuthCodeURL("state-2", oauth2.S256ChallengeOption(verifier)))
			_, err = cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier()))
			require.ErrorIs(t, connectors.ClassifyOAuthError(err), connectors.ErrUnauthorized)

			// Wrong client secret is a configuration problem.
			bad := *cfg
			bad.ClientSecret = "nope"
			q = authorize(t, cfg.AuthCodeURL("state-3"))
			_, err = bad.Exchange(ctx, q.Get("code"))
			require.ErrorAs(t, err, &re)
			require.Equal(t, "incorrect_client_credentials", re.ErrorCode)
			require.ErrorIs(t, connectors.ClassifyOAuthError(err), connectors.ErrInvalidConfig)
		})
	}
}

func TestOAuthDenied(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{}, nil)
	h.srv.OAuth.DenyNext()
	q := authorize(t, h.connector().OAuth2Config(testRedirect).AuthCodeURL("s"))
	require.Equal(t, "access_denied", q.Get("error"))
	require.Empty(t, q.Get("code"))
}

func TestOAuthGitHubAppTokensRotate(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{AccessTTL: 8 * time.Hour}, nil)
	cfg := h.connector().OAuth2Config(testRedirect)
	ctx := connectors.WithHTTPClient(context.Background(), &http.Client{Transport: &recordingTransport{}})
	tok, err := cfg.Exchange(ctx, authorize(t, cfg.AuthCodeURL("s")).Get("code"))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(tok.AccessToken, "ghu_"))
	require.True(t, strings.HasPrefix(tok.RefreshToken, "ghr_"))
	require.WithinDuration(t, time.Now().Add(8*time.Hour), tok.Expiry, time.Minute)
	require.EqualValues(t, 15811200, tok.Extra("refresh_token_expires_in"))

	stale := &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Minute)}
	fresh, err := cfg.TokenSource(ctx, stale).Token()
	require.NoError(t, err)
	require.NotEqual(t, tok.AccessToken, fresh.AccessToken)
	require.NotEqual(t, tok.RefreshToken, fresh.RefreshToken, "refresh tokens rotate")

	_, err = cfg.TokenSource(ctx, stale).Token()
	var re *oauth2.RetrieveError
	require.ErrorAs(t, err, &re)
	require.Equal(t, "bad_refresh_token", re.ErrorCode)
	require.ErrorIs(t, connectors.ClassifyOAuthError(err), connectors.ErrUnauthorized)
}

func TestIdentify(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{}, nil)
	require.Equal(t, connectors.Account{ID: "583231", Name: "octocat", Metadata: map[string]string{
		"login": "octocat", "type": "User", "scopes": "repo, admin:repo_hook", "token": "oauth_app",
	}}, h.conn.Account)

	// A GitHub App user token (ghu_, no X-OAuth-Scopes) is told apart.
	app := newHarness(t, githubsandbox.Options{AccessTTL: 8 * time.Hour}, nil)
	require.Equal(t, "github_app", app.conn.Account.Metadata["token"])
	acc, err := app.connector().Identify(context.Background(), &oauth2.Token{AccessToken: app.token}, app.client())
	require.NoError(t, err)
	require.Equal(t, "github_app", acc.Metadata["token"])

	h.srv.OAuth.ExpireAccessTokens()
	_, err = h.connector().Identify(context.Background(), nil, h.client())
	require.ErrorIs(t, err, connectors.ErrUnauthorized)
}

func TestRevoke(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{}, nil)
	ctx := connectors.WithHTTPClient(context.Background(), &http.Client{Timeout: 5 * time.Second})
	tok := &oauth2.Token{AccessToken: h.token}
	require.NoError(t, h.connector().Revoke(ctx, h.conn.Account, tok))
	_, err := h.fetch(t, seedPullsStream, nil)
	require.ErrorIs(t, err, connectors.ErrUnauthorized, "the token no longer works")
	require.NoError(t, h.connector().Revoke(ctx, h.conn.Account, tok), "an unknown token is already revoked")
	require.NoError(t, h.connector().Revoke(ctx, h.conn.Account, nil))

	wrong := h.withSecret(t, "x")
	wrong.Config.ClientSecret = "not-the-secret"
	c, err := New(wrong.Config)
	require.NoError(t, err)
	err = c.(*Connector).Revoke(ctx, h.conn.Account, &oauth2.Token{AccessToken: "gho_whatever"})
	require.Error(t, err)
	require.False(t, errors.Is(err, connectors.ErrTransient))
	require.NotContains(t, err.Error(), "gho_whatever")
	require.NotContains(t, err.Error(), "not-the-secret")

	unconfigured, err := New(connectors.Config{})
	require.NoError(t, err)
	require.ErrorIs(t, unconfigured.(*Connector).Revoke(ctx, h.conn.Account, tok), connectors.ErrInvalidConfig)
}

// TestEngineTokenPath goes through the registry's token helpers, as the
// engine does: code exchange with PKCE, rotating refresh, revocation.
func TestEngineTokenPath(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{AccessTTL: 8 * time.Hour}, nil)
	ctx := context.Background()
	verifier := oauth2.GenerateVerifier()
	cfg := h.connector().OAuth2Config(testRedirect)
	q := authorize(t, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
	tok, err := h.reg.Exchange(ctx, h.p, connectors.ExchangeRequest{Code: q.Get("code"), Verifier: verifier, RedirectURL: testRedirect, Callback: q})
	require.NoError(t, err)
	require.NotEmpty(t, tok.RefreshToken)

	acc, err := h.connector().Identify(ctx, tok, h.reg.HTTPClient(h.p, "", tok.AccessToken))
	require.NoError(t, err)
	require.Equal(t, "583231", acc.ID)

	fresh, err := h.reg.Refresh(ctx, h.p, acc, tok.RefreshToken)
	require.NoError(t, err)
	require.NotEqual(t, tok.RefreshToken, fresh.RefreshToken)
	_, err = h.reg.Refresh(ctx, h.p, acc, tok.RefreshToken)
	require.ErrorIs(t, err, connectors.ErrUnauthorized, "the rotated-out refresh token is dead")

	attempted, err := h.reg.Revoke(ctx, h.p, acc, fresh)
	require.NoError(t, err)
	require.True(t, attempted)
	_, err = h.connector().Identify(ctx, fresh, h.reg.HTTPClient(h.p, "", fresh.AccessToken))
	require.ErrorIs(t, err, connectors.ErrUnauthorized)
}
