package db_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// retractedKeys lists the tenant's Signals marked retracted, by dedupe key.
func retractedKeys(t *testing.T, d *db.DB, tenant string) []string {
	t.Helper()
	var keys []string
	require.NoError(t, d.WithTenant(context.Background(), tenant, func(tx *db.Tx) error {
		return tx.SelectContext(context.Background(), &keys, `SELECT dedupe_key FROM signals
			WHERE payload->'attributes'->>'retracted' = 'true' ORDER BY dedupe_key`)
	}))
	return keys
}

// A retraction and the store of the Signal it names can race (a Slack
// message deleted while a sync page that read it before, or the message's
// own delivery, is being stored): whichever commits later re-applies the
// retraction once it has committed (ReapplyRetractions), and under READ
// COMMITTED it then sees the other's committed rows. Both orders, each
// transaction held open while the other commits, and a retraction that
// comes before the message: every message ends retracted. Another tenant's
// Signal of the same key is not touched.
func TestRetractionRacingAStoreIsNotLost(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "slack", "T1")
	other := newFixture(t, s.DB, "slack", "T2")
	msg := func(key string) []db.NewSignal {
		n := sig(key, "message.posted")
		n.Payload = []byte(`{"title":"t","attributes":{"channel_id":"C1","text":"hi"}}`)
		return []db.NewSignal{n}
	}
	keys := func(k string) []string { return []string{k} }
	// store is a Signal store as the intake and the sync page run it: the
	// insert in its transaction (hold runs before it commits), then the
	// retractions recorded for what it stored.
	store := func(fx fixture, key string, hold func()) {
		t.Helper()
		require.NoError(t, s.DB.WithTenantSignals(ctx, fx.tenant, func(tx *db.Tx) error {
			_, err := tx.InsertSignals(ctx, fx.conn, "slack", msg(key))
			hold()
			return err
		}))
		_, err := s.DB.ReapplyRetractions(ctx, fx.tenant, "slack", keys(key))
		require.NoError(t, err)
	}
	// retract is the intake's retraction: marked and recorded in its
	// transaction (hold runs before it commits), re-applied after.
	retract := func(key string, hold func()) {
		t.Helper()
		require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
			_, err := tx.RetractSignals(ctx, f.tenant, f.conn, "slack", keys(key))
			hold()
			return err
		}))
		_, err := s.DB.ReapplyRetractions(ctx, f.tenant, "slack", keys(key))
		require.NoError(t, err)
	}
	none := func() {}
	// concurrently runs first up to its hold, then second to its end,
	// then lets first commit.
	concurrently := func(first func(hold func()), second func()) {
		held, release, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			first(func() { close(held); <-release })
		}()
		<-held
		second()
		close(release)
		<-done
	}

	// The store's transaction is open when the retraction commits.
	concurrently(func(hold func()) { store(f, "msg:C1:1", hold) }, func() { retract("msg:C1:1", none) })
	// The retraction's transaction is open when the store commits.
	concurrently(func(hold func()) { retract("msg:C1:2", hold) }, func() { store(f, "msg:C1:2", none) })
	// The retraction comes first; the message is stored later.
	retract("msg:C1:3", none)
	store(f, "msg:C1:3", none)
	store(other, "msg:C1:3", none)
	// Stored long before: marked by the retraction itself.
	store(f, "msg:C1:4", none)
	retract("msg:C1:4", none)

	require.Equal(t, []string{"slack:msg:C1:1", "slack:msg:C1:2", "slack:msg:C1:3", "slack:msg:C1:4"}, retractedKeys(t, s.DB, f.tenant))
	require.Empty(t, feedAll(t, s.DB, f.tenant, db.SignalFilter{}, 0), "no deleted message in the feed")
	require.Empty(t, retractedKeys(t, s.DB, other.tenant), "another tenant's message of the same key stays")
}

// A store whose process stopped between its commit and its re-application
// of the retractions left a deleted message live when the deletion
// committed while the store ran (one recorded before is applied by the
// store itself): the retention run re-applies every tombstone, then drops
// those as old as the intake records it drops (and none whose Signal is
// still unmarked).
func TestPruneReappliesThenDropsTombstones(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "slack", "T1")
	// The deletion commits while the store is open; the store's process
	// stops before re-applying.
	held, release := make(chan struct{}), make(chan struct{})
	stored := make(chan error, 1)
	go func() {
		stored <- s.DB.WithTenantSignals(ctx, f.tenant, func(tx *db.Tx) error {
			_, err := tx.InsertSignals(ctx, f.conn, "slack", []db.NewSignal{sig("msg:C1:1", "message.posted"), sig("msg:C1:3", "message.posted")})
			close(held)
			<-release
			return err
		})
	}()
	<-held
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		_, err := tx.RetractSignals(ctx, f.tenant, f.conn, "slack", []string{"msg:C1:1", "msg:C1:2"})
		return err
	}))
	close(release)
	require.NoError(t, <-stored)
	require.Empty(t, retractedKeys(t, s.DB, f.tenant))
	prune := func() db.Pruned {
		t.Helper()
		var total db.Pruned
		for {
			p, err := s.DB.Prune(ctx, time.Now().Add(-time.Hour), nil, time.Now().Add(-7*24*time.Hour), nil, 1)
			require.NoError(t, err)
			total.Retractions += p.Retractions
			total.Tombstones += p.Tombstones
			if p.Retractions+p.Tombstones+p.RawPayloads+p.WebhookBodies+p.States+p.WebhookEvents == 0 {
				return total
			}
		}
	}
	got := prune()
	require.EqualValues(t, 1, got.Retractions)
	require.Zero(t, got.Tombstones, "fresh tombstones stay")
	require.Equal(t, []string{"slack:msg:C1:1"}, retractedKeys(t, s.DB, f.tenant))

	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE signal_tombstones SET retracted_at = now() - interval '8 days'`)
		return err
	}))
	got = prune()
	require.Zero(t, got.Retractions)
	require.EqualValues(t, 2, got.Tombstones, "old tombstones go")
	require.Equal(t, []string{"slack:msg:C1:1"}, retractedKeys(t, s.DB, f.tenant), "the Signal stays retracted")
}

// A Signal whose deletion was recorded before it was stored (a sync page
// that read a Slack message before its deletion and is stored after it, a
// message delivery that comes after the message_deleted delivery) is
// stored retracted, as the re-apply after the store would mark it: it was
// stored live, and the default feed (a long poll too) served it until
// that separate transaction ran, or, if it never did, until the next
// retention run; a consumer that read it then kept a deleted message (a
// retraction does not move it in the feed). Each form of the insert
// (plain, with alias keys, with match keys); another tenant's Signal of
// the same key stays live.
func TestStoreAfterItsDeletionIsStoredRetracted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "slack", "T1")
	other := newFixture(t, s.DB, "slack", "T2")
	payload := func(attrs string) []byte {
		return []byte(`{"title":"t","url":"https://x.invalid/m"` + attrs + `}`)
	}
	forms := []struct {
		name string
		with func(*db.NewSignal)
	}{
		{"plain", func(*db.NewSignal) {}},
		{"aliases", func(n *db.NewSignal) { n.AliasKeys = []string{n.DedupeKey + ":alias"} }},
		{"match keys", func(n *db.NewSignal) { n.MatchKeys = []string{n.DedupeKey + ":match"} }},
	}
	var deleted, live []string
	for i, form := range forms {
		// Three deleted messages per form: with attributes, without, and
		// with attributes that are not an object; and one not deleted.
		var batch []db.NewSignal
		for j, attrs := range []string{`,"attributes":{"channel_id":"C1","text":"hi"}`, ``, `,"attributes":null`, `,"attributes":{"channel_id":"C1"}`} {
			n := sig(fmt.Sprintf("msg:C1:%d.%d", i, j), "message.posted")
			n.Payload = payload(attrs)
			form.with(&n)
			batch = append(batch, n)
		}
		keys := []string{batch[0].DedupeKey, batch[1].DedupeKey, batch[2].DedupeKey}
		require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
			_, err := tx.RetractSignals(ctx, f.tenant, f.conn, "slack", keys)
			return err
		}), form.name)
		for _, fx := range []fixture{f, other} {
			require.NoError(t, s.DB.WithTenantSignals(ctx, fx.tenant, func(tx *db.Tx) error {
				st, err := tx.InsertSignals(ctx, fx.conn, "slack", batch)
				if err == nil {
					require.Len(t, st.Kinds, 4, form.name)
				}
				return err
			}), form.name)
		}
		// No re-apply ran (ReapplyRetractions): the store alone.
		for _, k := range keys {
			deleted = append(deleted, "slack:"+k)
		}
		live = append(live, "slack:"+batch[3].DedupeKey)
	}
	slices.Sort(deleted)
	require.Equal(t, deleted, retractedKeys(t, s.DB, f.tenant), "stored retracted")
	require.Empty(t, retractedKeys(t, s.DB, other.tenant), "another tenant's Signals of the same keys stay live")
	var served []string
	for _, r := range feedAll(t, s.DB, f.tenant, db.SignalFilter{}, len(live)) {
		served = append(served, keyOf(t, s, f, r.ID))
	}
	require.ElementsMatch(t, live, served, "the default feed serves only the message not deleted")
	rows, _, err := s.DB.ListFeed(ctx, f.tenant, db.SignalFilter{Limit: 100})
	require.NoError(t, err)
	require.Len(t, rows, len(live), "ListFeed likewise")

	// The payload stored is the one the retraction writes over a Signal
	// stored before it (RetractSignals, ReapplyRetractions): the other
	// tenant's, marked now.
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		_, err := tx.RetractSignals(ctx, other.tenant, other.conn, "slack", []string{"msg:C1:0.0", "msg:C1:0.1", "msg:C1:0.2"})
		return err
	}))
	payloads := func(fx fixture) []string {
		var out []string
		require.NoError(t, s.DB.WithTenant(ctx, fx.tenant, func(tx *db.Tx) error {
			return tx.SelectContext(ctx, &out, `SELECT payload::text FROM signals
				WHERE dedupe_key IN ('slack:msg:C1:0.0', 'slack:msg:C1:0.1', 'slack:msg:C1:0.2') ORDER BY dedupe_key`)
		}))
		return out
	}
	got := payloads(f)
	require.Equal(t, payloads(other), got)
	require.JSONEq(t, `{"title":"t","url":"https://x.invalid/m","attributes":{"channel_id":"C1","text":"hi","retracted":true}}`, got[0],
		"the other attributes are kept")
	require.JSONEq(t, `{"title":"t","url":"https://x.invalid/m","attributes":{"retracted":true}}`, got[1])
	require.JSONEq(t, `{"title":"t","url":"https://x.invalid/m","attributes":{"retracted":true}}`, got[2])
}

// A long poll waiting on the feed when a Signal whose deletion was
// already recorded is stored is not handed it: the store commits it
// retracted, so the poll's read after the store's notification finds
// nothing. It was handed the live Signal whenever that read came before
// the store's re-apply of the retraction (ingest.Batch.Reapply) had
// committed; here the re-apply never runs (a process stopped after the
// commit), so before the fix the poll got it every time.
func TestLongPollIsNotHandedADeletedMessage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "slack", "T1")
	feed := db.NewFeedNotifier(s.DB, nil)
	defer feed.Close()
	for deadline := time.Now().Add(20 * time.Second); !feed.Listening(); time.Sleep(10 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the feed's listener did not start")
	}
	_, cursor, err := s.DB.ListFeed(ctx, f.tenant, db.SignalFilter{Limit: 10})
	require.NoError(t, err)
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		_, err := tx.RetractSignals(ctx, f.tenant, f.conn, "slack", []string{"msg:C1:1"})
		return err
	}))

	var stored atomic.Bool
	readAfterStore := make(chan struct{})
	var once sync.Once
	var got []db.Signal
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- feed.Wait(wctx, f.tenant, time.Minute, nil, func() (db.FeedRead, error) {
			after := stored.Load() // a read begun after the store committed
			p, err := s.DB.ListFeedWaiting(ctx, f.tenant, db.SignalFilter{Limit: 10, Cursor: cursor})
			got = p.Signals
			if after {
				once.Do(func() { close(readAfterStore) })
			}
			return db.FeedRead{Found: len(p.Signals) > 0, HeldBack: p.HeldBack}, err
		})
	}()
	for deadline := time.Now().Add(20 * time.Second); feed.Waiters() == 0; time.Sleep(time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the long poll did not start")
	}
	n := sig("msg:C1:1", "message.posted")
	n.Payload = []byte(`{"title":"t","attributes":{"channel_id":"C1"}}`)
	require.NoError(t, s.DB.WithTenantSignals(ctx, f.tenant, func(tx *db.Tx) error {
		_, err := tx.InsertSignals(ctx, f.conn, "slack", []db.NewSignal{n})
		return err
	}))
	stored.Store(true)
	select {
	case <-readAfterStore: // woken by the store's notification, and read
	case <-time.After(20 * time.Second):
		t.Fatal("the long poll did not read again after the store")
	}
	cancel()
	require.NoError(t, <-done)
	require.Empty(t, got, "the long poll was handed a message whose deletion was recorded before it was stored")
}
