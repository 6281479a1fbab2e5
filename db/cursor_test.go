package db_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

func TestCursorOptimisticConcurrency(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "fake", "a")
	in := func(fn func(tx *db.Tx) error) error { return s.DB.WithTenant(ctx, f.tenant, fn) }
	get := func(stream string) db.Cursor {
		var c db.Cursor
		require.NoError(t, in(func(tx *db.Tx) (err error) { c, err = tx.GetCursor(ctx, f.conn, stream); return err }))
		return c
	}
	advance := func(stream, next string, seen int64) error {
		return in(func(tx *db.Tx) error { return tx.AdvanceCursor(ctx, f.conn, stream, json.RawMessage(next), seen) })
	}

	require.Equal(t, db.Cursor{}, get("items"), "no cursor yet: version 0")
	require.NoError(t, advance("items", `{"after":10}`, 0))
	c := get("items")
	require.JSONEq(t, `{"after":10}`, string(c.Value))
	require.Equal(t, int64(1), c.Version)

	// A writer that read version 0 lost the race.
	require.ErrorIs(t, advance("items", `{"after":99}`, 0), db.ErrCursorMoved)
	require.ErrorIs(t, advance("items", `{"after":99}`, 7), db.ErrCursorMoved)
	require.NoError(t, advance("items", `{"after":20}`, 1))
	c = get("items")
	require.JSONEq(t, `{"after":20}`, string(c.Value))
	require.Equal(t, int64(2), c.Version)

	// The check and the Signals share the caller's transaction: a moved
	// cursor rolls the page back.
	err := in(func(tx *db.Tx) error {
		if _, err := tx.InsertSignals(ctx, f.conn, "fake", []db.NewSignal{sig("page-item", "message.posted")}); err != nil {
			return err
		}
		return tx.AdvanceCursor(ctx, f.conn, "items", json.RawMessage(`{"after":30}`), 1)
	})
	require.ErrorIs(t, err, db.ErrCursorMoved)
	var n int
	require.NoError(t, in(func(tx *db.Tx) error { return tx.GetContext(ctx, &n, `SELECT count(*) FROM signals`) }))
	require.Zero(t, n, "the page's Signals were rolled back with the cursor")

	// Reset clears the value and moves the version, so a page read before
	// the reset cannot store its cursor afterwards.
	require.NoError(t, in(func(tx *db.Tx) error { return tx.ResetCursor(ctx, f.conn, "items") }))
	c = get("items")
	require.Nil(t, c.Value)
	require.Equal(t, int64(3), c.Version)
	require.ErrorIs(t, advance("items", `{"after":30}`, 2), db.ErrCursorMoved)
	require.NoError(t, advance("items", `{"after":5}`, 3))

	// Streams are independent; a Done page may store an empty cursor.
	require.NoError(t, advance("audit", ``, 0))
	audit := get("audit")
	require.Nil(t, audit.Value)
	require.Equal(t, int64(1), audit.Version)
	require.WithinDuration(t, time.Now(), audit.UpdatedAt, time.Minute, "when the cursor last moved")

	var infos []db.CursorInfo
	require.NoError(t, in(func(tx *db.Tx) (err error) { infos, err = tx.ListCursors(ctx, f.conn); return err }))
	require.Len(t, infos, 2)
	require.Equal(t, "audit", infos[0].Stream)
	require.False(t, infos[0].HasCursor)
	require.Equal(t, "items", infos[1].Stream)
	require.True(t, infos[1].HasCursor)

	// A cursor deleted under a running page (the connection was deleted)
	// is not silently re-created from the stale version.
	require.NoError(t, in(func(tx *db.Tx) error { return tx.DeleteConnection(ctx, f.conn, false) }))
	require.ErrorIs(t, advance("items", `{"after":50}`, 4), db.ErrCursorMoved)
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.GetContext(ctx, &n, `SELECT count(*) FROM sync_cursors`)
	}))
	require.Zero(t, n)
}

// TestCursorConcurrentWriters: two transactions that read the same version
// race; one stores its cursor, the other gets ErrCursorMoved.
func TestCursorConcurrentWriters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "fake", "a")
	require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
		return tx.AdvanceCursor(ctx, f.conn, "items", json.RawMessage(`{"after":1}`), 0)
	}))
	firstWrote := make(chan struct{})
	secondDone := make(chan error, 1)
	go func() {
		<-firstWrote
		secondDone <- s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
			return tx.AdvanceCursor(ctx, f.conn, "items", json.RawMessage(`{"after":3}`), 1)
		})
	}()
	err := s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
		if err := tx.AdvanceCursor(ctx, f.conn, "items", json.RawMessage(`{"after":2}`), 1); err != nil {
			return err
		}
		close(firstWrote)
		// Hold the transaction open: the second writer blocks on our row
		// and re-checks the version once we commit.
		time.Sleep(100 * time.Millisecond)
		return nil
	})
	require.NoError(t, err)
	require.ErrorIs(t, <-secondDone, db.ErrCursorMoved)
	var c db.Cursor
	require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) (err error) { c, err = tx.GetCursor(ctx, f.conn, "items"); return err }))
	require.JSONEq(t, `{"after":2}`, string(c.Value))
	require.Equal(t, int64(2), c.Version)
}

// MoveCursor hands a stream's cursor to another stream (its resource moved)
// unless that one has its own; the old row goes, and a writer that still
// holds it finds it moved.
func TestMoveCursor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "fake", "a")
	in := func(fn func(tx *db.Tx) error) error { return s.DB.WithTenant(ctx, f.tenant, fn) }
	get := func(stream string) db.Cursor {
		var c db.Cursor
		require.NoError(t, in(func(tx *db.Tx) (err error) { c, err = tx.GetCursor(ctx, f.conn, stream); return err }))
		return c
	}
	move := func(from, to string) bool {
		var moved bool
		require.NoError(t, in(func(tx *db.Tx) (err error) { moved, err = tx.MoveCursor(ctx, f.conn, from, to); return err }))
		return moved
	}
	require.NoError(t, in(func(tx *db.Tx) error {
		return tx.AdvanceCursor(ctx, f.conn, "history:G1", json.RawMessage(`{"hw":"10"}`), 0)
	}))

	require.True(t, move("history:G1", "history:C1"))
	require.JSONEq(t, `{"hw":"10"}`, string(get("history:C1").Value))
	require.Equal(t, int64(1), get("history:C1").Version)
	require.Equal(t, db.Cursor{}, get("history:G1"))
	require.ErrorIs(t, in(func(tx *db.Tx) error {
		return tx.AdvanceCursor(ctx, f.conn, "history:G1", json.RawMessage(`{"hw":"11"}`), 1)
	}), db.ErrCursorMoved, "a writer of the old stream finds its cursor gone")
	require.False(t, move("history:G1", "history:C1"), "nothing left to move")

	require.NoError(t, in(func(tx *db.Tx) error {
		return tx.AdvanceCursor(ctx, f.conn, "history:G2", json.RawMessage(`{"hw":"20"}`), 0)
	}))
	require.False(t, move("history:G2", "history:C1"), "the target keeps its own cursor")
	require.JSONEq(t, `{"hw":"10"}`, string(get("history:C1").Value))
	require.Equal(t, db.Cursor{}, get("history:G2"))
}
