package activities

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// A raw retention of 0 keeps raw payloads, as a Signal TTL of 0 keeps
// Signals: it does not drop every payload on each daily run.
func TestPruneZeroRawRetentionKeeps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	tenant, conn := dbtest.Seed(t, schema.DB, "retention", "fake", "acct")
	require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		_, err := tx.InsertSignals(ctx, conn, "fake", []db.NewSignal{{Kind: "message.posted", OccurredAt: time.Now(),
			DedupeKey: "m-1", Payload: []byte(`{"title":"t"}`), Raw: []byte(`{"id":1}`)}})
		return err
	}))
	require.NoError(t, schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
		if _, err := tx.RecordWebhook(ctx, db.WebhookEvent{Provider: "fake", DeliveryID: "dlv-1", Status: "accepted",
			TenantIDs: []string{tenant}, RawBody: []byte(`{"raw":true}`)}); err != nil {
			return err
		}
		// A year old: past any retention but "keep".
		_, err := tx.ExecContext(ctx, `UPDATE signals SET ingested_at = now() - interval '365 days'`)
		if err == nil {
			_, err = tx.ExecContext(ctx, `UPDATE webhook_events SET received_at = now() - interval '365 days'`)
		}
		return err
	}))
	kept := func() (raw, bodies, events int) {
		require.NoError(t, schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
			return tx.QueryRowxContext(ctx, `SELECT (SELECT count(*) FROM signals WHERE raw IS NOT NULL),
				(SELECT count(*) FROM webhook_events WHERE raw_body IS NOT NULL), (SELECT count(*) FROM webhook_events)`).Scan(&raw, &bodies, &events)
		}))
		return raw, bodies, events
	}

	acts := &Activities{DB: schema.DB, RawRetention: 0}
	res, err := acts.Prune(ctx, PruneInput{})
	require.NoError(t, err)
	require.Equal(t, db.Pruned{}, res.Pruned)
	raw, bodies, events := kept()
	require.Equal(t, []int{1, 1, 1}, []int{raw, bodies, events}, "raw payload, webhook body and intake record kept")

	// A retention, however long, still applies.
	acts.RawRetention = 30 * 24 * time.Hour
	res, err = acts.Prune(ctx, PruneInput{})
	require.NoError(t, err)
	require.Equal(t, db.Pruned{RawPayloads: 1, WebhookBodies: 1, WebhookEvents: 1}, res.Pruned)
	raw, bodies, events = kept()
	require.Equal(t, []int{0, 0, 0}, []int{raw, bodies, events})
}
