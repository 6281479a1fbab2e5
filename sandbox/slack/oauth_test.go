package slacksandbox

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const redirect = "http://localhost:9999/api/v1/connect/slack/callback"

// authorize runs the browser leg and returns the redirect's query.
func (f *fixture) authorize(t *testing.T, extra url.Values) url.Values {
	t.Helper()
	q := url.Values{"client_id": {f.s.Options().ClientID}, "scope": {"channels:history,channels:read"}, "redirect_uri": {redirect}, "state": {"xyz"}}
	for k, v := range extra {
		q[k] = v
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(f.srv.URL + "/oauth/v2/authorize?" + q.Encode())
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, "xyz", loc.Query().Get("state"))
	return loc.Query()
}

// access posts to oauth.v2.access with HTTP Basic client credentials.
func (f *fixture) access(t *testing.T, id, secret string, form url.Values) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/api/oauth.v2.access", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out
}

func TestOAuthExchangeShape(t *testing.T) {
	f := setup(t, Options{})
	o := f.s.Options()
	code := f.authorize(t, nil).Get("code")
	ans := f.access(t, o.ClientID, o.ClientSecret, url.Values{"code": {code}, "redirect_uri": {redirect}})
	tok := ans["access_token"].(string)
	require.True(t, strings.HasPrefix(tok, "xoxb-"))
	delete(ans, "access_token")
	require.Equal(t, map[string]any{
		"ok": true, "app_id": AppID, "authed_user": map[string]any{"id": UserAlice},
		"scope": "channels:history,channels:read", "token_type": "bot", "bot_user_id": BotUserID,
		"team": map[string]any{"id": DefaultTeamID, "name": DefaultTeamName}, "enterprise": nil, "is_enterprise_install": false,
	}, ans, "no expires_in or refresh_token without rotation")
	require.Equal(t, true, f.call(t, "auth.test", tok, nil)["ok"])
}

func TestOAuthErrors(t *testing.T) {
	f := setup(t, Options{})
	o := f.s.Options()
	code := f.authorize(t, nil).Get("code")
	tests := []struct {
		name, id, secret string
		form             url.Values
		want             string
	}{
		{"unknown client", "999.999", o.ClientSecret, url.Values{"code": {code}}, "invalid_client_id"},
		{"bad secret", o.ClientID, "nope", url.Values{"code": {code}}, "bad_client_secret"},
		{"unknown code", o.ClientID, o.ClientSecret, url.Values{"code": {"nope"}}, "invalid_code"},
		{"missing code", o.ClientID, o.ClientSecret, url.Values{}, "invalid_code"},
		{"redirect mismatch", o.ClientID, o.ClientSecret, url.Values{"code": {code}, "redirect_uri": {"http://evil.example/cb"}}, "bad_redirect_uri"},
		{"grant type", o.ClientID, o.ClientSecret, url.Values{"grant_type": {"password"}}, "invalid_grant_type"},
		{"refresh without rotation", o.ClientID, o.ClientSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"xoxe-1-x"}}, "invalid_refresh_token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, map[string]any{"ok": false, "error": tc.want}, f.access(t, tc.id, tc.secret, tc.form))
		})
	}
	require.Equal(t, true, f.access(t, o.ClientID, o.ClientSecret, url.Values{"code": {code}})["ok"], "failed attempts do not burn the code")
	require.Equal(t, "invalid_code", f.access(t, o.ClientID, o.ClientSecret, url.Values{"code": {code}})["error"], "a code is single use")

	denied := f.authorize(t, url.Values{"deny": {"1"}})
	require.Equal(t, "access_denied", denied.Get("error"))
}

func TestRotation(t *testing.T) {
	f := setup(t, Options{Rotation: true})
	o := f.s.Options()
	ans := f.access(t, o.ClientID, o.ClientSecret, url.Values{"code": {f.authorize(t, nil).Get("code")}})
	require.EqualValues(t, 43200, ans["expires_in"])
	access, refresh := ans["access_token"].(string), ans["refresh_token"].(string)
	require.True(t, strings.HasPrefix(access, "xoxe.xoxb-1-"))
	require.True(t, strings.HasPrefix(refresh, "xoxe-1-"))

	f.s.OAuth.ExpireAccessTokens()
	require.Equal(t, "token_expired", f.call(t, "auth.test", access, nil)["error"])

	again := f.access(t, o.ClientID, o.ClientSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	require.Equal(t, true, again["ok"])
	require.NotEqual(t, refresh, again["refresh_token"], "refresh tokens rotate")
	require.EqualValues(t, 43200, again["expires_in"])
	require.Equal(t, DefaultTeamID, again["team"].(map[string]any)["id"])
	require.Equal(t, true, f.call(t, "auth.test", again["access_token"].(string), nil)["ok"])
	require.Equal(t, "invalid_refresh_token",
		f.access(t, o.ClientID, o.ClientSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})["error"],
		"the previous refresh token was revoked")
}

func TestRotationTTL(t *testing.T) {
	f := setup(t, Options{Rotation: true, AccessTTL: 90 * time.Second})
	o := f.s.Options()
	ans := f.access(t, o.ClientID, o.ClientSecret, url.Values{"code": {f.authorize(t, nil).Get("code")}})
	require.EqualValues(t, 90, ans["expires_in"])
}

func TestAuthRevoke(t *testing.T) {
	f := setup(t, Options{})
	dry := f.call(t, "auth.revoke", f.token, url.Values{"test": {"true"}})
	require.Equal(t, map[string]any{"ok": true, "revoked": false}, dry)
	require.Equal(t, true, f.call(t, "auth.test", f.token, nil)["ok"])

	require.Equal(t, map[string]any{"ok": true, "revoked": true}, f.call(t, "auth.revoke", f.token, nil))
	require.Equal(t, "token_revoked", f.call(t, "auth.test", f.token, nil)["error"])
	require.Equal(t, "token_revoked", f.call(t, "auth.revoke", f.token, nil)["error"])
}
