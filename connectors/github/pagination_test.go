package github

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
)

// TestPassesFollowCursorLinks: GitHub pages a list by page number, by an
// opaque after= cursor or by since, and names the next page in the Link
// header ("In all cases, you can use the URLs in the link header to fetch
// additional pages", Using pagination in the REST API); large lists link
// their later pages by cursor and refuse page numbers there (422
// "Pagination with the page parameter is not supported for large
// datasets"). The connector read go-github's Response.NextPage, 0 for an
// after= link: a pass ended after its first page and the rest of the list
// was never read (a backfill of 40 pull request Signals stored 17). Every
// stream now requests what the last page linked, the page size fixed for
// the pass: a backfill over cursor pages reads everything, its mid-pass
// cursor holds the link, and an incremental pass after it reads nothing.
func TestPassesFollowCursorLinks(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{CursorPagesAfter: 1}, map[string]string{"POBLYSH_GITHUB_PAGE_SIZE": "10"})
	want := h.srv.ExpectedSignals(githubsandbox.SeedRepo)
	for _, stream := range []string{seedPullsStream, seedRelStream, seedCommitsStream} {
		p, err := h.fetch(t, stream, nil)
		require.NoError(t, err, stream)
		require.False(t, p.Done, "%s: more than one page of 10", stream)
		var c cursor
		require.NoError(t, json.Unmarshal(p.Next, &c))
		require.Contains(t, c.Link, "after=", "%s: the cursor holds the linked cursor", stream)
		require.Equal(t, 2, c.Page)
		require.Equal(t, 10, c.PerPage)

		sigs, cur, pages := h.drain(t, stream, nil)
		require.Equal(t, want[stream], len(sigs), "%s: Signals of a backfill over cursor pages (%d pages read)", stream, pages)
		require.Len(t, slices.Compact(slices.Sorted(slices.Values(keysOf(sigs)))), want[stream], "%s: each once", stream)
		again, _, _ := h.drain(t, stream, cur)
		require.Empty(t, again, "%s: an incremental pass after the backfill", stream)
	}
}

// TestCursorOfAnEarlierVersionStillReads: a cursor stored mid-pass before
// links were kept names its next page by number only ({"page":2}). Where
// GitHub still serves the number the pass reads on from there; where it
// serves the list by cursor only (422 "Pagination with the page parameter
// is not supported for large datasets"), the pass reads the list again
// from its first page, following its links: the 422 was a configuration
// error (ErrInvalidConfig) and the stream stopped for good.
func TestCursorOfAnEarlierVersionStillReads(t *testing.T) {
	old := json.RawMessage(`{"v":1,"page":2,"per_page":10}`)
	t.Run("page numbers served", func(t *testing.T) {
		h := newHarness(t, githubsandbox.Options{}, map[string]string{"POBLYSH_GITHUB_PAGE_SIZE": "10"})
		_, _, pages := h.drain(t, seedPullsStream, old)
		require.Equal(t, 2, pages, "pages 2 and 3 of 24 pull requests, 10 a page")
	})
	t.Run("cursor only", func(t *testing.T) {
		h := newHarness(t, githubsandbox.Options{CursorPagesAfter: 1}, map[string]string{"POBLYSH_GITHUB_PAGE_SIZE": "10"})
		sigs, _, _ := h.drain(t, seedPullsStream, old)
		require.Len(t, sigs, githubsandbox.SeedPullSignals, "the list read again from its first page")
	})
}

// TestLinkRefusedByItsOwnListIsTransient: a page number GitHub refuses
// though its own link named it is not the connection's configuration:
// transient (retried), never ErrInvalidConfig.
func TestLinkRefusedByItsOwnListIsTransient(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{CursorPagesAfter: 1}, map[string]string{"POBLYSH_GITHUB_PAGE_SIZE": "10"})
	_, err := h.fetch(t, seedPullsStream, json.RawMessage(`{"v":1,"page":2,"link":"page=2","per_page":10}`))
	require.Error(t, err)
	require.Equal(t, connectors.ErrTransient, connectors.Kind(err), "%v", err)
}

func TestNextLink(t *testing.T) {
	for _, tc := range []struct{ header, want string }{
		{``, ``},
		{`<https://api.github.com/repositories/1296269/pulls?state=all&per_page=100&page=2>; rel="next", ` +
			`<https://api.github.com/repositories/1296269/pulls?state=all&per_page=100&page=5>; rel="last"`, `page=2&state=all`},
		{`<https://api.github.com/repositories/1/issues?per_page=100&after=Y3Vyc29yOnYyOpK5MjAyNA%3D%3D>; rel="next"`,
			`after=Y3Vyc29yOnYyOpK5MjAyNA%3D%3D`},
		{`<https://api.github.com/x?page=1>; rel="prev", <https://api.github.com/x?page=3>; rel="first"`, ``},
		{`<https://api.github.com/x?since=1234>; rel="next"`, `since=1234`},
		{`<https://api.github.com/x?page=3>; rel="next last"`, `page=3`},
		{`<https://api.github.com/x?per_page=100>; rel="next"`, ``},
	} {
		h := http.Header{}
		if tc.header != "" {
			h.Set("Link", tc.header)
		}
		require.Equal(t, tc.want, nextLink(h), tc.header)
	}
	require.Equal(t, 3, linkedPage("page=3", 2))
	require.Equal(t, 3, linkedPage("after=abc", 2))
	require.Equal(t, 2, linkedPage("after=abc", 0))
}

// TestWatchFindsItsHookPastACursorLink: Watch looks for the connection's
// own hook among the repository's hooks before creating one; findHook
// read go-github's NextPage, so a hook past an after= link was never
// found, and Watch created a second one (GitHub refuses it: "Hook already
// exists on this repository", and the repository was polled).
func TestWatchFindsItsHookPastACursorLink(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{CursorPagesAfter: 1}, nil)
	events := []string{"issues", "issue_comment", "label", "milestone", "fork", "star", "watch"}
	for i := range 100 { // a full page of 100 others, at most 20 for one event
		_, _, err := h.srv.CreateHook(githubsandbox.SeedRepo, githubsandbox.HookInput{
			URL: fmt.Sprintf("https://ci.example/hook/%d", i), Events: []string{events[i%len(events)]},
		})
		require.NoError(t, err)
	}
	first, err := h.watch(t, testCallbackURL)
	require.NoError(t, err)
	require.Len(t, first, 1)
	again, err := h.watch(t, testCallbackURL)
	require.NoError(t, err, "the hook of this connection is found on the second page")
	require.Len(t, again, 1)
	require.Equal(t, first[0].ID, again[0].ID)
	require.Equal(t, 101, h.srv.HookCount(githubsandbox.SeedRepo))
}

// TestAppInstalledOnReadsPastACursorLink: when a GitHub App user token may
// not manage a repository's hooks, the error says whether the app is not
// installed there, from the installation's repositories; a repository past
// an after= link was taken for one the app is not installed on.
func TestAppInstalledOnReadsPastACursorLink(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{CursorPagesAfter: 1, AccessTTL: 8 * 3600e9}, nil)
	for i := range 101 {
		_, err := h.srv.CreateRepo(fmt.Sprintf("other-org/repo-%03d", i), "", false)
		require.NoError(t, err)
	}
	_, err := h.watchRepos(t, "other-org/repo-100") // public, installed, not administered by the user
	require.ErrorIs(t, err, connectors.ErrForbidden)
	require.Contains(t, err.Error(), "Webhooks: read & write")
	require.False(t, strings.Contains(err.Error(), "app not installed"), "%v", err)
}
