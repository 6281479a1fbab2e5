package githubsandbox_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
)

const redirect = "http://localhost:9999/callback"

// code runs the browser leg and returns the authorization code.
func code(t *testing.T, e *env, extra url.Values) string {
	t.Helper()
	q := url.Values{"client_id": {"sandbox-client-id"}, "redirect_uri": {redirect}, "scope": {"repo admin:repo_hook"}, "state": {"st"}}
	for k, v := range extra {
		q[k] = v
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(e.ts.URL + "/login/oauth/authorize?" + q.Encode())
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, "st", loc.Query().Get("state"))
	return loc.Query().Get("code")
}

// tokenCall posts to the token endpoint and returns status, content type and body.
func tokenCall(t *testing.T, e *env, form url.Values, accept string) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.ts.URL+"/login/oauth/access_token", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

func creds(extra ...string) url.Values {
	v := url.Values{"client_id": {"sandbox-client-id"}, "client_secret": {"sandbox-client-secret"}, "redirect_uri": {redirect}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return v
}

func TestTokenEndpointFormAndJSON(t *testing.T) {
	e := setup(t, githubsandbox.Options{})
	status, ctype, body := tokenCall(t, e, creds("code", code(t, e, nil)), "")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, ctype, "application/x-www-form-urlencoded")
	v, err := url.ParseQuery(string(body))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(v.Get("access_token"), "gho_"))
	require.Equal(t, "bearer", v.Get("token_type"))
	require.Equal(t, "repo,admin:repo_hook", v.Get("scope"))
	require.Empty(t, v.Get("refresh_token"), "OAuth App tokens have no refresh token")

	status, ctype, body = tokenCall(t, e, creds("code", code(t, e, nil)), "application/json")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, ctype, "application/json")
	var j map[string]any
	require.NoError(t, json.Unmarshal(body, &j))
	require.Equal(t, "bearer", j["token_type"])
	require.NotContains(t, j, "expires_in")

	// Errors come back with HTTP 200, in the asked-for format.
	status, ctype, body = tokenCall(t, e, creds("code", "bogus"), "")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, ctype, "application/x-www-form-urlencoded")
	v, _ = url.ParseQuery(string(body))
	require.Equal(t, "bad_verification_code", v.Get("error"))
	require.NotEmpty(t, v.Get("error_uri"))
	_, _, body = tokenCall(t, e, creds("code", "bogus"), "application/json")
	require.NoError(t, json.Unmarshal(body, &j))
	require.Equal(t, "bad_verification_code", j["error"])

	_, _, body = tokenCall(t, e, creds("code", code(t, e, nil), "client_secret", "wrong"), "application/json")
	require.NoError(t, json.Unmarshal(body, &j))
	require.Equal(t, "incorrect_client_credentials", j["error"])
	_, _, body = tokenCall(t, e, creds("code", code(t, e, nil), "redirect_uri", "http://evil.test/cb"), "application/json")
	require.NoError(t, json.Unmarshal(body, &j))
	require.Equal(t, "redirect_uri_mismatch", j["error"])
	_, _, body = tokenCall(t, e, creds("grant_type", "refresh_token", "refresh_token", "ghr_x"), "application/json")
	require.NoError(t, json.Unmarshal(body, &j))
	require.Equal(t, "bad_refresh_token", j["error"], "OAuth App tokens cannot be refreshed")
}

func TestTokenEndpointPKCE(t *testing.T) {
	e := setup(t, githubsandbox.Options{})
	verifier := "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	sum := sha256.Sum256([]byte(verifier))
	challenge := url.Values{"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	_, _, body := tokenCall(t, e, creds("code", code(t, e, challenge), "code_verifier", "wrong-verifier-wrong-verifier-wrong-verifier"), "")
	v, _ := url.ParseQuery(string(body))
	require.Equal(t, "bad_verification_code", v.Get("error"))
	_, _, body = tokenCall(t, e, creds("code", code(t, e, challenge), "code_verifier", verifier), "")
	v, _ = url.ParseQuery(string(body))
	require.NotEmpty(t, v.Get("access_token"), string(body))
}

func TestRefreshRotation(t *testing.T) {
	e := setup(t, githubsandbox.Options{AccessTTL: 8 * time.Hour})
	_, _, body := tokenCall(t, e, creds("code", code(t, e, nil)), "application/json")
	var first map[string]any
	require.NoError(t, json.Unmarshal(body, &first))
	require.True(t, strings.HasPrefix(first["access_token"].(string), "ghu_"))
	require.True(t, strings.HasPrefix(first["refresh_token"].(string), "ghr_"))
	require.Equal(t, float64(28800), first["expires_in"])
	require.Equal(t, float64(githubsandbox.RefreshTokenTTL), first["refresh_token_expires_in"])
	require.Equal(t, "", first["scope"], "GitHub App user tokens carry no scopes")

	refresh := creds("grant_type", "refresh_token", "refresh_token", first["refresh_token"].(string))
	refresh.Del("redirect_uri")
	_, _, body = tokenCall(t, e, refresh, "")
	second, err := url.ParseQuery(string(body))
	require.NoError(t, err)
	require.NotEqual(t, first["refresh_token"], second.Get("refresh_token"))
	require.NotEqual(t, first["access_token"], second.Get("access_token"))
	require.Equal(t, "28800", second.Get("expires_in"))

	_, _, body = tokenCall(t, e, refresh, "")
	again, _ := url.ParseQuery(string(body))
	require.Equal(t, "bad_refresh_token", again.Get("error"), "a used refresh token is dead")
	// "Once you use a refresh token, that refresh token and the old user
	// access token will no longer work."
	e.token = first["access_token"].(string)
	resp, _ := e.get(t, "/user")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the access token issued with a spent refresh token is dead")

	// Expired access tokens answer 401 Bad credentials.
	e.token = second.Get("access_token")
	resp, _ = e.get(t, "/user")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, err = http.Post(e.ts.URL+"/_sandbox/tokens/expire", "application/json", nil)
	require.NoError(t, err)
	resp.Body.Close()
	resp, b := e.get(t, "/user")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Contains(t, string(b), "Bad credentials")
}

func TestRevocationEndpoint(t *testing.T) {
	e := setup(t, githubsandbox.Options{})
	revoke := func(user, pass, token string) int {
		req, err := http.NewRequest(http.MethodDelete, e.ts.URL+"/applications/sandbox-client-id/token",
			bytes.NewReader([]byte(`{"access_token":"`+token+`"}`)))
		require.NoError(t, err)
		req.SetBasicAuth(user, pass)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusUnauthorized, revoke("sandbox-client-id", "wrong", e.token))
	require.Equal(t, http.StatusNoContent, revoke("sandbox-client-id", "sandbox-client-secret", e.token))
	resp, _ := e.get(t, "/user")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Equal(t, http.StatusNotFound, revoke("sandbox-client-id", "sandbox-client-secret", "gho_unknown"))
}

// DELETE /applications/{client_id}/token revokes that one token; a user
// keeps 10 tokens per OAuth app and scopes (here 2), and the next
// exchange revokes the oldest
// (docs.github.com: token-expiration-and-revocation).
func TestOneTokenRevokedAndTokensKept(t *testing.T) {
	e := setup(t, githubsandbox.Options{TokensKept: 2})
	second, err := e.srv.IssueToken("")
	require.NoError(t, err)
	live := func(token string) bool {
		_, err := e.srv.OAuth.Check(token)
		return err == nil
	}
	req, err := http.NewRequest(http.MethodDelete, e.ts.URL+"/applications/sandbox-client-id/token",
		bytes.NewReader([]byte(`{"access_token":"`+e.token+`"}`)))
	require.NoError(t, err)
	req.SetBasicAuth("sandbox-client-id", "sandbox-client-secret")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.False(t, live(e.token))
	require.True(t, live(second.AccessToken), "the user's other token lives on")

	third, err := e.srv.IssueToken("")
	require.NoError(t, err)
	other, err := e.srv.IssueToken("", "public_repo")
	require.NoError(t, err)
	require.True(t, live(second.AccessToken), "the revoked token no longer counts: second and third are the 2 kept")
	fourth, err := e.srv.IssueToken("")
	require.NoError(t, err)
	require.False(t, live(second.AccessToken), "the oldest of the user's tokens for these scopes went")
	require.True(t, live(third.AccessToken))
	require.True(t, live(fourth.AccessToken))
	require.True(t, live(other.AccessToken), "tokens of other scopes count apart")
}

func TestAuthorizeDeny(t *testing.T) {
	e := setup(t, githubsandbox.Options{})
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	q := url.Values{"client_id": {"sandbox-client-id"}, "redirect_uri": {redirect}, "state": {"s"}, "deny": {"1"}}
	resp, err := noFollow.Get(e.ts.URL + "/login/oauth/authorize?" + q.Encode())
	require.NoError(t, err)
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	require.Equal(t, "access_denied", loc.Query().Get("error"))
	require.Equal(t, "s", loc.Query().Get("state"))
}
