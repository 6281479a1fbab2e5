package jirasandbox

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/sandbox"
)

func do(t *testing.T, s *Server, method, path, token string, body any) (*http.Response, map[string]any) {
	t.Helper()
	var rd bytes.Buffer
	if body != nil {
		require.NoError(t, json.NewEncoder(&rd).Encode(body))
	}
	req := httptest.NewRequest(method, path, &rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	out := map[string]any{}
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Result(), out
}

// Rotating refresh tokens: a spent token works again within 10 minutes;
// after that its reuse revokes the whole family.
func TestRefreshReuseLeeway(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	s := New(Options{Options: sandbox.Options{Now: func() time.Time { return now }}})
	ts, err := s.IssueToken("")
	require.NoError(t, err)
	refresh := func(tok string) (int, map[string]any) {
		resp, out := do(t, s, "POST", "/oauth/token", "", map[string]string{"grant_type": "refresh_token",
			"client_id": DefaultClientID, "client_secret": DefaultClientSecret, "refresh_token": tok})
		return resp.StatusCode, out
	}
	code, first := refresh(ts.RefreshToken)
	require.Equal(t, 200, code)
	require.NotEqual(t, ts.RefreshToken, first["refresh_token"], "rotated")
	now = now.Add(9 * time.Minute)
	code, _ = refresh(ts.RefreshToken)
	require.Equal(t, 200, code, "reuse within the leeway")
	now = now.Add(2 * time.Minute)
	code, out := refresh(ts.RefreshToken)
	require.Equal(t, 403, code)
	require.Equal(t, "invalid_grant", out["error"])
	code, _ = refresh(first["refresh_token"].(string))
	require.Equal(t, 403, code, "reuse after the leeway revoked the family")
}

// The removed search answers 410; the enhanced search pages by
// nextPageToken bound to its JQL and returns only the fields named.
func TestSearch(t *testing.T) {
	s := New(Options{Options: sandbox.Options{Seed: true}, PageSize: 5})
	ts, err := s.IssueToken("")
	require.NoError(t, err)
	api := "/ex/jira/" + SiteID + "/rest/api/3/"
	resp, _ := do(t, s, "GET", api+"search?jql=project=LPR", ts.AccessToken, nil)
	require.Equal(t, http.StatusGone, resp.StatusCode)
	resp, _ = do(t, s, "POST", api+"search/jql", ts.AccessToken, map[string]any{"jql": "order by created"})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "unbounded JQL")
	jql := `project = MKT AND updated >= "2020/01/01 00:00" ORDER BY updated ASC, key ASC`
	_, page := do(t, s, "POST", api+"search/jql", ts.AccessToken, map[string]any{"jql": jql, "maxResults": 3, "fields": []string{"summary"}})
	issues := page["issues"].([]any)
	require.Len(t, issues, 3)
	require.Equal(t, map[string]any{"summary": "Campaign asset 1"}, issues[0].(map[string]any)["fields"])
	require.NotContains(t, page, "total")
	tok := page["nextPageToken"].(string)
	resp, _ = do(t, s, "POST", api+"search/jql", ts.AccessToken, map[string]any{"jql": "project = LPR", "nextPageToken": tok})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "a token is bound to its JQL")
	_, page = do(t, s, "POST", api+"search/jql", ts.AccessToken, map[string]any{"jql": jql, "maxResults": 3, "nextPageToken": tok})
	require.Len(t, page["issues"].([]any), 2)
	require.Equal(t, true, page["isLast"])
	resp, _ = do(t, s, "GET", "/ex/jira/"+SecondSite+"/rest/api/3/myself", "", nil)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

// A search with expand=changelog embeds "a list of recent updates to an
// issue, sorted by date, starting from the most recent" (Atlassian's
// SearchAndReconcileRequestBean): the EmbeddedHistories most recent
// entries, newest first, with total counting them all.
func TestSearchEmbedsTheMostRecentChangelog(t *testing.T) {
	s := New(Options{Options: sandbox.Options{Seed: true}})
	ts, err := s.IssueToken("")
	require.NoError(t, err)
	api := "/ex/jira/" + SiteID + "/rest/api/3/"
	jql := `project = LPR AND updated >= "2020/01/01 00:00" ORDER BY updated ASC, key ASC`
	_, page := do(t, s, "POST", api+"search/jql", ts.AccessToken, map[string]any{"jql": jql, "maxResults": 100, "expand": "changelog"})
	long := 0
	for _, raw := range page["issues"].([]any) {
		is := raw.(map[string]any)
		s.mu.Lock()
		all := slices.Clone(s.sites[SiteID].issue(is["id"].(string)).Histories)
		s.mu.Unlock()
		slices.SortStableFunc(all, func(a, b historyState) int { return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID)) })
		var want []string // the model's entries, newest first
		for i := len(all) - 1; i >= 0 && len(want) < EmbeddedHistories; i-- {
			want = append(want, strconv.Itoa(all[i].ID))
		}
		cl := is["changelog"].(map[string]any)
		var got []string
		for _, h := range cl["histories"].([]any) {
			got = append(got, h.(map[string]any)["id"].(string))
		}
		require.Equal(t, want, got, "%s: the most recent entries, newest first", is["key"])
		require.EqualValues(t, len(all), cl["total"], "%s: total counts them all", is["key"])
		if len(all) > EmbeddedHistories {
			long++
		}
	}
	require.Positive(t, long, "the seed has an issue with more entries than a search embeds")
}

// The hourly quota's 429 names its reset as a minute, "yyyy-MM-ddTHH:mmZ",
// and carries the burst bucket's remaining count, not 0.
func TestQuotaFaultHeaders(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 14, 27, 0, time.UTC)
	f := QuotaFault(now, 40*time.Second, false)
	require.Equal(t, "2026-03-02T10:15Z", f.Headers["X-RateLimit-Reset"])
	require.NotEqual(t, "0", f.Headers["X-RateLimit-Remaining"])
	require.Contains(t, f.Headers["Beta-RateLimit"], "t=40")
	require.Zero(t, f.RetryAfter)
}

// Registration answers 200 with per-webhook errors for JQL outside the
// reduced subset.
func TestRegisterWebhookErrors(t *testing.T) {
	s := New(Options{Options: sandbox.Options{Seed: true}})
	ts, err := s.IssueToken("")
	require.NoError(t, err)
	resp, out := do(t, s, "POST", "/ex/jira/"+SiteID+"/rest/api/3/webhook", ts.AccessToken, map[string]any{
		"url": "https://poblysh.example/api/v1/webhooks/jira?connection=x",
		"webhooks": []any{
			map[string]any{"events": []string{"jira:issue_created"}, "jqlFilter": "project = LPR"},
			map[string]any{"events": []string{"jira:issue_created"}, "jqlFilter": "project = LPR AND updated >= -1d"},
		}})
	require.Equal(t, 200, resp.StatusCode)
	res := out["webhookRegistrationResult"].([]any)
	require.EqualValues(t, 10001, res[0].(map[string]any)["createdWebhookId"])
	require.Contains(t, res[1].(map[string]any)["errors"].([]any)[0], "updated")
	require.Equal(t, "https://poblysh.example/api/v1/webhooks/jira", s.Webhooks(SiteID)[0].URL, "query parameters are dropped")

	// A URL's scheme is case-insensitive (the service registers its public
	// URL as the operator wrote it); another scheme is refused.
	s = New(Options{Options: sandbox.Options{Seed: true}})
	ts, err = s.IssueToken("")
	require.NoError(t, err)
	hook := []any{map[string]any{"events": []string{"jira:issue_created"}, "jqlFilter": "project = LPR"}}
	resp, _ = do(t, s, "POST", "/ex/jira/"+SiteID+"/rest/api/3/webhook", ts.AccessToken, map[string]any{"url": "ftp://poblysh.example/hook", "webhooks": hook})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	resp, out = do(t, s, "POST", "/ex/jira/"+SiteID+"/rest/api/3/webhook", ts.AccessToken, map[string]any{
		"url": "HTTPS://Poblysh.example/api/v1/webhooks/jira", "webhooks": hook})
	require.Equal(t, http.StatusOK, resp.StatusCode, "%v", out)
	require.EqualValues(t, 10001, out["webhookRegistrationResult"].([]any)[0].(map[string]any)["createdWebhookId"])
}

// A renamed site keeps its cloud id: accessible-resources lists its new
// URL and name, and what the API answers names the new host.
func TestRenameSite(t *testing.T) {
	s := New(Options{Options: sandbox.Options{Seed: true}})
	ts, err := s.IssueToken("")
	require.NoError(t, err)
	require.Error(t, s.RenameSite(SiteID, "acme-launch.atlassian.net"), "a URL, not a host")
	require.Error(t, s.RenameSite("no-such-site", "https://acme-launch.atlassian.net"))
	resp, _ := do(t, s, "POST", "/_sandbox/jira/sites/"+SiteID+"/rename", "", map[string]string{"url": "https://acme-launch.atlassian.net"})
	require.Equal(t, http.StatusNoContent, resp.StatusCode)

	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/oauth/token/accessible-resources", nil)
	req.Header.Set("Authorization", "Bearer "+ts.AccessToken)
	s.ServeHTTP(rec, req)
	var sites []map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &sites))
	require.Equal(t, SiteID, sites[0]["id"])
	require.Equal(t, "https://acme-launch.atlassian.net", sites[0]["url"])
	require.Equal(t, "acme-launch", sites[0]["name"])

	got := make(chan []byte, 1)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- b
	}))
	defer recv.Close()
	resp, _ = do(t, s, "POST", "/ex/jira/"+SiteID+"/rest/api/3/webhook", ts.AccessToken, map[string]any{"url": recv.URL,
		"webhooks": []any{map[string]any{"events": []string{"jira:issue_updated"}, "jqlFilter": "project = LPR"}}})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	_, err = s.Transition(context.Background(), SiteID, "LPR-1", "In Review", "grace", sandbox.DeliveryOptions{})
	require.NoError(t, err)
	var body struct {
		Issue struct{ Self string } `json:"issue"`
	}
	require.NoError(t, json.Unmarshal(<-got, &body))
	require.True(t, strings.HasPrefix(body.Issue.Self, "https://acme-launch.atlassian.net/rest/api/2/issue/"), body.Issue.Self)
}

// A user's time zone changed in the profile is what /myself names from
// then on, and the zone searches read JQL dates in; another server's user
// keeps the seeded zone.
func TestSetTimeZone(t *testing.T) {
	now := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
	s := New(Options{Options: sandbox.Options{Seed: true, Now: func() time.Time { return now }}})
	ts, err := s.IssueToken("")
	require.NoError(t, err)
	api := "/ex/jira/" + SiteID + "/rest/api/3/"
	_, err = s.CreateIssue(context.Background(), SiteID, IssueInput{Project: "MKT", Summary: "at noon"}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	// 13:30 in Berlin is 11:30Z (before noon), in New York 17:30Z (after).
	jql := `project = MKT AND updated >= "2026/06/10 13:30" ORDER BY updated ASC, key ASC`
	listed := func() int {
		_, page := do(t, s, "POST", api+"search/jql", ts.AccessToken, map[string]any{"jql": jql})
		return len(page["issues"].([]any))
	}
	_, me := do(t, s, "GET", api+"myself", ts.AccessToken, nil)
	require.Equal(t, "Europe/Berlin", me["timeZone"])
	require.Equal(t, 1, listed())

	require.Error(t, s.SetTimeZone("nobody", "UTC"))
	require.Error(t, s.SetTimeZone(DefaultUser, "Mars/Olympus"))
	resp, _ := do(t, s, "PUT", "/_sandbox/jira/users/"+DefaultUser+"/timezone", "", map[string]string{"time_zone": "America/New_York"})
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	_, me = do(t, s, "GET", api+"myself", ts.AccessToken, nil)
	require.Equal(t, "America/New_York", me["timeZone"])
	require.Zero(t, listed(), "the same JQL date is read in the new zone")

	other := New(Options{Options: sandbox.Options{Seed: true}})
	ots, err := other.IssueToken("")
	require.NoError(t, err)
	_, me = do(t, other, "GET", api+"myself", ots.AccessToken, nil)
	require.Equal(t, "Europe/Berlin", me["timeZone"], "a zone is set on one server")
}

// A deleted project (or one the user may no longer browse) is unknown: its
// read answers 404 and a search naming it 400, as Jira's do.
func TestDeleteProject(t *testing.T) {
	s := New(Options{Options: sandbox.Options{Seed: true}})
	ts, err := s.IssueToken("")
	require.NoError(t, err)
	api := "/ex/jira/" + SiteID + "/rest/api/3/"
	resp, _ := do(t, s, "DELETE", "/_sandbox/jira/sites/"+SiteID+"/projects/MKT", "", nil)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	resp, _ = do(t, s, "DELETE", "/_sandbox/jira/sites/"+SiteID+"/projects/MKT", "", nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "deleted already")

	resp, out := do(t, s, "GET", api+"project/MKT", ts.AccessToken, nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Equal(t, []any{"No project could be found with key 'MKT'."}, out["errorMessages"])
	resp, out = do(t, s, "POST", api+"search/jql", ts.AccessToken, map[string]any{"jql": `project = "MKT" AND updated >= "2020/01/01 00:00"`})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Equal(t, []any{"The value 'MKT' does not exist for the field 'project'."}, out["errorMessages"])
	_, err = s.Transition(context.Background(), SiteID, "MKT-1", "Done", "", sandbox.DeliveryOptions{})
	require.Error(t, err, "its issues are gone")
	_, out = do(t, s, "POST", api+"search/jql", ts.AccessToken, map[string]any{"jql": `project = "LPR" AND updated >= "2020/01/01 00:00"`})
	require.NotEmpty(t, out["issues"], "the other project is untouched")
}

// Dynamic webhooks belong to the app, not to the user whose token
// registered them, as Jira's do: one URL per app on a site ("Only a
// single URL per app is allowed to be registered", in the registration's
// 200 answer), whichever user registers; GET lists each webhook with its
// url; DELETE by any user of the app removes the app's webhooks among the
// ids and ignores ids it does not know (202). Once no live webhook is at
// the former URL, the new one is registered.
func TestWebhooksOneURLPerApp(t *testing.T) {
	s := New(Options{Options: sandbox.Options{Seed: true}})
	ada, err := s.IssueToken("")
	require.NoError(t, err)
	grace, err := s.IssueToken(SecondUser)
	require.NoError(t, err)
	api := "/ex/jira/" + SiteID + "/rest/api/3/"
	register := func(tok, url, project string) map[string]any {
		resp, out := do(t, s, "POST", api+"webhook", tok, map[string]any{"url": url,
			"webhooks": []any{map[string]any{"events": []string{"jira:issue_updated"}, "jqlFilter": "project = " + project}}})
		require.Equal(t, http.StatusOK, resp.StatusCode, "Jira answers 200 even when a registration failed")
		return out["webhookRegistrationResult"].([]any)[0].(map[string]any)
	}
	former, current := "https://old-host.example/api/v1/webhooks/jira", "https://poblysh.example/api/v1/webhooks/jira"
	first := register(ada.AccessToken, former, "LPR")["createdWebhookId"]
	require.NotNil(t, first)
	require.NotNil(t, register(grace.AccessToken, former+"?ignored=1", "MKT")["createdWebhookId"], "the same URL: Jira drops the query")
	refused := register(grace.AccessToken, current, "MKT")
	require.Nil(t, refused["createdWebhookId"])
	require.Equal(t, []any{"Only a single URL per app is allowed to be registered."}, refused["errors"])

	_, page := do(t, s, "GET", api+"webhook", grace.AccessToken, nil)
	values := page["values"].([]any)
	require.Len(t, values, 2, "every webhook of the app, whoever registered it")
	var ids []any
	for _, v := range values {
		require.Equal(t, former, v.(map[string]any)["url"])
		ids = append(ids, v.(map[string]any)["id"])
	}

	resp, _ := do(t, s, "DELETE", api+"webhook", grace.AccessToken, map[string]any{"webhookIds": append(ids, 99999)})
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "an unknown id is ignored")
	require.Empty(t, s.Webhooks(SiteID), "ada's webhook too: webhooks are the app's")
	require.NotNil(t, register(ada.AccessToken, current, "LPR")["createdWebhookId"])
}
