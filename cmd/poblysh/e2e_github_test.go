package main

import (
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/gen/models"
	"github.com/poblysh/poblysh/sandbox"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
)

// GitHub's row: connect through GitHub's OAuth as a GitHub App (user tokens
// that expire, rotating refresh), backfill the seeded repository in pages
// of 5 with the access token expiring mid-backfill and a burst of 502s;
// webhooks of the repository hook deliver live activity; a merge whose
// webhooks never arrive is found by the incremental sync.
func init() {
	total := githubsandbox.SeedPullSignals + githubsandbox.SeedReleaseSignals + githubsandbox.SeedCommitSignals
	gh := func(r *providerRun) *githubsandbox.Server { return r.fake.(*githubsandbox.Server) }
	repo := func(r *providerRun) string { return r.url + "/_sandbox/github/repos/" + githubsandbox.SeedRepo }
	addProviderCase(providerCase{
		provider: "github",
		fake:     sandbox.Options{Faults: []string{githubsandbox.FaultGitHubApp}},
		env:      map[string]string{"POBLYSH_GITHUB_PAGE_SIZE": "5"},
		config:   map[string]any{"repos": []string{githubsandbox.SeedRepo}},
		streams:  3, // pulls, releases, commits
		backfill: total,
		watches:  1, // the repository hook
		wrap: func(r *providerRun, h http.Handler) http.Handler {
			// The access token expires in the middle of the backfill.
			var pulls atomic.Int32
			return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				if strings.HasSuffix(req.URL.Path, "/pulls") && pulls.Add(1) == 2 {
					gh(r).OAuth.ExpireAccessTokens()
				}
				h.ServeHTTP(w, req)
			})
		},
		beforeConnect: func(r *providerRun) {
			// A burst of 5xx on one stream: retried with backoff, then completes.
			gh(r).Faults.Add(sandbox.Fault{Status: 502, Count: 3, PathPrefix: "/repos/" + githubsandbox.SeedRepo + "/releases"})
		},
		afterBackfill: func(r *providerRun, sigs []*models.Signal) {
			k := kinds(sigs)
			require.Equal(r.t, githubsandbox.SeedPullSignals, k["pull_request.opened"]+k["pull_request.merged"]+k["pull_request.closed"])
			require.Equal(r.t, githubsandbox.SeedReleaseSignals, k["release.published"])
			require.Equal(r.t, githubsandbox.SeedCommitSignals, k["code.pushed"])
			require.GreaterOrEqual(r.t, gh(r).OAuth.Refreshes, 1, "the expired token was refreshed on demand")
			require.Equal(r.t, 3, gh(r).Faults.Hits, "the 5xx burst was served and retried through")
		},
		live: func(r *providerRun) {
			control(r.t, "POST", repo(r)+"/pulls", map[string]any{"title": "Launch blog post", "user": "hubot"})
			control(r.t, "POST", repo(r)+"/push", map[string]any{"commits": 2, "branch": "main", "user": "dependabot[bot]"})
			rc := control(r.t, "POST", repo(r)+"/releases", map[string]any{"tag_name": "v9.0.0", "name": "Nine", "prerelease": true})
			id := int64(rc["release"].(map[string]any)["id"].(float64))
			control(r.t, "POST", repo(r)+"/releases/"+strconv.FormatInt(id, 10)+"/promote", map[string]any{})
			added := r.arrive(4)
			var titled bool
			prerelease := map[bool]int{}
			for _, sg := range added {
				switch *sg.Kind {
				case "pull_request.opened":
					titled = strings.Contains(*sg.Payload.Title, "Launch blog post")
					require.False(r.t, sg.Payload.Actor.Bot, "hubot is a person")
				case "code.pushed":
					require.Equal(r.t, "dependabot[bot]", *sg.Payload.Actor.Name)
					require.True(r.t, sg.Payload.Actor.Bot, "a [bot] account is flagged")
				case "release.published":
					prerelease[sg.Payload.Attributes.(map[string]any)["prerelease"].(bool)]++
				}
			}
			require.True(r.t, titled, "the live pull_request webhook became a Signal")
			require.Equal(r.t, map[string]int{"pull_request.opened": 1, "code.pushed": 1, "release.published": 2}, kinds(added))
			require.Equal(r.t, map[bool]int{true: 1, false: 1}, prerelease, "the pre-release, then its promotion")
		},
		after: func(r *providerRun) {
			// GitHub pinged the new hook before its secret was stored; the
			// ping the service asked for once it was stored was verified and
			// recorded for this connection (GitHub shows the hook as working).
			// Not in live: the garbage run's provider answers that ping with
			// garbage, and a lost courtesy ping is no failure.
			eventually(r.t, 30*time.Second, "the hook's confirming ping recorded", func() bool {
				return r.s.count(`SELECT count(*) FROM webhook_events WHERE provider = 'github' AND event = 'ping'
					AND status = 'ignored' AND $1::uuid = ANY(connection_ids)`, r.id) > 0
			})

			// The repository's admin deletes the hook at GitHub. GitHub
			// sends it meta deleted, signed with its secret: the service
			// registers a new hook at once (hooks never expire, so nothing
			// else would have looked), and activity reaches it.
			old := gh(r).HookIDs(githubsandbox.SeedRepo)
			require.Len(r.t, old, 1)
			require.NoError(r.t, gh(r).DeleteHook(githubsandbox.SeedRepo, old[0]))
			var hooks []int64
			eventually(r.t, 30*time.Second, "a new hook stored in place of the one deleted at GitHub", func() bool {
				hooks = gh(r).HookIDs(githubsandbox.SeedRepo)
				return len(hooks) == 1 && hooks[0] != old[0] && r.s.count(`SELECT count(*) FROM watch_channels
					WHERE connection_id = $1 AND stopped_at IS NULL AND channel_id = $2`, r.id, strconv.FormatInt(hooks[0], 10)) == 1
			})
			require.Equal(r.t, 1, r.s.count(`SELECT count(*) FROM webhook_events WHERE provider = 'github' AND event = 'meta.deleted'
				AND status = 'accepted' AND $1::uuid = ANY(connection_ids)`, r.id), "the hook's meta deleted, verified and routed to its connection")
			eventually(r.t, 30*time.Second, "push on, through the new hook only", func() bool {
				c := r.s.connection(r.key, r.id)
				return *c.PushEnabled && len(c.Watches) == 1
			})
			control(r.t, "POST", repo(r)+"/pulls", map[string]any{"title": "After the hook came back", "user": "hubot"})
			require.Equal(r.t, map[string]int{"pull_request.opened": 1}, kinds(r.arrive(1)))
		},
		missed: func(r *providerRun) int {
			// A merge whose webhooks never arrive: the merged PR, and the two
			// commits it brings to the default branch (the PR's commit and
			// the merge commit).
			control(r.t, "POST", repo(r)+"/pulls/25/merge", map[string]any{"hold": true})
			return 3
		},
	})
}
