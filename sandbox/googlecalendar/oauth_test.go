package gcalsandbox_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	gcalsandbox "github.com/poblysh/poblysh/sandbox/googlecalendar"
)

const redirect = "https://poblysh.example/api/v1/connect/google-calendar/callback"

// authorize runs the browser leg and returns the callback query.
func (f *fixture) authorize(t *testing.T, extra url.Values) url.Values {
	t.Helper()
	q := url.Values{
		"client_id": {f.sb.ClientID()}, "redirect_uri": {redirect}, "response_type": {"code"},
		"scope": {strings.Join(gcalsandbox.DefaultScopes, " ")}, "state": {"st"},
	}
	for k, v := range extra {
		q[k] = v
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(f.url + "/o/oauth2/v2/auth?" + q.Encode())
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	return loc.Query()
}

// tokenCall posts to the token endpoint with the client's credentials.
func (f *fixture) tokenCall(t *testing.T, form url.Values) (int, map[string]any) {
	t.Helper()
	if !form.Has("client_secret") {
		form.Set("client_id", f.sb.ClientID())
		form.Set("client_secret", gcalsandbox.DefaultClientSecret)
	}
	resp, err := http.PostForm(f.url+"/token", form)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	require.NoError(t, json.Unmarshal(raw, &body), "%s", raw)
	return resp.StatusCode, body
}

func TestRefreshTokenOnlyWithOfflineAndConsent(t *testing.T) {
	f := setup(t, gcalsandbox.Options{})
	cases := []struct {
		name        string
		extra       url.Values
		wantRefresh bool
	}{
		{"offline and consent", url.Values{"access_type": {"offline"}, "prompt": {"consent"}}, true},
		{"offline, select_account consent", url.Values{"access_type": {"offline"}, "prompt": {"select_account consent"}}, true},
		{"offline without consent", url.Values{"access_type": {"offline"}}, false},
		{"online with consent", url.Values{"prompt": {"consent"}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cb := f.authorize(t, tc.extra)
			code, tok := f.tokenCall(t, url.Values{"grant_type": {"authorization_code"}, "code": {cb.Get("code")}, "redirect_uri": {redirect}})
			require.Equal(t, http.StatusOK, code)
			require.Equal(t, tc.wantRefresh, tok["refresh_token"] != nil)
			require.True(t, strings.HasPrefix(tok["access_token"].(string), "ya29."))
			require.EqualValues(t, 3599, tok["expires_in"])
			require.Equal(t, "Bearer", tok["token_type"])
			require.Equal(t, "openid https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/calendar.events.readonly",
				tok["scope"], "Google reports the email sign-in scope by its full name")
			claims := jwtClaims(t, tok["id_token"].(string))
			require.Equal(t, f.sb.User(), claims["email"])
			require.Equal(t, f.sb.ClientID(), claims["aud"])
			require.Equal(t, "https://accounts.google.com", claims["iss"])
			require.Equal(t, gcalsandbox.Subject(f.sb.User()), claims["sub"])
		})
	}
}

func jwtClaims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	require.Len(t, parts, 3)
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var claims map[string]any
	require.NoError(t, json.Unmarshal(raw, &claims))
	return claims
}

func TestRefreshRevokeAndErrors(t *testing.T) {
	f := setup(t, gcalsandbox.Options{})
	verifier := "a-very-long-verifier-with-enough-entropy-0123456789"
	sum := sha256.Sum256([]byte(verifier))
	pkce := url.Values{"access_type": {"offline"}, "prompt": {"consent"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}

	cb := f.authorize(t, pkce)
	code, body := f.tokenCall(t, url.Values{"grant_type": {"authorization_code"}, "code": {cb.Get("code")}, "redirect_uri": {redirect}, "code_verifier": {"wrong"}})
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, "invalid_grant", body["error"])

	cb = f.authorize(t, pkce)
	code, tok := f.tokenCall(t, url.Values{"grant_type": {"authorization_code"}, "code": {cb.Get("code")}, "redirect_uri": {redirect}, "code_verifier": {verifier}})
	require.Equal(t, http.StatusOK, code)
	refresh := tok["refresh_token"].(string)
	require.True(t, strings.HasPrefix(refresh, "1//"))

	code, again := f.tokenCall(t, url.Values{"grant_type": {"authorization_code"}, "code": {cb.Get("code")}, "redirect_uri": {redirect}, "code_verifier": {verifier}})
	require.Equal(t, http.StatusBadRequest, code, "codes are single use")
	require.Equal(t, "invalid_grant", again["error"])

	code, r1 := f.tokenCall(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	require.Equal(t, http.StatusOK, code)
	require.NotContains(t, r1, "refresh_token", "refresh tokens are not rotated")
	require.NotEqual(t, tok["access_token"], r1["access_token"])
	code, _ = f.tokenCall(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	require.Equal(t, http.StatusOK, code, "the same refresh token keeps working")

	code, bad := f.tokenCall(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {f.sb.ClientID()}, "client_secret": {"wrong"}})
	require.Equal(t, http.StatusUnauthorized, code)
	require.Equal(t, "invalid_client", bad["error"])

	resp, err := http.PostForm(f.url+"/revoke", url.Values{"token": {refresh}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	code, gone := f.tokenCall(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, map[string]any{"error": "invalid_grant", "error_description": "Token has been expired or revoked."}, gone)
	resp, err = http.PostForm(f.url+"/revoke", url.Values{"token": {refresh}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "revoked tokens are still known")
	resp, err = http.PostForm(f.url+"/revoke", url.Values{"token": {"never-issued"}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

func TestAuthorizeDenyAndValidation(t *testing.T) {
	f := setup(t, gcalsandbox.Options{})
	cb := f.authorize(t, url.Values{"deny": {"1"}})
	require.Equal(t, "access_denied", cb.Get("error"))
	require.Equal(t, "st", cb.Get("state"))

	for name, q := range map[string]url.Values{
		"no scope":         {"client_id": {f.sb.ClientID()}, "redirect_uri": {redirect}, "response_type": {"code"}},
		"implicit flow":    {"client_id": {f.sb.ClientID()}, "redirect_uri": {redirect}, "response_type": {"token"}, "scope": {"email"}},
		"unknown client":   {"client_id": {"someone"}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {"email"}},
		"no redirect":      {"client_id": {f.sb.ClientID()}, "response_type": {"code"}, "scope": {"email"}},
		"bad pkce method":  {"client_id": {f.sb.ClientID()}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {"email"}, "code_challenge": {"x"}, "code_challenge_method": {"S512"}},
		"missing clientid": {"redirect_uri": {redirect}, "response_type": {"code"}, "scope": {"email"}},
	} {
		resp, err := http.Get(f.url + "/o/oauth2/v2/auth?" + q.Encode())
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, name)
	}
}

func TestUserinfo(t *testing.T) {
	f := setup(t, gcalsandbox.Options{User: "grace@example.com"})
	code, body, _ := f.do(t, http.MethodGet, "/v1/userinfo", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "grace@example.com", body["email"])
	require.Equal(t, gcalsandbox.Subject("grace@example.com"), body["sub"])
	require.Regexp(t, `^1\d{20}$`, body["sub"])

	f.tok = f.sb.AccessToken("", "openid")
	_, body, _ = f.do(t, http.MethodGet, "/v1/userinfo", nil)
	require.NotContains(t, body, "email", "the email needs the email scope")
}

func TestEnv(t *testing.T) {
	sb := gcalsandbox.New(gcalsandbox.Options{ClientID: "cid", ClientSecret: "cs"})
	env := sb.Env("http://127.0.0.1:9000/")
	require.Equal(t, map[string]string{
		"POBLYSH_GOOGLE_CALENDAR_CLIENT_ID":     "cid",
		"POBLYSH_GOOGLE_CALENDAR_CLIENT_SECRET": "cs",
		"POBLYSH_GOOGLE_CALENDAR_AUTH_URL":      "http://127.0.0.1:9000/o/oauth2/v2/auth",
		"POBLYSH_GOOGLE_CALENDAR_TOKEN_URL":     "http://127.0.0.1:9000/token",
		"POBLYSH_GOOGLE_CALENDAR_API_URL":       "http://127.0.0.1:9000/calendar/v3/",
		"POBLYSH_GOOGLE_CALENDAR_REVOKE_URL":    "http://127.0.0.1:9000/revoke",
		"POBLYSH_GOOGLE_CALENDAR_USERINFO_URL":  "http://127.0.0.1:9000/v1/userinfo",
	}, env)
}

func TestSeedIsDeterministic(t *testing.T) {
	a := gcalsandbox.New(gcalsandbox.Options{Seed: true})
	b := gcalsandbox.New(gcalsandbox.Options{Seed: true})
	for _, cal := range []string{"primary", gcalsandbox.TeamCalendarID} {
		ja, err := json.Marshal(a.Events(cal))
		require.NoError(t, err)
		jb, err := json.Marshal(b.Events(cal))
		require.NoError(t, err)
		require.JSONEq(t, string(ja), string(jb))
	}
	require.Len(t, a.Events("primary"), gcalsandbox.PrimaryEvents)
	require.Len(t, a.Events(gcalsandbox.TeamCalendarID), gcalsandbox.TeamEvents)
	require.Equal(t, map[string]int{gcalsandbox.DefaultUser: gcalsandbox.PrimarySignals, gcalsandbox.TeamCalendarID: gcalsandbox.TeamSignals}, a.SignalCounts())
	require.Empty(t, gcalsandbox.New(gcalsandbox.Options{}).SignalCounts())
}

// TestGranularConsent: a user who unticks a permission on the consent screen
// approves the rest; the token response says what was granted and the
// token cannot read what was declined. Sign-in scopes cannot be unticked.
func TestGranularConsent(t *testing.T) {
	f := setup(t, gcalsandbox.Options{Seed: true})
	const events = "https://www.googleapis.com/auth/calendar.events.readonly"
	require.Error(t, f.sb.DeclineNext("email"), "sign-in scopes have no checkbox")
	resp, err := http.Post(f.url+"/_sandbox/calendar/consent", "application/json", strings.NewReader(`{"decline": ["openid"]}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)

	resp, err = http.Post(f.url+"/_sandbox/calendar/consent", "application/json", strings.NewReader(`{"decline": ["`+events+`"]}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	cb := f.authorize(t, nil)
	code, tok := f.tokenCall(t, url.Values{"grant_type": {"authorization_code"}, "code": {cb.Get("code")}, "redirect_uri": {redirect}})
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "openid https://www.googleapis.com/auth/userinfo.email", tok["scope"])
	req, _ := http.NewRequest(http.MethodGet, f.url+"/calendar/v3/calendars/primary/events", nil)
	req.Header.Set("Authorization", "Bearer "+tok["access_token"].(string))
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode, "the declined permission is not granted")

	// The choice applied to one authorization only.
	cb = f.authorize(t, nil)
	_, tok = f.tokenCall(t, url.Values{"grant_type": {"authorization_code"}, "code": {cb.Get("code")}, "redirect_uri": {redirect}})
	require.Contains(t, tok["scope"], events)
}
