package githubsandbox_test

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/sandbox"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
)

// env is a seeded sandbox behind an HTTP server and a token for SeedUser.
type env struct {
	srv   *githubsandbox.Server
	ts    *httptest.Server
	token string
}

func setup(t *testing.T, opts githubsandbox.Options) *env {
	t.Helper()
	opts.Seed = true
	srv := githubsandbox.New(opts)
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { srv.Wait(); ts.Close() })
	tok, err := srv.IssueToken("")
	require.NoError(t, err)
	return &env{srv: srv, ts: ts, token: tok.AccessToken}
}

// get calls the API with the token and optional headers (name, value pairs).
func (e *env) get(t *testing.T, path string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.ts.URL+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+e.token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, b
}

func decodeList(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	require.NoError(t, json.Unmarshal(b, &out), string(b))
	return out
}

// links parses a Link header into rel → URL.
func links(t *testing.T, h string) map[string]*url.URL {
	t.Helper()
	out := map[string]*url.URL{}
	for _, part := range strings.Split(h, ",") {
		u, rel, ok := strings.Cut(strings.TrimSpace(part), "; rel=")
		require.True(t, ok, part)
		parsed, err := url.Parse(strings.Trim(u, "<>"))
		require.NoError(t, err)
		out[strings.Trim(rel, `"`)] = parsed
	}
	return out
}

func TestSeedMatchesConstants(t *testing.T) {
	e := setup(t, githubsandbox.Options{})
	_, b := e.get(t, "/repos/octo-org/hello-world/pulls?state=all&per_page=100")
	pulls := decodeList(t, b)
	require.Len(t, pulls, githubsandbox.SeedPulls)
	var merged, closed, open, drafts int
	for _, p := range pulls {
		switch {
		case p["merged_at"] != nil:
			merged++
		case p["state"] == "closed":
			closed++
		default:
			open++
			if p["draft"] == true {
				drafts++
			}
		}
	}
	require.Equal(t, []int{githubsandbox.SeedPullsMerged, githubsandbox.SeedPullsClosed, githubsandbox.SeedPullsOpen, 2}, []int{merged, closed, open, drafts})

	_, b = e.get(t, "/repos/octo-org/hello-world/releases?per_page=100")
	rels := decodeList(t, b)
	require.Len(t, rels, githubsandbox.SeedReleases)
	var draftRels, pre int
	for _, r := range rels {
		if r["draft"] == true {
			draftRels++
			require.Nil(t, r["published_at"])
		} else if r["prerelease"] == true {
			pre++
		}
	}
	require.Equal(t, githubsandbox.SeedReleaseDrafts, draftRels)
	require.Equal(t, githubsandbox.SeedPrereleases, pre)

	_, b = e.get(t, "/repos/octo-org/hello-world/commits?per_page=100")
	require.Len(t, decodeList(t, b), githubsandbox.SeedCommits)
	require.Equal(t, map[string]int{
		"pulls:octo-org/hello-world": 40, "releases:octo-org/hello-world": 11, "commits:octo-org/hello-world": 32,
	}, e.srv.ExpectedSignals("Octo-Org/Hello-World"))
	require.Equal(t, []string{"octo-org/hello-world"}, githubsandbox.SeedRepos())

	// Two sandboxes seed the same history.
	other := setup(t, githubsandbox.Options{})
	_, b2 := other.get(t, "/repos/octo-org/hello-world/commits?per_page=100")
	require.Equal(t, string(b), string(b2))
}

func TestPaginationLinkHeaders(t *testing.T) {
	e := setup(t, githubsandbox.Options{DefaultPerPage: 10})
	resp, b := e.get(t, "/repos/octo-org/hello-world/pulls?state=all")
	require.Len(t, decodeList(t, b), 10, "DefaultPerPage applies without per_page")
	l := links(t, resp.Header.Get("Link"))
	require.Equal(t, []string{"last", "next"}, sortedKeys(l))
	require.Equal(t, e.ts.URL, l["next"].Scheme+"://"+l["next"].Host, "links point at the sandbox")
	require.Equal(t, "2", l["next"].Query().Get("page"))
	require.Equal(t, "3", l["last"].Query().Get("page"))
	require.Equal(t, "all", l["next"].Query().Get("state"), "links keep the query")

	resp, b = e.get(t, "/repos/octo-org/hello-world/pulls?state=all&page=2")
	require.Len(t, decodeList(t, b), 10)
	l = links(t, resp.Header.Get("Link"))
	require.Equal(t, []string{"first", "last", "next", "prev"}, sortedKeys(l))
	require.Equal(t, "1", l["prev"].Query().Get("page"))

	resp, b = e.get(t, "/repos/octo-org/hello-world/pulls?state=all&page=3")
	require.Len(t, decodeList(t, b), 4)
	require.Equal(t, []string{"first", "prev"}, sortedKeys(links(t, resp.Header.Get("Link"))))

	resp, b = e.get(t, "/repos/octo-org/hello-world/pulls?state=all&per_page=500")
	require.Len(t, decodeList(t, b), 24, "per_page is capped at 100")
	require.Empty(t, resp.Header.Get("Link"))

	_, b = e.get(t, "/repos/octo-org/hello-world/pulls?state=all&page=9")
	require.Empty(t, decodeList(t, b))
}

// TestCursorPagination: with Options.CursorPagesAfter the lists are served
// as GitHub serves large ones: the pages past the first CursorPagesAfter
// are linked by an opaque after= cursor (no last link), before= goes
// back, and a page number past them is answered 422 "Pagination with the
// page parameter is not supported for large datasets, please use cursor
// based pagination (after/before)". Following next links reads every
// item once; a comparison still pages by number.
func TestCursorPagination(t *testing.T) {
	e := setup(t, githubsandbox.Options{DefaultPerPage: 10, CursorPagesAfter: 2})
	var numbers []any
	next := "/repos/octo-org/hello-world/pulls?state=all&sort=updated&direction=desc"
	var rels [][]string
	for next != "" {
		resp, b := e.get(t, next)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
		for _, p := range decodeList(t, b) {
			numbers = append(numbers, p["number"])
		}
		next = ""
		if h := resp.Header.Get("Link"); h != "" {
			l := links(t, h)
			rels = append(rels, sortedKeys(l))
			if u := l["next"]; u != nil {
				require.Equal(t, "updated", u.Query().Get("sort"), "links keep the query")
				if len(rels) < 2 {
					require.Equal(t, "2", u.Query().Get("page"), "the first CursorPagesAfter pages are linked by number")
				} else {
					require.Empty(t, u.Query().Get("page"))
					require.NotEmpty(t, u.Query().Get("after"), "past them, by cursor")
				}
				next = u.RequestURI()
			}
		}
	}
	require.Len(t, numbers, githubsandbox.SeedPulls)
	require.Len(t, slices.Compact(slices.Sorted(slices.Values(intsOf(numbers)))), githubsandbox.SeedPulls, "every pull request once")
	require.Equal(t, [][]string{{"next"}, {"first", "next", "prev"}, {"first", "prev"}}, rels, "no last link by cursor")

	resp, b := e.get(t, "/repos/octo-org/hello-world/pulls?state=all&page=3")
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	var body map[string]any
	require.NoError(t, json.Unmarshal(b, &body))
	require.Equal(t, "Pagination with the page parameter is not supported for large datasets, please use cursor based pagination (after/before)", body["message"])
	resp, _ = e.get(t, "/repos/octo-org/hello-world/commits?per_page=10&page=3")
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, "commits too")
	resp, _ = e.get(t, "/repos/octo-org/hello-world/pulls?state=all&after=bm90LWEtY3Vyc29y")
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, "a cursor this list never gave")

	// before= reads the page before the cursor's.
	resp, _ = e.get(t, "/repos/octo-org/hello-world/pulls?state=all")
	page2 := links(t, resp.Header.Get("Link"))["next"].RequestURI()
	resp, second := e.get(t, page2)
	resp, _ = e.get(t, links(t, resp.Header.Get("Link"))["next"].RequestURI())
	prev := links(t, resp.Header.Get("Link"))["prev"]
	require.NotEmpty(t, prev.Query().Get("before"))
	_, back := e.get(t, prev.RequestURI())
	require.JSONEq(t, string(second), string(back))

	resp, b = e.get(t, "/repos/octo-org/hello-world/compare/"+firstCommit(t, e)+"...main?per_page=10&page=3")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	l := links(t, resp.Header.Get("Link"))
	require.Equal(t, "4", l["next"].Query().Get("page"), "a comparison pages by number")
	require.Equal(t, "2", l["prev"].Query().Get("page"))
}

// intsOf converts JSON numbers to ints.
func intsOf(vs []any) []int {
	out := make([]int, 0, len(vs))
	for _, v := range vs {
		out = append(out, int(v.(float64)))
	}
	return out
}

// firstCommit is the oldest commit of the default branch.
func firstCommit(t *testing.T, e *env) string {
	t.Helper()
	_, b := e.get(t, "/repos/octo-org/hello-world/commits?per_page=100")
	list := decodeList(t, b)
	return list[len(list)-1]["sha"].(string)
}

// TestReleasesListStopsAtTheFirst1000: GitHub's list releases serves the
// first 1000 releases only: a page past them is answered 422 "Only the
// first 1000 results are available." (the Link header of the page before
// still names it as next).
func TestReleasesListStopsAtTheFirst1000(t *testing.T) {
	e := setup(t, githubsandbox.Options{})
	for i := range 1000 { // 13 seeded + 1000
		_, err := e.srv.CreateRelease(githubsandbox.SeedRepo, githubsandbox.ReleaseInput{TagName: fmt.Sprintf("nightly-%04d", i)})
		require.NoError(t, err)
	}
	resp, b := e.get(t, "/repos/octo-org/hello-world/releases?per_page=100&page=10")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, decodeList(t, b), 100)
	require.Equal(t, "11", links(t, resp.Header.Get("Link"))["next"].Query().Get("page"))

	resp, b = e.get(t, "/repos/octo-org/hello-world/releases?per_page=100&page=11")
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, "past the first 1000 releases")
	var body map[string]any
	require.NoError(t, json.Unmarshal(b, &body))
	require.Equal(t, "Only the first 1000 results are available.", body["message"])
	require.Equal(t, "https://docs.github.com/rest/releases/releases#list-releases", body["documentation_url"])

	resp, b = e.get(t, "/repos/octo-org/hello-world/releases?per_page=30&page=34")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, decodeList(t, b), 10, "releases 991 to 1000 only")
}

// TestDateHeaderOnTheSandboxClock: API answers are dated by the clock that
// stamps activity, as GitHub's Date and timestamps share one clock.
func TestDateHeaderOnTheSandboxClock(t *testing.T) {
	at := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	e := setup(t, githubsandbox.Options{Clock: func() time.Time { return at }})
	resp, _ := e.get(t, "/repos/octo-org/hello-world/pulls")
	require.Equal(t, "Wed, 01 May 2024 10:00:00 GMT", resp.Header.Get("Date"))
}

func sortedKeys(m map[string]*url.URL) []string { return slices.Sorted(maps.Keys(m)) }

func TestListParameters(t *testing.T) {
	e := setup(t, githubsandbox.Options{})
	_, b := e.get(t, "/repos/octo-org/hello-world/pulls")
	require.Len(t, decodeList(t, b), githubsandbox.SeedPullsOpen, "state defaults to open")

	_, b = e.get(t, "/repos/octo-org/hello-world/pulls?state=all&sort=updated&direction=desc&per_page=3")
	var prev string
	for _, p := range decodeList(t, b) {
		if prev != "" {
			require.LessOrEqual(t, p["updated_at"].(string), prev)
		}
		prev = p["updated_at"].(string)
	}
	_, b = e.get(t, "/repos/octo-org/hello-world/pulls?state=all&sort=updated&per_page=1")
	require.Equal(t, float64(2), decodeList(t, b)[0]["number"], "sort=updated defaults to ascending, as on GitHub")

	_, b = e.get(t, "/repos/octo-org/hello-world/commits?sha=main&since=2024-03-10T03:00:00Z")
	commits := decodeList(t, b)
	require.Len(t, commits, 2, "since is inclusive on the committer date")
	resp, _ := e.get(t, "/repos/octo-org/hello-world/commits?sha=nope")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	resp, _ = e.get(t, "/repos/octo-org/hello-world/commits?since=yesterday")
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	resp, _ = e.get(t, "/repos/octo-org/nope/pulls")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestETagsAndRateLimitHeaders(t *testing.T) {
	e := setup(t, githubsandbox.Options{})
	resp, _ := e.get(t, "/repos/octo-org/hello-world/releases")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	etag := resp.Header.Get("ETag")
	require.Regexp(t, `^W/"[0-9a-f]{64}"$`, etag)
	remaining, _ := strconv.Atoi(resp.Header.Get("X-RateLimit-Remaining"))
	require.Equal(t, "5000", resp.Header.Get("X-RateLimit-Limit"))
	require.Equal(t, "core", resp.Header.Get("X-RateLimit-Resource"))
	reset, _ := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64)
	require.InDelta(t, time.Now().Add(time.Hour).Unix(), reset, 5)

	resp, b := e.get(t, "/repos/octo-org/hello-world/releases", "If-None-Match", etag)
	require.Equal(t, http.StatusNotModified, resp.StatusCode)
	require.Empty(t, b)
	require.Equal(t, strconv.Itoa(remaining), resp.Header.Get("X-RateLimit-Remaining"), "304 is free")

	resp, _ = e.get(t, "/repos/octo-org/hello-world")
	require.Equal(t, strconv.Itoa(remaining-1), resp.Header.Get("X-RateLimit-Remaining"))
	require.Equal(t, "repo, admin:repo_hook", resp.Header.Get("X-OAuth-Scopes"))

	_, err := e.srv.CreateRelease(githubsandbox.SeedRepo, githubsandbox.ReleaseInput{TagName: "v9"})
	require.NoError(t, err)
	resp, _ = e.get(t, "/repos/octo-org/hello-world/releases", "If-None-Match", etag)
	require.Equal(t, http.StatusOK, resp.StatusCode, "a change invalidates the ETag")
}

// TestSmallBudget: a budget of 3 calls per window answers 403 with
// x-ratelimit-remaining: 0 once spent, counts the refusal, and grants the
// budget again after the reset.
func TestSmallBudget(t *testing.T) {
	e := setup(t, githubsandbox.Options{RateLimit: 3, RateWindow: 2 * time.Second})
	for i := 2; i >= 0; i-- {
		resp, _ := e.get(t, "/repos/octo-org/hello-world")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "3", resp.Header.Get("X-RateLimit-Limit"))
		require.Equal(t, strconv.Itoa(i), resp.Header.Get("X-RateLimit-Remaining"))
	}
	resp, b := e.get(t, "/repos/octo-org/hello-world")
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Contains(t, string(b), "API rate limit exceeded")
	require.Equal(t, "0", resp.Header.Get("X-RateLimit-Remaining"))
	reset, _ := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64)
	require.InDelta(t, time.Now().Add(2*time.Second).Unix(), reset, 2)
	require.Equal(t, 1, e.srv.RateLimitedCalls())

	time.Sleep(time.Until(time.Unix(reset+1, 0)))
	resp, _ = e.get(t, "/repos/octo-org/hello-world")
	require.Equal(t, http.StatusOK, resp.StatusCode, "a new window after the reset")
	require.Equal(t, "2", resp.Header.Get("X-RateLimit-Remaining"))
}

func TestAuthenticationErrors(t *testing.T) {
	e := setup(t, githubsandbox.Options{})
	e.token = "gho_unknown"
	resp, b := e.get(t, "/user")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.JSONEq(t, `{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401"}`, string(b))
	require.Equal(t, "60", resp.Header.Get("X-RateLimit-Limit"), "anonymous budget")

	e.srv.Faults.Add(sandbox.Fault{Status: 503})
	resp, b = e.get(t, "/user")
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Contains(t, string(b), `"documentation_url"`)
	require.NotEmpty(t, resp.Header.Get("X-RateLimit-Remaining"), "faults carry rate-limit headers too")

	resp, _ = e.get(t, "/not/a/route")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestUserAndRepoShapes(t *testing.T) {
	e := setup(t, githubsandbox.Options{})
	_, b := e.get(t, "/user")
	var u map[string]any
	require.NoError(t, json.Unmarshal(b, &u))
	require.Equal(t, "octocat", u["login"])
	require.Equal(t, float64(githubsandbox.SeedUserID), u["id"])
	for _, k := range []string{"node_id", "avatar_url", "html_url", "type", "site_admin", "name", "email", "created_at", "plan", "two_factor_authentication"} {
		require.Contains(t, u, k)
	}
	_, b = e.get(t, "/repos/Octo-Org/Hello-World")
	var r map[string]any
	require.NoError(t, json.Unmarshal(b, &r))
	require.Equal(t, "octo-org/hello-world", r["full_name"])
	require.Equal(t, "main", r["default_branch"])
	require.Equal(t, float64(githubsandbox.SeedRepoID), r["id"])
	for _, k := range []string{"owner", "permissions", "organization", "visibility", "pushed_at", "hooks_url", "topics", "license"} {
		require.Contains(t, r, k)
	}
}

func TestEnv(t *testing.T) {
	srv := githubsandbox.New(githubsandbox.Options{})
	require.Equal(t, map[string]string{
		"POBLYSH_GITHUB_CLIENT_ID":      "sandbox-client-id",
		"POBLYSH_GITHUB_CLIENT_SECRET":  "sandbox-client-secret",
		"POBLYSH_GITHUB_AUTH_URL":       "http://127.0.0.1:8080/login/oauth/authorize",
		"POBLYSH_GITHUB_TOKEN_URL":      "http://127.0.0.1:8080/login/oauth/access_token",
		"POBLYSH_GITHUB_API_URL":        "http://127.0.0.1:8080/",
		"POBLYSH_GITHUB_REVOKE_URL":     "http://127.0.0.1:8080/applications/{client_id}/token",
		"POBLYSH_GITHUB_WEBHOOK_SECRET": "sandbox-webhook-secret",
	}, srv.Env("http://127.0.0.1:8080/"))
	require.Nil(t, srv.ExpectedSignals(githubsandbox.SeedRepo), "no seed, no repository")
}
