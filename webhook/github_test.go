package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/engine"
	"github.com/poblysh/poblysh/lifecycle"
	"github.com/poblysh/poblysh/lifecycle/lifecycletest"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
	"github.com/poblysh/poblysh/testenv"
	"github.com/poblysh/poblysh/workflows"
)

// TestGitHubOneEventManyHooks: GitHub sends one event to every webhook
// subscribed to it under one X-GitHub-Delivery (the hook-delivery guid is
// the "Unique identifier for the event (shared with all deliveries for all
// webhooks that subscribe to this event)"). Two tenants following one
// repository each have their own repository hook, and the GitHub App's
// webhook gets the event too: each delivery is recorded and stored for its
// own connection. A redelivery to one hook keeps hook id and GUID and is a
// duplicate; a hook's delivery claiming another hook's id fails that
// hook's secret; the same body under another GUID is a duplicate (the
// (channel, body) hash), and so is a redelivery of what an earlier version
// recorded under the bare GUID.
func TestGitHubOneEventManyHooks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newLayers(t) // the app-level connection e.conn routes the seeded repository
	act, err := e.gh.Push(githubsandbox.SeedRepo, githubsandbox.PushInput{Commits: 1, Message: "Shared GUID MARKER"})
	require.NoError(t, err)
	body, err := json.Marshal(act.Events[0].Payload)
	require.NoError(t, err)

	hooks := []*repoHook{e.repoHook(t, "9001"), e.repoHook(t, "9002")}
	guid := uuid.NewString()
	hookRequest := func(h *repoHook, hookID, guid string) *connectors.WebhookRequest {
		return e.hookPush(h, hookID, guid, body)
	}
	app := e.gh.AppDelivery(act.Events[0])
	app.Header.Set("X-GitHub-Delivery", guid)
	appReq := &connectors.WebhookRequest{Header: app.Header, Body: app.Body, Now: time.Now()}
	signals := func(connID string) int {
		var n int
		require.NoError(t, e.db.WithSystem(ctx, func(tx *db.Tx) error {
			return tx.GetContext(ctx, &n, `SELECT count(*) FROM signals WHERE connection_id = $1`, connID)
		}))
		return n
	}

	for _, req := range []*connectors.WebhookRequest{hookRequest(hooks[0], hooks[0].id, guid), hookRequest(hooks[1], hooks[1].id, guid), appReq} {
		out, err := e.in.Receive(ctx, e.p, req)
		require.NoError(t, err)
		require.Equal(t, Accepted, out.Status, "hook %s", req.Header.Get("X-GitHub-Hook-ID"))
		require.Equal(t, req.Header.Get("X-GitHub-Hook-ID")+"/"+guid, out.DeliveryID)
		require.Equal(t, 1, out.Signals)
		require.Equal(t, 1, out.Connections)
	}
	for _, conn := range []string{hooks[0].conn, hooks[1].conn, e.conn} {
		require.Equal(t, 1, signals(conn), "each connection has the pushed Signal")
	}
	var recorded []string
	require.NoError(t, e.db.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.SelectContext(ctx, &recorded, `SELECT delivery_id FROM webhook_events ORDER BY delivery_id`)
	}))
	require.Equal(t, []string{strconv.FormatInt(githubsandbox.AppHookID, 10) + "/" + guid, "9001/" + guid, "9002/" + guid}, recorded)

	// A redelivery to hook A keeps its hook id and GUID: a duplicate.
	out, err := e.in.Receive(ctx, e.p, hookRequest(hooks[0], hooks[0].id, guid))
	require.NoError(t, err)
	require.Equal(t, Duplicate, out.Status)
	// Hook A's signed delivery claiming to come from hook B: B's secret refuses it.
	_, err = e.in.Receive(ctx, e.p, hookRequest(hooks[0], hooks[1].id, guid))
	require.ErrorIs(t, err, ErrBadSignature)
	// Hook A's body under a new GUID: a replay, caught by its (channel, body) hash.
	out, err = e.in.Receive(ctx, e.p, hookRequest(hooks[0], hooks[0].id, uuid.NewString()))
	require.NoError(t, err)
	require.Equal(t, Duplicate, out.Status)
	for _, conn := range []string{hooks[0].conn, hooks[1].conn, e.conn} {
		require.Equal(t, 1, signals(conn), "nothing stored twice")
	}

	// Upgrade: a delivery recorded by an earlier version under its bare
	// GUID, redelivered after the upgrade under hook id and GUID, is still
	// a duplicate by its (channel, body) hash; and were that hash gone,
	// the Signals' own dedupe keys would store nothing twice.
	_, err = e.owner.Exec(ctx, `UPDATE webhook_events SET delivery_id = $1 WHERE delivery_id = $2`, guid, "9001/"+guid)
	require.NoError(t, err)
	out, err = e.in.Receive(ctx, e.p, hookRequest(hooks[0], hooks[0].id, guid))
	require.NoError(t, err)
	require.Equal(t, Duplicate, out.Status, "the body hash of the earlier record")
	_, err = e.owner.Exec(ctx, `UPDATE webhook_events SET body_hash = NULL WHERE delivery_id = $1`, guid)
	require.NoError(t, err)
	out, err = e.in.Receive(ctx, e.p, hookRequest(hooks[0], hooks[0].id, guid))
	require.NoError(t, err)
	require.Equal(t, Accepted, out.Status)
	require.Zero(t, out.Signals, "the Signal's dedupe key is taken")
	require.Equal(t, 1, signals(hooks[0].conn))
}

// rewatches records the watch passes the intake starts.
type rewatches struct {
	mu   sync.Mutex
	refs []string
}

func (r *rewatches) StartWatchReconcile(_ context.Context, ref poblysh.ConnectionRef, trigger poblysh.Trigger) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refs = append(r.refs, fmt.Sprintf("%s %s %s %s", ref.TenantID, ref.ConnectionID, ref.Provider, trigger))
	return nil
}

func (r *rewatches) started() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.refs...)
}

// repoHook is a connection's repository hook on the seeded repository, as
// a watch pass stores it.
type repoHook struct{ tenant, conn, id, secret string }

// repoHook seeds a GitHub connection of its own tenant with hook id.
func (e *layers) repoHook(t *testing.T, id string) *repoHook {
	t.Helper()
	ctx := context.Background()
	h := &repoHook{id: id, secret: "secret-of-hook-" + id}
	h.tenant, h.conn = dbtest.Seed(t, e.db, "tenant-"+h.id, "github", "u-"+h.id)
	require.NoError(t, e.db.WithTenant(ctx, h.tenant, func(tx *db.Tx) error {
		if err := tx.InsertWatchChannel(ctx, e.in.KeyRing, db.WatchChannel{ConnectionID: h.conn, Provider: "github",
			ChannelID: h.id, Target: githubsandbox.SeedRepo, RouteKey: "hook:" + h.id, Secret: h.secret}); err != nil {
			return err
		}
		return tx.RebuildRoutes(ctx, h.conn, "github", nil, nil)
	}))
	return h
}

// hookPush is GitHub's delivery of the push body to the seeded repository's
// hook hookID, signed with hook h's secret.
func (e *layers) hookPush(h *repoHook, hookID, guid string, body []byte) *connectors.WebhookRequest {
	s256, _ := githubsandbox.Sign(body, h.secret)
	hdr := http.Header{}
	hdr.Set("Content-Type", "application/json")
	hdr.Set("X-GitHub-Delivery", guid)
	hdr.Set("X-GitHub-Event", "push")
	hdr.Set("X-GitHub-Hook-ID", hookID)
	hdr.Set("X-GitHub-Hook-Installation-Target-Type", "repository")
	hdr.Set("X-GitHub-Hook-Installation-Target-ID", strconv.FormatInt(e.gh.RepoID(githubsandbox.SeedRepo), 10))
	hdr.Set("X-Hub-Signature-256", s256)
	return &connectors.WebhookRequest{Header: hdr, Body: body, Now: time.Now()}
}

// heldAt is the env's intake on a database session of its own whose
// statement containing marker is held until hook returns
// (dbtest.Proxy.HoldAt): Postgres stalling just there.
func (e *layers) heldAt(t *testing.T, marker string, hook func()) *Intake {
	t.Helper()
	proxy := dbtest.NewProxy(t, dbtest.URL(t))
	proxy.HoldAt(marker, hook)
	slow, err := db.Open(context.Background(), proxy.URL(dbtest.URL(t)), db.Options{Role: "poblysh_app", Schema: e.schema, MaxConns: 4})
	require.NoError(t, err)
	t.Cleanup(slow.Close)
	return &Intake{DB: slow, KeyRing: e.in.KeyRing, Nudger: e.in.Nudger, Watches: e.in.Watches, Log: e.in.Log}
}

// TestGitHubHookStoredWhenItsSenderHangsUp: GitHub waits 10 s for the
// answer and does not redeliver a delivery that failed, so a verified
// delivery whose sender hangs up is stored all the same
// (docs/reliability.md, promise 1), wherever Postgres stalls past the
// hang-up: in the commit, or in the lookup of the repository hook's
// secret that verifies it, which ran on the sender's context and answered
// 503 with nothing stored. Once the stall ends the delivery is accepted
// and stored once; its redelivery is a duplicate.
func TestGitHubHookStoredWhenItsSenderHangsUp(t *testing.T) {
	t.Parallel()
	e := newLayers(t)
	for i, marker := range []string{"FROM watch_channels w JOIN connections", "INSERT INTO webhook_events"} {
		t.Run(marker, func(t *testing.T) {
			ctx := context.Background()
			h := e.repoHook(t, strconv.Itoa(9301+i))
			act, err := e.gh.Push(githubsandbox.SeedRepo, githubsandbox.PushInput{Commits: 1})
			require.NoError(t, err)
			body, err := json.Marshal(act.Events[0].Payload)
			require.NoError(t, err)
			req := func() *connectors.WebhookRequest { return e.hookPush(h, h.id, "guid-"+h.id, body) }

			reqCtx, hangUp := context.WithCancel(ctx)
			defer hangUp()
			returned := make(chan struct{})
			in := e.heldAt(t, marker, func() {
				// GitHub hangs up while the statement waits. Work on the
				// sender's context fails at once (Receive returns); work
				// on the delivery's own bound waits for the statement.
				hangUp()
				select {
				case <-returned:
				case <-time.After(500 * time.Millisecond):
				}
			})
			out, err := in.Receive(reqCtx, e.p, req())
			close(returned)
			require.NoError(t, err, "the delivery whose sender hung up is stored")
			require.Equal(t, Accepted, out.Status)
			require.Equal(t, 1, out.Signals)

			var records, signals int
			require.NoError(t, e.db.WithSystem(ctx, func(tx *db.Tx) error {
				if err := tx.GetContext(ctx, &records, `SELECT count(*) FROM webhook_events WHERE delivery_id = $1`, h.id+"/guid-"+h.id); err != nil {
					return err
				}
				return tx.GetContext(ctx, &signals, `SELECT count(*) FROM signals WHERE connection_id = $1`, h.conn)
			}))
			require.Equal(t, 1, records, "recorded once")
			require.Equal(t, 1, signals, "its Signal stored")

			again, err := e.in.Receive(ctx, e.p, req())
			require.NoError(t, err)
			require.Equal(t, Duplicate, again.Status, "GitHub's manual redelivery")
		})
	}
}

// hookDeleted is GitHub's meta deleted delivery to hook h about itself.
func (e *layers) hookDeleted(h *repoHook, repoID int64, guid string) *connectors.WebhookRequest {
	body := fmt.Sprintf(`{"action":"deleted","hook_id":%s,"hook":{"type":"Repository","id":%s,"name":"web","active":true,`+
		`"events":["push","pull_request","release","member","repository","meta"],"config":{"content_type":"json","insecure_ssl":"0",`+
		`"url":"https://poblysh.test/api/v1/webhooks/github?connection=%s"}},"repository":{"id":%d,"full_name":"octo-org/hello-world"},`+
		`"sender":{"id":583231,"login":"octocat"}}`, h.id, h.id, h.conn, repoID)
	s256, _ := githubsandbox.Sign([]byte(body), h.secret)
	hdr := http.Header{}
	hdr.Set("Content-Type", "application/json")
	hdr.Set("X-GitHub-Delivery", guid)
	hdr.Set("X-GitHub-Event", "meta")
	hdr.Set("X-GitHub-Hook-ID", h.id)
	hdr.Set("X-GitHub-Hook-Installation-Target-Type", "repository")
	hdr.Set("X-GitHub-Hook-Installation-Target-ID", strconv.FormatInt(repoID, 10))
	hdr.Set("X-Hub-Signature-256", s256)
	return &connectors.WebhookRequest{Header: hdr, Body: []byte(body), Now: time.Now()}
}

// watchesDue lists the connections the renewal sweep would start a watch
// pass for now (db.Tx.WatchesDue).
func (e *layers) watchesDue(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	var refs []poblysh.ConnectionRef
	require.NoError(t, e.db.WithSystem(ctx, func(tx *db.Tx) (err error) {
		refs, _, err = tx.WatchesDue(ctx, time.Now(), 0, []string{"github"}, nil, 10)
		return err
	}))
	var out []string
	for _, r := range refs {
		out = append(out, r.ConnectionID)
	}
	slices.Sort(out)
	return out
}

// TestGitHubHookDeletedIsWatchedAgain: GitHub sends a repository hook meta
// deleted when the hook is deleted (its admin removed it at GitHub), signed
// with the hook's secret. Hooks never expire, so nothing else ever told
// the service: push counted as on while nothing delivered. The delivery
// now marks its channel due (the renewal sweep lists it) and starts the
// connection's watch pass, which registers the hook again; a redelivery
// does nothing more. A paused connection's channel is marked due too (its
// resume runs the pass), and no pass starts while it is paused.
func TestGitHubHookDeletedIsWatchedAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newLayers(t)
	rw := &rewatches{}
	e.in.Watches = rw
	repoID := e.gh.RepoID(githubsandbox.SeedRepo)

	live, paused := e.repoHook(t, "7001"), e.repoHook(t, "7002")
	_, err := e.owner.Exec(ctx, `UPDATE connections SET paused = true WHERE id = $1`, paused.conn)
	require.NoError(t, err)
	deleted := func(h *repoHook, guid string) *connectors.WebhookRequest { return e.hookDeleted(h, repoID, guid) }
	dueNow := func() []string { return e.watchesDue(t) }
	require.Empty(t, dueNow(), "hooks never expire: no pass is due")

	guid := uuid.NewString()
	out, err := e.in.Receive(ctx, e.p, deleted(live, guid))
	require.NoError(t, err)
	require.Equal(t, Accepted, out.Status, "not ignored: it says the hook is gone")
	require.Equal(t, 1, out.Connections)
	require.Equal(t, []string{live.conn}, dueNow(), "the channel is due: the renewal sweep starts its pass")
	require.Equal(t, []string{live.tenant + " " + live.conn + " github webhook"}, rw.started(), "and its pass starts at once")

	out, err = e.in.Receive(ctx, e.p, deleted(live, guid))
	require.NoError(t, err)
	require.Equal(t, Duplicate, out.Status)
	require.Len(t, rw.started(), 1, "a redelivery starts nothing more")

	out, err = e.in.Receive(ctx, e.p, deleted(paused, uuid.NewString()))
	require.NoError(t, err)
	require.Equal(t, Unroutable, out.Status, "a paused connection takes no delivery")
	var expires *time.Time
	require.NoError(t, e.db.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.GetContext(ctx, &expires, `SELECT expires_at FROM watch_channels WHERE channel_id = $1`, paused.id)
	}))
	require.NotNil(t, expires, "but its channel is due, for the pass its resume runs")
	require.False(t, expires.After(time.Now()))
	require.Len(t, rw.started(), 1, "no pass while it is paused")

	// Another hook's secret cannot speak for it.
	forged := deleted(live, uuid.NewString())
	forged.Header.Set("X-GitHub-Hook-ID", paused.id)
	_, err = e.in.Receive(ctx, e.p, forged)
	require.ErrorIs(t, err, ErrBadSignature)
}

// freezeProxy forwards TCP to upstream; while frozen is set it holds every
// byte, as a Temporal frontend that hangs does (an overloaded server, or
// packets dropped behind a load balancer): calls neither fail nor answer.
func freezeProxy(t *testing.T, upstream string, frozen *atomic.Bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	pipe := func(dst, src net.Conn) {
		defer dst.Close()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			for frozen.Load() {
				time.Sleep(10 * time.Millisecond)
			}
			if n > 0 {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			go pipe(u, c)
			go pipe(c, u)
		}
	}()
	return ln.Addr().String()
}

// countedRewatcher counts the watch passes the intake asks Temporal for.
type countedRewatcher struct {
	Rewatcher
	calls atomic.Int32
}

func (c *countedRewatcher) StartWatchReconcile(ctx context.Context, ref poblysh.ConnectionRef, trigger poblysh.Trigger) error {
	c.calls.Add(1)
	return c.Rewatcher.StartWatchReconcile(ctx, ref, trigger)
}

// TestGitHubHookDeletedWhileTemporalHangs: with the real engine against a
// real Temporal that stops answering (its connection held), a meta deleted
// delivery was answered only after 10 s, GitHub's whole budget for a
// delivery (which it then counts as failed): the intake started the
// hook's watch pass after the commit with the delivery's 30 s store bound,
// not the 1 s of a nudge, and asked Temporal even while a nudge had just
// found it down. The start now has the nudge's bound and marks Temporal
// down when it runs out; while Temporal is down the start is skipped. The
// channel is marked due either way, so the renewal sweep starts the pass;
// once Temporal answers again, a deletion starts it at once.
func TestGitHubHookDeletedWhileTemporalHangs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := testenv.Temporal(t)
	var frozen atomic.Bool
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	tc, err := client.DialContext(dctx, client.Options{HostPort: freezeProxy(t, srv.FrontendHostPort(), &frozen), Namespace: "default",
		Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	cancel()
	require.NoError(t, err)
	t.Cleanup(tc.Close)
	const queue = "hook-deleted-hangs"
	e := newLayers(t)
	rw := &countedRewatcher{Rewatcher: &engine.Engine{Client: tc, TaskQueue: queue}}
	e.in.Watches = rw
	repoID := e.gh.RepoID(githubsandbox.SeedRepo)
	first, second, third := e.repoHook(t, "7101"), e.repoHook(t, "7102"), e.repoHook(t, "7103")
	require.Empty(t, e.watchesDue(t))

	frozen.Store(true)
	start := time.Now()
	out, err := e.in.Receive(ctx, e.p, e.hookDeleted(first, repoID, uuid.NewString()))
	took := time.Since(start)
	require.NoError(t, err)
	require.Equal(t, Accepted, out.Status)
	require.Less(t, took, 3*time.Second, "GitHub gives a delivery 10 s; the start waits 1 s at most")
	require.Equal(t, int32(1), rw.calls.Load())
	require.True(t, e.in.down.down(), "Temporal did not answer within the bound: it is taken for down")
	require.Equal(t, sorted(first.conn), e.watchesDue(t), "the channel is due: the renewal sweep starts its pass")

	start = time.Now()
	out, err = e.in.Receive(ctx, e.p, e.hookDeleted(second, repoID, uuid.NewString()))
	took = time.Since(start)
	require.NoError(t, err)
	require.Equal(t, Accepted, out.Status)
	require.Less(t, took, 3*time.Second)
	require.Equal(t, int32(1), rw.calls.Load(), "Temporal is down: the start is not tried")
	require.Equal(t, sorted(first.conn, second.conn), e.watchesDue(t), "the sweep starts this pass too")

	// Temporal answers again: a deletion starts its pass at once.
	frozen.Store(false)
	e.in.down.clear()
	out, err = e.in.Receive(ctx, e.p, e.hookDeleted(third, repoID, uuid.NewString()))
	require.NoError(t, err)
	require.Equal(t, Accepted, out.Status)
	require.Equal(t, int32(2), rw.calls.Load())
	require.False(t, e.in.down.down())
	_, err = tc.DescribeWorkflow(ctx, workflows.WatchWorkflowID(queue, third.conn), "")
	require.NoError(t, err, "the hook's watch pass was started")
}

func sorted(s ...string) []string { return slices.Sorted(slices.Values(s)) }

// provedRepos proves every configured repository (lifecycle.AccessChecker).
type provedRepos struct{}

func (p provedRepos) Prove(_ context.Context, _ poblysh.ConnectionRef, cfg json.RawMessage, _ []string) (*connectors.AccessReport, error) {
	var c struct{ Repos []string }
	if err := json.Unmarshal(cfg, &c); err != nil {
		return nil, err
	}
	r := &connectors.AccessReport{}
	for i, repo := range c.Repos {
		r.Granted = append(r.Granted, connectors.Resource{Ref: repo, ID: repo, RouteKeys: []string{"repo:" + strconv.Itoa(900000+i)}})
	}
	return r, nil
}

func (provedRepos) Authorize(context.Context, poblysh.ConnectionRef) (*http.Client, *db.Tokens, error) {
	return nil, nil, nil
}

// noWorkflows is a Temporal with nothing to start or stop.
type noWorkflows = lifecycletest.NoWorkflows

// TestGitHubHookOfARemovedRepositoryStoresNothing: once a PATCH stops
// following a repository, a push its hook delivers is unroutable, though
// the hook stays at GitHub until a watch pass deletes it. It was stored as
// the connection's Signal (the hook's route stayed while its channel was
// active: only a repository found unreadable lost it), until that pass,
// which may never come while the hook's deletion fails.
func TestGitHubHookOfARemovedRepositoryStoresNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newLayers(t)
	log := logrus.New()
	log.SetLevel(logrus.ErrorLevel)
	svc := &lifecycle.Service{DB: e.db, Registry: connectors.NewRegistry(e.p), Workflows: noWorkflows{}, Access: provedRepos{},
		Log: log, KeyRing: e.in.KeyRing}
	h := e.repoHook(t, "9100")
	push := func() *connectors.WebhookRequest {
		act, err := e.gh.Push(githubsandbox.SeedRepo, githubsandbox.PushInput{Commits: 1, Message: "pushed " + uuid.NewString()})
		require.NoError(t, err)
		body, err := json.Marshal(act.Events[0].Payload)
		require.NoError(t, err)
		s256, _ := githubsandbox.Sign(body, h.secret)
		hdr := http.Header{}
		hdr.Set("Content-Type", "application/json")
		hdr.Set("X-GitHub-Delivery", uuid.NewString())
		hdr.Set("X-GitHub-Event", "push")
		hdr.Set("X-GitHub-Hook-ID", h.id)
		hdr.Set("X-GitHub-Hook-Installation-Target-Type", "repository")
		hdr.Set("X-GitHub-Hook-Installation-Target-ID", strconv.FormatInt(e.gh.RepoID(githubsandbox.SeedRepo), 10))
		hdr.Set("X-Hub-Signature-256", s256)
		return &connectors.WebhookRequest{Header: hdr, Body: body, Now: time.Now()}
	}
	signals := func() int {
		var n int
		require.NoError(t, e.db.WithSystem(ctx, func(tx *db.Tx) error {
			return tx.GetContext(ctx, &n, `SELECT count(*) FROM signals WHERE connection_id = $1`, h.conn)
		}))
		return n
	}

	_, err := svc.Update(ctx, h.tenant, h.conn, lifecycle.Update{Config: json.RawMessage(`{"repos":["` + githubsandbox.SeedRepo + `","octo-org/other"]}`)})
	require.NoError(t, err)
	out, err := e.in.Receive(ctx, e.p, push())
	require.NoError(t, err)
	require.Equal(t, Accepted, out.Status, "the followed repository's hook delivers")
	require.Equal(t, 1, signals())

	// The tenant stops following the seeded repository.
	_, err = svc.Update(ctx, h.tenant, h.conn, lifecycle.Update{Config: json.RawMessage(`{"repos":["octo-org/other"]}`)})
	require.NoError(t, err)
	out, err = e.in.Receive(ctx, e.p, push())
	require.NoError(t, err)
	require.Equal(t, Unroutable, out.Status)
	require.Equal(t, 1, signals(), "nothing more is stored from the repository no longer followed")
}
