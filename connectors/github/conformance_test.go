package github

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/connectortest"
	"github.com/poblysh/poblysh/sandbox"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
)

func TestConformance(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) *connectortest.Env {
		env := conformanceEnv(t)
		env.Examples = catalogExamples(t)
		return env
	})
}

// catalogExamples are the Signals of the webhook fixtures the catalog's
// GitHub examples are written from.
func catalogExamples(t *testing.T) []connectors.Signal {
	var out []connectors.Signal
	for _, f := range []struct{ event, name string }{
		{"push", "sandbox.push.commits.json"},
		{"pull_request", "sandbox.pull_request.opened.json"},
		{"pull_request", "sandbox.pull_request.merged.json"},
		{"pull_request", "sandbox.pull_request.closed.json"},
		{"release", "sandbox.release.published.json"},
	} {
		d, _ := parseFixture(t, f.event, f.name)
		out = append(out, d.Signals...)
	}
	return out
}

// conformanceEnv is the connector against a fresh seeded sandbox (the
// fuzz targets share it).
func conformanceEnv(t testing.TB) *connectortest.Env {
	h := newHarness(t, githubsandbox.Options{}, map[string]string{"POBLYSH_GITHUB_PAGE_SIZE": "10"})
	expected := map[string]int{
		seedPullsStream:   40, // 24 opened + 10 merged + 6 closed unmerged
		seedRelStream:     11, // 13 releases, 2 of them drafts
		seedCommitsStream: 32, // commits on main
	}
	require.Equal(t, expected, h.srv.ExpectedSignals(githubsandbox.SeedRepo), "sandbox seed drifted")
	reset := strconv.FormatInt(time.Now().Add(90*time.Second).Unix(), 10)
	return &connectortest.Env{
		Provider:    h.p,
		Connection:  h.conn,
		AccessToken: h.token,
		Expected:    expected,
		InjectFault: h.srv.Faults.Add,
		ErrorCases: append(connectortest.DefaultErrorCases(),
			connectortest.ErrorCase{
				Name:  "403 primary rate limit",
				Fault: sandbox.Fault{Status: 403, Headers: map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}},
				Want:  connectors.ErrRateLimited,
			},
			connectortest.ErrorCase{
				Name:  "403 retry-after",
				Fault: sandbox.Fault{Status: 403, RetryAfter: 30},
				Want:  connectors.ErrRateLimited, WantRetryAfter: 30 * time.Second,
			},
			connectortest.ErrorCase{
				Name: "403 secondary rate limit without headers",
				Fault: sandbox.Fault{Status: 403, Body: `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",` +
					`"documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits","status":"403"}`},
				Want: connectors.ErrRateLimited, WantRetryAfter: time.Minute,
			},
			connectortest.ErrorCase{Name: "502", Fault: sandbox.Fault{Status: 502}, Want: connectors.ErrTransient},
		),
		Webhooks:    conformanceWebhooks(t),
		WrongSecret: h.withSecret(t, "not the secret"),
		NoSecret:    h.withSecret(t, ""),
	}
}

// conformanceWebhooks builds signed app-level deliveries on a second sandbox,
// so the activity does not change the seeded history the streams count.
func conformanceWebhooks(t testing.TB) []connectortest.WebhookCase {
	src := githubsandbox.New(githubsandbox.Options{Seed: true, WebhookSecret: testWebhookSecret})
	must := func(a *githubsandbox.Activity, err error) *githubsandbox.Activity {
		t.Helper()
		require.NoError(t, err)
		return a
	}
	app := func(a *githubsandbox.Activity, i int) *connectors.WebhookRequest {
		return webhookRequest(src.AppDelivery(a.Events[i]))
	}
	repo := githubsandbox.SeedRepo
	push := must(src.Push(repo, githubsandbox.PushInput{Commits: 3, Message: "Speed up the parser"}))
	branch := must(src.Push(repo, githubsandbox.PushInput{Branch: "feature/empty", Commits: 0}))
	forced := must(src.Push(repo, githubsandbox.PushInput{Commits: 1, Forced: true}))
	tag := must(src.PushTag(repo, "v9.9.9", "", ""))
	deleted := must(src.DeleteBranch(repo, "feature/empty", ""))
	opened := must(src.OpenPull(repo, githubsandbox.PullInput{Title: "Add a feature", Labels: []string{"enhancement"}}))
	number := func(a *githubsandbox.Activity) int { return a.Object["number"].(int) }
	closed := must(src.ClosePull(repo, number(opened), "hubot"))
	reopened := must(src.ReopenPull(repo, number(opened), "hubot"))
	toMerge := must(src.OpenPull(repo, githubsandbox.PullInput{Title: "Fix the bug"}))
	merged := must(src.MergePull(repo, number(toMerge), ""))
	release := must(src.CreateRelease(repo, githubsandbox.ReleaseInput{TagName: "v1.0.0", Name: "One"}))
	pre := must(src.CreateRelease(repo, githubsandbox.ReleaseInput{TagName: "v1.1.0-rc.1", Prerelease: true}))
	draft := must(src.CreateRelease(repo, githubsandbox.ReleaseInput{TagName: "v2.0.0", Draft: true}))
	hookID, ping, err := src.CreateHook(repo, githubsandbox.HookInput{URL: testCallbackURL, Secret: testWebhookSecret, Events: hookEvents})
	require.NoError(t, err)
	pingDelivery, err := src.HookDelivery(ping, hookID)
	require.NoError(t, err)
	pingReq := webhookRequest(pingDelivery)
	pingReq.ChannelSecret = testWebhookSecret // the engine loads the hook's own secret

	pushed, prOpened := []string{KindCodePushed}, []string{KindPullRequestOpened}
	return []connectortest.WebhookCase{
		{Name: "push", Request: app(push, 0), WantKinds: pushed},
		{Name: "push with zero commits (new branch)", Request: app(branch, 0), WantKinds: pushed},
		{Name: "forced push", Request: app(forced, 0), WantKinds: pushed},
		{Name: "tag push is not a branch push", Request: app(tag, 0)},
		{Name: "branch deletion", Request: app(deleted, 0)},
		{Name: "pull_request opened", Request: app(opened, 0), WantKinds: prOpened},
		{Name: "pull_request closed unmerged", Request: app(closed, 0), WantKinds: []string{KindPullRequestClosed}},
		{Name: "pull_request reopened is ignored", Request: app(reopened, 0)},
		{Name: "pull_request merged", Request: app(merged, 0), WantKinds: []string{KindPullRequestMerged}},
		{Name: "push of the merge commit", Request: app(merged, 1), WantKinds: pushed},
		{Name: "release created is ignored", Request: app(release, 0)},
		{Name: "release published", Request: app(release, 1), WantKinds: []string{KindReleasePublished}},
		{Name: "release released (the same key as published)", Request: app(release, 2), WantKinds: []string{KindReleasePublished}},
		{Name: "prerelease prereleased is ignored", Request: app(pre, 2)},
		{Name: "prerelease published", Request: app(pre, 1), WantKinds: []string{KindReleasePublished}},
		{Name: "draft release created is ignored", Request: app(draft, 0)},
		{Name: "ping from a repository hook", Request: pingReq},
	}
}
