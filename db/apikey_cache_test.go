package db_test

import (
	"context"
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
