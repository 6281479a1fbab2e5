package githubsandbox_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/sandbox"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
)

// TestRegisteredFake builds the fake through the registry: the uniform
// options reach its own, and github-app plays a GitHub App.
func TestRegisteredFake(t *testing.T) {
	f, err := sandbox.New("github", sandbox.Options{ClientID: "cid", ClientSecret: "cs", WebhookSecret: "ws",
		DeliverTo: "http://127.0.0.1:8080/", Faults: []string{githubsandbox.FaultGitHubApp}, Seed: true})
	require.NoError(t, err)
	gh := f.(*githubsandbox.Server)
	o := gh.Options()
	require.Equal(t, []string{"cid", "cs", "ws"}, []string{o.ClientID, o.ClientSecret, o.WebhookSecret})
	require.Equal(t, 8*time.Hour, o.AccessTTL, "a GitHub App's user tokens last 8 h")
	require.Equal(t, "http://127.0.0.1:8080/api/v1/webhooks/github", gh.Deliverer.Target())
	require.Equal(t, githubsandbox.SeedPullSignals, gh.ExpectedSignals(githubsandbox.SeedRepo)["pulls:"+githubsandbox.SeedRepo])
	require.Equal(t, "ws", f.Env("http://x")["POBLYSH_GITHUB_WEBHOOK_SECRET"])

	f, err = sandbox.New("github", sandbox.Options{AccessTTL: time.Hour, Faults: []string{githubsandbox.FaultGitHubApp}})
	require.NoError(t, err)
	require.Equal(t, time.Hour, f.(*githubsandbox.Server).Options().AccessTTL, "an explicit lifetime wins")
	f, err = sandbox.New("github", sandbox.Options{})
	require.NoError(t, err)
	require.Zero(t, f.(*githubsandbox.Server).Options().AccessTTL, "an OAuth App by default")
	require.Empty(t, f.(*githubsandbox.Server).Deliverer.Target())

	f, err = sandbox.New("github", sandbox.Options{Faults: []string{githubsandbox.FaultSmallBudget}})
	require.NoError(t, err)
	require.Equal(t, 100, f.(*githubsandbox.Server).Options().RateLimit, "small-budget: 100 calls a minute")
	require.Equal(t, time.Minute, f.(*githubsandbox.Server).Options().RateWindow)
	require.Zero(t, f.(*githubsandbox.Server).Options().CursorPagesAfter, "page numbers by default")

	f, err = sandbox.New("github", sandbox.Options{Faults: []string{githubsandbox.FaultCursorPages}})
	require.NoError(t, err)
	require.Equal(t, 1, f.(*githubsandbox.Server).Options().CursorPagesAfter, "cursor-pages: every page past the first by cursor")

	_, err = sandbox.New("github", sandbox.Options{Faults: []string{"token-rotation"}})
	require.EqualError(t, err, `sandbox github: unknown fault "token-rotation" (known: github-app, small-budget, cursor-pages)`)
}

// TestDemo runs the demo hook against the fake: it opens a pull request
// carrying the marker.
func TestDemo(t *testing.T) {
	gh := githubsandbox.New(githubsandbox.Options{Seed: true})
	srv := httptest.NewServer(gh)
	defer srv.Close()
	before := gh.ExpectedSignals(githubsandbox.SeedRepo)["pulls:"+githubsandbox.SeedRepo]
	d := gh.Demo()
	require.Equal(t, map[string]any{"repos": []string{githubsandbox.SeedRepo}}, d.Config)
	act, err := d.Activity(context.Background(), srv.Client(), srv.URL, "demo-123")
	require.NoError(t, err)
	require.Equal(t, "pull_request.opened", act.Kind)
	require.Contains(t, act.Description, "opened pull request #25 on "+githubsandbox.SeedRepo)
	require.Equal(t, before+1, gh.ExpectedSignals(githubsandbox.SeedRepo)["pulls:"+githubsandbox.SeedRepo])
}
