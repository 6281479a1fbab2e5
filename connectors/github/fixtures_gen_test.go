package github

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
)

var update = flag.Bool("update", false, "regenerate testdata/sandbox.*.json from the GitHub sandbox")

// TestGenerateFixtures writes the sandbox-made fixtures (full GitHub shapes,
// pinned clock, so regeneration is byte-stable):
//
//	go test ./connectors/github -run TestGenerateFixtures -update
//
// testdata/github.*.json are GitHub's own examples (octokit/webhooks
// payload-examples) and are not generated.
func TestGenerateFixtures(t *testing.T) {
	if !*update {
		t.Skip("run with -update to regenerate testdata/sandbox.*.json")
	}
	var mu sync.Mutex
	now := time.Date(2024, 6, 3, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Minute)
		return now
	}
	srv := githubsandbox.New(githubsandbox.Options{Seed: true, Clock: clock})
	repo := githubsandbox.SeedRepo
	must := func(a *githubsandbox.Activity, err error) *githubsandbox.Activity {
		require.NoError(t, err)
		return a
	}
	write := func(name string, v any) {
		b, err := json.MarshalIndent(v, "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join("testdata", "sandbox."+name+".json"), append(b, '\n'), 0o644))
	}
	payload := func(a *githubsandbox.Activity, i int) map[string]any { return a.Events[i].Payload }
	num := func(a *githubsandbox.Activity) int { return a.Object["number"].(int) }

	write("push.commits", payload(must(srv.Push(repo, githubsandbox.PushInput{Commits: 3, Message: "Speed up the parser", User: "monalisa"})), 0))
	write("push.zero-commits", payload(must(srv.Push(repo, githubsandbox.PushInput{Branch: "release/1.x", Commits: 0})), 0))
	write("push.forced", payload(must(srv.Push(repo, githubsandbox.PushInput{Commits: 1, Forced: true, Message: "Rewrite history"})), 0))
	write("push.tag", payload(must(srv.PushTag(repo, "v1.0.0", "", "")), 0))
	write("push.branch-deleted", payload(must(srv.DeleteBranch(repo, "release/1.x", "")), 0))
	opened := must(srv.OpenPull(repo, githubsandbox.PullInput{Title: "Add a feature", Body: "Adds the feature.", User: "hubot", Labels: []string{"enhancement"}}))
	write("pull_request.opened", payload(opened, 0))
	write("pull_request.closed", payload(must(srv.ClosePull(repo, num(opened), "monalisa")), 0))
	write("pull_request.reopened", payload(must(srv.ReopenPull(repo, num(opened), "monalisa")), 0))
	merged := must(srv.MergePull(repo, num(opened), ""))
	write("pull_request.merged", payload(merged, 0))
	write("push.merge", payload(merged, 1))
	rel := must(srv.CreateRelease(repo, githubsandbox.ReleaseInput{TagName: "v1.0.0", Name: "Version 1.0", Body: "First stable release."}))
	write("release.published", payload(rel, 1))
	write("release.prerelease", payload(must(srv.CreateRelease(repo, githubsandbox.ReleaseInput{TagName: "v1.1.0-rc.1", Prerelease: true})), 1))
	write("release.draft-created", payload(must(srv.CreateRelease(repo, githubsandbox.ReleaseInput{TagName: "v2.0.0", Draft: true})), 0))
	_, ping, err := srv.CreateHook(repo, githubsandbox.HookInput{URL: testCallbackURL, Secret: testWebhookSecret, Events: hookEvents})
	require.NoError(t, err)
	write("ping", ping.Payload)

	// REST list pages, read over HTTP as the connector reads them.
	ts := httptest.NewServer(srv)
	defer ts.Close()
	tok, err := srv.IssueToken("")
	require.NoError(t, err)
	get := func(path string) any {
		req, err := http.NewRequest(http.MethodGet, ts.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
		var v any
		require.NoError(t, json.NewDecoder(bytes.NewReader(b)).Decode(&v))
		return v
	}
	write("rest.pulls", get("/repos/octo-org/hello-world/pulls?state=all&sort=created&direction=asc&per_page=5"))
	write("rest.releases", get("/repos/octo-org/hello-world/releases?per_page=5"))
	write("rest.commits", get("/repos/octo-org/hello-world/commits?sha=main&per_page=3&page=2"))
	write("rest.repo", get("/repos/octo-org/hello-world"))
	write("rest.user", get("/user"))
}
