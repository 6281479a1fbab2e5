package db_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// A token lock whose holder vanished (its worker's host cut off: the
// server gets neither a close nor another statement) is freed once the
// lock's session has been idle for Options.TokenLockIdle: the server ends
// it. Before, only TCP keepalive ended it, after the operating system's
// default (over two hours), and every refresh of the connection waited for
// it that long.
func TestTokenLockOfAVanishedHolderIsFreed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	tenant, conn := dbtest.Seed(t, s.DB, "vanish", "fake", "acct")
	var holder *db.DB
	var held *db.TokenLock
	t.Cleanup(func() { // after the proxy's, which closes its connections
		if held != nil {
			held.Release()
		}
		if holder != nil {
			holder.Close()
		}
	})
	proxy := dbtest.NewProxy(t, dbtest.URL(t))
	var err error
	holder, err = db.Open(ctx, proxy.URL(dbtest.URL(t)), db.Options{Role: "poblysh_app", Schema: s.Name, MaxConns: 2, TokenLockIdle: time.Second})
	require.NoError(t, err)
	held, err = holder.LockTokens(ctx, tenant, conn)
	require.NoError(t, err)
	proxy.Vanish()

	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	l, err := s.DB.LockTokens(wctx, tenant, conn)
	require.NoError(t, err, "the vanished holder's lock is freed")
	l.Release()
	took := time.Since(start)
	t.Logf("the lock was free after %s", took.Round(time.Millisecond))
	require.Less(t, took, 10*time.Second)
}

// A waiter gives up on a token lock held for longer than
// Options.TokenLockWait, with an unavailable (retry later)
// ErrTokenLockBusy, instead of holding a pool session for as long as the
// holder keeps it. The lock's session has the server end it should its
// holder stop answering (idle timeouts, TCP keepalive) and goes back to
// the pool with its settings as they were.
func TestTokenLockWaitIsBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	tenant, conn := dbtest.Seed(t, s.DB, "wait", "fake", "acct")
	open := func(opt db.Options) *db.DB {
		opt.Role, opt.Schema = "poblysh_app", s.Name
		d, err := db.Open(ctx, dbtest.URL(t), opt)
		require.NoError(t, err)
		t.Cleanup(d.Close)
		return d
	}
	holder := open(db.Options{MaxConns: 1}) // one session: the lock's, then the pool's
	waiter := open(db.Options{MaxConns: 2, TokenLockWait: 300 * time.Millisecond})
	names := []string{"tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count", "tcp_user_timeout",
		"idle_session_timeout", "idle_in_transaction_session_timeout", "lock_timeout"}
	settings := func(tx *db.Tx) []string {
		out := make([]string, len(names))
		for i, n := range names {
			require.NoError(t, tx.GetContext(ctx, &out[i], `SELECT setting FROM pg_settings WHERE name = $1`, n))
		}
		return out
	}
	var before []string
	require.NoError(t, holder.WithSystem(ctx, func(tx *db.Tx) error { before = settings(tx); return nil }))

	l, err := holder.LockTokens(ctx, tenant, conn)
	require.NoError(t, err)
	var during []string
	require.NoError(t, l.Tx(ctx, func(tx *db.Tx) error { during = settings(tx); return nil }))
	idle := db.DefaultTokenLockIdle.Milliseconds()
	require.Equal(t, []string{"10", "5", "3", "25000", itoa(idle), itoa(idle), itoa(db.DefaultTokenLockWait.Milliseconds())}, during)

	start := time.Now()
	_, err = waiter.LockTokens(ctx, tenant, conn)
	took := time.Since(start)
	require.ErrorIs(t, err, db.ErrTokenLockBusy)
	require.Equal(t, poblysh.EUNAVAILABLE, poblysh.ErrorCode(err))
	require.GreaterOrEqual(t, took, 300*time.Millisecond)
	require.Less(t, took, 5*time.Second)

	l.Release()
	var after []string
	require.NoError(t, holder.WithSystem(ctx, func(tx *db.Tx) error { after = settings(tx); return nil }))
	require.Equal(t, before, after, "the pool gets the session back as it was")
	l, err = waiter.LockTokens(ctx, tenant, conn)
	require.NoError(t, err, "the released lock is taken at once")
	l.Release()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
