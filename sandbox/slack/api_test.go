package slacksandbox

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/sandbox"
)

type fixture struct {
	s     *Server
	srv   *httptest.Server
	token string
}

func setup(t *testing.T, opts Options, scopes ...string) *fixture {
	t.Helper()
	s := New(opts)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	ts, err := s.Install(scopes...)
	require.NoError(t, err)
	return &fixture{s: s, srv: srv, token: ts.AccessToken}
}

// call posts a Web API method the way slack-go does (form body) with the
// token in the Authorization header, and decodes the answer.
func (f *fixture) call(t *testing.T, method, token string, params url.Values) map[string]any {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+"/api/"+method, strings.NewReader(params.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "Slack answers errors with HTTP 200")
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out
}

func tsList(t *testing.T, ans map[string]any) []string {
	t.Helper()
	require.Equal(t, true, ans["ok"], "%v", ans)
	var out []string
	for _, m := range ans["messages"].([]any) {
		out = append(out, m.(map[string]any)["ts"].(string))
	}
	return out
}

func nextCursor(ans map[string]any) string {
	md, _ := ans["response_metadata"].(map[string]any)
	c, _ := md["next_cursor"].(string)
	return c
}

func TestHistoryPagination(t *testing.T) {
	f := setup(t, Options{Seed: true})
	var all []string
	cursor := ""
	pages := 0
	for {
		ans := f.call(t, "conversations.history", f.token, url.Values{"channel": {ChannelGeneral}, "limit": {"4"}, "cursor": {cursor}})
		page := tsList(t, ans)
		pages++
		all = append(all, page...)
		cursor = nextCursor(ans)
		require.Equal(t, cursor != "", ans["has_more"])
		if cursor == "" {
			break
		}
		require.Len(t, page, 4)
	}
	require.Equal(t, 3, pages)
	require.Len(t, all, GeneralHistory)
	for i := 1; i < len(all); i++ {
		require.True(t, tsLess(all[i], all[i-1]), "newest first, no duplicates")
	}

	// oldest is exclusive unless inclusive is set.
	oldest := all[4]
	require.Len(t, tsList(t, f.call(t, "conversations.history", f.token, url.Values{"channel": {ChannelGeneral}, "oldest": {oldest}})), 4)
	require.Len(t, tsList(t, f.call(t, "conversations.history", f.token, url.Values{"channel": {ChannelGeneral}, "oldest": {oldest}, "inclusive": {"1"}})), 5)
	require.Len(t, tsList(t, f.call(t, "conversations.history", f.token, url.Values{"channel": {ChannelPress}})), PressHistory)

	ans := f.call(t, "conversations.history", f.token, url.Values{"channel": {ChannelGeneral}, "cursor": {"not-a-cursor"}})
	require.Equal(t, map[string]any{"ok": false, "error": "invalid_cursor"}, ans)
}

func TestHistoryMessageShape(t *testing.T) {
	f := setup(t, Options{Seed: true})
	ans := f.call(t, "conversations.history", f.token, url.Values{"channel": {ChannelGeneral}})
	byText := map[string]map[string]any{}
	for _, m := range ans["messages"].([]any) {
		mm := m.(map[string]any)
		byText[mm["text"].(string)] = mm
	}
	parent := byText["Press release draft v2 is ready for review: <https://docs.example.com/pr-v2|PR draft v2>"]
	require.Equal(t, parent["ts"], parent["thread_ts"])
	require.EqualValues(t, 3, parent["reply_count"])
	require.Equal(t, []any{UserCarol, UserAlice, UserBob}, parent["reply_users"])
	require.NotEmpty(t, parent["client_msg_id"])
	require.NotEmpty(t, parent["blocks"])
	require.Equal(t, []any{map[string]any{"name": "eyes", "users": []any{UserAlice}, "count": float64(1)}}, parent["reactions"])

	broadcast := byText["Final version approved :white_check_mark:"]
	require.Equal(t, "thread_broadcast", broadcast["subtype"])
	require.Equal(t, parent["ts"], broadcast["thread_ts"])
	require.NotNil(t, broadcast["root"])

	bot := byText["Deploy #482 to production finished"]
	require.Equal(t, "bot_message", bot["subtype"])
	require.Equal(t, DeployBotID, bot["bot_id"])
	require.Nil(t, bot["user"])

	file := byText["Coverage report for last week"]
	require.Equal(t, "file_share", file["subtype"])
	require.Len(t, file["files"], 1)
	require.Equal(t, "coverage-week-52.pdf", file["files"].([]any)[0].(map[string]any)["name"])

	edited := byText["A journalist from The Verge asked for a quote on the launch."]
	require.NotNil(t, edited["edited"])
}

func TestRepliesPagination(t *testing.T) {
	f := setup(t, Options{Seed: true})
	parent := tsAt(SeedEpoch+20*60, 100)
	first := f.call(t, "conversations.replies", f.token, url.Values{"channel": {ChannelGeneral}, "ts": {parent}, "limit": {"2"}})
	require.Equal(t, []string{parent, tsAt(SeedEpoch+21*60, 100)}, tsList(t, first), "parent first, then replies oldest first")
	require.Equal(t, true, first["has_more"])
	second := f.call(t, "conversations.replies", f.token, url.Values{"channel": {ChannelGeneral}, "ts": {parent}, "limit": {"2"}, "cursor": {nextCursor(first)}})
	require.Equal(t, []string{tsAt(SeedEpoch+22*60, 100), tsAt(SeedEpoch+23*60, 100)}, tsList(t, second), "continuation pages omit the parent")
	require.Equal(t, false, second["has_more"])

	ans := f.call(t, "conversations.replies", f.token, url.Values{"channel": {ChannelGeneral}, "ts": {"1.000000"}})
	require.Equal(t, "thread_not_found", ans["error"])
}

func TestConversationsList(t *testing.T) {
	f := setup(t, Options{})
	ans := f.call(t, "conversations.list", f.token, url.Values{"types": {"public_channel,private_channel"}})
	require.Equal(t, true, ans["ok"])
	member := map[string]bool{}
	for _, c := range ans["channels"].([]any) {
		cm := c.(map[string]any)
		member[cm["id"].(string)] = cm["is_member"].(bool)
	}
	require.Equal(t, map[string]bool{ChannelGeneral: true, ChannelPress: true, ChannelRandom: false}, member)

	public := f.call(t, "conversations.list", f.token, url.Values{})
	require.Len(t, public["channels"], 2, "default types: public channels only")

	page1 := f.call(t, "conversations.list", f.token, url.Values{"types": {"public_channel,private_channel"}, "limit": {"2"}})
	require.Len(t, page1["channels"], 2)
	require.NotEmpty(t, nextCursor(page1))
	page2 := f.call(t, "conversations.list", f.token, url.Values{"types": {"public_channel,private_channel"}, "limit": {"2"}, "cursor": {nextCursor(page1)}})
	require.Len(t, page2["channels"], 1)
	require.Empty(t, nextCursor(page2))
}

func TestAPIErrors(t *testing.T) {
	f := setup(t, Options{Seed: true})
	readOnly, err := f.s.Install("channels:read")
	require.NoError(t, err)
	tests := []struct {
		name, method, token string
		params              url.Values
		want                string
	}{
		{"no token", "conversations.history", "", url.Values{"channel": {ChannelGeneral}}, "not_authed"},
		{"unknown token", "conversations.history", "xoxb-nope", url.Values{"channel": {ChannelGeneral}}, "invalid_auth"},
		{"unknown channel", "conversations.history", f.token, url.Values{"channel": {"C0NOPE0000"}}, "channel_not_found"},
		{"bot not in channel", "conversations.history", f.token, url.Values{"channel": {ChannelRandom}}, "not_in_channel"},
		{"missing scope", "conversations.history", readOnly.AccessToken, url.Values{"channel": {ChannelGeneral}}, "missing_scope"},
		{"unknown method", "chat.postMessage", f.token, url.Values{}, "unknown_method"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ans := f.call(t, tc.method, tc.token, tc.params)
			require.Equal(t, false, ans["ok"])
			require.Equal(t, tc.want, ans["error"])
		})
	}
	// The token may also come as a form field, as slack-go sends it.
	ans := f.call(t, "auth.test", "", url.Values{"token": {f.token}})
	require.Equal(t, true, ans["ok"])
	require.Equal(t, DefaultTeamID, ans["team_id"])
	require.Equal(t, "https://"+TeamDomain+".slack.com/", ans["url"])
}

func TestFaultsAreSlackShaped(t *testing.T) {
	f := setup(t, Options{Seed: true})
	f.s.Faults.Add(sandbox.Fault{Status: 429, RetryAfter: 7})
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/api/conversations.history", strings.NewReader("channel="+ChannelGeneral))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 429, resp.StatusCode)
	require.Equal(t, "7", resp.Header.Get("Retry-After"))
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.Equal(t, map[string]any{"ok": false, "error": "ratelimited"}, body)
}

func TestEnvAndRequests(t *testing.T) {
	f := setup(t, Options{ClientID: "1.2", ClientSecret: "cs", SigningSecret: "ss"})
	env := f.s.Env(f.srv.URL + "/")
	require.Equal(t, map[string]string{
		"POBLYSH_SLACK_CLIENT_ID": "1.2", "POBLYSH_SLACK_CLIENT_SECRET": "cs", "POBLYSH_SLACK_WEBHOOK_SECRET": "ss",
		"POBLYSH_SLACK_AUTH_URL":   f.srv.URL + "/oauth/v2/authorize",
		"POBLYSH_SLACK_TOKEN_URL":  f.srv.URL + "/api/oauth.v2.access",
		"POBLYSH_SLACK_API_URL":    f.srv.URL + "/api/",
		"POBLYSH_SLACK_REVOKE_URL": f.srv.URL + "/api/auth.revoke",
	}, env)
	f.call(t, "conversations.list", "", url.Values{"token": {f.token}, "limit": {"5"}})
	reqs := f.s.Requests()
	require.Len(t, reqs, 1)
	require.Equal(t, "conversations.list", reqs[0].Method)
	require.Equal(t, url.Values{"limit": {"5"}}, reqs[0].Params, "tokens are not recorded")
}
