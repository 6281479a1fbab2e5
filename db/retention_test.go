package db_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// tableCounts counts the rows of every table (system scope).
func tableCounts(t *testing.T, d *db.DB) map[string]int {
	t.Helper()
	out := map[string]int{}
	require.NoError(t, d.WithSystem(context.Background(), func(tx *db.Tx) error {
		for _, table := range append([]string{"tenants", "webhook_events"}, tenantTables...) {
			var n int
			if err := tx.GetContext(context.Background(), &n, `SELECT count(*) FROM `+table); err != nil {
				return err
			}
			out[table] = n
		}
		return nil
	}))
	return out
}

func TestPruneAppliesRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	f := seedTenant(t, s.DB, kr, "a") // one of everything, all fresh
	sys := func(q string, args ...any) {
		t.Helper()
		require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error { _, err := tx.ExecContext(ctx, q, args...); return err }))
	}

	// Signals ingested 40, 20 and 0 days ago (three of each), webhook
	// events received 100, 40 and 0 days ago, OAuth states expired two
	// hours ago, expired a minute ago, and valid.
	require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
		var sigs []db.NewSignal
		for _, age := range []int{40, 20, 0} {
			for i := range 3 {
				sigs = append(sigs, sig(fmt.Sprintf("age%d-%d", age, i), "message.posted"))
			}
		}
		if _, err := tx.InsertSignals(ctx, f.conn, "fake", sigs); err != nil {
			return err
		}
		for _, st := range []struct {
			name string
			ttl  time.Duration
		}{{"long-expired", -2 * time.Hour}, {"just-expired", -time.Minute}, {"valid", time.Hour}} {
			if _, err := tx.CreateState(ctx, kr, db.NewState{State: st.name, Provider: "fake", TTL: st.ttl}); err != nil {
				return err
			}
		}
		return nil
	}))
	for _, age := range []int{40, 20} {
		sys(`UPDATE signals SET ingested_at = now() - make_interval(days => $1) WHERE dedupe_key LIKE $2`, age, fmt.Sprintf("fake:age%d-%%", age))
	}
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		for _, age := range []int{100, 40, 0} {
			if _, err := tx.RecordWebhook(ctx, db.WebhookEvent{Provider: "fake", DeliveryID: fmt.Sprintf("dlv-%d", age), Status: "accepted",
				TenantIDs: []string{f.tenant}, RawBody: []byte(`{"raw":true}`)}); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE webhook_events SET received_at = now() - make_interval(days => substr(delivery_id, 5)::int)`)
		return err
	}))
	before := tableCounts(t, s.DB)

	// Raw payloads kept 30 days, Signals 30 days, intake records 90 days,
	// in batches of 2: repeat until nothing is left.
	rawBefore, signalsBefore, eventsBefore := time.Now().Add(-30*24*time.Hour), time.Now().Add(-30*24*time.Hour), time.Now().Add(-90*24*time.Hour)
	jobsBefore := time.Now().Add(-30 * 24 * time.Hour)
	var total db.Pruned
	for range 10 {
		var p db.Pruned
		require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
			p, err = tx.Prune(ctx, rawBefore, &signalsBefore, eventsBefore, &jobsBefore, 2)
			return err
		}))
		require.LessOrEqual(t, p.Signals, int64(2), "batches are bounded")
		total.RawPayloads += p.RawPayloads
		total.WebhookBodies += p.WebhookBodies
		total.Signals += p.Signals
		total.States += p.States
		total.WebhookEvents += p.WebhookEvents
		if p == (db.Pruned{}) {
			break
		}
	}
	// The first pass nulls the raw payloads of the 40-day Signals before
	// deleting them; the 100-day event's body is nulled, then it goes.
	require.Equal(t, int64(3), total.Signals)
	require.Equal(t, int64(1), total.States)
	require.Equal(t, int64(1), total.WebhookEvents)
	require.Equal(t, int64(2), total.WebhookBodies, "the 100- and 40-day bodies")
	require.GreaterOrEqual(t, total.RawPayloads, int64(2))

	after := tableCounts(t, s.DB)
	require.Equal(t, before["signals"]-3, after["signals"])
	require.Equal(t, before["oauth_states"]-1, after["oauth_states"], "a state expired a minute ago is kept for the callback's error")
	require.Equal(t, before["webhook_events"]-1, after["webhook_events"])
	for _, table := range []string{"tenants", "api_keys", "connections", "sync_cursors", "webhook_routes", "watch_channels", "sync_leases"} {
		require.Equal(t, before[table], after[table], "%s is not retention's business", table)
	}
	require.Equal(t, before["jobs"], after["jobs"], "jobs finished within the job retention stay")

	type sigRow struct {
		Key    string `db:"dedupe_key"`
		HasRaw bool   `db:"has_raw"`
		HasPay bool   `db:"has_payload"`
	}
	var rows []sigRow
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.SelectContext(ctx, &rows, `SELECT dedupe_key, raw IS NOT NULL AS has_raw, payload IS NOT NULL AS has_payload
			FROM signals ORDER BY dedupe_key`)
	}))
	require.Len(t, rows, 7) // 20-day and fresh ones, plus the seed's
	for _, r := range rows {
		require.True(t, r.HasPay, r.Key)
		require.True(t, r.HasRaw, "%s: younger than the raw retention", r.Key)
	}
	var events []struct {
		ID      string `db:"delivery_id"`
		HasBody bool   `db:"has_body"`
	}
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.SelectContext(ctx, &events, `SELECT delivery_id, raw_body IS NOT NULL AS has_body FROM webhook_events ORDER BY delivery_id`)
	}))
	require.Equal(t, []struct {
		ID      string `db:"delivery_id"`
		HasBody bool   `db:"has_body"`
	}{{"dlv-0", true}, {"dlv-40", false}}, events)

	// With a raw retention shorter than the Signal TTL, raw payloads go
	// first and the Signals stay; a nil TTL keeps Signals forever.
	var p db.Pruned
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
		p, err = tx.Prune(ctx, time.Now().Add(-10*24*time.Hour), nil, eventsBefore, nil, 100)
		return err
	}))
	require.Equal(t, db.Pruned{RawPayloads: 3}, p)
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.SelectContext(ctx, &rows, `SELECT dedupe_key, raw IS NOT NULL AS has_raw, payload IS NOT NULL AS has_payload
			FROM signals WHERE raw IS NULL ORDER BY dedupe_key`)
	}))
	require.Equal(t, []sigRow{{"fake:age20-0", false, true}, {"fake:age20-1", false, true}, {"fake:age20-2", false, true}}, rows)
	require.Equal(t, after["signals"], tableCounts(t, s.DB)["signals"])
}
