package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/github"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/lifecycle"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
	"github.com/poblysh/poblysh/vault"
)

// watchOrchestrator records the schedule syncs and watch passes activities
// ask for; anything else panics (the embedded interface is nil).
type watchOrchestrator struct {
	Orchestrator
	mu    sync.Mutex
	calls []string
}

func (o *watchOrchestrator) SyncSchedules(context.Context, string, string) error {
	o.record("SyncSchedules")
	return nil
}

func (o *watchOrchestrator) StartWatchReconcile(context.Context, poblysh.ConnectionRef, poblysh.Trigger) error {
	o.record("StartWatchReconcile")
	return nil
}

func (o *watchOrchestrator) record(call string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, call)
}

// take returns the calls recorded since the last take.
func (o *watchOrchestrator) take() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := o.calls
	o.calls = nil
	return out
}

// githubHooksEnv is a GitHub connection following the sandbox's seeded
// repository, with a public URL, so that watch passes register repository
// hooks (their deliveries go to a sink that accepts everything).
type githubHooksEnv struct {
	schema *dbtest.Schema
	srv    *githubsandbox.Server
	api    string
	token  string
	reg    *connectors.Registry
	p      *connectors.Provider
	acts   *Activities
	orch   *watchOrchestrator
	ref    poblysh.ConnectionRef
}

func newGitHubHooksEnv(t *testing.T, repos ...string) *githubHooksEnv {
	t.Helper()
	if len(repos) == 0 {
		repos = []string{"octo-org/hello-world"}
	}
	config, err := json.Marshal(map[string][]string{"repos": repos})
	require.NoError(t, err)
	ctx := context.Background()
	e := &githubHooksEnv{schema: dbtest.NewSchema(t), orch: &watchOrchestrator{}}
	kr := dbtest.KeyRing(t)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) }))
	t.Cleanup(sink.Close)
	e.srv = githubsandbox.New(githubsandbox.Options{Seed: true})
	ts := httptest.NewServer(e.srv)
	t.Cleanup(func() { e.srv.Wait(); ts.Close() })
	e.api = ts.URL
	for _, r := range repos {
		if !strings.EqualFold(r, githubsandbox.SeedRepo) {
			_, err := e.srv.CreateRepo(r, "", false)
			require.NoError(t, err)
		}
	}
	env := e.srv.Env(ts.URL)
	e.reg, err = connectors.Build([]*connectors.Spec{github.Spec}, func(k string) string { return env[k] }, sink.URL, true)
	require.NoError(t, err)
	e.p, _ = e.reg.Get("github")
	e.acts = &Activities{DB: e.schema.DB, KeyRing: kr, Registry: e.reg, Orchestrator: e.orch}
	tok, err := e.srv.IssueToken("")
	require.NoError(t, err)
	e.token = tok.AccessToken
	var tenant, connID string
	require.NoError(t, e.schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
		tn, _, _, err := tx.CreateTenant(ctx, "hooks")
		tenant = tn.ID
		return err
	}))
	acct, err := json.Marshal(connectors.Account{ID: "583231", Name: "octocat", Metadata: map[string]string{"token": "oauth_app"}})
	require.NoError(t, err)
	require.NoError(t, e.schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "github", ExternalAccountID: "583231", DisplayName: "octocat",
			Account: acct, Config: config})
		if err != nil {
			return err
		}
		connID = c.ID
		return tx.SaveTokens(ctx, kr, c.ID, db.Tokens{AccessToken: tok.AccessToken, TokenType: "Bearer"})
	}))
	e.ref = poblysh.ConnectionRef{TenantID: tenant, ConnectionID: connID, Provider: "github"}
	return e
}

func (e *githubHooksEnv) pass(t *testing.T) ReconcileWatchesResult {
	t.Helper()
	res, err := e.acts.ReconcileWatches(context.Background(), ReconcileWatchesInput{ConnectionRef: e.ref})
	require.NoError(t, err)
	return res
}

// state is what the connection stores: push_enabled, its poll interval,
// its open channels' ids and its routes.
// registered runs the first watch pass, which registers the one hook, and
// returns its id.
func (e *githubHooksEnv) registered(t *testing.T) string {
	t.Helper()
	require.Equal(t, 1, e.pass(t).Created)
	_, _, channels, _ := e.state(t)
	require.Len(t, channels, 1)
	return channels[0]
}

func (e *githubHooksEnv) state(t *testing.T) (push bool, poll string, channels, routes []string) {
	t.Helper()
	ctx := context.Background()
	var c *db.Connection
	require.NoError(t, e.schema.DB.WithTenant(ctx, e.ref.TenantID, func(tx *db.Tx) error {
		var err error
		if c, err = tx.FindConnection(ctx, e.ref.ConnectionID); err != nil {
			return err
		}
		open, err := tx.ActiveWatchChannels(ctx, e.ref.ConnectionID)
		if err != nil {
			return err
		}
		for _, ch := range open {
			channels = append(channels, ch.ChannelID)
		}
		return tx.SelectContext(ctx, &routes, `SELECT route_key FROM webhook_routes WHERE connection_id = $1 ORDER BY route_key`, e.ref.ConnectionID)
	}))
	return c.PushEnabled, lifecycle.PollInterval(e.reg, c).String(), channels, routes
}

// hooks lists the seeded repository's hooks at GitHub: id and active.
func (e *githubHooksEnv) hooks(t *testing.T) []string {
	t.Helper()
	return e.hooksOf(t, githubsandbox.SeedRepo)
}

// github calls the GitHub sandbox's REST API at path as the connection's
// user; the caller closes the body.
func (e *githubHooksEnv) github(t *testing.T, method, path, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, e.api+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return resp
}

// hooksOf lists a repository's hooks at GitHub: id and active.
func (e *githubHooksEnv) hooksOf(t *testing.T, fullName string) []string {
	t.Helper()
	resp := e.github(t, http.MethodGet, "/repos/"+fullName+"/hooks", "")
	defer resp.Body.Close()
	var out []struct {
		ID     int64    `json:"id"`
		Active bool     `json:"active"`
		Events []string `json:"events"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	var hooks []string
	for _, h := range out {
		hooks = append(hooks, fmt.Sprintf("%d active=%v meta=%v", h.ID, h.Active, strings.Contains(strings.Join(h.Events, ","), "meta")))
	}
	return hooks
}

// TestGitHubHookGoneAtGitHubIsRegisteredAgain: a repository hook its
// repository's admin deleted or disabled at GitHub was never noticed:
// hooks never expire, so no renewal looked at one again, and a watch pass
// (a resume or a reconnect runs one) took the stored channel for fresh.
// Push stayed on: the connection polled at the 6 h reconcile interval,
// pull requests and releases came up to 6 h late, and pushes to other
// branches than the default one were never read. The pass now reads each
// hook it keeps, and registers again one gone (a new hook) or disabled
// (the same hook, enabled).
func TestGitHubHookGoneAtGitHubIsRegisteredAgain(t *testing.T) {
	t.Parallel()
	e := newGitHubHooksEnv(t)
	res := e.pass(t)
	require.Equal(t, 1, res.Created)
	require.True(t, res.PushEnabled)
	_, _, channels, _ := e.state(t)
	require.Len(t, channels, 1)
	first := channels[0]
	require.Equal(t, []string{first + " active=true meta=true"}, e.hooks(t))
	e.orch.take()

	// Deleted at GitHub (Settings → Webhooks → Delete).
	id, err := strconv.ParseInt(first, 10, 64)
	require.NoError(t, err)
	require.NoError(t, e.srv.DeleteHook(githubsandbox.SeedRepo, id))
	require.Empty(t, e.hooks(t))
	res = e.pass(t)
	require.Equal(t, 1, res.Created, "a new hook")
	require.Equal(t, 1, res.Stopped, "the stored one, gone at GitHub, is stopped")
	require.True(t, res.PushEnabled)
	require.Equal(t, []string{"SyncSchedules"}, e.orch.take(), "the schedule follows the pass")
	push, poll, channels, routes := e.state(t)
	require.Len(t, channels, 1)
	second := channels[0]
	require.NotEqual(t, first, second)
	require.Equal(t, []string{second + " active=true meta=true"}, e.hooks(t))
	require.True(t, push)
	require.Equal(t, "6h0m0s", poll)
	require.Contains(t, routes, "hook:"+second)
	require.NotContains(t, routes, "hook:"+first)

	// Disabled at GitHub: enabled again in place.
	e.github(t, http.MethodPatch, "/repos/octo-org/hello-world/hooks/"+second, `{"active":false}`).Body.Close()
	require.Equal(t, []string{second + " active=false meta=true"}, e.hooks(t))
	res = e.pass(t)
	require.Equal(t, 1, res.Created, "answered with the same hook")
	require.Zero(t, res.Stopped)
	_, _, channels, _ = e.state(t)
	require.Equal(t, []string{second}, channels)
	require.Equal(t, []string{second + " active=true meta=true"}, e.hooks(t))

	// A pass with nothing wrong changes nothing.
	res = e.pass(t)
	require.Zero(t, res.Created)
	require.Zero(t, res.Stopped)
	require.True(t, res.PushEnabled)
}

// TestGitHubLostRepositoryPollsUntilReadAgain: a sync that finds the
// repository unreadable (404 or 403) drops its routes, its hook's
// included, but push_enabled stayed on: the connection polled at the 6 h
// reconcile interval although nothing delivered for that repository, the
// rule the watch pass keeps (push is on only when every target has a
// routed channel) broken until the next pass. The loss now turns push off
// and the schedule follows (polling every 15 min reads the repository
// again); reading it again turns push back on. When a watch pass stopped
// the lost repository's hook meanwhile, reading it again starts a pass,
// which registers a new hook.
func TestGitHubLostRepositoryPollsUntilReadAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newGitHubHooksEnv(t)
	require.True(t, e.pass(t).PushEnabled)
	e.orch.take()
	push, poll, channels, routes := e.state(t)
	require.True(t, push)
	require.Equal(t, "6h0m0s", poll)
	hook := "hook:" + channels[0]
	require.Contains(t, routes, hook)

	lost := fmt.Errorf("%w: Not Found", connectors.ErrNotFound)
	require.True(t, e.acts.loseAccess(ctx, e.ref, e.p, "octo-org/hello-world", lost))
	push, poll, _, routes = e.state(t)
	require.NotContains(t, routes, hook, "the lost repository's hook is not routed")
	require.False(t, push, "so push does not cover it")
	require.Equal(t, "15m0s", poll, "and the connection polls, reading the repository again")
	require.Equal(t, []string{"SyncSchedules"}, e.orch.take(), "the schedule follows")
	require.True(t, e.acts.loseAccess(ctx, e.ref, e.p, "octo-org/hello-world", lost))
	require.Empty(t, e.orch.take(), "lost again: nothing changes")

	// Read again (a sync's page): routed, push back on, the schedule follows.
	c, err := e.acts.authorize(ctx, e.ref)
	require.NoError(t, err)
	require.NoError(t, e.acts.regainAccess(ctx, e.ref, e.p, "octo-org/hello-world", c.client, lifecycle.View(c.conn)))
	push, poll, _, routes = e.state(t)
	require.Contains(t, routes, hook)
	require.True(t, push)
	require.Equal(t, "6h0m0s", poll)
	require.Equal(t, []string{"SyncSchedules"}, e.orch.take(), "the hook was kept: no pass needed")

	// Lost, and a watch pass meanwhile stops its hook.
	require.True(t, e.acts.loseAccess(ctx, e.ref, e.p, "octo-org/hello-world", lost))
	res := e.pass(t)
	require.Equal(t, 1, res.Stopped)
	require.False(t, res.PushEnabled)
	require.Equal(t, []string{"octo-org/hello-world"}, res.Uncovered)
	require.Empty(t, e.hooks(t))
	require.NotContains(t, e.orch.take(), "StartWatchReconcile", "a repository still lost starts no other pass")
	require.NoError(t, e.acts.regainAccess(ctx, e.ref, e.p, "octo-org/hello-world", c.client, lifecycle.View(c.conn)))
	push, poll, _, _ = e.state(t)
	require.False(t, push, "read again, but no hook delivers yet")
	require.Equal(t, "15m0s", poll)
	require.Equal(t, []string{"StartWatchReconcile"}, e.orch.take(), "its watch pass starts")
	res = e.pass(t)
	require.Equal(t, 1, res.Created)
	require.True(t, res.PushEnabled)
	require.Len(t, e.hooks(t), 1)
}

// gateDelete holds the first hook DELETE until released, so a test can act
// while a watch pass is stopping a hook; refuseCreate answers hook
// creation 403, as GitHub does to a token that may not manage hooks.
type gateDelete struct {
	base         http.RoundTripper
	once         sync.Once
	reached      chan struct{}
	release      chan struct{}
	refuseCreate atomic.Bool
}

func (g *gateDelete) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodDelete && strings.Contains(r.URL.Path, "/hooks/") {
		held := false
		g.once.Do(func() { held = true })
		if held {
			close(g.reached)
			<-g.release
		}
	}
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/hooks") && g.refuseCreate.Load() {
		body := `{"message":"Resource not accessible by integration","documentation_url":"https://docs.github.com/rest"}`
		return &http.Response{StatusCode: http.StatusForbidden, Status: "403 Forbidden", Request: r, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body))}, nil
	}
	return g.base.RoundTrip(r)
}

// TestGitHubRepositoryReadAgainWhileAPassStopsItsHook: a watch pass that
// began while a repository was lost stops its hook; a sync that read the
// repository again while the pass was deleting the hook found the hook's
// channel still open and routed, so it turned push back on and started no
// pass. The pass then stopped the channel and turned push off, and
// nothing ever started another: the repository was granted (no later sync
// regained it) and GitHub hooks never expire (no renewal), so the
// connection polled for good with no hook. The pass now starts one more
// pass when a target it did not watch (not granted when it began) is
// granted and uncovered when it ends; that pass registers the hook. A
// target that stays uncovered in a pass that tried to watch it (refused)
// or that stays lost starts none: no pass after pass.
func TestGitHubRepositoryReadAgainWhileAPassStopsItsHook(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newGitHubHooksEnv(t)
	require.True(t, e.pass(t).PushEnabled)
	lost := fmt.Errorf("%w: Not Found", connectors.ErrNotFound)
	require.True(t, e.acts.loseAccess(ctx, e.ref, e.p, githubsandbox.SeedRepo, lost))
	c, err := e.acts.authorize(ctx, e.ref)
	require.NoError(t, err)
	e.orch.take()

	g := &gateDelete{base: http.DefaultTransport, reached: make(chan struct{}), release: make(chan struct{})}
	e.reg.SetBaseTransport(g)
	done := make(chan ReconcileWatchesResult, 1)
	errs := make(chan error, 1)
	go func() {
		res, err := e.acts.ReconcileWatches(ctx, ReconcileWatchesInput{ConnectionRef: e.ref})
		errs <- err
		done <- res
	}()
	<-g.reached // the pass deletes the lost repository's hook at GitHub
	require.NoError(t, e.acts.regainAccess(ctx, e.ref, e.p, githubsandbox.SeedRepo, c.client, lifecycle.View(c.conn)))
	require.Equal(t, []string{"SyncSchedules"}, e.orch.take(), "the hook's channel is still open: push back on, no pass from the regain")
	close(g.release)
	require.NoError(t, <-errs)
	res := <-done
	require.Equal(t, 1, res.Stopped)
	require.False(t, res.PushEnabled)
	require.Equal(t, []string{githubsandbox.SeedRepo}, res.Uncovered)
	require.Empty(t, e.hooks(t))
	push, poll, channels, _ := e.state(t)
	require.False(t, push)
	require.Equal(t, "15m0s", poll)
	require.Empty(t, channels)
	require.Equal(t, []string{"SyncSchedules", "StartWatchReconcile"}, e.orch.take(),
		"the repository it did not watch is granted now, without a hook: one more pass")

	// That pass is refused the hook: the repository stays uncovered, but
	// the pass tried it, so it starts no other.
	g.refuseCreate.Store(true)
	res = e.pass(t)
	require.NotEmpty(t, res.WatchError)
	require.Equal(t, []string{githubsandbox.SeedRepo}, res.Uncovered)
	require.Equal(t, []string{"SyncSchedules"}, e.orch.take(), "a target the pass tried to watch starts no pass")

	// Allowed: the hook is registered and push is on again.
	g.refuseCreate.Store(false)
	res = e.pass(t)
	require.Equal(t, 1, res.Created)
	require.True(t, res.PushEnabled)
	require.Empty(t, res.Uncovered)
	require.Equal(t, []string{"SyncSchedules"}, e.orch.take())
	push, poll, channels, routes := e.state(t)
	require.True(t, push)
	require.Equal(t, "6h0m0s", poll)
	require.Len(t, channels, 1)
	require.Contains(t, routes, "hook:"+channels[0])
	require.Equal(t, []string{channels[0] + " active=true meta=true"}, e.hooks(t))
}

// TestGitHubRefusedRepositoryLeavesTheOthersTheirHooks: a pass sends every
// open target to Watch at once, and GitHub's Watch returned at the first
// repository that refused a hook (here one octocat reads but does not
// administer: GitHub answers 404), so every repository after it in the
// config got none, pass after pass, and the connection polled them all.
// Now the others get their hooks, stored and routed with the refusal
// beside them; the refused repository is polled (push is off while it is
// uncovered), and it starts no other pass: each pass (a resume, a
// reconnect, a PATCH of config, a channel due) tries it once more. Given
// admin rights, the next pass registers its hook and push is on.
func TestGitHubRefusedRepositoryLeavesTheOthersTheirHooks(t *testing.T) {
	t.Parallel()
	const refused = "monalisa/public-lib"
	e := newGitHubHooksEnv(t, refused, githubsandbox.SeedRepo)
	res := e.pass(t)
	require.Equal(t, 1, res.Created, "the administered repository's hook")
	require.Contains(t, res.WatchError, refused)
	require.Equal(t, []string{refused}, res.Uncovered)
	require.False(t, res.PushEnabled)
	require.Zero(t, e.srv.HookCount(refused))
	push, poll, channels, routes := e.state(t)
	require.Len(t, channels, 1)
	require.Equal(t, []string{channels[0] + " active=true meta=true"}, e.hooks(t))
	require.Contains(t, routes, "hook:"+channels[0])
	require.False(t, push)
	require.Equal(t, "15m0s", poll, "the refused repository is polled")
	require.Equal(t, []string{"SyncSchedules"}, e.orch.take(), "a refused target starts no other pass")

	// The next pass tries the refused repository again, and only it.
	hook := channels[0]
	res = e.pass(t)
	require.Zero(t, res.Created)
	require.Zero(t, res.Stopped)
	require.Contains(t, res.WatchError, refused)
	require.Equal(t, []string{"SyncSchedules"}, e.orch.take())
	_, _, channels, _ = e.state(t)
	require.Equal(t, []string{hook}, channels)

	// Made admin: its hook, and push on.
	require.NoError(t, e.srv.SetAdmin(refused, "octocat", true))
	res = e.pass(t)
	require.Equal(t, 1, res.Created)
	require.Empty(t, res.WatchError)
	require.Empty(t, res.Uncovered)
	require.True(t, res.PushEnabled)
	push, poll, channels, _ = e.state(t)
	require.Len(t, channels, 2)
	require.Len(t, e.hooksOf(t, refused), 1)
	require.True(t, push)
	require.Equal(t, "6h0m0s", poll)
}

// TestGitHubRepositoryFullOfHooksIsPolled: GitHub refuses a repository's
// 21st hook for an event (422, `The "push" event cannot have more than 20
// hooks`). The watch pass does not fail: it polls that repository (push
// off, 15 minutes), the connection stays healthy, and the job's
// watch_error names the limit and what to do. Once a slot is free, the
// next pass registers the hook and push is on.
func TestGitHubRepositoryFullOfHooksIsPolled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newGitHubHooksEnv(t)
	for i := range githubsandbox.HookLimit {
		_, _, err := e.srv.CreateHook(githubsandbox.SeedRepo, githubsandbox.HookInput{URL: fmt.Sprintf("https://ci.example/%d", i)})
		require.NoError(t, err)
	}
	res := e.pass(t)
	require.Zero(t, res.Created)
	require.Contains(t, res.WatchError, `The "push" event cannot have more than 20 hooks`)
	require.Contains(t, res.WatchError, "the connection polls instead")
	require.Equal(t, []string{githubsandbox.SeedRepo}, res.Uncovered)
	require.False(t, res.PushEnabled)
	push, poll, channels, _ := e.state(t)
	require.False(t, push)
	require.Equal(t, "15m0s", poll, "the repository is polled")
	require.Empty(t, channels)
	require.NoError(t, e.schema.DB.WithTenant(ctx, e.ref.TenantID, func(tx *db.Tx) error {
		c, err := tx.FindConnection(ctx, e.ref.ConnectionID)
		require.NoError(t, err)
		require.Equal(t, poblysh.HealthHealthy, c.Health, "a full repository is no health problem")
		return nil
	}))

	require.NoError(t, e.srv.DeleteHook(githubsandbox.SeedRepo, e.srv.HookIDs(githubsandbox.SeedRepo)[0]))
	res = e.pass(t)
	require.Equal(t, 1, res.Created)
	require.Empty(t, res.WatchError)
	require.True(t, res.PushEnabled)
}

// TestGitHubHookWithoutItsSecretIsRepairedWithIt: a hook whose config an
// admin edited at GitHub without its secret loses it (GitHub removes the
// secret of an edit that names none) and delivers unsigned, refused every
// time, while the pass took it for delivering: push stayed on with nothing
// arriving. The pass now finds it stale and has it edited in place with
// the secret its channel stores: GitHub signs with a secret the service
// already holds, so no delivery after the edit is refused (a new secret
// would be, until the pass stored it).
func TestGitHubHookWithoutItsSecretIsRepairedWithIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newGitHubHooksEnv(t)
	hook := e.registered(t)
	stored := func() string {
		t.Helper()
		var secret string
		require.NoError(t, e.schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
			ch, err := tx.ChannelSecret(ctx, e.acts.KeyRing, "github", hook)
			if err == nil {
				secret = ch.Secret
			}
			return err
		}))
		require.NotEmpty(t, secret)
		return secret
	}
	secret := stored()
	atGitHub := func() any {
		t.Helper()
		resp := e.github(t, http.MethodGet, "/repos/octo-org/hello-world/hooks/"+hook, "")
		defer resp.Body.Close()
		var h struct {
			Config map[string]any `json:"config"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&h))
		return h.Config["secret"]
	}
	require.Equal(t, "********", atGitHub())

	// Its URL retyped at GitHub, without the secret: removed.
	resp := e.github(t, http.MethodPatch, "/repos/octo-org/hello-world/hooks/"+hook,
		`{"config":{"url":"`+e.p.Config.WebhookURL("github")+`?connection=`+e.ref.ConnectionID+`","content_type":"json"}}`)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Nil(t, atGitHub())

	res := e.pass(t)
	require.Equal(t, 1, res.Created, "answered with the same hook")
	require.Zero(t, res.Stopped)
	require.True(t, res.PushEnabled)
	_, _, channels, _ := e.state(t)
	require.Equal(t, []string{hook}, channels, "edited in place")
	require.Equal(t, "********", atGitHub())
	require.Equal(t, secret, stored(), "the secret the channel held: nothing to store before GitHub signs")

	// What GitHub signs now verifies with the stored secret.
	act, err := e.srv.OpenPull(githubsandbox.SeedRepo, githubsandbox.PullInput{Title: "After the repair", User: "hubot"})
	require.NoError(t, err)
	id, err := strconv.ParseInt(hook, 10, 64)
	require.NoError(t, err)
	d, err := e.srv.HookDelivery(act.Events[0], id)
	require.NoError(t, err)
	recv := e.p.Connector.(connectors.WebhookReceiver)
	require.NoError(t, recv.VerifyWebhook(&connectors.WebhookRequest{Header: d.Header, Body: d.Body, ChannelSecret: secret}))

	res = e.pass(t)
	require.Zero(t, res.Created, "repaired: nothing to do")
	require.Zero(t, res.Stopped)
}

// A GitHub hook deleted at GitHub is registered again by the next pass
// even when its channel's stored secret no longer decrypts (its key
// removed from the ring before reencrypt moved the hook secrets): the
// hook gets a new secret, as before stored secrets were handed back to
// Watch. (Handing them back failed the pass on that secret, retried for
// good: no hook, push still on.)
func TestGitHubStaleHookWithAnUnreadableSecretIsRegisteredAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newGitHubHooksEnv(t)
	hook := e.registered(t)

	other := dbtest.KeyRing(t) // a key the service's ring does not hold
	ct, err := other.Encrypt([]byte("old-secret"), vault.AAD(e.ref.TenantID, "x", "y"))
	require.NoError(t, err)
	require.NoError(t, e.schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE watch_channels SET secret_ct = $1 WHERE channel_id = $2`, ct, hook)
		return err
	}))
	resp := e.github(t, http.MethodDelete, "/repos/octo-org/hello-world/hooks/"+hook, "")
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.Empty(t, e.hooks(t))

	res, err := e.acts.ReconcileWatches(ctx, ReconcileWatchesInput{ConnectionRef: e.ref})
	require.NoError(t, err)
	require.Equal(t, 1, res.Created)
	require.Len(t, e.hooks(t), 1)
	_, _, channels, _ := e.state(t)
	require.Len(t, channels, 1)
	require.NotEqual(t, hook, channels[0], "a new hook, with a new secret")
}
