package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/engine"
	"github.com/poblysh/poblysh/sandbox"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
	gcalsandbox "github.com/poblysh/poblysh/sandbox/googlecalendar"
)

// fakeTemporal stands in for engine.Engine (lifecycle.Workflows, api.Jobs,
// webhook.Nudger): it records every request, answers a sync request with
// one queued job, and fails every request while down is set, as the engine
// does when Temporal is unreachable.
type fakeTemporal struct {
	mu    sync.Mutex
	calls []string
	down  bool
}

func (f *fakeTemporal) record(format string, args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
	if f.down {
		return poblysh.Unavailable("temporal", errors.New("connection refused"))
	}
	return nil
}

// take returns the requests recorded since the last take.
func (f *fakeTemporal) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.calls
	f.calls = nil
	return out
}

func (f *fakeTemporal) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

func (f *fakeTemporal) SyncSchedules(_ context.Context, _, connID string) error {
	return f.record("schedules %s", connID)
}

func (f *fakeTemporal) StartWatchReconcile(_ context.Context, ref poblysh.ConnectionRef, trigger poblysh.Trigger) error {
	return f.record("watch %s %s", ref.ConnectionID, trigger)
}

func (f *fakeTemporal) RequestSync(_ context.Context, c *db.Connection, mode poblysh.SyncMode, trigger poblysh.Trigger) ([]db.Job, error) {
	if err := f.record("sync %s %s %s", c.ID, mode, trigger); err != nil {
		return nil, err
	}
	return []db.Job{{ID: uuid.NewString(), ConnectionID: c.ID, Provider: c.Provider, Kind: poblysh.JobKindFor(mode), Stream: "items",
		Trigger: trigger, Status: poblysh.JobQueued, WorkflowID: "sync/" + c.ID + "/items"}}, nil
}

// RequestSyncsUntil asks each connection in turn, as RequestSync, and
// every one of them whatever the bound.
func (f *fakeTemporal) RequestSyncsUntil(ctx context.Context, conns []db.Connection, mode poblysh.SyncMode, trigger poblysh.Trigger, _ time.Time, progress func(asked, jobs int)) ([]db.Job, int, error) {
	var out []db.Job
	for i := range conns {
		jobs, err := f.RequestSync(ctx, &conns[i], mode, trigger)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, jobs...)
		if progress != nil {
			progress(i+1, len(out))
		}
	}
	return out, len(conns), nil
}

// StartProviderSync records the rest of a sync handed on.
func (f *fakeTemporal) StartProviderSync(_ context.Context, tenantID, provider string, mode poblysh.SyncMode, after string) error {
	return f.record("sync-provider %s %s %s %s", tenantID, provider, mode, after)
}

func (f *fakeTemporal) StopConnection(_ context.Context, c *db.Connection) error {
	return f.record("stop %s", c.ID)
}

func (f *fakeTemporal) Streams(*db.Connection) ([]string, error) { return []string{"items"}, nil }

func (f *fakeTemporal) NudgeStream(_ context.Context, c *db.Connection, stream string, trigger poblysh.Trigger) error {
	return f.record("nudge %s %q %s", c.ID, stream, trigger)
}

func (f *fakeTemporal) UILink(workflowID, _ string) string {
	return "http://temporal.test/ui/" + workflowID
}

func (f *fakeTemporal) LiveJob(context.Context, *db.Job) (*engine.Live, error) { return nil, nil }

// connect runs the whole browser flow against the fake provider's sandbox
// and returns the callback's answer.
func (e *apiEnv) connect(key string) response {
	e.t.Helper()
	return e.connectTo(key, "fake")
}

// connectTo runs the whole browser flow against provider's sandbox (fake
// or google-calendar: the ones sandboxed serves) and returns the callback's
// answer.
func (e *apiEnv) connectTo(key, provider string) response {
	e.t.Helper()
	started := e.start(key, provider)
	alice := e.browser()
	require.Equal(e.t, http.StatusOK, alice.do(http.MethodGet, started["authorization_url"]).status)
	r := alice.do(http.MethodPost, started["authorization_url"])
	require.Equal(e.t, http.StatusSeeOther, r.status, "%s", r.body)
	r = alice.do(http.MethodGet, r.header.Get("Location"))
	require.Equal(e.t, http.StatusFound, r.status, "%s", r.body)
	return alice.do(http.MethodGet, r.header.Get("Location"))
}

// connectWith runs the whole browser flow of a connect whose request body
// is body and returns the callback's answer.
func (e *apiEnv) connectWith(key, provider, body string) response {
	e.t.Helper()
	b := e.browser()
	return b.do(http.MethodGet, b.authorize(key, provider, body))
}

// answered is the connection a callback answered, as far as these tests
// read it.
type answered struct {
	ID, Health   string
	HealthReason string `json:"health_reason"`
	Paused       bool
	Config       json.RawMessage
}

// connectionOf reads the connection a callback answered (200).
func connectionOf(t *testing.T, r response) answered {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var out struct{ Connection *answered }
	require.NoError(t, json.Unmarshal(r.body, &out))
	require.NotNil(t, out.Connection, "%s", r.body)
	return *out.Connection
}

// connected connects the fake provider for key and returns the new
// connection's id.
func (e *apiEnv) connected(key string) string {
	e.t.Helper()
	return e.connectedTo(key, "fake")
}

// connectedTo connects provider for key and returns the new connection's
// id.
func (e *apiEnv) connectedTo(key, provider string) string {
	e.t.Helper()
	r := e.connectTo(key, provider)
	require.Equal(e.t, http.StatusOK, r.status, "%s", r.body)
	var out struct{ Connection struct{ ID string } }
	require.NoError(e.t, json.Unmarshal(r.body, &out))
	return out.Connection.ID
}

// TestConnectCompletesWithoutTemporal: the callback stores the connection,
// its tokens and routes, then activates it through the Temporal interface:
// schedules, the watch manager and a backfill, all triggered by the
// connect. No Temporal server runs.
func TestConnectCompletesWithoutTemporal(t *testing.T) {
	t.Parallel()
	e, _, _ := sandboxed(t)
	tenant, key := e.tenant("Acme")

	r := e.connect(key)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var out struct {
		Connection struct {
			ID, Provider, Health, HealthReason string
			ExternalAccountID                  string `json:"external_account_id"`
		}
	}
	require.NoError(t, json.Unmarshal(r.body, &out))
	c := out.Connection
	require.Equal(t, "fake", c.Provider)
	require.Equal(t, "healthy", c.Health)
	require.Equal(t, []string{"schedules " + c.ID, "watch " + c.ID + " connect", "sync " + c.ID + " backfill connect"}, e.temporal.take())
	require.Equal(t, 1, e.count(`SELECT count(*) FROM connections WHERE id = $1 AND tenant_id = $2 AND access_token_ct IS NOT NULL`, c.ID, tenant))
	require.Equal(t, 1, e.count(`SELECT count(*) FROM webhook_routes WHERE connection_id = $1 AND route_key = $2`, c.ID, "account:"+c.ExternalAccountID),
		"the route comes from the account the grant proved")
	require.Contains(t, e.logs.String(), `"msg":"connection authorized"`)

	// Connecting the same account again heals it in place and backfills again.
	require.NoError(t, e.schema.DB.WithTenant(context.Background(), tenant, func(tx *db.Tx) error {
		return tx.SetHealth(context.Background(), c.ID, poblysh.HealthNeedsReauth, "token revoked")
	}))
	r = e.connect(key)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Contains(t, string(r.body), `"health":"healthy","health_reason":"reconnected"`)
	require.Contains(t, e.temporal.take(), "sync "+c.ID+" backfill connect")
	require.Equal(t, 1, e.count(`SELECT count(*) FROM connections`))
}

// TestUpdateWithoutTemporal: PATCH moves health through the operator's
// switch, validates and stores config and polling interval, and asks
// Temporal for exactly what each change needs: schedules always, the watch
// manager while active, an incremental catch-up after a resume or a new
// config.
func TestUpdateWithoutTemporal(t *testing.T) {
	t.Parallel()
	e, _, _ := sandboxed(t)
	_, key := e.tenant("Acme")
	id := e.connected(key)
	e.temporal.take()
	patch := func(body string) (response, map[string]any) {
		t.Helper()
		r := e.do(http.MethodPatch, "/api/v1/connections/"+id, key, "application/json", body)
		var v map[string]any
		if r.status == http.StatusOK {
			require.NoError(t, json.Unmarshal(r.body, &v))
		}
		return r, v
	}

	r, v := patch(`{"paused": true}`)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, true, v["paused"])
	require.Equal(t, "disabled", v["health"])
	require.Equal(t, "paused by an operator", v["health_reason"])
	require.Equal(t, []string{"schedules " + id}, e.temporal.take(), "paused: the schedule pauses, nothing runs")

	r, v = patch(`{"paused": false}`)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, "healthy", v["health"])
	require.Equal(t, "resumed by an operator", v["health_reason"])
	require.Equal(t, []string{"schedules " + id, "watch " + id + " manual", "sync " + id + " incremental manual"}, e.temporal.take())

	requireError(t, e.do(http.MethodPatch, "/api/v1/connections/"+id, key, "application/json", `{"poll_interval_seconds": 30}`),
		http.StatusUnprocessableEntity, poblysh.EVALIDATION)
	often := requireError(t, e.do(http.MethodPatch, "/api/v1/connections/"+id, key, "application/json", `{"poll_interval_seconds": "often"}`),
		http.StatusUnprocessableEntity, poblysh.EVALIDATION)
	require.Equal(t, map[string]string{"poll_interval_seconds": "must be an integer or null"}, often.Details)
	// At most a day (swagger.yml's maximum): larger numbers overflowed the
	// column and answered 500.
	for _, secs := range []string{"86401", "2147483648", "9223372036854775807"} {
		long := requireError(t, e.do(http.MethodPatch, "/api/v1/connections/"+id, key, "application/json", `{"poll_interval_seconds": `+secs+`}`),
			http.StatusUnprocessableEntity, poblysh.EVALIDATION)
		require.Equal(t, "must be at most 86400", long.Details["poll_interval_seconds"], secs)
	}
	bad := requireError(t, e.do(http.MethodPatch, "/api/v1/connections/"+id, key, "application/json", `{"config": {"streams": ["NOT OK"]}}`),
		http.StatusUnprocessableEntity, poblysh.EVALIDATION)
	require.Contains(t, bad.Details, "config.streams")
	require.Empty(t, e.temporal.take(), "a refused update asks Temporal for nothing")

	r, v = patch(`{"poll_interval_seconds": 86400}`)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.EqualValues(t, 86400, v["poll_interval_seconds"])
	require.Equal(t, []string{"schedules " + id, "watch " + id + " manual"}, e.temporal.take(), "a new interval needs no catch-up")
	r, v = patch(`{"poll_interval_seconds": 600}`)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.EqualValues(t, 600, v["poll_interval_seconds"])
	require.Equal(t, []string{"schedules " + id, "watch " + id + " manual"}, e.temporal.take(), "a new interval needs no catch-up")

	r, v = patch(`{"config": {"streams": ["a", "b"]}}`)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, map[string]any{"streams": []any{"a", "b"}}, v["config"])
	require.Equal(t, []string{"schedules " + id, "watch " + id + " manual", "sync " + id + " incremental manual"}, e.temporal.take())

	// Temporal down: the change is stored and answered, and applied later
	// (TestUpdateWithTemporalDownIsAppliedLater).
	e.temporal.setDown(true)
	r, _ = patch(`{"paused": false}`)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	e.temporal.setDown(false)
	e.temporal.take()

	// Syncing on request and deleting go through the same interface.
	r = e.do(http.MethodPost, "/api/v1/sync/fake", key, "application/json", `{"connection_id": "`+id+`", "mode": "backfill"}`)
	require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
	require.Contains(t, string(r.body), `"temporal_ui_url":"http://temporal.test/ui/sync/`+id+`/items"`)
	require.Equal(t, []string{"sync " + id + " backfill manual"}, e.temporal.take())
	r = e.do(http.MethodDelete, "/api/v1/connections/"+id, key, "", "")
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	// Stopped, then the schedule synced again once the row is deleted (a
	// call that read it live meanwhile may have made it again).
	require.Equal(t, []string{"stop " + id, "schedules " + id}, e.temporal.take())
	requireError(t, e.do(http.MethodGet, "/api/v1/connections/"+id, key, "", ""), http.StatusNotFound, poblysh.ENOTFOUND)
}

// TestUpdateProviderFailureChangesNothing: when the provider fails while a
// new config is checked with the connection's own token, PATCH answers
// 502 bad_gateway (listed for updateConnection) and changes nothing: the
// config, the proved resources and the row stay, and Temporal is asked
// for nothing. Sent again once the provider is back, it applies.
func TestUpdateProviderFailureChangesNothing(t *testing.T) {
	t.Parallel()
	e, _, gc := sandboxed(t)
	_, key := e.tenant("Acme")
	id := e.connectedTo(key, "google-calendar")
	gc.AddCalendar(gcalsandbox.TeamCalendarID, "Press team", "Europe/Berlin")
	e.temporal.take()
	before := e.do(http.MethodGet, "/api/v1/connections/"+id, key, "", "")
	require.Equal(t, http.StatusOK, before.status, "%s", before.body)
	resources := `SELECT string_agg(ref || ':' || access, ',' ORDER BY ref) FROM connection_resources WHERE connection_id = $1`
	var granted string
	require.NoError(t, e.schema.DB.WithSystem(context.Background(), func(tx *db.Tx) error {
		return tx.GetContext(context.Background(), &granted, resources, id)
	}))
	patch := `{"config":{"calendars":["primary","` + gcalsandbox.TeamCalendarID + `"]}}`

	gc.Base.Faults.Add(sandbox.Fault{Status: http.StatusInternalServerError, Count: 100})
	r := e.do(http.MethodPatch, "/api/v1/connections/"+id, key, "application/json", patch)
	er := requireError(t, r, http.StatusBadGateway, poblysh.EBADGATEWAY)
	require.Contains(t, er.Message, "the provider failed while checking access to the configured resources")
	loadOps(t).requireListed(t, "updateConnection", r)
	gc.Base.Faults.Clear()

	after := e.do(http.MethodGet, "/api/v1/connections/"+id, key, "", "")
	require.Equal(t, http.StatusOK, after.status, "%s", after.body)
	require.JSONEq(t, string(before.body), string(after.body), "the connection is as it was")
	var still string
	require.NoError(t, e.schema.DB.WithSystem(context.Background(), func(tx *db.Tx) error {
		return tx.GetContext(context.Background(), &still, resources, id)
	}))
	require.Equal(t, granted, still, "the proved resources are as they were")
	require.Empty(t, e.temporal.take(), "a refused update asks Temporal for nothing")

	r = e.do(http.MethodPatch, "/api/v1/connections/"+id, key, "application/json", patch)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Contains(t, string(r.body), gcalsandbox.TeamCalendarID)
}

// A purge deletes the Signals of a delivery that was being stored when the
// connection was deleted: the delivery read the routes before the delete
// committed and inserts after it, so the delete's own purge cannot see its
// rows. DELETE ?purge_signals=true waits for the writers running when it
// committed and purges again; it used to answer 204 with that Signal left
// in the feed of a connection whose Signals had been purged.
func TestPurgeCatchesADeliveryStoredBesideTheDelete(t *testing.T) {
	t.Parallel()
	e, _, _ := sandboxed(t)
	tenant, key := e.tenant("Acme")
	conn := e.connected(key)
	ctx := context.Background()

	deleted := make(chan response, 1)
	err := e.schema.DB.WithTenantSignals(ctx, tenant, func(tx *db.Tx) error {
		// The delivery has taken the writers' lock and read its route.
		var routes int
		if err := tx.GetContext(ctx, &routes, `SELECT count(*) FROM webhook_routes WHERE connection_id = $1`, conn); err != nil {
			return err
		}
		require.Equal(t, 1, routes)
		go func() {
			deleted <- e.do(http.MethodDelete, "/api/v1/connections/"+conn+"?purge_signals=true", key, "", "")
		}()
		require.Eventually(t, func() bool {
			return e.count(`SELECT count(*) FROM connections WHERE id = $1 AND deleted_at IS NOT NULL`, conn) == 1
		}, 20*time.Second, 10*time.Millisecond, "the delete committed")
		_, err := tx.InsertSignals(ctx, conn, "fake", []db.NewSignal{{Kind: "item.created", OccurredAt: time.Now(),
			DedupeKey: "late-1", Payload: []byte(`{"title":"stored beside the delete"}`)}})
		return err
	})
	require.NoError(t, err)
	res := <-deleted
	require.Equal(t, http.StatusNoContent, res.status, "%s", res.body)
	require.Zero(t, e.count(`SELECT count(*) FROM signals WHERE connection_id = $1`, conn), "the purge took the late delivery's Signal")
}

// stopping is the fake Temporal whose StopConnection (a delete under
// way, its mark set) first runs during, once.
type stopping struct {
	*fakeTemporal
	once   sync.Once
	during func()
}

func (s *stopping) StopConnection(ctx context.Context, c *db.Connection) error {
	s.once.Do(s.during)
	return s.fakeTemporal.StopConnection(ctx, c)
}

// A callback for the account of a connection being deleted answers 409
// and stores nothing: the delete goes on, and the token the callback
// received is revoked, as a failed connect's is where the provider's
// revocation ends that one token (GitHub). The callback used to revive
// the row and clear the delete's mark: it answered 200 "connected" with a
// connection the delete then removed, and from then on a watch pass was
// granted its lease and could register hooks the delete, which had
// already listed what to stop, never stopped.
func TestCallbackDuringADeleteIsRefused(t *testing.T) {
	t.Parallel()
	gh := githubsandbox.New(githubsandbox.Options{Seed: true})
	srv := httptest.NewServer(gh)
	t.Cleanup(srv.Close)
	e := setup(t, withProviders(t, gh.Env(srv.URL)))
	tenant, key := e.tenant("Acme")
	body := `{"config": {"repos": ["` + githubsandbox.SeedRepo + `"]}}`
	b := e.browser()
	r := b.do(http.MethodGet, b.authorize(key, "github", body))
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var out struct{ Connection struct{ ID string } }
	require.NoError(t, json.Unmarshal(r.body, &out))
	id := out.Connection.ID

	var callback response
	var leased bool
	m := &stopping{fakeTemporal: e.temporal}
	m.during = func() {
		// The user completes a reconnect of the same account now.
		b := e.browser()
		callback = b.do(http.MethodGet, b.authorize(key, "github", body))
		// The watch pass a revived connection's activation starts asks
		// for its lease.
		require.NoError(t, e.schema.DB.WithTenant(context.Background(), tenant, func(tx *db.Tx) (err error) {
			leased, err = tx.TakeWatchLease(context.Background(), id, time.Now().Add(time.Minute))
			return err
		}))
	}
	e.connections.Workflows = m

	r = e.do(http.MethodDelete, "/api/v1/connections/"+id, key, "", "")
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	require.Equal(t, http.StatusConflict, callback.status, "%s", callback.body)
	require.Contains(t, string(callback.body), "being disconnected")
	loadOps(t).requireListed(t, "completeConnect", callback)
	require.False(t, leased, "no watch pass registers anything while the delete tears the connection down")
	requireError(t, e.do(http.MethodGet, "/api/v1/connections/"+id, key, "", ""), http.StatusNotFound, poblysh.ENOTFOUND)
	require.Len(t, gh.OAuth.Issued(), 2)
	for _, tok := range gh.OAuth.Issued() {
		_, err := gh.OAuth.Check(tok)
		require.Error(t, err, "revoked: the connection's by the delete, the refused callback's by the callback")
	}
}

// TestConnectAfterDeletingAPausedConnectionStartsFresh: connecting an
// account again after its connection was deleted revives the deleted row
// as a new connection: not paused, the provider's polling interval,
// healthy, and backfilled. It came back paused (health disabled) with the
// deleted connection's polling override, and its backfill was dropped: the
// activation skipped it for an inactive connection and took the mark off.
func TestConnectAfterDeletingAPausedConnectionStartsFresh(t *testing.T) {
	t.Parallel()
	e, _, _ := sandboxed(t)
	_, key := e.tenant("Acme")
	id := e.connected(key)
	r := e.do(http.MethodPatch, "/api/v1/connections/"+id, key, "application/json", `{"paused": true, "poll_interval_seconds": 86400}`)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	r = e.do(http.MethodDelete, "/api/v1/connections/"+id, key, "", "")
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	e.temporal.take()

	c := connectionOf(t, e.connect(key))
	require.Equal(t, id, c.ID, "the deleted row, revived")
	require.False(t, c.Paused, "a fresh connect is not paused")
	require.Equal(t, "healthy", c.Health)
	require.Equal(t, "reconnected", c.HealthReason)
	require.Equal(t, 1, e.count(`SELECT count(*) FROM connections WHERE id = $1 AND poll_interval_seconds IS NULL AND NOT paused`, id),
		"the deleted connection's polling override is gone")
	require.Equal(t, []string{"schedules " + id, "watch " + id + " connect", "sync " + id + " backfill connect"}, e.temporal.take())
	require.Zero(t, e.count(`SELECT count(*) FROM connections WHERE activation_pending IS NOT NULL`))
}

// TestBackfillOwedWhilePausedRunsAtResume: a live connection paused by an
// operator stays paused when its account is authorized again, and its
// activation skips the connect's backfill (nothing runs while paused);
// the backfill is still owed, not dropped: the resume runs it, once,
// where it ran an incremental catch-up only. Held, it is not listed by
// the activation sweep, which would activate it in every round.
func TestBackfillOwedWhilePausedRunsAtResume(t *testing.T) {
	t.Parallel()
	e, _, _ := sandboxed(t)
	_, key := e.tenant("Acme")
	id := e.connected(key)
	patch := func(body string) {
		t.Helper()
		r := e.do(http.MethodPatch, "/api/v1/connections/"+id, key, "application/json", body)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	}
	patch(`{"paused": true}`)
	e.temporal.take()

	c := connectionOf(t, e.connect(key))
	require.Equal(t, id, c.ID)
	require.True(t, c.Paused, "the operator's pause survives a re-authorization")
	require.Equal(t, "disabled", c.Health)
	require.Equal(t, []string{"schedules " + id}, e.temporal.take(), "paused: routes and a paused schedule, no backfill")
	require.Zero(t, e.activationSweep().Started)
	require.Empty(t, e.temporal.take(), "the sweep has nothing to do while the connection is paused")

	patch(`{"poll_interval_seconds": 600}`) // a change while paused keeps it owed
	require.Equal(t, []string{"schedules " + id}, e.temporal.take())

	patch(`{"paused": false}`)
	require.Equal(t, []string{"schedules " + id, "watch " + id + " connect", "sync " + id + " backfill connect"}, e.temporal.take(),
		"the resume runs the backfill the connect owed")
	require.Zero(t, e.count(`SELECT count(*) FROM connections WHERE activation_pending IS NOT NULL`))
	require.Zero(t, e.activationSweep().Started)

	patch(`{"paused": true}`)
	patch(`{"paused": false}`)
	require.Equal(t, []string{"schedules " + id, "schedules " + id, "watch " + id + " manual", "sync " + id + " incremental manual"}, e.temporal.take(),
		"owed once: a later resume catches up only")
}
