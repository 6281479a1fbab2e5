package slack

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh/connectors"
	slacksandbox "github.com/poblysh/poblysh/sandbox/slack"
)

func TestAuthCodeURL(t *testing.T) {
	f := newFake(t, slacksandbox.Options{}, nil)
	u, err := url.Parse(f.conn.OAuth2Config(testCallback).AuthCodeURL("st", f.conn.AuthCodeOptions()...))
	require.NoError(t, err)
	require.Equal(t, f.srv.URL+"/oauth/v2/authorize", u.Scheme+"://"+u.Host+u.Path)
	q := u.Query()
	require.Equal(t, "channels:history,groups:history,channels:read,groups:read,reactions:read,users:read", q.Get("scope"), "bot scopes, comma-separated")
	require.Equal(t, slacksandbox.DefaultClientID, q.Get("client_id"))
	require.Equal(t, testCallback, q.Get("redirect_uri"))
	require.False(t, q.Has("code_challenge"), "PKCE is off")
	require.False(t, q.Has("user_scope"))
}

func TestExchangeIdentifyWithoutRotation(t *testing.T) {
	f := newFake(t, slacksandbox.Options{}, nil)
	ctx := connectors.WithHTTPClient(context.Background(), f.client(""))
	tok, err := f.conn.Exchange(ctx, connectors.ExchangeRequest{Code: f.authorize(t), RedirectURL: testCallback})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(tok.AccessToken, "xoxb-"))
	require.Equal(t, "Bearer", tok.TokenType)
	require.True(t, tok.Expiry.IsZero(), "without rotation Slack tokens never expire")
	require.Empty(t, tok.RefreshToken)
	require.Equal(t, slacksandbox.BotUserID, tok.Extra("bot_user_id"))
	require.Equal(t, slacksandbox.AppID, tok.Extra("app_id"))
	require.Equal(t, "bot", tok.Extra("token_type"))
	require.Equal(t, map[string]any{"id": slacksandbox.DefaultTeamID, "name": slacksandbox.DefaultTeamName}, tok.Extra("team"))
	require.Equal(t, map[string]any{"id": slacksandbox.UserAlice}, tok.Extra("authed_user"))

	acct, err := f.conn.Identify(context.Background(), tok, f.client(tok.AccessToken))
	require.NoError(t, err)
	require.Equal(t, connectors.Account{ID: slacksandbox.DefaultTeamID, Name: slacksandbox.DefaultTeamName, Metadata: map[string]string{
		"bot_user_id": slacksandbox.BotUserID, "app_id": slacksandbox.AppID, "authed_user_id": slacksandbox.UserAlice,
	}}, acct)
	for _, r := range f.sb.Requests() {
		require.NotEqual(t, "auth.test", r.Method, "the token carries the workspace: no auth.test call")
	}

	// A token without extras (restored from storage) is identified with auth.test.
	acct, err = f.conn.Identify(context.Background(), &oauth2.Token{AccessToken: tok.AccessToken}, f.client(tok.AccessToken))
	require.NoError(t, err)
	require.Equal(t, slacksandbox.DefaultTeamID, acct.ID)
	require.Equal(t, slacksandbox.TeamDomain+".slack.com", acct.Metadata["domain"])
	require.Equal(t, slacksandbox.BotUserID, acct.Metadata["bot_user_id"])
}

func TestExchangeErrors(t *testing.T) {
	f := newFake(t, slacksandbox.Options{}, nil)
	code := f.authorize(t)
	_, err := f.conn.Exchange(context.Background(), connectors.ExchangeRequest{Code: code, RedirectURL: testCallback})
	require.NoError(t, err)
	_, err = f.conn.Exchange(context.Background(), connectors.ExchangeRequest{Code: code, RedirectURL: testCallback})
	require.ErrorIs(t, err, connectors.ErrUnauthorized, "a code is single use")
	require.Contains(t, err.Error(), `"invalid_code"`)
	require.NotContains(t, err.Error(), code, "the code is a secret")

	badSecret := newProvider(t, map[string]string{
		"POBLYSH_SLACK_CLIENT_ID": slacksandbox.DefaultClientID, "POBLYSH_SLACK_CLIENT_SECRET": "wrong-secret",
		"POBLYSH_SLACK_TOKEN_URL": f.srv.URL + "/api/oauth.v2.access",
	}).Connector.(*Connector)
	_, err = badSecret.Exchange(context.Background(), connectors.ExchangeRequest{Code: f.authorize(t), RedirectURL: testCallback})
	require.ErrorIs(t, err, connectors.ErrInvalidConfig)
	require.Contains(t, err.Error(), `"bad_client_secret"`)
	require.NotContains(t, err.Error(), "wrong-secret")

	badID := newProvider(t, map[string]string{
		"POBLYSH_SLACK_CLIENT_ID": "123.456", "POBLYSH_SLACK_CLIENT_SECRET": slacksandbox.DefaultClientSecret,
		"POBLYSH_SLACK_TOKEN_URL": f.srv.URL + "/api/oauth.v2.access",
	}).Connector.(*Connector)
	_, err = badID.Exchange(context.Background(), connectors.ExchangeRequest{Code: "whatever"})
	require.ErrorIs(t, err, connectors.ErrInvalidConfig)
	require.Contains(t, err.Error(), `"invalid_client_id"`)

	unconfigured := newProvider(t, map[string]string{}).Connector.(*Connector)
	_, err = unconfigured.Exchange(context.Background(), connectors.ExchangeRequest{Code: "x"})
	require.ErrorIs(t, err, connectors.ErrInvalidConfig)

	code = f.authorize(t)
	f.sb.Faults.Add(sandboxFault(429, 9))
	_, err = f.conn.Exchange(context.Background(), connectors.ExchangeRequest{Code: code, RedirectURL: testCallback})
	d, ok := connectors.RetryAfter(err)
	require.True(t, ok, "429 on the token endpoint is a rate limit: %v", err)
	require.Equal(t, 9*time.Second, d)
}

func TestRotationRefresh(t *testing.T) {
	f := newFake(t, slacksandbox.Options{Seed: true, Rotation: true}, nil)
	conn, tok := f.connect(t, slacksandbox.ChannelGeneral)
	require.True(t, strings.HasPrefix(tok.AccessToken, "xoxe.xoxb-1-"))
	require.True(t, strings.HasPrefix(tok.RefreshToken, "xoxe-1-"))
	require.Equal(t, int64(43200), tok.ExpiresIn)
	require.WithinDuration(t, time.Now().Add(12*time.Hour), tok.Expiry, time.Minute)

	// An expired token answers token_expired: unauthorized, refresh and retry.
	f.sb.OAuth.ExpireAccessTokens()
	_, err := f.fetch(t, conn, f.client(tok.AccessToken), "history:"+slacksandbox.ChannelGeneral, nil)
	require.ErrorIs(t, err, connectors.ErrUnauthorized)
	require.Equal(t, "token_expired", slackCode(err))

	fresh, err := f.conn.Refresh(context.Background(), conn.Account, tok.RefreshToken)
	require.NoError(t, err)
	require.NotEqual(t, tok.AccessToken, fresh.AccessToken)
	require.NotEqual(t, tok.RefreshToken, fresh.RefreshToken, "refresh tokens rotate")
	require.False(t, fresh.Expiry.IsZero())
	require.Equal(t, slacksandbox.DefaultTeamID, extraString(fresh, "team.id"))
	_, err = f.fetch(t, conn, f.client(fresh.AccessToken), "history:"+slacksandbox.ChannelGeneral, nil)
	require.NoError(t, err)

	_, err = f.conn.Refresh(context.Background(), conn.Account, tok.RefreshToken)
	require.ErrorIs(t, err, connectors.ErrUnauthorized, "the old refresh token is revoked")
	require.Contains(t, err.Error(), `"invalid_refresh_token"`)
	require.NotContains(t, err.Error(), tok.RefreshToken)
}

// TestRefreshDuringGridMigration: while a workspace moves into an
// Enterprise Grid org Slack answers team_added_to_org ("intermittently
// unavailable until the transition is complete") or org_login_required: a
// wait, not a dead grant or a refused client.
func TestRefreshDuringGridMigration(t *testing.T) {
	for _, code := range []string{"team_added_to_org", "org_login_required"} {
		t.Run(code, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json; charset=utf-8")
				_, _ = w.Write([]byte(`{"ok":false,"error":"` + code + `"}`))
			}))
			defer srv.Close()
			env := slacksandbox.New(slacksandbox.Options{}).Env(srv.URL)
			env["POBLYSH_SLACK_TOKEN_URL"] = srv.URL + "/api/oauth.v2.access"
			p := newProvider(t, env)
			_, err := connectors.NewRegistry(p).Refresh(context.Background(), p, connectors.Account{ID: slacksandbox.DefaultTeamID}, "xoxe-1-abc")
			require.ErrorIs(t, err, connectors.ErrTransient)
			require.Equal(t, code, slackCode(err))
		})
	}
}

func TestRevoke(t *testing.T) {
	f := newFake(t, slacksandbox.Options{Seed: true}, nil)
	conn, tok := f.connect(t, slacksandbox.ChannelGeneral)
	require.NoError(t, f.conn.Revoke(context.Background(), conn.Account, tok))
	_, err := f.fetch(t, conn, f.client(tok.AccessToken), "history:"+slacksandbox.ChannelGeneral, nil)
	require.ErrorIs(t, err, connectors.ErrUnauthorized)
	require.Equal(t, "token_revoked", slackCode(err))
	require.NoError(t, f.conn.Revoke(context.Background(), conn.Account, tok), "revoking a dead token is done")
	require.NoError(t, f.conn.Revoke(context.Background(), conn.Account, nil))
}

// TestExchangeFixture decodes Slack's recorded oauth.v2.access answer with
// rotation (expires_in, refresh_token) and sends what Slack expects.
func TestExchangeFixture(t *testing.T) {
	var got url.Values
	var user, pass string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		got = r.PostForm
		user, pass, _ = r.BasicAuth()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(fixture(t, "api/oauth.v2.access_rotation.json"))
	}))
	t.Cleanup(srv.Close)
	c := newProvider(t, map[string]string{
		"POBLYSH_SLACK_CLIENT_ID": "111.222", "POBLYSH_SLACK_CLIENT_SECRET": "sec", "POBLYSH_SLACK_TOKEN_URL": srv.URL + "/api/oauth.v2.access",
	}).Connector.(*Connector)
	tok, err := c.Exchange(context.Background(), connectors.ExchangeRequest{Code: "code-1", RedirectURL: testCallback, Verifier: "verifier-1"})
	require.NoError(t, err)
	require.Equal(t, url.Values{"grant_type": {"authorization_code"}, "code": {"code-1"}, "redirect_uri": {testCallback}, "code_verifier": {"verifier-1"}}, got)
	require.Equal(t, "111.222", user)
	require.Equal(t, "sec", pass)
	require.Equal(t, "xoxe-1-My0xLTE3NjUzNjcyNDgxLTE5ODc0Njk4MzIzLWFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6", tok.RefreshToken)
	require.Equal(t, int64(43200), tok.ExpiresIn)
	acct, err := c.Identify(context.Background(), tok, nil)
	require.NoError(t, err)
	require.Equal(t, "T024BE7LD", acct.ID)
	require.Equal(t, "Acme PR", acct.Name)
	require.Equal(t, map[string]string{"bot_user_id": "U0LAN0Z89", "app_id": "A0123ABCD4E", "authed_user_id": "U061F7AUR"}, acct.Metadata)
}

// TestClaimNestsWorkspacesInTheirOrg: the claim of a workspace install
// inside an Enterprise Grid org is within the org, which the org-wide
// install claims (its account id): the callback refuses the two to two
// tenants. A workspace outside any org claims its team id alone.
func TestClaimNestsWorkspacesInTheirOrg(t *testing.T) {
	c := newProvider(t, nil).Connector.(*Connector)
	org := map[string]any{"id": "E1", "name": "Globex"}
	for _, tc := range []struct {
		name  string
		extra map[string]any
		want  connectors.AccountClaim
	}{
		{"org-wide install", map[string]any{"team": nil, "enterprise": org, "is_enterprise_install": true},
			connectors.AccountClaim{Keys: []string{"E1"}, Within: []string{}}},
		{"workspace of the org", map[string]any{"team": map[string]any{"id": "T1", "name": "Globex EU"}, "enterprise": org, "is_enterprise_install": false},
			connectors.AccountClaim{Keys: []string{"T1"}, Within: []string{"E1"}}},
		{"workspace outside any org", map[string]any{"team": map[string]any{"id": "T2", "name": "Acme"}, "enterprise": nil},
			connectors.AccountClaim{Keys: []string{"T2"}, Within: []string{}}},
	} {
		acct, err := c.Identify(context.Background(), (&oauth2.Token{AccessToken: "xoxb-1"}).WithExtra(tc.extra), nil)
		require.NoError(t, err, tc.name)
		got := connectors.ClaimOf(c, acct)
		require.Equal(t, tc.want.Keys, got.Keys, tc.name)
		require.ElementsMatch(t, tc.want.Within, got.Within, tc.name)
	}
}
