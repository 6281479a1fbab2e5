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

// TestRetractSignals: a retracted Signal keeps its row, with
// payload.attributes.retracted = true, and leaves the feed and time
// queries unless IncludeRetracted; only the tenant's Signals of the source
// are marked, once.
func TestRetractSignals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "slack", "T1")
	g := newFixture(t, s.DB, "slack", "T2")
	msg := func(key string) db.NewSignal {
		n := sig(key, "message.posted")
		n.Payload = []byte(`{"title":"t","attributes":{"channel_id":"C1","text":"hi"}}`)
		return n
	}
	for _, fx := range []fixture{f, g} {
		require.NoError(t, s.DB.WithTenant(ctx, fx.tenant, func(tx *db.Tx) error {
			noAttrs := sig("msg:C1:3", "message.posted") // a payload without attributes
			_, err := tx.InsertSignals(ctx, fx.conn, "slack", []db.NewSignal{msg("msg:C1:1"), msg("msg:C1:2"), noAttrs})
			return err
		}))
	}
	retract := func(keys ...string) int64 {
		var n int64
		require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
			n, err = tx.RetractSignals(ctx, f.tenant, f.conn, "slack", keys)
			return err
		}))
		return n
	}
	require.EqualValues(t, 2, retract("msg:C1:1", "msg:C1:3", "msg:C1:404"))
	require.EqualValues(t, 0, retract("msg:C1:1"), "already retracted")
	require.EqualValues(t, 0, retract(), "nothing to retract")

	require.Len(t, feedAll(t, s.DB, f.tenant, db.SignalFilter{}, 1), 1, "the feed hides retracted Signals")
	all := feedAll(t, s.DB, f.tenant, db.SignalFilter{IncludeRetracted: true}, 3)
	require.Len(t, all, 3)
	var p struct {
		Attributes map[string]any `json:"attributes"`
	}
	require.NoError(t, json.Unmarshal(all[0].Payload, &p))
	require.Equal(t, map[string]any{"channel_id": "C1", "text": "hi", "retracted": true}, p.Attributes)
	p.Attributes = nil
	require.NoError(t, json.Unmarshal(all[2].Payload, &p))
	require.Equal(t, map[string]any{"retracted": true}, p.Attributes)

	since := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	var rows []db.Signal
	require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) (err error) {
		rows, _, err = tx.ListSignals(ctx, db.SignalFilter{Since: &since, Limit: 10})
		return err
	}))
	require.Len(t, rows, 1, "time queries hide them too")
	require.Len(t, feedAll(t, s.DB, g.tenant, db.SignalFilter{}, 3), 3, "another tenant's Signals are untouched")
}

// TestRetractionKeysAreCleanedForPostgres: retraction keys are cleaned as
// the keys of the Signals they retract were stored (CleanText, which
// ingest.Rows applies to every Signal key): a key with a NUL or an invalid
// UTF-8 byte retracts, records and re-applies (or has the insert apply)
// the Signal stored under its cleaned form. Postgres refused such a key, failing the whole delivery.
func TestRetractionKeysAreCleanedForPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "slack", "T1")
	insert := func(keys ...string) {
		var rows []db.NewSignal
		for _, k := range keys {
			rows = append(rows, sig(db.CleanText(k), "message.posted"))
		}
		require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
			_, err := tx.InsertSignals(ctx, f.conn, "slack", rows)
			return err
		}))
	}
	insert("msg:C1:1\x00", "msg:C1:2\xff")
	var n int64
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
		n, err = tx.RetractSignals(ctx, f.tenant, f.conn, "slack", []string{"msg:C1:1\x00", "msg:C1:2\xff", "msg:C1:\x003"})
		return err
	}))
	require.EqualValues(t, 2, n)
	// Stored after its deletion: retracted by the insert, which finds the
	// tombstone of the cleaned key under the key it stores; nothing is
	// left for the re-apply.
	insert("msg:C1:\x003")
	n, err := s.DB.ReapplyRetractions(ctx, f.tenant, "slack", []string{"msg:C1:\x003"})
	require.NoError(t, err)
	require.Zero(t, n, "the tombstone of the cleaned key applied to the Signal stored after it")

	var tombstones, retracted []string
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		if err := tx.SelectContext(ctx, &tombstones, `SELECT dedupe_key FROM signal_tombstones ORDER BY dedupe_key`); err != nil {
			return err
		}
		return tx.SelectContext(ctx, &retracted, `SELECT dedupe_key FROM signals
			WHERE payload->'attributes'->>'retracted' = 'true' ORDER BY dedupe_key`)
	}))
	want := []string{"slack:msg:C1:1", "slack:msg:C1:2\uFFFD", "slack:msg:C1:3"}
	require.Equal(t, want, tombstones)
	require.Equal(t, want, retracted)
}
