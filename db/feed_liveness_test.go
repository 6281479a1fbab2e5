package db_test

import (
	"context"
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

// waitForNewSignal long-polls f's feed from cursor, and once the first
// read has found nothing stores one Signal of key through d: the waiter
// finds it only if something wakes it (a notification, or the poll while
// the listener is down). The wait is a generous bound, not a timing. It
// returns how many Signals the wait found and the cursor after them.
func waitForNewSignal(t *testing.T, n *db.FeedNotifier, d *db.DB, f fixture, cursor, key string) (int, string) {
	t.Helper()
	ctx := context.Background()
	var page db.FeedPage
	var once sync.Once
	stored := make(chan error, 1)
	require.NoError(t, n.Wait(ctx, f.tenant, 30*time.Second, nil, func() (db.FeedRead, error) {
		var err error
		page, err = d.ListFeedWaiting(ctx, f.tenant, db.SignalFilter{Cursor: cursor, Limit: 10})
		if err == nil && len(page.Signals) == 0 {
			once.Do(func() {
				go func() {
					stored <- d.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
						_, err := tx.InsertSignals(ctx, f.conn, "github", []db.NewSignal{sig(key, "code.pushed")})
						return err
					})
				}()
			})
		}
		return db.FeedRead{Found: len(page.Signals) > 0, HeldBack: page.HeldBack}, err
	}))
	require.NoError(t, <-stored)
	if page.Next != "" {
		cursor = page.Next
	}
	return len(page.Signals), cursor
}

// The announcer's session stops answering without a FIN or RST (a
// Postgres host cut off, a failover): its NOTIFY gives up after its
// timeout, the session is closed and the tenants go out again on a new
// one, so the Signal stored then still wakes its waiter. Before, the NOTIFY
// waited with no limit (about 15 minutes, the kernel's retransmissions),
// and no Signal this process stored woke a long poll in that time.
func TestAnnouncerGivesUpOnASessionThatStopsAnswering(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "github", "a")
	proxy := dbtest.NewProxy(t, dbtest.URL(t))
	viaProxy := dbtest.WithSearchPath(proxy.URL(dbtest.URL(t)), s.Name)
	direct := dbtest.WithSearchPath(dbtest.URL(t), s.Name)
	var connects atomic.Int32
	// The first session goes through the proxy; once it is cut, the
	// server is reachable again on a new session (as after a failover).
	db.SetAnnouncerForTest(s.DB, func(ctx context.Context) (*pgx.Conn, error) {
		if connects.Add(1) == 1 {
			return pgx.Connect(ctx, viaProxy)
		}
		return pgx.Connect(ctx, direct)
	}, time.Second)
	n := db.NewFeedNotifier(s.DB, nil) // the listener is direct, and stays up
	t.Cleanup(n.Close)
	until(t, "the listener", n.Listening)
	_, cursor, err := s.DB.ListFeed(ctx, f.tenant, db.SignalFilter{Limit: 10})
	require.NoError(t, err)

	found, cursor := waitForNewSignal(t, n, s.DB, f, cursor, "k1")
	require.Equal(t, 1, found, "woken by the announcement")
	require.EqualValues(t, 1, connects.Load(), "announced on the session through the proxy")

	proxy.Vanish()
	found, cursor = waitForNewSignal(t, n, s.DB, f, cursor, "k2")
	require.Equal(t, 1, found, "the Signal stored after the announcer's session stopped answering wakes its waiter")
	require.GreaterOrEqual(t, connects.Load(), int32(2), "the announcer took a new session")
	found, _ = waitForNewSignal(t, n, s.DB, f, cursor, "k3")
	require.Equal(t, 1, found, "and so does the next")
	require.True(t, n.Listening(), "the listener never went down: only announcements woke the waiters")
}

// listenerViaProxy is a notifier whose listener reaches Postgres through
// a proxy, checking its session after 200 ms without a notification (a
// ping answered within 500 ms); everything else of the test goes direct.
func listenerViaProxy(t *testing.T, s *dbtest.Schema) (*db.FeedNotifier, *dbtest.Proxy) {
	t.Helper()
	proxy := dbtest.NewProxy(t, dbtest.URL(t))
	viaProxy, err := db.Open(context.Background(), proxy.URL(dbtest.URL(t)), db.Options{Role: "poblysh_app", Schema: s.Name, MaxConns: 2})
	require.NoError(t, err)
	t.Cleanup(viaProxy.Close)
	n := db.NewFeedNotifierForTest(viaProxy, 200*time.Millisecond, 500*time.Millisecond)
	t.Cleanup(n.Close)
	until(t, "the listener", n.Listening)
	return n, proxy
}

// The listener's session stops answering without a FIN or RST: after a
// quiet slice the listener pings, finds no answer, and is down, so its
// waiters read again every second and find the Signal stored meanwhile,
// whose notification never reaches them. Before, the listener stayed up
// (WaitForNotification waits for good on a silent connection), the
// waiters never polled and waited out their whole wait.
func TestFeedWaitPollsOnceTheListenerStopsAnswering(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "github", "a")
	n, proxy := listenerViaProxy(t, s)
	_, cursor, err := s.DB.ListFeed(ctx, f.tenant, db.SignalFilter{Limit: 10})
	require.NoError(t, err)

	found, cursor := waitForNewSignal(t, n, s.DB, f, cursor, "k1")
	require.Equal(t, 1, found, "woken by the notification")

	proxy.Vanish()
	found, _ = waitForNewSignal(t, n, s.DB, f, cursor, "k2")
	require.Equal(t, 1, found, "found by the poll of a listener that noticed its session is gone")
	until(t, "the listener to be down", func() bool { return !n.Listening() })
}

// A key revoked through another process, while this process's listener
// has stopped answering (its notification is lost), is refused once the
// listener's check finds the session gone: going down empties the key
// cache, and while down every lookup asks Postgres. Before, the cache
// kept serving the key for up to a minute (apiKeyTTL).
func TestAPIKeyCacheRefusesARevokedKeyOnceTheListenerStopsAnswering(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	n, proxy := listenerViaProxy(t, s)
	c := db.NewAPIKeyCache(s.DB, n) // lookups direct: only the listener is cut
	var tenant *db.Tenant
	var apiKey *db.APIKey
	var key string
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
		tenant, apiKey, key, err = tx.CreateTenant(ctx, "Acme")
		return err
	}))
	got, err := c.Authenticate(ctx, key)
	require.NoError(t, err)
	require.Equal(t, tenant.ID, got)

	proxy.Vanish()
	// Revoked by "another process": this cache is not told (Invalidate),
	// and the trigger's notification goes to the silent session.
	require.NoError(t, s.DB.WithTenant(ctx, tenant.ID, func(tx *db.Tx) error { return tx.RevokeAPIKey(ctx, apiKey.ID) }))
	until(t, "the revoked key to be refused", func() bool {
		_, err := c.Authenticate(ctx, key)
		return poblysh.ErrorCode(err) == poblysh.EUNAUTHORIZED
	})
}

// A revocation whose notification this process's listener never receives
// (its session stopped answering) is still answered: Revoked gives up
// (at most 2 s, or at once once the listener is down) and says so, and
// the key is refused here all the same (the cache was emptied first).
func TestAPIKeyCacheRevokedAnswersWhenItsListenerIsSilent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	n, proxy := listenerViaProxy(t, s)
	c := db.NewAPIKeyCache(s.DB, n) // lookups and the fence direct: only the listener is cut
	var tenant *db.Tenant
	var apiKey *db.APIKey
	var key string
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
		tenant, apiKey, key, err = tx.CreateTenant(ctx, "Acme")
		return err
	}))
	_, err := c.Authenticate(ctx, key)
	require.NoError(t, err)

	proxy.Vanish()
	require.NoError(t, s.DB.WithTenant(ctx, tenant.ID, func(tx *db.Tx) error { return tx.RevokeAPIKey(ctx, apiKey.ID) }))
	require.Error(t, c.Revoked(ctx), "the listener received nothing")
	_, err = c.Authenticate(ctx, key)
	require.Equal(t, poblysh.EUNAUTHORIZED, poblysh.ErrorCode(err))
}
