package gcalsandbox_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	gcalsandbox "github.com/poblysh/poblysh/sandbox/googlecalendar"
)

// tokenFor authorizes as user (the login= user of the shared OAuth
// server) and returns an access token with scopes.
func tokenFor(t *testing.T, sb *gcalsandbox.Server, user string, scopes ...string) string {
	t.Helper()
	q := url.Values{"client_id": {sb.ClientID()}, "redirect_uri": {"http://localhost/callback"}, "response_type": {"code"},
		"scope": {strings.Join(scopes, " ")}, "login": {user}}
	rec := httptest.NewRecorder()
	sb.Base.OAuth.Authorize(rec, httptest.NewRequest(http.MethodGet, "/o/oauth2/v2/auth?"+q.Encode(), nil))
	loc, err := url.Parse(rec.Header().Get("Location"))
	require.NoError(t, err)
	ts, err := sb.Base.OAuth.Exchange(sb.ClientID(), loc.Query().Get("code"), "http://localhost/callback", "")
	require.NoError(t, err)
	return ts.AccessToken
}

func TestCalendarsBelongToUsers(t *testing.T) {
	f := setup(t, gcalsandbox.Options{Seed: true})
	const mallory = "mallory@example.com"
	as := *f
	as.tok = tokenFor(t, f.sb, mallory, "openid", "email", "https://www.googleapis.com/auth/calendar.events.readonly",
		"https://www.googleapis.com/auth/calendar.readonly")
	one := url.Values{"maxResults": {"1"}}

	code, body := as.list(t, "primary", one)
	require.Equal(t, http.StatusOK, code, "a user reads their own primary calendar: %v", body)
	code, _ = as.list(t, mallory, one)
	require.Equal(t, http.StatusOK, code, "by its id too")
	for _, other := range []string{gcalsandbox.DefaultUser, gcalsandbox.TeamCalendarID} {
		code, body = as.list(t, other, one)
		require.Equal(t, http.StatusNotFound, code, other)
		require.Equal(t, "notFound", body["error"].(map[string]any)["errors"].([]any)[0].(map[string]any)["reason"])
		code, _, _ = as.do(t, http.MethodGet, "/calendar/v3/calendars/"+url.PathEscape(other), nil)
		require.Equal(t, http.StatusNotFound, code, "calendars.get of "+other)
		code, _, _ = as.do(t, http.MethodPost, "/calendar/v3/calendars/"+url.PathEscape(other)+"/events/watch",
			map[string]any{"id": "chan-" + strings.NewReplacer("@", "-", ".", "-").Replace(other), "type": "web_hook", "address": "https://example.com/hook"})
		require.Equal(t, http.StatusNotFound, code, "events.watch of "+other)
	}
	code, _ = f.list(t, gcalsandbox.TeamCalendarID, one)
	require.Equal(t, http.StatusOK, code, "the default user still reads the team calendar")

	// Shared, then unshared, through the control API.
	post := func(path, body string) int {
		resp, err := http.Post(f.url+path, "application/json", strings.NewReader(body))
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	acl := "/_sandbox/calendar/calendars/" + url.PathEscape(gcalsandbox.TeamCalendarID) + "/acl"
	require.Equal(t, http.StatusNoContent, post(acl, `{"user":"`+mallory+`","role":"reader"}`))
	code, _ = as.list(t, gcalsandbox.TeamCalendarID, one)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, http.StatusNoContent, post(acl, `{"user":"`+mallory+`","role":"none"}`))
	code, _ = as.list(t, gcalsandbox.TeamCalendarID, one)
	require.Equal(t, http.StatusNotFound, code)
	require.Equal(t, http.StatusBadRequest, post(acl, `{"user":"`+mallory+`","role":"owner"}`))
	require.Equal(t, http.StatusNotFound, post("/_sandbox/calendar/calendars/nope@group.calendar.google.com/acl", `{"user":"a@b.c","role":"reader"}`))

	// A calendar with an owner is the owner's alone.
	const board = "board@group.calendar.google.com"
	f.sb.AddCalendarOwned(board, "Board", "UTC", mallory)
	code, _ = as.list(t, board, one)
	require.Equal(t, http.StatusOK, code)
	code, _ = f.list(t, board, one)
	require.Equal(t, http.StatusNotFound, code, "not the default user's")
	require.Equal(t, http.StatusNoContent, post("/_sandbox/calendar/calendars/"+url.PathEscape(board)+"/owner", `{"owner":"`+gcalsandbox.DefaultUser+`"}`))
	code, _ = f.list(t, board, one)
	require.Equal(t, http.StatusOK, code)
}
