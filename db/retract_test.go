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
