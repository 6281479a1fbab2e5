package db_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

func TestFingerprints(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "google-calendar", "a")
	other := newFixture(t, s.DB, "google-calendar", "b")
	in := func(fx fixture, fn func(tx *db.Tx) error) error { return s.DB.WithTenant(ctx, fx.tenant, fn) }
	get := func(fx fixture, keys ...string) map[string]db.Fingerprint {
		var out map[string]db.Fingerprint
		require.NoError(t, in(fx, func(tx *db.Tx) (err error) { out, err = tx.Fingerprints(ctx, fx.conn, keys); return err }))
		return out
	}

	require.Empty(t, get(f, "event:c:e1"), "nothing remembered yet")
	require.NoError(t, in(f, func(tx *db.Tx) error {
		return tx.PutFingerprints(ctx, f.conn, map[string]db.Fingerprint{
			"event:c:e1": {Hash: "h1", SignalKey: "event:c:e1:created"},
			"event:c:e2": {Hash: "h2", SignalKey: "event:c:e2:created"},
		})
	}))
	require.NoError(t, in(f, func(tx *db.Tx) error {
		return tx.PutFingerprints(ctx, f.conn, map[string]db.Fingerprint{"event:c:e1": {Hash: "h1b", SignalKey: "event:c:e1:updated:5"}})
	}))
	require.Equal(t, map[string]db.Fingerprint{
		"event:c:e1": {Hash: "h1b", SignalKey: "event:c:e1:updated:5"},
		"event:c:e2": {Hash: "h2", SignalKey: "event:c:e2:created"},
	}, get(f, "event:c:e1", "event:c:e2", "event:c:e3"))

	// Another tenant sees nothing of them, even naming its own connection.
	require.Empty(t, get(other, "event:c:e1"))
	var n int
	require.NoError(t, in(other, func(tx *db.Tx) error { return tx.GetContext(ctx, &n, `SELECT count(*) FROM fingerprints`) }))
	require.Zero(t, n, "row-level security hides another tenant's fingerprints")

	// Stored Signals by dedupe key, without the source prefix.
	require.NoError(t, in(f, func(tx *db.Tx) error {
		_, err := tx.InsertSignals(ctx, f.conn, "google-calendar", []db.NewSignal{sig("event:c:e1:created", "calendar_event.created")})
		return err
	}))
	var got map[string][]byte
	require.NoError(t, in(f, func(tx *db.Tx) error {
		p, err := tx.SignalPayloads(ctx, "google-calendar", []string{"event:c:e1:created", "event:c:e9:created"})
		got = map[string][]byte{}
		for k, v := range p {
			got[k] = v
		}
		return err
	}))
	require.Len(t, got, 1)
	require.JSONEq(t, `{"title":"t"}`, string(got["event:c:e1:created"]))

	// Deleting the connection keeps its fingerprints with its Signals (a
	// revived connection reads on from them); purging forgets both.
	require.NoError(t, in(f, func(tx *db.Tx) error { return tx.DeleteConnection(ctx, f.conn, false) }))
	require.Len(t, get(f, "event:c:e1", "event:c:e2"), 2)
	require.NoError(t, in(other, func(tx *db.Tx) error { return tx.DeleteConnection(ctx, other.conn, true) }))
	g := newFixture(t, s.DB, "google-calendar", "c")
	require.NoError(t, in(g, func(tx *db.Tx) error {
		return tx.PutFingerprints(ctx, g.conn, map[string]db.Fingerprint{"event:c:e1": {Hash: "h", SignalKey: "event:c:e1:created"}})
	}))
	require.NoError(t, in(g, func(tx *db.Tx) error { return tx.DeleteConnection(ctx, g.conn, true) }))
	require.Empty(t, get(g, "event:c:e1"))
}
