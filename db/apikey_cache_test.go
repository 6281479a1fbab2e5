package db_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// TestAPIKeyCache: a verified key is answered from memory (it still
// works after its row is revoked behind the triggers' back), and a
// notification on the keys channel (what a revocation in any process
// sends) empties the cache, so the revoked key is refused.
func TestAPIKeyCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	n := db.NewFeedNotifier(s.DB, nil)
	t.Cleanup(n.Close)
	c := db.NewAPIKeyCache(s.DB, n)
	var tenant *db.Tenant
	var key string
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
		tenant, _, key, err = tx.CreateTenant(ctx, "Acme")
		return err
	}))
	until(t, "the listener", n.Listening)

	got, err := c.Authenticate(ctx, key)
	require.NoError(t, err)
	require.Equal(t, tenant.ID, got)

	// Revoke without firing the trigger: the cache alone still answers.
	owner, err := pgx.Connect(ctx, s.OwnerURL)
	require.NoError(t, err)
	defer owner.Close(ctx)
	_, err = owner.Exec(ctx, `SET session_replication_role = replica`)
	require.NoError(t, err)
	_, err = owner.Exec(ctx, `UPDATE api_keys SET revoked_at = now() WHERE tenant_id = $1`, tenant.ID)
	require.NoError(t, err)
	got, err = c.Authenticate(ctx, key)
	require.NoError(t, err, "served from the cache")
	require.Equal(t, tenant.ID, got)

	// The notification a revocation sends empties the cache.
	_, err = owner.Exec(ctx, `SELECT pg_notify('`+db.APIKeysChannel+`', '')`)
	require.NoError(t, err)
	until(t, "the revoked key to be refused", func() bool {
		_, err := c.Authenticate(ctx, key)
		return poblysh.ErrorCode(err) == poblysh.EUNAUTHORIZED
	})

	// A real revocation (the trigger) reaches the cache too.
	var key2 string
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
		_, _, key2, err = tx.CreateTenant(ctx, "Globex")
		return err
	}))
	_, err = c.Authenticate(ctx, key2)
	require.NoError(t, err)
	_, err = owner.Exec(ctx, `SET session_replication_role = origin`)
	require.NoError(t, err)
	_, err = owner.Exec(ctx, `UPDATE api_keys SET revoked_at = now() WHERE key_hash = $1`, db.HashAPIKey(key2))
	require.NoError(t, err)
	until(t, "the revoked key to be refused", func() bool {
		_, err := c.Authenticate(ctx, key2)
		return poblysh.ErrorCode(err) == poblysh.EUNAUTHORIZED
	})
}

// until polls cond (a wait, not a timing assertion).
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Revoked, called after a revocation committed, returns only once this
// process's listener has received the revocation's notification (here
// held until Revoked waits for it), so the revoking request's answer does
// not outrun the notification every process's cache forgets the key on.
func TestAPIKeyCacheRevokedWaitsForItsListener(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	n := db.NewFeedNotifier(s.DB, nil)
	t.Cleanup(n.Close)
	c := db.NewAPIKeyCache(s.DB, n)
	until(t, "the listener", n.Listening)
	var tenant *db.Tenant
	var apiKey *db.APIKey
	var key string
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
		tenant, apiKey, key, err = tx.CreateTenant(ctx, "Acme")
		return err
	}))
	_, err := c.Authenticate(ctx, key)
	require.NoError(t, err)

	var mu sync.Mutex
	var events []string
	record := func(e string) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, e)
	}
	var returned atomic.Bool
	db.SetKeyNoteHookForTest(n, func(payload string) {
		if strings.HasPrefix(payload, db.FencePrefix) {
			return
		}
		// The revocation's notification is held until Revoked waits for
		// the listener (or has returned without waiting). No t here:
		// this is the listener's goroutine.
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if db.PendingFencesForTest(n) > 0 || returned.Load() {
				break
			}
		}
		record("listener received the revocation")
	})
	require.NoError(t, s.DB.WithTenant(ctx, tenant.ID, func(tx *db.Tx) error { return tx.RevokeAPIKey(ctx, apiKey.ID) }))
	err = c.Revoked(ctx)
	returned.Store(true)
	record("Revoked returned")
	require.NoError(t, err)
	mu.Lock()
	require.Equal(t, []string{"listener received the revocation", "Revoked returned"}, events)
	mu.Unlock()
	_, err = c.Authenticate(ctx, key)
	require.Equal(t, poblysh.EUNAUTHORIZED, poblysh.ErrorCode(err))
}
