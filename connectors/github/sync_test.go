package github

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/sandbox"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
)

func TestIncrementalPicksUpNewActivityOnce(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{}, map[string]string{"POBLYSH_GITHUB_PAGE_SIZE": "10"})
	resting := map[string]json.RawMessage{}
	for _, s := range []string{seedPullsStream, seedRelStream, seedCommitsStream} {
		sigs, cur, _ := h.drain(t, s, nil)
		require.NotEmpty(t, sigs)
		resting[s] = cur
	}
	repo := githubsandbox.SeedRepo
	a, err := h.srv.OpenPull(repo, githubsandbox.PullInput{Title: "Stays open"})
	require.NoError(t, err)
	b, err := h.srv.OpenPull(repo, githubsandbox.PullInput{Title: "Gets merged"})
	require.NoError(t, err)
	merge, err := h.srv.MergePull(repo, b.Object["number"].(int), "")
	require.NoError(t, err)
	_, err = h.srv.ClosePull(repo, 2, "hubot") // a seeded open pull request
	require.NoError(t, err)
	push, err := h.srv.Push(repo, githubsandbox.PushInput{Commits: 2})
	require.NoError(t, err)
	_, err = h.srv.CreateRelease(repo, githubsandbox.ReleaseInput{TagName: "v3.0.0"})
	require.NoError(t, err)
	_, err = h.srv.PublishRelease(repo, 150000012, "") // a seeded draft, created long before the mark
	require.NoError(t, err)

	pulls, cur, _ := h.drain(t, seedPullsStream, resting[seedPullsStream])
	id := func(a *githubsandbox.Activity) string { return strconv.FormatInt(a.Object["id"].(int64), 10) }
	closedAt := h.srv.ExpectedSignals(repo) // touch the sandbox: it is still consistent
	require.Equal(t, 40+1+2+1, closedAt[seedPullsStream])
	require.ElementsMatch(t, []string{
		"pr:" + id(a) + ":opened", "pr:" + id(b) + ":opened", "pr:" + id(b) + ":merged",
		"pr:1347000002:opened", "pr:1347000002:closed:" + strconv.FormatInt(closeTime(t, pulls), 10),
	}, keysOf(pulls))
	again, _, _ := h.drain(t, seedPullsStream, cur)
	require.Empty(t, again, "a second incremental yields nothing")

	releases, cur, _ := h.drain(t, seedRelStream, resting[seedRelStream])
	require.Len(t, releases, 2)
	require.Contains(t, keysOf(releases), "release:150000012:published")
	again, _, _ = h.drain(t, seedRelStream, cur)
	require.Empty(t, again)

	commits, cur, _ := h.drain(t, seedCommitsStream, resting[seedCommitsStream])
	require.Len(t, commits, 4, "pull request commit, merge commit, two pushed commits")
	again, _, _ = h.drain(t, seedCommitsStream, cur)
	require.Empty(t, again)

	// Webhook and backfill agree: the push Signal's keys cover the commits
	// the backfill reads, and the merge webhook's key is the backfill's.
	recv := h.connector()
	d, err := recv.ParseWebhook(webhookRequest(h.srv.AppDelivery(push.Events[0])))
	require.NoError(t, err)
	pushKeys := append([]string{d.Signals[0].DedupeKey}, d.Signals[0].AliasKeys...)
	for _, k := range keysOf(commits) {
		if !slices.Contains(pushKeys, k) {
			d, err := recv.ParseWebhook(webhookRequest(h.srv.AppDelivery(merge.Events[1])))
			require.NoError(t, err)
			require.Contains(t, append([]string{d.Signals[0].DedupeKey}, d.Signals[0].AliasKeys...), k)
		}
	}
	d, err = recv.ParseWebhook(webhookRequest(h.srv.AppDelivery(merge.Events[0])))
	require.NoError(t, err)
	require.Contains(t, keysOf(pulls), d.Signals[0].DedupeKey)
}

// closeTime finds the closed Signal's time.
func closeTime(t *testing.T, sigs []connectors.Signal) int64 {
	for _, s := range sigs {
		if s.Kind == KindPullRequestClosed {
			return s.OccurredAt.Unix()
		}
	}
	t.Fatal("no closed Signal")
	return 0
}

// rateRemaining reads the sandbox's remaining primary rate limit.
func (h *harness) rateRemaining(t *testing.T) int {
	req, err := http.NewRequest(http.MethodGet, h.ts.URL+"/rate_limit", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+h.token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	n, err := strconv.Atoi(resp.Header.Get("X-RateLimit-Remaining"))
	require.NoError(t, err)
	return n
}

func TestIncrementalUsesETags(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{}, nil)
	for _, s := range []string{seedPullsStream, seedRelStream, seedCommitsStream} {
		_, cur, _ := h.drain(t, s, nil)
		var c cursor
		require.NoError(t, json.Unmarshal(cur, &c))
		require.NotNil(t, c.Since, s)
		require.NotEmpty(t, c.ETag, s)
		require.Zero(t, c.Page, s)
		// Commits: the validator of the default branch's ref, sent from
		// the first pass after the backfill on (see TestIdleCommitsPassIsFree).
		_, cur, _ = h.drain(t, s, cur)
		before := h.rateRemaining(t)
		p, err := h.fetch(t, s, cur)
		require.NoError(t, err)
		require.True(t, p.Done)
		require.Empty(t, p.Signals)
		require.JSONEq(t, string(cur), string(p.Next), "%s: a 304 leaves the cursor alone", s)
		require.Equal(t, before, h.rateRemaining(t), "%s: 304 answers do not count against the rate limit", s)
	}
}

func TestBackfillResumesMidPass(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{}, map[string]string{"POBLYSH_GITHUB_PAGE_SIZE": "10"})
	p, err := h.fetch(t, seedPullsStream, nil)
	require.NoError(t, err)
	require.False(t, p.Done)
	require.Equal(t, 10, p.Items)
	var c cursor
	require.NoError(t, json.Unmarshal(p.Next, &c))
	require.Equal(t, 2, c.Page)
	require.Equal(t, 10, c.PerPage)
	require.Nil(t, c.Since, "no high-water mark until the backfill completes")
	require.NotNil(t, c.PassMax)

	// The page size changes between a crash and the restart: the pass keeps its own.
	h.connector().pageSize = 7
	rest, resting, pages := h.drain(t, seedPullsStream, p.Next)
	require.Equal(t, 2, pages)
	require.Len(t, append(p.Signals, rest...), 40)
	c = cursor{}
	require.NoError(t, json.Unmarshal(resting, &c))
	require.Zero(t, c.Page)
	require.Equal(t, time.Date(2024, 3, 22, 11, 0, 0, 0, time.UTC), c.Since.UTC(), "newest updated_at of the seed (pull request #24)")
	require.Equal(t, []string{"1347000024"}, c.Seen)
}

func TestCursorDecoding(t *testing.T) {
	c, err := decodeCursor(json.RawMessage(`{"v":99,"page":4}`))
	require.NoError(t, err)
	require.Zero(t, c.Page, "another version restarts the stream")
	_, err = decodeCursor(json.RawMessage(`{"v":`))
	require.ErrorIs(t, err, connectors.ErrCursorExpired)
	c, err = decodeCursor(json.RawMessage(`null`))
	require.NoError(t, err)
	require.Equal(t, cursorVersion, c.V)
}

func TestRateLimitMapping(t *testing.T) {
	t.Run("403 with x-ratelimit-remaining 0 waits until the reset", func(t *testing.T) {
		h := newHarness(t, githubsandbox.Options{}, nil)
		reset := time.Now().Add(90 * time.Second)
		h.srv.Faults.Add(sandbox.Fault{Status: 403, Headers: map[string]string{
			"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": strconv.FormatInt(reset.Unix(), 10)}})
		_, err := h.fetch(t, seedPullsStream, nil)
		d, ok := connectors.RetryAfter(err)
		require.True(t, ok, "%v", err)
		require.InDelta(t, 90, d.Seconds(), 2)
	})
	t.Run("go-github refusing to call after remaining 0 on a success", func(t *testing.T) {
		h := newHarness(t, githubsandbox.Options{}, nil)
		reset := time.Now().Add(2 * time.Minute)
		// GET /repos succeeds but spends the last call; go-github then
		// refuses the commits call locally with *github.RateLimitError.
		h.srv.Faults.Add(sandbox.Fault{Status: 200, PathPrefix: "/repos/octo-org/hello-world",
			Body: `{"id":1296269,"full_name":"octo-org/hello-world","default_branch":"main"}`,
			Headers: map[string]string{"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0",
				"X-RateLimit-Reset": strconv.FormatInt(reset.Unix(), 10)}})
		_, err := h.fetch(t, seedCommitsStream, nil)
		require.ErrorIs(t, err, connectors.ErrRateLimited)
		d, ok := connectors.RetryAfter(err)
		require.True(t, ok)
		require.InDelta(t, 120, d.Seconds(), 2)
	})
	t.Run("empty repository reads as empty", func(t *testing.T) {
		h := newHarness(t, githubsandbox.Options{}, nil)
		h.srv.Faults.Add(sandbox.Fault{Status: 409, PathPrefix: "/repos/octo-org/hello-world/commits",
			Body: `{"message":"Git Repository is empty.","documentation_url":"https://docs.github.com/rest/commits/commits#list-commits","status":"409"}`})
		p, err := h.fetch(t, seedCommitsStream, nil)
		require.NoError(t, err)
		require.True(t, p.Done)
		require.Empty(t, p.Signals)
	})
	t.Run("empty repository's ref reads as empty", func(t *testing.T) {
		h := newHarness(t, githubsandbox.Options{}, nil)
		h.srv.Faults.Add(sandbox.Fault{Status: 409, PathPrefix: "/repos/octo-org/hello-world/git/ref/",
			Body: `{"message":"Git Repository is empty.","documentation_url":"https://docs.github.com/rest/git/refs#get-a-reference","status":"409"}`})
		p, err := h.fetch(t, seedCommitsStream, nil)
		require.NoError(t, err)
		require.True(t, p.Done)
		require.Empty(t, p.Signals)
		var c cursor
		require.NoError(t, json.Unmarshal(p.Next, &c))
		require.Empty(t, c.Head)
		require.Nil(t, c.Since, "still a backfill")
	})
	t.Run("expired token is unauthorized", func(t *testing.T) {
		h := newHarness(t, githubsandbox.Options{AccessTTL: 8 * time.Hour}, nil)
		h.srv.OAuth.ExpireAccessTokens()
		_, err := h.fetch(t, seedPullsStream, nil)
		require.ErrorIs(t, err, connectors.ErrUnauthorized)
		require.NotContains(t, err.Error(), h.token)
	})
}

// TestReleasesEndAtGitHubsFirst1000: GitHub's list releases serves the
// first 1000 releases only and answers a page past them 422 "Only the
// first 1000 results are available." (the page before still links to it).
// That page ends the pass, as the last page would; the next pass still
// reports a release published since (new releases sit on the first pages).
func TestReleasesEndAtGitHubsFirst1000(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{}, nil)
	for i := range 1000 { // 13 seeded + 1000
		_, err := h.srv.CreateRelease(githubsandbox.SeedRepo, githubsandbox.ReleaseInput{TagName: fmt.Sprintf("nightly-%04d", i)})
		require.NoError(t, err)
	}
	sigs, cur, pages := h.drain(t, seedRelStream, nil)
	require.Equal(t, 11, pages, "ten pages of 100, then the refused eleventh ends the pass")
	require.Len(t, sigs, 1000, "the releases GitHub serves")

	_, err := h.srv.CreateRelease(githubsandbox.SeedRepo, githubsandbox.ReleaseInput{TagName: "v2.0.0"})
	require.NoError(t, err)
	sigs, cur, _ = h.drain(t, seedRelStream, cur)
	require.Len(t, sigs, 1)
	require.Equal(t, "v2.0.0", sigs[0].Payload.Subject.Name)
	sigs, _, _ = h.drain(t, seedRelStream, cur)
	require.Empty(t, sigs)
}

// TestPullMergedInTheSecondItWasRead: GitHub stamps updated_at to the
// second. A pull request a pass read, merged (auto-merge) within the same
// second, keeps the updated_at the pass saw: the pass must not record it
// as covered, or the next pass skips it and its merge is never reported.
func TestPullMergedInTheSecondItWasRead(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	h := newHarness(t, githubsandbox.Options{Clock: func() time.Time { return now }}, nil)
	_, cur, _ := h.drain(t, seedPullsStream, nil)
	act, err := h.srv.OpenPull(githubsandbox.SeedRepo, githubsandbox.PullInput{Title: "bot PR", Head: "bot-branch", User: "dependabot[bot]"})
	require.NoError(t, err)
	num := act.Object["number"].(int)
	sigs, cur, _ := h.drain(t, seedPullsStream, cur) // reads it open, in the second it was opened
	require.Equal(t, []string{KindPullRequestOpened}, kindsOf(sigs))
	_, err = h.srv.MergePull(githubsandbox.SeedRepo, num, "")
	require.NoError(t, err) // the same second: updated_at does not move
	sigs, _, _ = h.drain(t, seedPullsStream, cur)
	require.Contains(t, kindsOf(sigs), KindPullRequestMerged)
}

// TestSettledBefore: a page's items count toward the mark only when stamped
// before the second the page could have been read in: its Date less the
// time the call took, or without a Date the engine's clock less a second.
func TestSettledBefore(t *testing.T) {
	now := time.Date(2024, 5, 1, 10, 0, 9, 500e6, time.UTC)
	require.Equal(t, time.Date(2024, 5, 1, 10, 0, 4, 0, time.UTC), settledBefore("Wed, 01 May 2024 10:00:05 GMT", 200*time.Millisecond, now))
	require.Equal(t, time.Date(2024, 5, 1, 10, 0, 2, 0, time.UTC), settledBefore("Wed, 01 May 2024 10:00:05 GMT", 2500*time.Millisecond, now),
		"a slow call: read as early as it was sent")
	require.Equal(t, time.Date(2024, 5, 1, 10, 0, 8, 0, time.UTC), settledBefore("", time.Second, now))
}
