package api_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/api"
	"github.com/poblysh/poblysh/db"
)

// beginsDeletion is the engine's DeleteTenant up to the workflow start:
// BeginTenantDeletion, which revokes the tenant's keys with its mark (the
// trigger notifies every process's listener).
type beginsDeletion struct{ d *db.DB }

func (b *beginsDeletion) DeleteTenant(ctx context.Context, tenantID string) (*db.Job, bool, error) {
	var j *db.Job
	var started bool
	err := b.d.WithSystem(ctx, func(tx *db.Tx) (err error) {
		j, started, err = tx.BeginTenantDeletion(ctx, tenantID, uuid.NewString(), "delete-tenant/"+tenantID)
		return err
	})
	return j, started, err
}

// quietDeletion revokes the tenant's keys behind the trigger's back: no
// listener hears of it, which is how the process answering the deletion
// stands until its listener's notification arrives.
type quietDeletion struct{ ownerURL string }

func (q *quietDeletion) DeleteTenant(ctx context.Context, tenantID string) (*db.Job, bool, error) {
	conn, err := pgx.Connect(ctx, q.ownerURL)
	if err != nil {
		return nil, false, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SET session_replication_role = replica`); err != nil {
		return nil, false, err
	}
	if _, err := conn.Exec(ctx, `UPDATE api_keys SET revoked_at = now() WHERE tenant_id = $1`, tenantID); err != nil {
		return nil, false, err
	}
	return &db.Job{ID: uuid.NewString(), Kind: poblysh.JobTenantDeletion, Trigger: poblysh.TriggerManual, Status: poblysh.JobQueued,
		WorkflowID: "delete-tenant/" + tenantID, CreatedAt: time.Now()}, true, nil
}

// heldKeys is the process's key cache whose wait for its own listener
// (Revoked) is held until the test lets it go: waiting says the revoking
// request is waiting.
type heldKeys struct {
	*db.APIKeyCache
	waiting chan struct{}
	release chan struct{}
}

func (k *heldKeys) Revoked(ctx context.Context) error {
	k.waiting <- struct{}{}
	<-k.release
	k.Invalidate()
	return nil
}

// rawGet sends a GET with key and returns the answer (no require: it runs
// in a goroutine of its own).
func (e *apiEnv) rawGet(path, key string) (response, error) {
	req, err := http.NewRequest(http.MethodGet, e.url+path, nil)
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}, err
}

// longPoll starts a long poll at the end of tenant's feed with key and
// returns once it waits; its answer comes on the channel.
func (e *apiEnv) longPoll(key string) <-chan response {
	e.t.Helper()
	status, first, err := e.getFeed(context.Background(), key, "")
	require.NoError(e.t, err)
	require.Equal(e.t, http.StatusOK, status)
	waitFor(e.t, "the listener", e.feed.Listening)
	got := make(chan response, 1)
	go func() {
		r, err := e.rawGet("/api/v1/signals?wait=30s&cursor="+url.QueryEscape(first.NextCursor), key)
		if err != nil {
			r = response{status: -1, body: []byte(err.Error())}
		}
		got <- r
	}()
	waitFor(e.t, "the reader to wait", func() bool { return e.feed.Waiters() == 1 })
	return got
}

// keyID is the id of the tenant's only key.
func (e *apiEnv) keyID(tenant string) string {
	e.t.Helper()
	var id string
	require.NoError(e.t, e.schema.DB.WithTenant(context.Background(), tenant, func(tx *db.Tx) error {
		ks, _, err := tx.ListAPIKeys(context.Background(), db.Page{Limit: 10})
		if err == nil {
			require.Len(e.t, ks, 1)
			id = ks[0].ID
		}
		return err
	}))
	return id
}

// A long poll waiting with a key that is then revoked answers 401 (the
// error shape), not the Signal stored after the revocation. Before, the
// request, authenticated once, read on until its wait ended and answered
// a revoked key with Signals stored after its revocation (up to 60 s).
func TestFeedLongPollEndsWhenItsKeyIsRevoked(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	tenant, key := e.tenant("Acme")
	var conn string
	require.NoError(t, e.schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "fake", ExternalAccountID: "a"})
		conn = c.ID
		return err
	}))
	got := e.longPoll(key)

	require.Equal(t, http.StatusNoContent, e.do(http.MethodDelete, "/api/v1/api-keys/"+e.keyID(tenant), adminKey, "", "").status)
	require.NoError(t, e.schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		_, err := tx.InsertSignals(ctx, conn, "fake", []db.NewSignal{{Kind: "item.created", OccurredAt: time.Now(),
			DedupeKey: "after-revocation", Payload: []byte(`{"title":"stored after the revocation"}`)}})
		return err
	}))

	r := <-got
	require.NotContains(t, string(r.body), "stored after the revocation", "a revoked key read a Signal stored after its revocation")
	requireError(t, r, http.StatusUnauthorized, "unauthorized")
}

// A long poll of a tenant whose deletion then begins (which revokes its
// keys) answers 401 without a Signal to wake it: the revocation wakes the
// waiters, which check their keys again. Before, nothing woke it and it
// answered 200 at the end of its wait.
func TestFeedLongPollEndsWhenItsTenantIsDeleted(t *testing.T) {
	t.Parallel()
	var bd beginsDeletion
	e := setup(t, func(d *api.Deps) { bd.d = d.DB; d.Tenants = &bd })
	tenant, key := e.tenant("Doomed")
	got := e.longPoll(key)

	r := e.do(http.MethodDelete, "/api/v1/tenants/"+tenant+"?confirm=Doomed", adminKey, "", "")
	require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)

	requireError(t, <-got, http.StatusUnauthorized, "unauthorized")
}

// The process that answered a tenant's deletion refuses the tenant's keys
// right after its 202, before its listener hears of the revocation (here
// it never does: the keys are revoked behind the trigger's back). Before,
// that process served them from its key cache until the notification
// arrived.
func TestTenantDeletionRefusesItsKeysAtOnce(t *testing.T) {
	t.Parallel()
	var qd quietDeletion
	e := setup(t, func(d *api.Deps) { d.Tenants = &qd })
	qd.ownerURL = e.schema.OwnerURL
	waitFor(t, "the listener", e.feed.Listening) // the cache is trusted only while it listens
	tenant, key := e.tenant("Doomed")
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "/api/v1/connections", key, "", "").status) // cached

	r := e.do(http.MethodDelete, "/api/v1/tenants/"+tenant+"?confirm=Doomed", adminKey, "", "")
	require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)

	requireError(t, e.do(http.MethodGet, "/api/v1/connections", key, "", ""), http.StatusUnauthorized, "unauthorized")
}

// A revocation (a key's, or a tenant deletion's) is answered only once the
// process's key cache has waited for its own listener to receive the
// revocation's notification (Revoked). Before, the answer went out at
// once, while the other replicas' listeners were still on their way to it.
func TestRevocationsAnswerAfterTheirListener(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		path   func(e *apiEnv, tenant string) string
		status int
	}{
		{"key", func(e *apiEnv, tenant string) string { return "/api/v1/api-keys/" + e.keyID(tenant) }, http.StatusNoContent},
		{"tenant", func(e *apiEnv, tenant string) string { return "/api/v1/tenants/" + tenant + "?confirm=Acme" }, http.StatusAccepted},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var bd beginsDeletion
			keys := &heldKeys{waiting: make(chan struct{}, 1), release: make(chan struct{})}
			e := setup(t, func(d *api.Deps) {
				bd.d = d.DB
				d.Tenants = &bd
				keys.APIKeyCache = d.Keys.(*db.APIKeyCache)
				d.Keys = keys
			})
			tenant, _ := e.tenant("Acme")
			path := c.path(e, tenant)
			done := make(chan response, 1)
			go func() {
				req, _ := http.NewRequest(http.MethodDelete, e.url+path, nil)
				req.Header.Set("Authorization", "Bearer "+adminKey)
				r := response{status: -1}
				if resp, err := http.DefaultClient.Do(req); err == nil {
					r.status = resp.StatusCode
					r.body, _ = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				done <- r
			}()
			select {
			case r := <-done:
				t.Fatalf("answered %d (%s) without waiting for its listener", r.status, r.body)
			case <-keys.waiting:
			}
			close(keys.release)
			r := <-done
			require.Equal(t, c.status, r.status, "%s", r.body)
		})
	}
}

// countedKeys is the process's key cache, counting its Revoked calls.
type countedKeys struct {
	*db.APIKeyCache
	mu      sync.Mutex
	revoked int
}

func (k *countedKeys) Revoked(ctx context.Context) error {
	k.mu.Lock()
	k.revoked++
	k.mu.Unlock()
	return k.APIKeyCache.Revoked(ctx)
}

func (k *countedKeys) count() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.revoked
}

// failedDeletion is the engine's DeleteTenant failing, after the keys'
// revocation committed (revoked) or before anything did.
type failedDeletion struct {
	revoked bool
	err     error
}

func (f failedDeletion) DeleteTenant(context.Context, string) (*db.Job, bool, error) {
	return nil, f.revoked, f.err
}

// A tenant deletion that fails empties the process's key cache (and waits
// for its listener, up to 2 s) only when its call had committed the keys'
// revocation: after the workflow's start failed, not after a 404 (the
// tenant deleted between the handler's read and the deletion's mark),
// which revoked nothing. Before, every failure emptied every cache of the
// process, costing each tenant's next call a database read.
func TestTenantDeletionEmptiesTheKeyCacheOnlyAfterARevocation(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		fails   failedDeletion
		status  int
		code    string
		revoked int
	}{
		{"tenant gone", failedDeletion{false, poblysh.NotFound("tenant")}, http.StatusNotFound, poblysh.ENOTFOUND, 0},
		{"start failed after the mark", failedDeletion{true, poblysh.Unavailable("temporal", nil)}, http.StatusServiceUnavailable, poblysh.EUNAVAILABLE, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			keys := &countedKeys{}
			e := setup(t, func(d *api.Deps) {
				d.Tenants = c.fails
				keys.APIKeyCache = d.Keys.(*db.APIKeyCache)
				d.Keys = keys
			})
			tenant, _ := e.tenant("Acme")
			requireError(t, e.do(http.MethodDelete, "/api/v1/tenants/"+tenant+"?confirm=Acme", adminKey, "", ""), c.status, c.code)
			require.Equal(t, c.revoked, keys.count(), "key caches emptied")
		})
	}
}
