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
// commits pass is between pages. The pass reads on from the head it began
// at (by sha, which the rename does not change): every commit once, none
// again. The next pass reads the repository again by its id, which names
// the new branch, and its ref (another ref, so no 304): the same head,
// nothing to read; a commit pushed after the rename names the new branch.
// Until 2026-12-07 the next page asked for the branch by its old name, and
// GitHub's 404 "No commit found for SHA" was the repository's: access lost,
// its routes dropped, and the cursor never moved, so every later sync lost
// it again.
func TestDefaultBranchRenamedMidPass(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{}, map[string]string{"POBLYSH_GITHUB_PAGE_SIZE": "10"})
	repo := githubsandbox.SeedRepo
	_, resting, _ := h.drain(t, seedCommitsStream, nil)
	push, err := h.srv.Push(repo, githubsandbox.PushInput{Commits: 12})
	require.NoError(t, err)
	pushed := pushedSHAs(push)

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
	require.ElementsMatch(t, pushed, subjects(append(first.Signals, rest...)), "the pass's head's commits, once each")

	again, cur, _ := h.drain(t, seedCommitsStream, cur)
	require.Empty(t, again, "the next pass finds the same head under the new name")
	c = cursor{}
	require.NoError(t, json.Unmarshal(cur, &c))
	require.Equal(t, "trunk", c.Branch)
	require.Zero(t, c.Page)

	after, err := h.srv.Push(repo, githubsandbox.PushInput{Commits: 1})
	require.NoError(t, err)
	sigs, _, _ := h.drain(t, seedCommitsStream, cur)
	require.Equal(t, pushedSHAs(after), subjects(sigs))
	require.Equal(t, "trunk", sigs[0].Payload.Attributes["branch"])
}

// TestDefaultBranchRenamedBeforeItsRefIsRead: the default branch is
// renamed between a pass's read of the repository and of the branch's
// ref (here: the repository's read answers 304 as it was), which answers
// 404. The repository, read again by its id, names the new branch, whose
// ref the pass reads.
func TestDefaultBranchRenamedBeforeItsRefIsRead(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{}, nil)
	repo := githubsandbox.SeedRepo
	_, resting, _ := h.drain(t, seedCommitsStream, nil)
	_, err := h.srv.RenameBranch(repo, "main", "trunk")
	require.NoError(t, err)
	push, err := h.srv.Push(repo, githubsandbox.PushInput{Commits: 1})
	require.NoError(t, err)
	// The pass's first call, the repository's read by its id (served as
	// /repos/<its name>), answers 304: the cursor keeps main.
	h.srv.Faults.Add(sandbox.Fault{Status: 304, EmptyBody: true, PathPrefix: "/repos/octo-org/hello-world"})
	sigs, cur, _ := h.drain(t, seedCommitsStream, resting)
	require.Equal(t, pushedSHAs(push), subjects(sigs))
	require.Equal(t, "trunk", sigs[0].Payload.Attributes["branch"])
	c := restingCursor(t, cur)
	require.Equal(t, "trunk", c.Branch)
	require.Equal(t, push.Object["after"], c.Head)
}

// TestCommitsNotFoundIsTheRepositorysOnlyWhenItIs: a 404 of the default
// branch's ref is access lost only when the repository itself answers 404
// too; a repository that still reads with the same default branch makes it
// a transient error (retried), not a lost repository.
func TestCommitsNotFoundIsTheRepositorysOnlyWhenItIs(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{}, nil)
	_, resting, _ := h.drain(t, seedCommitsStream, nil)
	h.srv.Faults.Add(sandbox.Fault{Status: 404, PathPrefix: "/repos/octo-org/hello-world/git/ref/heads/main",
		Body: `{"message":"Not Found","documentation_url":"https://docs.github.com/rest/git/refs#get-a-reference","status":"404"}`})
	_, err := h.fetch(t, seedCommitsStream, resting)
	require.ErrorIs(t, err, connectors.ErrTransient)
	require.NotErrorIs(t, err, connectors.ErrNotFound)

	h.srv.Faults.Add(sandbox.Fault{Status: 404, PathPrefix: "/repos/octo-org/hello-world", Count: 2})
	_, err = h.fetch(t, seedCommitsStream, resting)
	require.ErrorIs(t, err, connectors.ErrNotFound)
}

// TestPinnedHeadGoneBeginsThePassAgain: a listing pass pinned to a head
// that GitHub no longer serves mid-pass (404: force-pushed away and
// collected) begins again at the branch's head, when the repository still
// reads; a head gone again is a transient error.
func TestPinnedHeadGoneBeginsThePassAgain(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{}, map[string]string{"POBLYSH_GITHUB_PAGE_SIZE": "10"})
	first, err := h.fetch(t, seedCommitsStream, nil)
	require.NoError(t, err)
	require.False(t, first.Done)
	notFound := `{"message":"No commit found for SHA: x","documentation_url":"https://docs.github.com/rest/commits/commits#list-commits","status":"404"}`
	h.srv.Faults.Add(sandbox.Fault{Status: 404, PathPrefix: "/repos/octo-org/hello-world/commits", Body: notFound})
	rest, cur, _ := h.drain(t, seedCommitsStream, first.Next)
	require.Len(t, rest, githubsandbox.SeedCommits, "the backfill read again from its first page")
	require.NotEmpty(t, restingCursor(t, cur).Head)

	h.srv.Faults.Add(sandbox.Fault{Status: 404, PathPrefix: "/repos/octo-org/hello-world/commits", Body: notFound, Count: 2})
	_, err = h.fetch(t, seedCommitsStream, first.Next)
	require.ErrorIs(t, err, connectors.ErrTransient)
	require.NotErrorIs(t, err, connectors.ErrNotFound)
}
