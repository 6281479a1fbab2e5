package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// TestFeedWaitSeesRowsHeldBackByAnotherTenant: tenant A's page
// transaction is open (it took the Signals lock and holds an id) when
// tenant B commits a Signal, whose notification goes out before B's
// reader waits. B's read finds nothing and says rows are held back; the
// waiting reader gets B's row soon after A's transaction ends (which
// notifies nobody of B), not at the end of its wait. Reads that have
// nothing held back say so.
func TestFeedWaitSeesRowsHeldBackByAnotherTenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	a := newFixture(t, s.DB, "github", "a")
	b := newFixture(t, s.DB, "github", "b")
	n := db.NewFeedNotifier(s.DB, nil)
	t.Cleanup(n.Close)
	for deadline := time.Now().Add(10 * time.Second); !n.Listening(); time.Sleep(10 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the listener to connect")
	}

	end, err := s.DB.ListFeedWaiting(ctx, b.tenant, db.SignalFilter{Limit: 10})
	require.NoError(t, err)
	require.Empty(t, end.Signals)
	require.False(t, end.HeldBack, "nothing is held back before anyone writes")

	// A's writer, open until released.
	inA, release, doneA := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		doneA <- s.DB.WithTenant(ctx, a.tenant, func(tx *db.Tx) error {
			if _, err := tx.InsertSignals(ctx, a.conn, "github", []db.NewSignal{sig("a-1", "code.pushed")}); err != nil {
				return err
			}
			close(inA)
			<-release
			return nil
		})
	}()
	select {
	case <-inA:
	case err := <-doneA:
		t.Fatalf("A's writer ended early: %v", err)
	}
	require.NoError(t, s.DB.WithTenant(ctx, b.tenant, func(tx *db.Tx) error {
		_, err := tx.InsertSignals(ctx, b.conn, "github", []db.NewSignal{sig("b-1", "code.pushed")})
		return err
	}))
	time.Sleep(200 * time.Millisecond) // B's notification has gone out, to no one

	page, err := s.DB.ListFeedWaiting(ctx, b.tenant, db.SignalFilter{Limit: 10, Cursor: end.Next})
	require.NoError(t, err)
	require.Empty(t, page.Signals, "A's open writer holds B's row back")
	require.True(t, page.HeldBack)
	other, err := s.DB.ListFeedWaiting(ctx, b.tenant, db.SignalFilter{Limit: 10, Cursor: end.Next, Kind: "release.published"})
	require.NoError(t, err)
	require.False(t, other.HeldBack, "held back counts only rows the reader's filters would return")

	time.AfterFunc(300*time.Millisecond, func() { close(release) })
	const wait = 30 * time.Second
	t0 := time.Now()
	var got db.FeedPage
	require.NoError(t, n.Wait(ctx, b.tenant, wait, nil, func() (db.FeedRead, error) {
		var err error
		got, err = s.DB.ListFeedWaiting(ctx, b.tenant, db.SignalFilter{Limit: 10, Cursor: end.Next})
		return db.FeedRead{Found: len(got.Signals) > 0, HeldBack: got.HeldBack}, err
	}))
	require.NoError(t, <-doneA)
	require.Len(t, got.Signals, 1, "the wait returned B's row, not its timeout")
	require.Equal(t, b.conn, got.Signals[0].ConnectionID)
	require.Less(t, time.Since(t0), wait/3, "the wait returned once A ended, long before its timeout")
	require.False(t, got.HeldBack)

	after, err := s.DB.ListFeedWaiting(ctx, b.tenant, db.SignalFilter{Limit: 10, Cursor: got.Next})
	require.NoError(t, err)
	require.Empty(t, after.Signals)
	require.False(t, after.HeldBack)
}
