package github

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"

	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
)

// TestBotActorsAreFlagged: GitHub App accounts ("dependabot[bot]", type
// Bot) are flagged actor.bot, from webhooks and from the REST API alike;
// people are not.
func TestBotActorsAreFlagged(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{}, nil)
	repo := githubsandbox.SeedRepo
	_, cur, _ := h.drain(t, seedPullsStream, nil)
	_, ccur, _ := h.drain(t, seedCommitsStream, nil)
	botPR, err := h.srv.OpenPull(repo, githubsandbox.PullInput{Title: "Bump golang.org/x/net", User: "dependabot[bot]"})
	require.NoError(t, err)
	humanPR, err := h.srv.OpenPull(repo, githubsandbox.PullInput{Title: "Fix the docs", User: "hubot"})
	require.NoError(t, err)
	botPush, err := h.srv.Push(repo, githubsandbox.PushInput{Commits: 1, User: "github-actions[bot]"})
	require.NoError(t, err)

	c := h.connector()
	for _, tc := range []struct {
		act  *githubsandbox.Activity
		name string
		bot  bool
	}{{botPR, "dependabot[bot]", true}, {humanPR, "hubot", false}, {botPush, "github-actions[bot]", true}} {
		d, err := c.ParseWebhook(webhookRequest(h.srv.AppDelivery(tc.act.Events[0])))
		require.NoError(t, err)
		require.Len(t, d.Signals, 1)
		require.Equal(t, tc.name, d.Signals[0].Payload.Actor.Name)
		require.Equal(t, tc.bot, d.Signals[0].Payload.Actor.Bot, tc.name)
	}

	pulls, _, _ := h.drain(t, seedPullsStream, cur)
	byActor := map[string]bool{}
	for _, s := range pulls {
		byActor[s.Payload.Actor.Name] = s.Payload.Actor.Bot
	}
	require.Equal(t, map[string]bool{"dependabot[bot]": true, "hubot": false}, byActor)
	commits, _, _ := h.drain(t, seedCommitsStream, ccur)
	require.Len(t, commits, 1)
	require.Equal(t, "github-actions[bot]", commits[0].Payload.Actor.Name)
	require.True(t, commits[0].Payload.Actor.Bot)
}

// TestSameHeadOnAnotherBranchIsANewPush: a commit pushed to a feature
// branch, then fast-forwarded onto main (GitHub sends the commits again,
// not distinct), is a code.pushed for main too: the keys carry the ref
// (the push is keyed by its move, and claims the commit's key for main).
// The backfill of main agrees with the push to main.
func TestSameHeadOnAnotherBranchIsANewPush(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{}, nil)
	repo := githubsandbox.SeedRepo
	_, ccur, _ := h.drain(t, seedCommitsStream, nil)
	feature, err := h.srv.Push(repo, githubsandbox.PushInput{Branch: "release/1.2", Commits: 1})
	require.NoError(t, err)
	main, err := h.srv.Push(repo, githubsandbox.PushInput{Branch: "main", From: "release/1.2"})
	require.NoError(t, err)

	c := h.connector()
	parse := func(a *githubsandbox.Activity) connectors.Signal {
		d, err := c.ParseWebhook(webhookRequest(h.srv.AppDelivery(a.Events[0])))
		require.NoError(t, err)
		require.Len(t, d.Signals, 1)
		return d.Signals[0]
	}
	fs, ms := parse(feature), parse(main)
	require.Equal(t, fs.Payload.Subject.ID, ms.Payload.Subject.ID, "the same head commit")
	require.Equal(t, "release/1.2", fs.Payload.Attributes["branch"])
	require.Equal(t, "main", ms.Payload.Attributes["branch"])
	require.NotEqual(t, fs.DedupeKey, ms.DedupeKey)
	require.NotContains(t, fs.AliasKeys, ms.DedupeKey)
	require.Equal(t, 1, ms.Payload.Attributes["commit_count"])

	commits, _, _ := h.drain(t, seedCommitsStream, ccur)
	require.Len(t, commits, 1)
	require.Equal(t, "push:1296269:refs/heads/main:"+ms.Payload.Attributes["before"].(string)+".."+ms.Payload.Subject.ID, ms.DedupeKey)
	require.Contains(t, ms.AliasKeys, commits[0].DedupeKey, "the backfill of main and the push to main agree")
}

// TestFutureCommitDoesNotStallPolling: a commit whose committer date is in
// the future (a wrong clock) is yielded once and does not raise the
// high-water mark past now, so commits pushed after it are still read.
func TestFutureCommitDoesNotStallPolling(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{}, nil)
	repo := githubsandbox.SeedRepo
	_, cur, _ := h.drain(t, seedCommitsStream, nil)
	_, err := h.srv.Push(repo, githubsandbox.PushInput{Commits: 1, Message: "From the future", CommitterDate: time.Now().Add(72 * time.Hour)})
	require.NoError(t, err)
	sigs, cur, _ := h.drain(t, seedCommitsStream, cur)
	require.Len(t, sigs, 1)
	require.Contains(t, sigs[0].Payload.Title, "From the future")
	var c cursor
	require.NoError(t, json.Unmarshal(cur, &c))
	require.NotNil(t, c.Since)
	require.False(t, c.Since.After(time.Now()), "the mark is bounded by now, got %s", c.Since)

	_, err = h.srv.Push(repo, githubsandbox.PushInput{Commits: 1, Message: "Today"})
	require.NoError(t, err)
	sigs, cur, _ = h.drain(t, seedCommitsStream, cur)
	require.Len(t, sigs, 1, "the commit after the future-dated one is read, and the future one is not repeated")
	require.Contains(t, sigs[0].Payload.Title, "Today")
	sigs, _, _ = h.drain(t, seedCommitsStream, cur)
	require.Empty(t, sigs)
}

// TestPromotedPreReleaseIsPublished: a pre-release promoted to a full
// release (GitHub's "released" action) is a release.published with
// prerelease false, from the webhook and from the next incremental sync
// alike (its published_at does not move); a release published directly
// yields one Signal from its published and released deliveries.
func TestPromotedPreReleaseIsPublished(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Now().Add(-time.Hour).Unix())
	h := newHarness(t, githubsandbox.Options{Clock: func() time.Time { return time.Unix(clock.Load(), 0) }}, nil)
	repo := githubsandbox.SeedRepo
	_, rcur, _ := h.drain(t, seedRelStream, nil)
	rc, err := h.srv.CreateRelease(repo, githubsandbox.ReleaseInput{TagName: "v4.0.0-rc.1", Prerelease: true})
	require.NoError(t, err)
	sigs, rcur, _ := h.drain(t, seedRelStream, rcur)
	require.Len(t, sigs, 1)
	require.Equal(t, true, sigs[0].Payload.Attributes["prerelease"])
	preKey := sigs[0].DedupeKey

	c := h.connector()
	parse := func(ev githubsandbox.Event) []connectors.Signal {
		d, err := c.ParseWebhook(webhookRequest(h.srv.AppDelivery(ev)))
		require.NoError(t, err)
		return d.Signals
	}
	id := rc.Object["id"].(int64)
	clock.Add(600) // promoted ten minutes later
	promo, err := h.srv.PromoteRelease(repo, id, "")
	require.NoError(t, err)
	require.Len(t, promo.Events, 2)
	require.Empty(t, parse(promo.Events[0]), "edited")
	hooked := parse(promo.Events[1])
	require.Len(t, hooked, 1, "released")
	require.Equal(t, KindReleasePublished, hooked[0].Kind)
	require.Equal(t, false, hooked[0].Payload.Attributes["prerelease"])
	require.NotEqual(t, preKey, hooked[0].DedupeKey)
	require.Equal(t, "Release v4.0.0-rc.1 published", hooked[0].Payload.Title)
	require.True(t, hooked[0].OccurredAt.After(sigs[0].OccurredAt), "it happened at the promotion")

	polled, rcur, _ := h.drain(t, seedRelStream, rcur)
	require.Len(t, polled, 1, "the incremental sync sees the promotion")
	require.Equal(t, hooked[0].DedupeKey, polled[0].DedupeKey)
	require.Equal(t, false, polled[0].Payload.Attributes["prerelease"])
	again, _, _ := h.drain(t, seedRelStream, rcur)
	require.Empty(t, again)

	direct, err := h.srv.CreateRelease(repo, githubsandbox.ReleaseInput{TagName: "v5.0.0"})
	require.NoError(t, err)
	var keys []string
	for _, ev := range direct.Events {
		keys = append(keys, keysOf(parse(ev))...)
	}
	require.Len(t, keys, 2, "published and released")
	require.Equal(t, keys[0], keys[1], "one Signal")
}

// TestRenamedRepositoryIsFollowed: after a rename and a transfer, the
// streams named by the config's old name follow GitHub's 301 and report
// the repository under its new name (for the engine to record), and their
// Signals carry it.
func TestRenamedRepositoryIsFollowed(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{}, nil)
	repo := githubsandbox.SeedRepo
	_, rcur, _ := h.drain(t, seedRelStream, nil)
	_, ccur, _ := h.drain(t, seedCommitsStream, nil)
	p, err := h.fetch(t, seedRelStream, rcur)
	require.NoError(t, err)
	require.NotNil(t, p.Resource)
	require.Equal(t, "octo-org/hello-world", p.Resource.Name)

	_, err = h.srv.Rename(repo, "monalisa", "hello-universe")
	require.NoError(t, err)
	_, err = h.srv.CreateRelease("monalisa/hello-universe", githubsandbox.ReleaseInput{TagName: "v6.0.0"})
	require.NoError(t, err)
	_, err = h.srv.Push("monalisa/hello-universe", githubsandbox.PushInput{Commits: 1})
	require.NoError(t, err)

	for _, tc := range []struct {
		stream string
		cur    []byte
	}{{seedRelStream, rcur}, {seedCommitsStream, ccur}} {
		p, err := h.fetch(t, tc.stream, tc.cur)
		require.NoError(t, err, tc.stream)
		require.Len(t, p.Signals, 1, tc.stream)
		require.Equal(t, "monalisa/hello-universe", p.Signals[0].Payload.Context.Name, tc.stream)
		require.Equal(t, seedContext, p.Signals[0].Payload.Context.ID)
		require.Equal(t, &connectors.Resource{Ref: "octo-org/hello-world", ID: seedContext, Name: "monalisa/hello-universe",
			RouteKeys: []string{"repo:" + seedContext}}, p.Resource, tc.stream)
	}
}

// TestReusedNameIsNotARename: the proved repository is renamed and a new
// repository takes its old name (GitHub then stops redirecting the old
// name). A rename keeps the id: every stream keeps reading the proved
// repository, by its id, under its new name, and never reports or reads
// the new one under the config's ref.
func TestReusedNameIsNotARename(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{}, nil)
	streams := []string{seedCommitsStream, seedRelStream, seedPullsStream}
	curs := map[string]json.RawMessage{}
	for _, st := range streams {
		_, curs[st], _ = h.drain(t, st, nil)
	}
	_, err := h.srv.Rename(githubsandbox.SeedRepo, "", "hello-world-legacy")
	require.NoError(t, err)
	created, err := h.srv.CreateRepo(githubsandbox.SeedRepo, "main", false)
	require.NoError(t, err)
	newID := strconv.FormatInt(created.Object["id"].(int64), 10)
	const legacy = "octo-org/hello-world-legacy"
	for repo, what := range map[string]string{legacy: "proved", githubsandbox.SeedRepo: "impostor"} {
		_, err = h.srv.Push(repo, githubsandbox.PushInput{Commits: 1, Message: "work on the " + what + " repository"})
		require.NoError(t, err)
		_, err = h.srv.CreateRelease(repo, githubsandbox.ReleaseInput{TagName: "v9-" + what})
		require.NoError(t, err)
		_, err = h.srv.OpenPull(repo, githubsandbox.PullInput{Title: "PR on the " + what + " repository", Head: what})
		require.NoError(t, err)
	}

	for _, st := range streams {
		sigs, _, _ := h.drain(t, st, curs[st])
		p, err := h.fetch(t, st, curs[st])
		require.NoError(t, err, st)
		require.Equal(t, &connectors.Resource{Ref: githubsandbox.SeedRepo, ID: seedContext, Name: legacy,
			RouteKeys: []string{"repo:" + seedContext}}, p.Resource, "%s: the proved repository under its new name", st)
		require.Len(t, sigs, 1, st)
		require.Equal(t, seedContext, sigs[0].Payload.Context.ID, st)
		require.NotEqual(t, newID, sigs[0].Payload.Context.ID, st)
		require.Equal(t, legacy, sigs[0].Payload.Context.Name, st)
	}
}

// TestStreamsFollowTheProvedRepository: a stream without a cursor (a
// backfill) reads the repository the connection proved, by its id, even
// when the config's name now answers another repository; a stream whose
// cursor followed another repository than the one now proved (the name
// proved anew) starts over on the proved one.
func TestStreamsFollowTheProvedRepository(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{}, nil)
	_, err := h.srv.Rename(githubsandbox.SeedRepo, "", "hello-world-legacy")
	require.NoError(t, err)
	created, err := h.srv.CreateRepo(githubsandbox.SeedRepo, "main", false)
	require.NoError(t, err)
	newID := strconv.FormatInt(created.Object["id"].(int64), 10)

	h.proved = &connectors.Resource{Ref: githubsandbox.SeedRepo, ID: seedContext, Name: githubsandbox.SeedRepo}
	legacy, lcur, _ := h.drain(t, seedCommitsStream, nil)
	require.NotEmpty(t, legacy)
	for _, s := range legacy {
		require.Equal(t, seedContext, s.Payload.Context.ID, "the backfill reads the proved repository")
	}

	h.proved = &connectors.Resource{Ref: githubsandbox.SeedRepo, ID: newID, Name: githubsandbox.SeedRepo}
	fresh, _, _ := h.drain(t, seedCommitsStream, lcur)
	require.Len(t, fresh, 1, "the new repository's one commit, read from the start")
	require.Equal(t, newID, fresh[0].Payload.Context.ID)
	require.Equal(t, "Initial commit", fresh[0].Payload.Subject.Name)
}

// TestAppNotInstalled: a GitHub App user token reaches only what both the
// user and the app can: a public repository without the installation
// reads, but its hooks answer 403, reported as "app not installed on
// owner/name", not as a missing admin:repo_hook scope; a private one is
// denied with the same reason.
func TestAppNotInstalled(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{AccessTTL: 8 * time.Hour}, nil)
	_, err := h.srv.CreateRepo("octocat/spoon-knife", "", false)
	require.NoError(t, err)
	_, err = h.srv.CreateRepo("octocat/diary", "", true)
	require.NoError(t, err)
	require.NoError(t, h.srv.SetAppInstalled("octocat/spoon-knife", false))
	require.NoError(t, h.srv.SetAppInstalled("octocat/diary", false))
	conn := h.conn
	conn.Config = json.RawMessage(`{"repos":["octocat/spoon-knife","octocat/diary","octo-org/hello-world"]}`)
	c := h.connector()

	report, err := c.ProveAccess(context.Background(), connectors.AccessRequest{Connection: conn, HTTP: h.client()})
	require.NoError(t, err)
	require.Equal(t, []string{"octocat/diary"}, report.DeniedRefs())
	require.Contains(t, report.Denied[0].Reason, "app not installed on octocat/diary")
	require.Len(t, report.Granted, 2, "a public repository reads without the installation")

	_, err = c.Watch(context.Background(), connectors.WatchRequest{Connection: conn, HTTP: h.client(),
		CallbackURL: testCallbackURL, Targets: []string{"octocat/spoon-knife"}})
	require.ErrorIs(t, err, connectors.ErrForbidden)
	require.Contains(t, err.Error(), "app not installed on octocat/spoon-knife")
	require.NotContains(t, err.Error(), "admin:repo_hook")

	chans, err := c.Watch(context.Background(), connectors.WatchRequest{Connection: conn, HTTP: h.client(),
		CallbackURL: testCallbackURL, Targets: []string{"octo-org/hello-world"}})
	require.NoError(t, err, "installed: the hook is created")
	require.Len(t, chans, 1)

	// An OAuth App token keeps the scope explanation.
	o := newHarness(t, githubsandbox.Options{}, nil)
	tok, err := o.srv.IssueToken("", "public_repo")
	require.NoError(t, err)
	o.token = tok.AccessToken
	_, err = o.connector().Watch(context.Background(), connectors.WatchRequest{Connection: o.conn, HTTP: o.client(),
		CallbackURL: testCallbackURL, Targets: []string{"octo-org/hello-world"}})
	require.ErrorIs(t, err, connectors.ErrForbidden)
	require.Contains(t, err.Error(), "admin:repo_hook")
}

// A release promoted on a later page of the list (GitHub orders releases
// by their tag's commit date) leaves the first page and its ETag as they
// were: a list longer than a page is read whole every pass, and the
// promotion is seen. The first page's 304 skipped the pass.
func TestReleasePromotedBeyondTheFirstPageIsSeen(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{}, map[string]string{"POBLYSH_GITHUB_PAGE_SIZE": "3"})
	_, cur, _ := h.drain(t, seedRelStream, nil)
	_, cur, _ = h.drain(t, seedRelStream, cur)
	var c map[string]any
	require.NoError(t, json.Unmarshal(cur, &c))
	require.Nil(t, c["etag"], "no validator kept for a list longer than a page")
	_, err := h.srv.PromoteRelease(githubsandbox.SeedRepo, 150000007, "")
	require.NoError(t, err)
	sigs, _, _ := h.drain(t, seedRelStream, cur)
	require.Len(t, sigs, 1, "the promotion: %v", keysOf(sigs))
}

// Two releases are published while a releases pass longer than a page is
// under way: X on the page already read, then Z on a page still to read
// (a backport whose tag's commit is old: GitHub lists releases by that
// date, not by publication). The pass reads Z; its high-water mark was Z's
// published_at, so the next pass took X, published earlier, for old: X was
// never reported. A pass's mark is now no later than its start (less
// releaseSettle): what was published during it is read again next pass.
func TestReleasePublishedDuringAPassIsReported(t *testing.T) {
	var mu sync.Mutex
	clock := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	set := func(t0 time.Time) { mu.Lock(); clock = t0; mu.Unlock() }
	h := newHarness(t, githubsandbox.Options{Clock: now}, map[string]string{"POBLYSH_GITHUB_PAGE_SIZE": "3"})
	h.now = now
	z, err := h.srv.CreateRelease(githubsandbox.SeedRepo, githubsandbox.ReleaseInput{TagName: "v0.0.9-backport", Draft: true})
	require.NoError(t, err)

	set(time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC))
	_, cur, _ := h.drain(t, seedRelStream, nil)
	p, err := h.fetch(t, seedRelStream, cur) // the next pass reads its first page
	require.NoError(t, err)
	require.False(t, p.Done)
	cur = p.Next

	set(time.Date(2024, 6, 2, 0, 0, 0, 0, time.UTC))
	_, err = h.srv.PublishRelease(githubsandbox.SeedRepo, 150000013, "") // X, on the page read
	require.NoError(t, err)
	set(time.Date(2024, 6, 2, 0, 5, 0, 0, time.UTC))
	_, err = h.srv.PublishRelease(githubsandbox.SeedRepo, zID(t, z.Object), "") // Z, on a page to read
	require.NoError(t, err)
	var keys []string
	for {
		p, err := h.fetch(t, seedRelStream, cur)
		require.NoError(t, err)
		keys, cur = append(keys, keysOf(p.Signals)...), p.Next
		if p.Done {
			break
		}
	}
	require.Equal(t, []string{fmt.Sprintf("release:%d:published", zID(t, z.Object))}, keys, "the pass reports Z")
	set(time.Date(2024, 6, 2, 1, 0, 0, 0, time.UTC))
	sigs, cur, _ := h.drain(t, seedRelStream, cur)
	require.Contains(t, keysOf(sigs), "release:150000013:published", "X is reported by the next pass")
	set(time.Date(2024, 6, 2, 2, 0, 0, 0, time.UTC))
	sigs, _, _ = h.drain(t, seedRelStream, cur)
	require.Empty(t, keysOf(sigs), "and not again")
}
func zID(t *testing.T, o map[string]any) int64 {
	t.Helper()
	switch v := o["id"].(type) {
	case int64:
		return v
	case float64:
		return int64(v)
	case int:
		return int64(v)
	}
	t.Fatalf("no id in %v", o["id"])
	return 0
}
