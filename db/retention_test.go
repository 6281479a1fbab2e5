package db_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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
		p, err := s.DB.Prune(ctx, rawBefore, &signalsBefore, eventsBefore, &jobsBefore, 2)
		require.NoError(t, err)
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
	p, err := s.DB.Prune(ctx, time.Now().Add(-10*24*time.Hour), nil, eventsBefore, nil, 100)
	require.NoError(t, err)
	require.Equal(t, db.Pruned{RawPayloads: 3}, p)
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.SelectContext(ctx, &rows, `SELECT dedupe_key, raw IS NOT NULL AS has_raw, payload IS NOT NULL AS has_payload
			FROM signals WHERE raw IS NULL ORDER BY dedupe_key`)
	}))
	require.Equal(t, []sigRow{{"fake:age20-0", false, true}, {"fake:age20-1", false, true}, {"fake:age20-2", false, true}}, rows)
	require.Equal(t, after["signals"], tableCounts(t, s.DB)["signals"])
}

// retentionFixture stores, for tenant a, a Signal ingested 100 days ago,
// and a webhook intake record received 30 days ago; b has a Signal
// ingested now. The bounds of retentionBounds drop both old rows.
func retentionFixture(t *testing.T, s *dbtest.Schema) (a, b fixture) {
	t.Helper()
	ctx := context.Background()
	a, b = newFixture(t, s.DB, "github", "a"), newFixture(t, s.DB, "github", "b")
	for _, f := range []fixture{a, b} {
		require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
			_, err := tx.InsertSignals(ctx, f.conn, "github", []db.NewSignal{sig("first", "code.pushed")})
			return err
		}))
	}
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE signals SET ingested_at = now() - interval '100 days' WHERE tenant_id = $1`, a.tenant); err != nil {
			return err
		}
		if _, err := tx.RecordWebhook(ctx, db.WebhookEvent{Provider: "github", DeliveryID: "old", Status: "accepted"}); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE webhook_events SET received_at = now() - interval '30 days'`)
		return err
	}))
	return a, b
}

// retentionBounds: raw payloads 30 days, Signals 90 days, intake records 7.
func retentionBounds() (rawBefore time.Time, signalsBefore *time.Time, eventsBefore time.Time) {
	now := time.Now()
	ttl := now.Add(-90 * 24 * time.Hour)
	return now.Add(-30 * 24 * time.Hour), &ttl, now.Add(-7 * 24 * time.Hour)
}

// signalsOf counts a tenant's Signals.
func signalsOf(t *testing.T, d *db.DB, f fixture) int {
	t.Helper()
	var n int
	require.NoError(t, d.WithTenant(context.Background(), f.tenant, func(tx *db.Tx) error {
		return tx.GetContext(context.Background(), &n, `SELECT count(*) FROM signals WHERE tenant_id = $1`, f.tenant)
	}))
	return n
}

// While retention looks for Signals past POBLYSH_SIGNAL_TTL (held here
// just before the statement runs), a Signal another tenant commits is in
// that tenant's feed: each step of a pass is a transaction of its own,
// and one that has written nothing holds nothing back. Before, every step
// of a pass ran in one transaction, which by then had a transaction id
// (the intake record it deleted) and the signals table's writer lock (the
// raw-payload step's UPDATE), so the feed horizon of every tenant stood
// at it for the whole scan of signals (a sequential scan: about 0.5 s at a
// million Signals).
func TestRetentionHoldsNoTenantsFeedWhileItLooksForOldSignals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	a, b := retentionFixture(t, s)
	_, cursor, err := s.DB.ListFeed(ctx, b.tenant, db.SignalFilter{Limit: 10})
	require.NoError(t, err)

	proxy := dbtest.NewProxy(t, dbtest.URL(t))
	viaProxy, err := db.Open(ctx, proxy.URL(dbtest.URL(t)), db.Options{Role: "poblysh_app", Schema: s.Name, MaxConns: 2})
	require.NoError(t, err)
	t.Cleanup(viaProxy.Close)
	// The hook runs on the proxy's goroutine: it reports by channel.
	type read struct {
		page db.FeedPage
		err  error
	}
	held := make(chan read, 1)
	proxy.HoldAt("SELECT id FROM signals WHERE ingested_at <", func() {
		err := s.DB.WithTenant(ctx, b.tenant, func(tx *db.Tx) error {
			_, err := tx.InsertSignals(ctx, b.conn, "github", []db.NewSignal{sig("during", "code.pushed")})
			return err
		})
		var r read
		if r.err = err; err == nil {
			r.page, r.err = s.DB.ListFeedWaiting(ctx, b.tenant, db.SignalFilter{Cursor: cursor, Limit: 10})
		}
		held <- r
	})
	rawBefore, signalsBefore, eventsBefore := retentionBounds()
	p, err := viaProxy.Prune(ctx, rawBefore, signalsBefore, eventsBefore, nil, 5000)
	require.NoError(t, err)

	var during read
	select {
	case during = <-held:
	default:
		t.Fatal("the TTL step's statement was never sent")
	}
	require.NoError(t, during.err)
	require.Len(t, during.page.Signals, 1, "b's Signal committed during the scan is in b's feed (held back: %v)", during.page.HeldBack)
	require.Equal(t, db.Pruned{RawPayloads: 1, Signals: 1, WebhookEvents: 1}, p)
	require.Zero(t, signalsOf(t, s.DB, a), "a's Signal past the TTL went")
	require.Equal(t, 2, signalsOf(t, s.DB, b))
}

// A pass that fails at its last step (the Signal TTL's) keeps what the
// steps before it did, and the next pass (an activity retry, the next
// day's run) does only what is left: each step commits on its own and
// takes what is still past its bound.
func TestRetentionStepsCommitOnTheirOwn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	a, _ := retentionFixture(t, s)
	proxy := dbtest.NewProxy(t, dbtest.URL(t))
	viaProxy, err := db.Open(ctx, proxy.URL(dbtest.URL(t)), db.Options{Role: "poblysh_app", Schema: s.Name, MaxConns: 2})
	require.NoError(t, err)
	t.Cleanup(viaProxy.Close)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	proxy.HoldAt("SELECT id FROM signals WHERE ingested_at <", cancel)
	rawBefore, signalsBefore, eventsBefore := retentionBounds()
	_, err = viaProxy.Prune(cctx, rawBefore, signalsBefore, eventsBefore, nil, 5000)
	require.ErrorIs(t, err, context.Canceled)
	require.Zero(t, tableCounts(t, s.DB)["webhook_events"], "the intake record's step committed")
	require.Equal(t, 1, signalsOf(t, s.DB, a), "the TTL step did not")

	p, err := viaProxy.Prune(ctx, rawBefore, signalsBefore, eventsBefore, nil, 5000)
	require.NoError(t, err)
	require.Equal(t, db.Pruned{Signals: 1}, p, "the next pass does what was left")
	require.Zero(t, signalsOf(t, s.DB, a))
}

// Retention finds the Signals past the TTL, or that there are none (every
// daily run but the first), through the signals_ingested index (migration
// 0040); it read the whole table.
func TestRetentionFindsOldSignalsByIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "fake", "a")
	seedSignals(t, s.DB, f, 10, "message.posted", func(i int) string { return fmt.Sprintf(`{"title":"%0400d"}`, i) })
	owner, err := pgx.Connect(ctx, s.OwnerURL)
	require.NoError(t, err)
	defer owner.Close(ctx)
	_, err = owner.Exec(ctx, `ANALYZE signals`)
	require.NoError(t, err)

	q, args := db.PruneSignalsStatementForTest(time.Now().Add(-90*24*time.Hour), 5000)
	var plan string
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		return tx.GetContext(ctx, &plan, `EXPLAIN (FORMAT JSON) `+q, args...)
	}))
	require.Contains(t, plan, `"Index Name": "signals_ingested"`, plan)
	require.NotContains(t, plan, `"Seq Scan"`, plan)
}
