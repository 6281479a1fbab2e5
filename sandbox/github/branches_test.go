package githubsandbox_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
)

// TestDefaultBranchRenameAndSwitch: POST …/branches/{branch}/rename renames
// a branch (201, the branch), the default branch following it, and the old
// name is gone from the commits list (404 "No commit found for SHA");
// PATCH /repos/{o}/{r} with default_branch switches to an existing branch
// (200, the repository) and refuses an unknown one (422).
func TestDefaultBranchRenameAndSwitch(t *testing.T) {
	e := setup(t, githubsandbox.Options{})
	defaultBranch := func() string {
		t.Helper()
		resp, body := e.get(t, "/repositories/1296269")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var repo map[string]any
		require.NoError(t, json.Unmarshal(body, &repo))
		return repo["default_branch"].(string)
	}
	_, open := e.post(t, http.MethodPost, "/_sandbox/github/repos/octo-org/hello-world/pulls", `{"title":"Targets main"}`, false)
	number := int(open["pull_request"].(map[string]any)["number"].(float64))

	status, out := e.post(t, http.MethodPost, "/repos/octo-org/hello-world/branches/main/rename", `{"new_name":"trunk"}`, true)
	require.Equal(t, http.StatusCreated, status, out)
	require.Equal(t, "trunk", out["name"])
	require.NotEmpty(t, out["commit"].(map[string]any)["sha"])
	require.Equal(t, "trunk", defaultBranch())
	resp, body := e.get(t, "/repos/octo-org/hello-world/commits?sha=main")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Contains(t, string(body), "No commit found for SHA: main")
	resp, body = e.get(t, "/repos/octo-org/hello-world/commits?sha=trunk&per_page=100")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, decodeList(t, body), githubsandbox.SeedCommits)
	resp, body = e.get(t, "/repos/octo-org/hello-world/pulls/"+jsonNum(int64(number)))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var pr map[string]any
	require.NoError(t, json.Unmarshal(body, &pr))
	require.Equal(t, "trunk", pr["base"].(map[string]any)["ref"], "an open pull request's base follows the rename")

	status, _ = e.post(t, http.MethodPost, "/repos/octo-org/hello-world/branches/main/rename", `{"new_name":"other"}`, true)
	require.Equal(t, http.StatusNotFound, status, "the old name is gone")
	_, err := e.srv.Push(githubsandbox.SeedRepo, githubsandbox.PushInput{Branch: "develop", Commits: 1})
	require.NoError(t, err)
	status, _ = e.post(t, http.MethodPost, "/repos/octo-org/hello-world/branches/trunk/rename", `{"new_name":"develop"}`, true)
	require.Equal(t, http.StatusUnprocessableEntity, status, "the new name is taken")

	status, out = e.post(t, http.MethodPatch, "/repos/octo-org/hello-world", `{"default_branch":"develop"}`, true)
	require.Equal(t, http.StatusOK, status, out)
	require.Equal(t, "develop", out["default_branch"])
	require.Equal(t, "develop", defaultBranch())
	status, _ = e.post(t, http.MethodPatch, "/repos/octo-org/hello-world", `{"default_branch":"nope"}`, true)
	require.Equal(t, http.StatusUnprocessableEntity, status)
	require.Equal(t, "develop", defaultBranch())

	_, err = e.srv.RenameBranch(githubsandbox.SeedRepo, "develop", "main")
	require.NoError(t, err)
	require.Equal(t, "main", defaultBranch())
	_, err = e.srv.SetDefaultBranch(githubsandbox.SeedRepo, "trunk")
	require.NoError(t, err)
	require.Equal(t, "trunk", defaultBranch())
}

// TestPushOfAHeadPushedBeforeIsNotDistinct: a fast-forward to a commit
// pushed before (here the head main had before a rollback) carries that
// commit, and the head, with distinct false, as GitHub's payload says
// ("Whether this commit is distinct from any that have been pushed before").
func TestPushOfAHeadPushedBeforeIsNotDistinct(t *testing.T) {
	e := setup(t, githubsandbox.Options{})
	first, err := e.srv.Push(githubsandbox.SeedRepo, githubsandbox.PushInput{Commits: 1})
	require.NoError(t, err)
	head := first.Object["head_commit"].(map[string]any)
	require.Equal(t, true, head["distinct"])
	_, err = e.srv.Push(githubsandbox.SeedRepo, githubsandbox.PushInput{Branch: "keep", Commits: 0})
	require.NoError(t, err)
	_, err = e.srv.Push(githubsandbox.SeedRepo, githubsandbox.PushInput{Forced: true, Commits: 0})
	require.NoError(t, err)
	again, err := e.srv.Push(githubsandbox.SeedRepo, githubsandbox.PushInput{From: "keep"})
	require.NoError(t, err)
	require.Equal(t, first.Object["after"], again.Object["after"])
	require.Equal(t, false, again.Object["head_commit"].(map[string]any)["distinct"])
	require.Equal(t, false, again.Object["forced"])
}
