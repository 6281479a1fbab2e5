package githubsandbox_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
)

// TestBranchRefIsConditional: GET …/git/ref/heads/<branch> names the
// branch's head; the same head answers If-None-Match 304, a new one 200;
// an unknown branch 404, as GitHub's singular ref route (no prefix match).
func TestBranchRefIsConditional(t *testing.T) {
	e := setup(t, githubsandbox.Options{})
	resp, body := e.get(t, "/repos/octo-org/hello-world/git/ref/heads/main")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var ref struct {
		Ref    string `json:"ref"`
		Object struct{ SHA, Type string }
	}
	require.NoError(t, json.Unmarshal(body, &ref))
	require.Equal(t, "refs/heads/main", ref.Ref)
	require.Equal(t, "commit", ref.Object.Type)
	require.Len(t, ref.Object.SHA, 40)
	etag := resp.Header.Get("ETag")
	resp, _ = e.get(t, "/repos/octo-org/hello-world/git/ref/heads/main", "If-None-Match", etag)
	require.Equal(t, http.StatusNotModified, resp.StatusCode)

	push, err := e.srv.Push(githubsandbox.SeedRepo, githubsandbox.PushInput{Commits: 1})
	require.NoError(t, err)
	resp, body = e.get(t, "/repos/octo-org/hello-world/git/ref/heads/main", "If-None-Match", etag)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, json.Unmarshal(body, &ref))
	require.Equal(t, push.Object["after"], ref.Object.SHA)

	_, err = e.srv.Push(githubsandbox.SeedRepo, githubsandbox.PushInput{Branch: "feature/x", Commits: 1})
	require.NoError(t, err)
	resp, _ = e.get(t, "/repos/octo-org/hello-world/git/ref/heads/feature/x")
	require.Equal(t, http.StatusOK, resp.StatusCode, "a branch name with a slash")
	resp, _ = e.get(t, "/repos/octo-org/hello-world/git/ref/heads/feature")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

// TestCompareCommits: GET …/compare/{base}...{head} lists the commits
// reachable from head and not from base, oldest first, with the status of
// the two; paged with per_page and page; a commit a force push left behind
// still compares (diverged) until ForgetDropped, then 404.
func TestCompareCommits(t *testing.T) {
	e := setup(t, githubsandbox.Options{})
	type comparison struct {
		Status       string           `json:"status"`
		AheadBy      int              `json:"ahead_by"`
		BehindBy     int              `json:"behind_by"`
		TotalCommits int              `json:"total_commits"`
		Commits      []map[string]any `json:"commits"`
		Files        []map[string]any `json:"files"`
		MergeBase    map[string]any   `json:"merge_base_commit"`
	}
	compare := func(basehead string, query string) (int, comparison, http.Header) {
		t.Helper()
		resp, body := e.get(t, "/repos/octo-org/hello-world/compare/"+basehead+query)
		var c comparison
		if resp.StatusCode == http.StatusOK {
			require.NoError(t, json.Unmarshal(body, &c), string(body))
		}
		return resp.StatusCode, c, resp.Header
	}
	head := func(a *githubsandbox.Activity) string { return a.Object["after"].(string) }
	shas := func(cs []map[string]any) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c["sha"].(string))
		}
		return out
	}

	first, err := e.srv.Push(githubsandbox.SeedRepo, githubsandbox.PushInput{Commits: 1})
	require.NoError(t, err)
	base := head(first)
	status, c, _ := compare(base+"..."+base, "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "identical", c.Status)
	require.Empty(t, c.Commits)

	more, err := e.srv.Push(githubsandbox.SeedRepo, githubsandbox.PushInput{Commits: 5})
	require.NoError(t, err)
	var pushed []string
	for _, pc := range more.Object["commits"].([]map[string]any) {
		pushed = append(pushed, pc["id"].(string))
	}
	status, c, _ = compare(base+"...main", "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "ahead", c.Status)
	require.Equal(t, 5, c.AheadBy)
	require.Equal(t, 5, c.TotalCommits)
	require.Equal(t, pushed, shas(c.Commits), "oldest first")
	require.Equal(t, base, c.MergeBase["sha"])

	status, c, hdr := compare(base+"..."+head(more), "?per_page=2&page=1")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, pushed[:2], shas(c.Commits))
	require.NotEmpty(t, c.Files, "files on the first page")
	require.Contains(t, hdr.Get("Link"), `rel="next"`)
	_, c, hdr = compare(base+"..."+head(more), "?per_page=2&page=3")
	require.Equal(t, pushed[4:], shas(c.Commits))
	require.Nil(t, c.Files, "files on the first page only")
	require.NotContains(t, hdr.Get("Link"), `rel="next"`)

	status, c, _ = compare(head(more)+"..."+base, "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "behind", c.Status)
	require.Equal(t, 5, c.BehindBy)
	require.Empty(t, c.Commits)

	// A force push rewinds the newest commit and adds one: the rewound
	// commit still compares, diverged, until GitHub collects it.
	forced, err := e.srv.Push(githubsandbox.SeedRepo, githubsandbox.PushInput{Commits: 1, Forced: true})
	require.NoError(t, err)
	status, c, _ = compare(head(more)+"...main", "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "diverged", c.Status)
	require.Equal(t, []string{head(forced)}, shas(c.Commits))
	require.Equal(t, 1, c.BehindBy)
	e.srv.ForgetDropped(githubsandbox.SeedRepo)
	status, _, _ = compare(head(more)+"...main", "")
	require.Equal(t, http.StatusNotFound, status)
	status, _, _ = compare("main", "")
	require.Equal(t, http.StatusNotFound, status, "no base...head")
}
