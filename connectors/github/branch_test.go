package github

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/sandbox"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
)

// subjects lists the Signals' subject ids (commit shas for code.pushed).
func subjects(sigs []connectors.Signal) []string {
	var out []string
	for _, s := range sigs {
		out = append(out, s.Payload.Subject.ID)
	}
	return out
}

// TestDefaultBranchRenamedMidPass: the default branch is renamed while a
// commits pass is between pages. The next page asks for the branch the
// cursor names, which is gone (404 "No commit found for SHA"): the
// repository, read again by its id, names the new branch, and the pass
// starts again on it, still incremental (since= the resting mark). Until
// 2026-12-07 the 404 was the repository's: access lost, its routes dropped,
// and the cursor never moved, so every later sync lost it again.
func TestDefaultBranchRenamedMidPass(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{}, map[string]string{"POBLYSH_GITHUB_PAGE_SIZE": "10"})
	repo := githubsandbox.SeedRepo
	_, resting, _ := h.drain(t, seedCommitsStream, nil)
	push, err := h.srv.Push(repo, githubsandbox.PushInput{Commits: 12})
	require.NoError(t, err)
	var pushed []string
	for _, c := range push.Object["commits"].([]map[string]any) {
		pushed = append(pushed, c["id"].(string))
	}

	first, err := h.fetch(t, seedCommitsStream, resting)
	require.NoError(t, err)
	require.False(t, first.Done)
	var c cursor
	require.NoError(t, json.Unmarshal(first.Next, &c))
	require.Equal(t, 2, c.Page)
	require.Equal(t, "main", c.Branch)

	_, err = h.srv.RenameBranch(repo, "main", "trunk")
	require.NoError(t, err)
	rest, cur, _ := h.drain(t, seedCommitsStream, first.Next)
	c = cursor{}
	require.NoError(t, json.Unmarshal(cur, &c))
	require.Equal(t, "trunk", c.Branch)
	require.Zero(t, c.Page)
	require.ElementsMatch(t, pushed, subjects(rest),
		"the pass read the new branch from its first page, since= the resting mark: the pushed commits, not the history")
	for _, s := range rest {
		require.Equal(t, "trunk", s.Payload.Attributes["branch"])
	}
	again, _, _ := h.drain(t, seedCommitsStream, cur)
	require.Empty(t, again, "the next pass starts at the new mark")
}

// TestCommitsNotFoundIsTheRepositorysOnlyWhenItIs: a 404 of the commits
// list is access lost only when the repository itself answers 404 too; a
// repository that still reads with the same default branch makes it a
// transient error (retried), not a lost repository.
func TestCommitsNotFoundIsTheRepositorysOnlyWhenItIs(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{}, nil)
	_, resting, _ := h.drain(t, seedCommitsStream, nil)
	h.srv.Faults.Add(sandbox.Fault{Status: 404, PathPrefix: "/repos/octo-org/hello-world/commits",
		Body: `{"message":"No commit found for SHA: main","documentation_url":"https://docs.github.com/rest/commits/commits#list-commits","status":"404"}`})
	_, err := h.fetch(t, seedCommitsStream, resting)
	require.ErrorIs(t, err, connectors.ErrTransient)
	require.NotErrorIs(t, err, connectors.ErrNotFound)

	h.srv.Faults.Add(sandbox.Fault{Status: 404, PathPrefix: "/repos/octo-org/hello-world", Count: 2})
	_, err = h.fetch(t, seedCommitsStream, resting)
	require.ErrorIs(t, err, connectors.ErrNotFound)
}
