package main

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/gen/models"
	"github.com/poblysh/poblysh/sandbox"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
)

// TestGitHubLargePushAndRename: a signed push larger than the general
// webhook limit (5 MB) is accepted on the GitHub route, up to GitHub's
// 25 MB cap; and after the repository is renamed and transferred, an
// incremental sync follows GitHub's redirect and records the new name.
func TestGitHubLargePushAndRename(t *testing.T) {
	t.Parallel()
	gh, s, tenant, key, conn := connectSeededGitHub(t)
	var code int
	var body string
	var hookID int64
	eventually(t, 30*time.Second, "the repository hook", func() bool {
		c := s.connection(key, conn)
		if len(c.Watches) == 1 && *c.PushEnabled {
			hookID, _ = strconv.ParseInt(*c.Watches[0].ChannelID, 10, 64)
			return true
		}
		return false
	})
	hook := s.base + "/api/v1/webhooks/github?connection=" + url.QueryEscape(conn)

	// A push whose payload is larger than the general limit.
	push, err := gh.Push(githubsandbox.SeedRepo, githubsandbox.PushInput{Commits: 1, Message: "Vendor the assets\n\n" + strings.Repeat("a", 3<<20)})
	require.NoError(t, err)
	d, err := gh.HookDelivery(push.Events[0], hookID)
	require.NoError(t, err)
	require.Greater(t, len(d.Body), 5<<20, "larger than the general webhook limit")
	code, body = post(t, hook, d)
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"status":"accepted"`)
	require.Equal(t, 1, s.count(`SELECT count(*) FROM signals WHERE tenant_id = $1 AND kind = 'code.pushed'
		AND payload->>'title' = '1 commit pushed to main'`, tenant))
	// Beyond GitHub's own cap: refused.
	code, body = post(t, hook, sandbox.Delivery{Header: d.Header, Body: []byte(strings.Repeat(" ", 25<<20+1))})
	require.Equal(t, http.StatusRequestEntityTooLarge, code)
	require.Contains(t, body, `"code":"payload_too_large"`)

	// Renamed and transferred: the config's name redirects; the sync
	// records the new name and the new Signals carry it.
	_, err = gh.Rename(githubsandbox.SeedRepo, "monalisa", "hello-universe")
	require.NoError(t, err)
	_, err = gh.CreateRelease("monalisa/hello-universe", githubsandbox.ReleaseInput{TagName: "v7.0.0"})
	require.NoError(t, err)
	for _, j := range s.sync(key, "github", conn, "incremental") {
		require.Equal(t, models.JobStatusSucceeded, *j.Status, "%s: %s", *j.Stream, deref(j.Error))
	}
	require.Equal(t, 1, s.count(`SELECT count(*) FROM connection_resources WHERE connection_id = $1
		AND ref = $2 AND name = 'monalisa/hello-universe' AND access = 'granted'`, conn, githubsandbox.SeedRepo),
		"the stored name follows the rename")
	require.Equal(t, 1, s.count(`SELECT count(*) FROM signals WHERE tenant_id = $1 AND kind = 'release.published'
		AND payload->'subject'->>'name' = 'v7.0.0' AND payload->'context'->>'name' = 'monalisa/hello-universe'`, tenant))
	require.EqualValues(t, "healthy", *s.connection(key, conn).Health)

	// A new repository takes the old name (GitHub stops redirecting it):
	// another repository, not a rename. The sync keeps reading the proved
	// one, by its id.
	_, err = gh.CreateRepo(githubsandbox.SeedRepo, "main", false)
	require.NoError(t, err)
	_, err = gh.CreateRelease(githubsandbox.SeedRepo, githubsandbox.ReleaseInput{TagName: "v8.0.0-impostor"})
	require.NoError(t, err)
	_, err = gh.CreateRelease("monalisa/hello-universe", githubsandbox.ReleaseInput{TagName: "v8.0.0"})
	require.NoError(t, err)
	for _, j := range s.sync(key, "github", conn, "incremental") {
		require.Equal(t, models.JobStatusSucceeded, *j.Status, "%s: %s", *j.Stream, deref(j.Error))
	}
	require.Equal(t, 1, s.count(`SELECT count(*) FROM connection_resources WHERE connection_id = $1 AND ref = $2
		AND resource_id = $3 AND name = 'monalisa/hello-universe' AND access = 'granted'`, conn, githubsandbox.SeedRepo,
		strconv.FormatInt(githubsandbox.SeedRepoID, 10)), "the proved repository is still the one followed")
	require.Equal(t, 1, s.count(`SELECT count(*) FROM signals WHERE tenant_id = $1 AND payload->'subject'->>'name' = 'v8.0.0'`, tenant))
	require.Equal(t, 0, s.count(`SELECT count(*) FROM signals WHERE tenant_id = $1 AND payload->'subject'->>'name' = 'v8.0.0-impostor'`, tenant))
}

// TestGitHubAppNotInstalledAtConnect: connecting a GitHub App user token
// to a private repository the app is not installed on is refused with
// "app not installed on owner/name"; the account records the token kind.
func TestGitHubAppNotInstalledAtConnect(t *testing.T) {
	t.Parallel()
	gh := githubsandbox.New(githubsandbox.Options{Seed: true, AccessTTL: 8 * time.Hour})
	base := newHTTPServer(t, gh)
	s := newStack(t, withEnv(gh.Env(base)))
	_, err := gh.CreateRepo("octocat/diary", "", true)
	require.NoError(t, err)
	require.NoError(t, gh.SetAppInstalled("octocat/diary", false))
	_, key := s.tenant("Acme")
	code, body := s.connectAs(key, "github", githubsandbox.SeedUser, map[string]any{"repos": []string{"octocat/diary"}})
	require.Equal(t, http.StatusUnprocessableEntity, code, body)
	require.Contains(t, body, "app not installed on octocat/diary")

	code, body = s.connectAs(key, "github", githubsandbox.SeedUser, map[string]any{"repos": []string{githubsandbox.SeedRepo}})
	require.Equal(t, http.StatusOK, code, body)
	conn := string(*connectionOf(t, body).ID)
	require.Equal(t, 1, s.count(`SELECT count(*) FROM connections WHERE id = $1 AND account->'metadata'->>'token' = 'github_app'`, conn))
}

// TestGitHubCommitDatedBeforeTheMarkIsStoredByPolling: pushes whose
// deliveries never arrive (the sandbox's Go Push delivers nothing) reach
// the connection by its syncs alone. A commit dated before the newest one
// the last sync read (its committer's clock 11 minutes behind) is stored by
// the next sync: syncs read what reached the default branch since the head
// the last one read, not what is dated after a mark (which hid it for good).
func TestGitHubCommitDatedBeforeTheMarkIsStoredByPolling(t *testing.T) {
	t.Parallel()
	gh, s, tenant, key, conn := connectSeededGitHub(t)
	stored := func(sha any) int {
		return s.count(`SELECT count(*) FROM signals WHERE tenant_id = $1 AND kind = 'code.pushed'
			AND payload->'subject'->>'id' = $2 AND dedupe_key = $3`, tenant, sha,
			"github:commit:"+strconv.FormatInt(githubsandbox.SeedRepoID, 10)+":HEAD:"+sha.(string))
	}
	for _, tc := range []struct {
		user string
		date time.Time
	}{
		{githubsandbox.SeedUser, time.Now().Add(-time.Minute)},
		{"hubot", time.Now().Add(-11 * time.Minute)},
	} {
		push, err := gh.Push(githubsandbox.SeedRepo, githubsandbox.PushInput{Commits: 1, User: tc.user, CommitterDate: tc.date})
		require.NoError(t, err)
		for _, j := range s.sync(key, "github", conn, "incremental") {
			require.Equal(t, models.JobStatusSucceeded, *j.Status, "%s: %s", *j.Stream, deref(j.Error))
		}
		require.Equal(t, 1, stored(push.Object["after"]), "%s's commit dated %s", tc.user, tc.date)
	}
}

// connectSeededGitHub connects tenant Acme to the seeded GitHub sandbox's
// repository and waits for its three backfills to succeed.
func connectSeededGitHub(t *testing.T) (gh *githubsandbox.Server, s *stack, tenant, key, conn string) {
	t.Helper()
	gh = githubsandbox.New(githubsandbox.Options{Seed: true})
	s = newStack(t, withEnv(gh.Env(newHTTPServer(t, gh))))
	tenant, key = s.tenant("Acme")
	code, body := s.connectAs(key, "github", githubsandbox.SeedUser, map[string]any{"repos": []string{githubsandbox.SeedRepo}})
	require.Equal(t, http.StatusOK, code, body)
	conn = string(*connectionOf(t, body).ID)
	for _, j := range s.waitJobs(key, conn, "backfill", 3, 2*time.Minute) {
		require.Equal(t, models.JobStatusSucceeded, *j.Status, "%s: %s", *j.Stream, deref(j.Error))
	}
	return gh, s, tenant, key, conn
}
