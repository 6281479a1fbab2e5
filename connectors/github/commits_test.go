package github

import (
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/sandbox"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
)

// pushedSHAs lists the shas of the commits a sandbox push carried.
func pushedSHAs(a *githubsandbox.Activity) []string {
	var out []string
	for _, c := range a.Object["commits"].([]map[string]any) {
		out = append(out, c["id"].(string))
	}
	return out
}

// restingCursor decodes a stream's cursor.
func restingCursor(t *testing.T, raw json.RawMessage) cursor {
	t.Helper()
	var c cursor
	require.NoError(t, json.Unmarshal(raw, &c))
	return c
}

// TestCommitReachingTheBranchDatedBeforeTheMarkIsRead: a committer date
// is the committer's clock when the commit was made, not when it reached
// the default branch. A connection that only polls (no hook) read the
// branch since= the newest committer date of its last pass: a commit that
// reached the branch afterwards with an older date (a committer's clock
// behind the last one's; commits made Monday and fast-forwarded onto main
// Wednesday) was never read, and no code.pushed ever said it reached the
// branch. A pass now reads what is reachable from the branch's head and
// not from the head the last pass read, whatever the dates.
func TestCommitReachingTheBranchDatedBeforeTheMarkIsRead(t *testing.T) {
	repo := githubsandbox.SeedRepo
	for _, tc := range []struct {
		name string
		push func(t *testing.T, h *harness) []string
	}{
		{"no skew", func(t *testing.T, h *harness) []string {
			a, err := h.srv.Push(repo, githubsandbox.PushInput{Commits: 1, User: "hubot", CommitterDate: time.Now()})
			require.NoError(t, err)
			return pushedSHAs(a)
		}},
		{"a committer clock 11 minutes behind", func(t *testing.T, h *harness) []string {
			a, err := h.srv.Push(repo, githubsandbox.PushInput{Commits: 1, User: "hubot", CommitterDate: time.Now().Add(-11 * time.Minute)})
			require.NoError(t, err)
			return pushedSHAs(a)
		}},
		{"made two days ago, fast-forwarded now", func(t *testing.T, h *harness) []string {
			a, err := h.srv.Push(repo, githubsandbox.PushInput{Branch: "feature/late", Commits: 2, User: "hubot",
				CommitterDate: time.Now().Add(-48 * time.Hour)})
			require.NoError(t, err)
			_, err = h.srv.Push(repo, githubsandbox.PushInput{Branch: "main", From: "feature/late"})
			require.NoError(t, err)
			return pushedSHAs(a)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, githubsandbox.Options{}, nil)
			_, cur, _ := h.drain(t, seedCommitsStream, nil)
			_, err := h.srv.Push(repo, githubsandbox.PushInput{Commits: 1, CommitterDate: time.Now().Add(-time.Minute)})
			require.NoError(t, err)
			first, cur, _ := h.drain(t, seedCommitsStream, cur)
			require.Len(t, first, 1)
			mark := restingCursor(t, cur).Since

			want := tc.push(t, h)
			sigs, cur, _ := h.drain(t, seedCommitsStream, cur)
			require.ElementsMatch(t, want, subjects(sigs), "every commit that reached the branch since the last pass, the mark at %s", mark)
			for _, s := range sigs {
				require.Equal(t, KindCodePushed, s.Kind)
				require.Equal(t, headKey("1296269", s.Payload.Subject.ID), s.DedupeKey)
				require.Equal(t, []string{commitKey("1296269", "refs/heads/main", s.Payload.Subject.ID)}, s.AliasKeys)
				require.Equal(t, "main", s.Payload.Attributes["branch"])
			}
			again, _, _ := h.drain(t, seedCommitsStream, cur)
			require.Empty(t, again, "nothing is read twice")
		})
	}
}

// TestCommitsPassIsPinnedToItsHead: a pass reads the history of the head
// it began at, page after page, whatever the branch does meanwhile; what
// is pushed during the pass is the next pass's.
func TestCommitsPassIsPinnedToItsHead(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{}, map[string]string{"POBLYSH_GITHUB_PAGE_SIZE": "10"})
	repo := githubsandbox.SeedRepo
	_, cur, _ := h.drain(t, seedCommitsStream, nil)
	base := restingCursor(t, cur).Head
	require.Len(t, base, 40, "the backfill keeps the head it read")
	a, err := h.srv.Push(repo, githubsandbox.PushInput{Commits: 25})
	require.NoError(t, err)
	pushed := pushedSHAs(a)

	p, err := h.fetch(t, seedCommitsStream, cur)
	require.NoError(t, err)
	require.False(t, p.Done)
	require.Len(t, p.Signals, 10)
	mid := restingCursor(t, p.Next)
	require.Equal(t, 2, mid.Page)
	require.Equal(t, base, mid.PassBase)
	require.Equal(t, pushed[len(pushed)-1], mid.PassHead)

	b, err := h.srv.Push(repo, githubsandbox.PushInput{Commits: 3})
	require.NoError(t, err)
	rest, cur, pages := h.drain(t, seedCommitsStream, p.Next)
	require.Equal(t, 2, pages)
	require.ElementsMatch(t, pushed, subjects(append(p.Signals, rest...)), "the 25 of the pass's head, once each")
	require.Equal(t, pushed[len(pushed)-1], restingCursor(t, cur).Head)

	next, _, _ := h.drain(t, seedCommitsStream, cur)
	require.ElementsMatch(t, pushedSHAs(b), subjects(next))
}

// TestForcePushedCommitsAreRead: a force push leaves the last pass's head
// off the branch. GitHub still compares from it (diverged): the pass reads
// the new commits. Once GitHub collected it (compare answers 404), the pass
// lists the branch from its head since the mark less commitLookback
// instead, and compares again from the head it read at the next pass.
func TestForcePushedCommitsAreRead(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{}, nil)
	repo := githubsandbox.SeedRepo
	_, cur, _ := h.drain(t, seedCommitsStream, nil)
	_, err := h.srv.Push(repo, githubsandbox.PushInput{Commits: 1})
	require.NoError(t, err)
	_, cur, _ = h.drain(t, seedCommitsStream, cur)

	forced, err := h.srv.Push(repo, githubsandbox.PushInput{Commits: 1, Forced: true})
	require.NoError(t, err)
	sigs, cur, _ := h.drain(t, seedCommitsStream, cur)
	require.Equal(t, pushedSHAs(forced), subjects(sigs))

	forced, err = h.srv.Push(repo, githubsandbox.PushInput{Commits: 1, Forced: true, CommitterDate: time.Now().Add(-time.Hour)})
	require.NoError(t, err)
	h.srv.ForgetDropped(repo)
	sigs, cur, _ = h.drain(t, seedCommitsStream, cur)
	require.Equal(t, pushedSHAs(forced), subjects(sigs), "listed from the new head, since the mark less the lookback")
	require.Equal(t, forced.Object["after"], restingCursor(t, cur).Head)

	more, err := h.srv.Push(repo, githubsandbox.PushInput{Commits: 2})
	require.NoError(t, err)
	sigs, _, _ = h.drain(t, seedCommitsStream, cur)
	require.Equal(t, pushedSHAs(more), subjects(sigs), "compared from the head the listing read")
}

// TestComparisonThatCannotServeIsListed: a comparison GitHub cannot build
// ("Sorry, this diff is taking too long to generate." as 500, 406 or 422)
// or one larger than compareLimit is not retried for ever, nor read as
// invalid configuration: the pass lists the branch from its head since
// the mark less commitLookback, which still reads a commit dated before
// the mark. A rate-limited compare is rate limited.
func TestComparisonThatCannotServeIsListed(t *testing.T) {
	repo := githubsandbox.SeedRepo
	tooLong := `{"message":"Server Error: Sorry, this diff is taking too long to generate.","errors":[{"resource":"Commit","field":"diff","code":"not_available"}],"documentation_url":"https://docs.github.com/rest/commits/commits#compare-two-commits","status":"%d"}`
	for _, tc := range []struct {
		name  string
		fault *sandbox.Fault
		limit int
	}{
		{name: "500", fault: &sandbox.Fault{Status: 500}},
		{name: "502", fault: &sandbox.Fault{Status: 502}},
		{name: "406", fault: &sandbox.Fault{Status: 406}},
		{name: "422", fault: &sandbox.Fault{Status: 422}},
		{name: "more than compareLimit", limit: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, githubsandbox.Options{}, nil)
			_, cur, _ := h.drain(t, seedCommitsStream, nil)
			last, err := h.srv.Push(repo, githubsandbox.PushInput{Commits: 1})
			require.NoError(t, err)
			_, cur, _ = h.drain(t, seedCommitsStream, cur)
			a, err := h.srv.Push(repo, githubsandbox.PushInput{Commits: 3, CommitterDate: time.Now().Add(-6 * 24 * time.Hour)})
			require.NoError(t, err)
			if tc.fault != nil {
				f := *tc.fault
				f.PathPrefix = "/repos/octo-org/hello-world/compare/"
				f.Body = fmt.Sprintf(tooLong, f.Status)
				h.srv.Faults.Add(f)
			}
			if tc.limit > 0 {
				h.connector().compareLimit = tc.limit
			}
			sigs, cur, _ := h.drain(t, seedCommitsStream, cur)
			require.ElementsMatch(t, append(pushedSHAs(a), pushedSHAs(last)...), subjects(sigs),
				"the 3 dated 6 days before the mark, and the last pass's commit again (stored once, by its key)")
			require.Equal(t, a.Object["after"], restingCursor(t, cur).Head)
		})
	}

	t.Run("rate limited", func(t *testing.T) {
		h := newHarness(t, githubsandbox.Options{}, nil)
		_, cur, _ := h.drain(t, seedCommitsStream, nil)
		_, err := h.srv.Push(repo, githubsandbox.PushInput{Commits: 1})
		require.NoError(t, err)
		reset := time.Now().Add(time.Minute)
		h.srv.Faults.Add(sandbox.Fault{Status: 403, PathPrefix: "/repos/octo-org/hello-world/compare/", Headers: map[string]string{
			"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": strconv.FormatInt(reset.Unix(), 10)}})
		_, err = h.fetch(t, seedCommitsStream, cur)
		require.ErrorIs(t, err, connectors.ErrRateLimited)
	})
}

// TestCursorOfAnEarlierVersionReadsTheLookback: a cursor an earlier
// version stored names no head. Its first pass lists the branch since the
// mark less commitLookback: a commit that reached the branch dated before
// the mark, which that version's since= hid, is read and stored; what the
// pass reads again is stored once, by its key. A pass the earlier version
// left mid-way (by the branch's name, page 2) begins again. The pass keeps
// the head it read, and the next compares from it.
func TestCursorOfAnEarlierVersionReadsTheLookback(t *testing.T) {
	repo := githubsandbox.SeedRepo
	for _, tc := range []struct {
		name string
		edit func(m map[string]any)
	}{
		{"resting", func(map[string]any) {}},
		{"mid-pass", func(m map[string]any) { m["page"], m["per_page"] = 2, 10 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, githubsandbox.Options{}, nil)
			st := newStore(t)
			sigs, cur, _ := h.drain(t, seedCommitsStream, nil)
			require.Equal(t, githubsandbox.SeedCommits, st.put(t, sigs))
			_, err := h.srv.Push(repo, githubsandbox.PushInput{Commits: 1, CommitterDate: time.Now().Add(-time.Minute)})
			require.NoError(t, err)
			sigs, cur, _ = h.drain(t, seedCommitsStream, cur)
			require.Equal(t, 1, st.put(t, sigs))

			// As an earlier version stored it: no head, the list's validator.
			var m map[string]any
			require.NoError(t, json.Unmarshal(cur, &m))
			delete(m, "head")
			m["etag"] = `W/"an-earlier-list-etag"`
			tc.edit(m)
			legacy, err := json.Marshal(m)
			require.NoError(t, err)

			late, err := h.srv.Push(repo, githubsandbox.PushInput{Commits: 1, User: "hubot", CommitterDate: time.Now().Add(-3 * 24 * time.Hour)})
			require.NoError(t, err)
			sigs, cur, _ = h.drain(t, seedCommitsStream, legacy)
			require.Contains(t, subjects(sigs), late.Object["after"])
			require.Equal(t, 1, st.put(t, sigs), "only the commit dated before the mark is new")
			require.Equal(t, late.Object["after"], restingCursor(t, cur).Head)

			next, err := h.srv.Push(repo, githubsandbox.PushInput{Commits: 1, CommitterDate: time.Now().Add(-4 * 24 * time.Hour)})
			require.NoError(t, err)
			sigs, _, _ = h.drain(t, seedCommitsStream, cur)
			require.Equal(t, pushedSHAs(next), subjects(sigs), "compared from the head the pass read")
		})
	}
}

// TestIdleCommitsPassIsFree: a pass of a branch that did not move reads
// its ref conditionally: a 304, free, the cursor unchanged.
func TestIdleCommitsPassIsFree(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{}, nil)
	_, cur, _ := h.drain(t, seedCommitsStream, nil)
	c := restingCursor(t, cur)
	require.NotEmpty(t, c.Head)
	require.NotEmpty(t, c.ETag, "the ref's validator")
	before := h.rateRemaining(t)
	p, err := h.fetch(t, seedCommitsStream, cur)
	require.NoError(t, err)
	require.True(t, p.Done)
	require.Empty(t, p.Signals)
	require.JSONEq(t, string(cur), string(p.Next))
	require.Equal(t, before, h.rateRemaining(t), "the repository and the ref answer 304")
}
