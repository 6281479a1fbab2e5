package db_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// unreachable is a DB handle whose connections all fail (nothing listens
// on port 1): a notifier made from it never gets its LISTEN connection.
func unreachable(t *testing.T) *db.DB {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=1")
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return &db.DB{Pool: pool}
}

// TestFeedWaitPollsWhileTheListenerIsDown: with no LISTEN connection a
// waiting reader still finds a new row, by reading again every second,
// rather than waiting out its whole wait; and the API-key cache is not
// trusted (a key revoked behind the triggers' back is refused at once).
func TestFeedWaitPollsWhileTheListenerIsDown(t *testing.T) {
	t.Parallel()
	n := db.NewFeedNotifier(unreachable(t), nil)
	t.Cleanup(n.Close)
	require.False(t, n.Listening())

	var reads atomic.Int32
	err := n.Wait(context.Background(), "tenant", time.Minute, nil, func() (db.FeedRead, error) {
		return db.FeedRead{Found: reads.Add(1) >= 3}, nil
	})
	require.NoError(t, err)
	require.EqualValues(t, 3, reads.Load(), "read again while the listener is down, until found")

	ctx := context.Background()
	s := dbtest.NewSchema(t)
	c := db.NewAPIKeyCache(s.DB, n)
	var tenant *db.Tenant
	var key string
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
		tenant, _, key, err = tx.CreateTenant(ctx, "Acme")
		return err
	}))
	_, err = c.Authenticate(ctx, key)
	require.NoError(t, err)
	owner, err := pgx.Connect(ctx, s.OwnerURL)
	require.NoError(t, err)
	defer owner.Close(ctx)
	_, err = owner.Exec(ctx, `SET session_replication_role = replica`)
	require.NoError(t, err)
	_, err = owner.Exec(ctx, `UPDATE api_keys SET revoked_at = now() WHERE tenant_id = $1`, tenant.ID)
	require.NoError(t, err)
	_, err = c.Authenticate(ctx, key)
	require.Equal(t, poblysh.EUNAUTHORIZED, poblysh.ErrorCode(err), "no listener: every lookup asks Postgres")
}

// A waiter checks its key again whenever the process's key caches are
// emptied (a revocation here or, through its notification, in another
// process), without reading: the check's error ends the wait. Before, a
// revocation woke no waiter: a long poll read on with its revoked key
// until its wait ended.
func TestFeedWaitChecksItsKeyWhenKeysChange(t *testing.T) {
	t.Parallel()
	s := dbtest.NewSchema(t)
	n := db.NewFeedNotifier(s.DB, nil)
	t.Cleanup(n.Close)
	c := db.NewAPIKeyCache(s.DB, n)
	until(t, "the listener", n.Listening)

	errRevoked := errors.New("revoked")
	var reads atomic.Int32
	var revoked atomic.Bool
	done := make(chan error, 1)
	go func() {
		done <- n.Wait(context.Background(), "tenant", time.Minute, func() error {
			if revoked.Load() {
				return errRevoked
			}
			return nil
		}, func() (db.FeedRead, error) {
			reads.Add(1)
			return db.FeedRead{}, nil
		})
	}()
	until(t, "the first read", func() bool { return reads.Load() == 1 })
	revoked.Store(true)
	c.Invalidate()
	require.ErrorIs(t, <-done, errRevoked)
	require.EqualValues(t, 1, reads.Load(), "the key change checked the key and read nothing")
}
