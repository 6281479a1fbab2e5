package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/gen/client/connections"
	"github.com/poblysh/poblysh/gen/models"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
)

// connectAs runs the OAuth flow as one user of the provider's sandbox (its
// authorize endpoint approves as the login= user) and returns the
// callback's status and body.
func (s *stack) connectAs(key, provider, login string, cfg any) (int, string) {
	s.t.Helper()
	res := s.startConnect(key, provider, cfg)
	return s.callback(s.authorize(res.AuthorizationURL.String(), func(q url.Values) { q.Set("login", login) }))
}

// deliveryAnswers returns the service's answers to the deliveries a sandbox
// control call made.
func deliveryAnswers(out map[string]any) []string {
	var bodies []string
	dels, _ := out["deliveries"].([]any)
	for _, d := range dels {
		resps, _ := d.(map[string]any)["responses"].([]any)
		for _, r := range resps {
			b, _ := r.(map[string]any)["body"].(string)
			bodies = append(bodies, b)
		}
	}
	return bodies
}

func connectionOf(t *testing.T, body string) *models.Connection {
	t.Helper()
	var out models.ConnectCallbackResponse
	require.NoError(t, json.Unmarshal([]byte(body), &out), body)
	return out.Connection
}

// TestGitHubRoutesOnlyProvedRepositories: tenant B names tenant A's private
// repository at connect and by PATCH and is refused with 422 naming it;
// nothing of A's activity reaches B, by webhook, sync or backfill; a
// signed body replayed under another delivery id is a duplicate; and when
// A loses access its route is dropped and the connection degraded, then
// both come back with access.
func TestGitHubRoutesOnlyProvedRepositories(t *testing.T) {
	t.Parallel()
	gh := githubsandbox.New(githubsandbox.Options{Seed: true})
	base := newHTTPServer(t, gh)
	s := newStack(t, withEnv(gh.Env(base)))
	const private = "acme/launch-plans"
	_, err := gh.CreateRepo(private, "", true)
	require.NoError(t, err)
	gh.AddUser("alice")
	gh.AddUser("mallory")
	// Alice administers it: only admins may manage a repository's hooks.
	require.NoError(t, gh.SetAdmin(private, "alice", true))
	tenantA, keyA := s.tenant("Acme")
	tenantB, keyB := s.tenant("Mallory Inc")

	code, body := s.connectAs(keyA, "github", "alice", map[string]any{"repos": []string{private}})
	require.Equal(t, http.StatusOK, code, body)
	connA := string(*connectionOf(t, body).ID)
	for _, j := range s.waitJobs(keyA, connA, "backfill", 3, 2*time.Minute) {
		require.Equal(t, models.JobStatusSucceeded, *j.Status, "%s: %s", *j.Stream, deref(j.Error))
	}
	var hookA string
	eventually(t, 30*time.Second, "A's repository hook", func() bool {
		c := s.connection(keyA, connA)
		if len(c.Watches) == 1 && *c.PushEnabled {
			hookA = *c.Watches[0].ChannelID
			return true
		}
		return false
	})
	repoID := strconv.FormatInt(gh.RepoID(private), 10)
	require.Equal(t, 1, s.count(`SELECT count(*) FROM webhook_routes WHERE connection_id = $1 AND route_key = $2`, connA, "repo:"+repoID),
		"A's proved repository is routed by its id")

	// B names A's private repository at connect: refused, nothing stored.
	code, body = s.connectAs(keyB, "github", "mallory", map[string]any{"repos": []string{private}})
	require.Equal(t, http.StatusUnprocessableEntity, code, body)
	require.Contains(t, body, `"code":"invalid_config"`)
	require.Contains(t, body, private)
	require.Zero(t, s.count(`SELECT count(*) FROM connections WHERE tenant_id = $1`, tenantB), "a refused connect stores nothing")

	// B connects to a public repository, then PATCHes A's in: refused.
	code, body = s.connectAs(keyB, "github", "mallory", map[string]any{"repos": []string{githubsandbox.SeedRepo}})
	require.Equal(t, http.StatusOK, code, body)
	connB := string(*connectionOf(t, body).ID)
	s.waitJobs(keyB, connB, "backfill", 3, 2*time.Minute)
	for _, repos := range [][]string{{private}, {githubsandbox.SeedRepo, private}} {
		_, err := s.client.Connections.UpdateConnection(connections.NewUpdateConnectionParams().WithID(strfmt.UUID(connB)).
			WithBody(&models.ConnectionPatch{Config: map[string]any{"repos": repos}}), httptransport.BearerToken(keyB))
		var refused *connections.UpdateConnectionUnprocessableEntity
		require.ErrorAs(t, err, &refused)
		require.Equal(t, "invalid_config", *refused.Payload.Error.Code)
		require.Contains(t, *refused.Payload.Error.Message, private)
		require.Contains(t, refused.Payload.Error.Details, private, "details name the repository with its reason")
	}
	require.JSONEq(t, `{"repos":["`+githubsandbox.SeedRepo+`"]}`, string(mustJSON(t, s.connection(keyB, connB).Config)), "the config is unchanged")
	require.Zero(t, s.count(`SELECT count(*) FROM webhook_routes WHERE tenant_id = $1 AND route_key = $2`, tenantB, "repo:"+repoID))

	// Activity in A's repository reaches A only.
	beforeA := s.count(`SELECT count(*) FROM signals WHERE tenant_id = $1`, tenantA)
	control(t, "POST", base+"/_sandbox/github/repos/"+private+"/pulls", map[string]any{"title": "Embargoed launch", "user": "alice"})
	eventually(t, 30*time.Second, "A's Signal", func() bool {
		return s.count(`SELECT count(*) FROM signals WHERE tenant_id = $1`, tenantA) == beforeA+1
	})
	s.sync(keyB, "github", connB, "incremental")
	s.sync(keyB, "github", connB, "backfill")
	leaked := `SELECT count(*) FROM signals WHERE tenant_id = $1 AND (payload->'context'->>'id' = $2 OR payload->'context'->>'name' ILIKE 'acme/%')`
	require.Zero(t, s.count(leaked, tenantB, repoID), "nothing of A's private repository in B's feed")
	require.Zero(t, s.count(`SELECT count(*) FROM webhook_events WHERE $1::uuid = ANY (tenant_ids)
		AND convert_from(raw_body, 'UTF8') LIKE '%acme/launch-plans%'`, tenantB), "no delivery of A's repository routed to B")

	// The same signed body under a new delivery id is a replay: a duplicate.
	act, err := gh.OpenPull(private, githubsandbox.PullInput{Title: "Replayed", User: "alice"})
	require.NoError(t, err)
	hookID, _ := strconv.ParseInt(hookA, 10, 64)
	d, err := gh.HookDelivery(act.Events[0], hookID)
	require.NoError(t, err)
	hook := s.base + "/api/v1/webhooks/github?connection=" + url.QueryEscape(connA)
	code, body = post(t, hook, d)
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"status":"accepted"`)
	replay := withHeader(d, "X-GitHub-Delivery", "replayed-"+d.Header.Get("X-GitHub-Delivery"))
	code, body = post(t, hook, replay)
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"status":"duplicate"`)
	// Signed by A's hook, but claiming to come from another hook: refused.
	code, body = post(t, hook, withHeader(d, "X-GitHub-Hook-ID", "999999"))
	require.Equal(t, http.StatusUnauthorized, code, body)

	// A loses access: GitHub sends the member event to A's hook, and the
	// sync it starts fails at once (not at the reconciliation poll hours
	// later, while the hook kept delivering to A); the route is dropped,
	// health says why.
	out := control(t, "DELETE", base+"/_sandbox/github/repos/"+private+"/collaborators/alice", map[string]any{"user": "acme"})
	answers := deliveryAnswers(out)
	require.Len(t, answers, 1, "A's hook")
	require.Contains(t, answers[0], `"status":"accepted"`)
	eventually(t, time.Minute, "A's repository routes dropped without a sync by hand", func() bool {
		return len(s.repoRoutes(connA)) == 0
	})
	for _, j := range s.waitJobs(keyA, connA, "incremental", 3, time.Minute) {
		require.Equal(t, models.JobStatusFailed, *j.Status, "the sync the member event started")
	}
	c := s.connection(keyA, connA)
	require.EqualValues(t, "degraded", *c.Health)
	require.Contains(t, c.HealthReason, private)
	require.Equal(t, []string{"user:" + strconv.FormatInt(gh.UserID("alice"), 10)}, s.routes(connA),
		"no repository route without access; A's own account stays routed")
	beforeA = s.count(`SELECT count(*) FROM signals WHERE tenant_id = $1`, tenantA)
	answers = deliveryAnswers(control(t, "POST", base+"/_sandbox/github/repos/"+private+"/pulls", map[string]any{"title": "While locked out", "user": "bob"}))
	require.Len(t, answers, 1)
	require.Contains(t, answers[0], `"status":"unroutable"`, "the hook still delivers, but nothing routes it")
	require.Equal(t, beforeA, s.count(`SELECT count(*) FROM signals WHERE tenant_id = $1`, tenantA))

	// Access returns: the next sync proves it again; route and health come back.
	require.NoError(t, gh.SetAdmin(private, "alice", true))
	for _, j := range s.sync(keyA, "github", connA, "incremental") {
		require.Equal(t, models.JobStatusSucceeded, *j.Status, deref(j.Error))
	}
	require.EqualValues(t, "healthy", *s.connection(keyA, connA).Health)
	require.Equal(t, 1, s.count(`SELECT count(*) FROM webhook_routes WHERE connection_id = $1 AND route_key = $2`, connA, "hook:"+hookA))
	control(t, "POST", base+"/_sandbox/github/repos/"+private+"/pulls", map[string]any{"title": "Back in", "user": "alice"})
	eventually(t, 30*time.Second, "A's Signal after access returned", func() bool {
		return s.count(`SELECT count(*) FROM signals WHERE tenant_id = $1 AND payload->>'title' LIKE '%Back in%'`, tenantA) == 1
	})
}

// TestGitHubTwoTenantsOneRepository: two tenants following one repository
// each get their own hook with its own secret; an event reaches both hooks
// under one X-GitHub-Delivery and is stored for both; when A disconnects,
// only A's hook is deleted and B keeps receiving webhooks.
func TestGitHubTwoTenantsOneRepository(t *testing.T) {
	t.Parallel()
	gh := githubsandbox.New(githubsandbox.Options{Seed: true})
	base := newHTTPServer(t, gh)
	s := newStack(t, withEnv(gh.Env(base)))
	// Both administer the repository: only admins may manage its hooks.
	for _, login := range []string{"alice", "bob"} {
		require.NoError(t, gh.SetAdmin(githubsandbox.SeedRepo, login, true))
	}
	tenantA, keyA := s.tenant("Acme")
	tenantB, keyB := s.tenant("Bolt")
	cfg := map[string]any{"repos": []string{githubsandbox.SeedRepo}}
	code, body := s.connectAs(keyA, "github", "alice", cfg)
	require.Equal(t, http.StatusOK, code, body)
	connA := string(*connectionOf(t, body).ID)
	code, body = s.connectAs(keyB, "github", "bob", cfg)
	require.Equal(t, http.StatusOK, code, body)
	connB := string(*connectionOf(t, body).ID)
	hooks := map[string]string{}
	for key, id := range map[string]string{keyA: connA, keyB: connB} {
		eventually(t, 30*time.Second, "a hook per connection", func() bool {
			c := s.connection(key, id)
			if len(c.Watches) == 1 && *c.PushEnabled {
				hooks[id] = *c.Watches[0].ChannelID
				return true
			}
			return false
		})
	}
	require.NotEqual(t, hooks[connA], hooks[connB], "each connection has its own hook")
	require.Equal(t, 2, gh.HookCount(githubsandbox.SeedRepo))

	countTitle := func(tenant, title string) int {
		return s.count(`SELECT count(*) FROM signals WHERE tenant_id = $1 AND payload->>'title' LIKE '%' || $2 || '%'`, tenant, title)
	}
	// GitHub sends the event to both hooks under one X-GitHub-Delivery (the
	// event's GUID): each hook's delivery is recorded and stored on its own.
	out := control(t, "POST", base+"/_sandbox/github/repos/"+githubsandbox.SeedRepo+"/pulls", map[string]any{"title": "Both see this", "user": "hubot"})
	answers := deliveryAnswers(out)
	require.Len(t, answers, 2, "one delivery per hook")
	for _, a := range answers {
		require.Contains(t, a, `"status":"accepted"`)
	}
	dels := out["deliveries"].([]any)
	guid := dels[0].(map[string]any)["delivery_id"].(string)
	require.Equal(t, guid, dels[1].(map[string]any)["delivery_id"], "one GUID for the event")
	eventually(t, 30*time.Second, "the PR in both feeds", func() bool {
		return countTitle(tenantA, "Both see this") == 1 && countTitle(tenantB, "Both see this") == 1
	})
	for _, conn := range []string{connA, connB} {
		require.Equal(t, 1, s.count(`SELECT count(*) FROM webhook_events WHERE delivery_id = $1 AND status = 'accepted'
			AND connection_ids = ARRAY[$2::uuid]`, hooks[conn]+"/"+guid, conn), "each hook's delivery is recorded as <hook id>/<GUID>")
	}

	req, _ := http.NewRequest(http.MethodDelete, s.base+"/api/v1/connections/"+connA, nil)
	req.Header.Set("Authorization", "Bearer "+keyA)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.Equal(t, 1, gh.HookCount(githubsandbox.SeedRepo), "A's disconnect deleted A's hook only")

	require.True(t, *s.connection(keyB, connB).PushEnabled)
	control(t, "POST", base+"/_sandbox/github/repos/"+githubsandbox.SeedRepo+"/pulls", map[string]any{"title": "Only B now", "user": "hubot"})
	eventually(t, 30*time.Second, "B still receives webhooks", func() bool { return countTitle(tenantB, "Only B now") == 1 })
	require.Zero(t, countTitle(tenantA, "Only B now"))
}

// TestGitHubAppAccessLossStopsOtherTenantsDeliveries: a GitHub App's
// app-level deliveries of a repository reach every connection that proved
// it, whichever installation they come for. When one user is removed as a
// collaborator, GitHub's member event makes that user's connection sync at
// once: its route is dropped and the repository's next delivery reaches
// only the tenant that still reads it.
func TestGitHubAppAccessLossStopsOtherTenantsDeliveries(t *testing.T) {
	t.Parallel()
	gh := githubsandbox.New(githubsandbox.Options{Seed: true, AccessTTL: 8 * time.Hour})
	base := newHTTPServer(t, gh)
	s := newStack(t, withEnv(gh.Env(base)))
	gh.Deliverer.SetTarget(s.base + "/api/v1/webhooks/github")
	const private = "acme/launch-plans"
	_, err := gh.CreateRepo(private, "", true)
	require.NoError(t, err)
	// Alice administers it too, so each connection gets a hook.
	require.NoError(t, gh.SetAdmin(private, "alice", true))
	tenantA, keyA := s.tenant("Alice's agency")
	tenantB, keyB := s.tenant("Acme")
	cfg := map[string]any{"repos": []string{private}}
	conns := map[string]string{}
	for _, c := range []struct{ key, login string }{{keyA, "alice"}, {keyB, "acme"}} {
		code, body := s.connectAs(c.key, "github", c.login, cfg)
		require.Equal(t, http.StatusOK, code, body)
		conns[c.key] = string(*connectionOf(t, body).ID)
		s.waitJobs(c.key, conns[c.key], "backfill", 3, 2*time.Minute)
	}
	connA, connB := conns[keyA], conns[keyB]
	repoKey := "repo:" + strconv.FormatInt(gh.RepoID(private), 10)
	require.Contains(t, s.routes(connA), repoKey)
	require.Contains(t, s.routes(connB), repoKey)

	// Alice is removed: GitHub sends member (removed) as an app-level
	// delivery (and to each connection's hook); A's connection syncs and
	// loses the repository, B's syncs and keeps it.
	out := control(t, "DELETE", base+"/_sandbox/github/repos/"+private+"/collaborators/alice", map[string]any{"user": "acme"})
	answers := deliveryAnswers(out)
	require.NotEmpty(t, answers)
	for _, a := range answers {
		require.Contains(t, a, `"status":"accepted"`)
	}
	eventually(t, time.Minute, "A's repository route dropped without a sync by hand", func() bool {
		return !slices.Contains(s.routes(connA), repoKey)
	})
	// The health event follows the routes' transaction (loseAccess).
	eventually(t, 30*time.Second, "A's connection degraded", func() bool {
		return *s.connection(keyA, connA).Health == "degraded"
	})
	require.Contains(t, s.routes(connB), repoKey, "B still reads the repository")

	// The repository's next app-level delivery reaches B only.
	answers = deliveryAnswers(control(t, "POST", base+"/_sandbox/github/repos/"+private+"/pulls", map[string]any{"title": "Board only", "user": "acme"}))
	require.NotEmpty(t, answers)
	countTitle := func(tenant string) int {
		return s.count(`SELECT count(*) FROM signals WHERE tenant_id = $1 AND payload->>'title' LIKE '%Board only%'`, tenant)
	}
	eventually(t, 30*time.Second, "B's Signal", func() bool { return countTitle(tenantB) == 1 })
	require.Zero(t, countTitle(tenantA), "nothing of the repository reaches A after it lost access")
	require.Zero(t, s.count(`SELECT count(*) FROM webhook_events WHERE $1::uuid = ANY (tenant_ids)
		AND convert_from(raw_body, 'UTF8') LIKE '%Board only%'`, tenantA))
}

// TestGitHubTransferredRepositoryIsSyncedAtOnce: a repository transferred
// to an account its connection's user cannot read sends repository
// transferred to the connection's hook (subscribed to "repository"),
// which the service takes for an access event: the connection syncs at
// once, finds the repository gone (404 by id), drops its routes and is
// degraded, without waiting for its 6-hour reconcile. The sandbox sent no
// event for a transfer, so this path was never exercised end to end.
func TestGitHubTransferredRepositoryIsSyncedAtOnce(t *testing.T) {
	t.Parallel()
	gh := githubsandbox.New(githubsandbox.Options{Seed: true})
	base := newHTTPServer(t, gh)
	s := newStack(t, withEnv(gh.Env(base)))
	const private = "alice/launch-plans"
	_, err := gh.CreateRepo(private, "", true)
	require.NoError(t, err)
	_, key := s.tenant("Alice's agency")
	code, body := s.connectAs(key, "github", "alice", map[string]any{"repos": []string{private}})
	require.Equal(t, http.StatusOK, code, body)
	conn := string(*connectionOf(t, body).ID)
	s.waitJobs(key, conn, "backfill", 3, 2*time.Minute)
	eventually(t, 30*time.Second, "the repository's hook", func() bool {
		c := s.connection(key, conn)
		return len(c.Watches) == 1 && *c.PushEnabled
	})
	repoKey := "repo:" + strconv.FormatInt(gh.RepoID(private), 10)
	require.Contains(t, s.routes(conn), repoKey)

	out := control(t, "POST", base+"/_sandbox/github/repos/"+private+"/rename", map[string]any{"owner": "acme-corp"})
	answers := deliveryAnswers(out)
	require.Len(t, answers, 1, "repository transferred, to the connection's hook")
	require.Contains(t, answers[0], `"status":"accepted"`)
	eventually(t, time.Minute, "the repository's route dropped without a sync by hand", func() bool {
		return !slices.Contains(s.routes(conn), repoKey)
	})
	eventually(t, 30*time.Second, "the connection degraded", func() bool {
		return *s.connection(key, conn).Health == "degraded"
	})
	require.Equal(t, 1, s.count(`SELECT count(*) FROM webhook_events WHERE provider = 'github' AND event = 'repository.transferred'`))
}

// TestGitHubAppUninstalledFromARepositoryIsSyncedAtOnce: a GitHub App
// taken off one repository of an installation sends the App
// installation_repositories removed, naming it in repositories_removed;
// the service routes it to every connection that proved the repository
// (repo:<id>), which syncs at once: a private repository the app no
// longer reaches answers its user token 404, so its routes are dropped
// and the connection is degraded. The sandbox sent no event for an
// uninstallation, so this path was never exercised end to end.
func TestGitHubAppUninstalledFromARepositoryIsSyncedAtOnce(t *testing.T) {
	t.Parallel()
	gh := githubsandbox.New(githubsandbox.Options{Seed: true, AccessTTL: 8 * time.Hour})
	base := newHTTPServer(t, gh)
	s := newStack(t, withEnv(gh.Env(base)))
	gh.Deliverer.SetTarget(s.base + "/api/v1/webhooks/github")
	const private = "acme/launch-plans"
	for _, r := range []string{private, "acme/website"} { // one installation, two repositories
		_, err := gh.CreateRepo(r, "", true)
		require.NoError(t, err)
	}
	require.NoError(t, gh.SetAdmin(private, "alice", true))
	_, key := s.tenant("Acme")
	code, body := s.connectAs(key, "github", "alice", map[string]any{"repos": []string{private}})
	require.Equal(t, http.StatusOK, code, body)
	conn := string(*connectionOf(t, body).ID)
	s.waitJobs(key, conn, "backfill", 3, 2*time.Minute)
	repoKey := "repo:" + strconv.FormatInt(gh.RepoID(private), 10)
	require.Contains(t, s.routes(conn), repoKey)

	out := control(t, "POST", base+"/_sandbox/github/repos/"+private+"/installation", map[string]any{"installed": false, "user": "acme"})
	answers := deliveryAnswers(out)
	require.Len(t, answers, 1, "installation_repositories removed, to the App")
	require.Contains(t, answers[0], `"status":"accepted"`)
	eventually(t, time.Minute, "the repository's route dropped without a sync by hand", func() bool {
		return !slices.Contains(s.routes(conn), repoKey)
	})
	eventually(t, 30*time.Second, "the connection degraded", func() bool {
		return *s.connection(key, conn).Health == "degraded"
	})
	require.Equal(t, 1, s.count(`SELECT count(*) FROM webhook_events WHERE provider = 'github' AND event = 'installation_repositories.removed'`))
}

// repoRoutes lists a connection's repository and hook routes.
func (s *stack) repoRoutes(connID string) []string {
	var out []string
	for _, k := range s.routes(connID) {
		if strings.HasPrefix(k, "repo:") || strings.HasPrefix(k, "hook:") {
			out = append(out, k)
		}
	}
	return out
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}
