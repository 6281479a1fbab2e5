package db

import (
	"context"
	"fmt"
)

// retractedPayload is a Signal's payload marked retracted:
// payload.attributes.retracted = true, the other attributes kept.
var retractedPayload = retracted("payload")

// retracted is the expression of the payload p (a jsonb expression) marked
// retracted: the one form every retraction writes, whether it marks a
// stored Signal (RetractSignals, ReapplyRetractions, the retention run) or
// a Signal as it is stored (InsertSignalsFor).
func retracted(p string) string {
	return `jsonb_set(` + p + `, '{attributes}',
	CASE jsonb_typeof(` + p + `->'attributes') WHEN 'object' THEN ` + p + `->'attributes' ELSE '{}'::jsonb END
	|| '{"retracted": true}'::jsonb)`
}

// notRetracted selects the Signals not marked yet.
const notRetracted = `(payload->'attributes'->>'retracted') IS DISTINCT FROM 'true'`

// RetractSignals marks the tenant's Signals of source whose dedupe keys are
// given (cleaned as Signal keys are: sourceKeys) retracted: payload.attributes.retracted = true (the provider says
// the thing is gone, e.g. a deleted Slack message). The row keeps its feed
// position; ListSignals leaves it out unless IncludeRetracted. It returns
// how many Signals it marked; keys of Signals not stored (or already
// retracted) mark nothing. For the webhook intake, in a system-scope
// transaction, once per connection the retraction is routed to.
//
// It also records the keys as tombstones of the connection (whether their
// Signals are stored or not), because its UPDATE marks only rows committed
// when it runs: a store that commits after it (a sync page that read the
// message before the deletion, a message delivery still open) re-applies
// the tombstones of its keys once committed, and the retraction re-applies
// itself once committed (ReapplyRetractions). Tombstones are kept as long
// as webhook intake records (Prune) and go with the connection's purge and
// the tenant.
func (tx *Tx) RetractSignals(ctx context.Context, tenantID, connID, source string, keys []string) (int64, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	res, err := tx.ExecContext(ctx, `WITH tombstones AS (
			INSERT INTO signal_tombstones (tenant_id, dedupe_key, connection_id)
			SELECT $1, k, $3 FROM unnest($2::text[]) k
			ON CONFLICT DO NOTHING)
		UPDATE signals SET payload = `+retractedPayload+`
		WHERE tenant_id = $1 AND dedupe_key = ANY($2) AND `+notRetracted, tenantID, sourceKeys(source, keys), connID)
	if err != nil {
		return 0, fmt.Errorf("db: retract signals: %w", wrapConnErr(err))
	}
	return res.RowsAffected()
}

// ReapplyRetractions marks retracted, in a transaction of its own, the
// tenant's Signals of source among keys that a retraction recorded
// (RetractSignals), and returns how many it marked. Run after a commit
// that raced a retraction, it closes the race under READ COMMITTED:
// after a store of Signals of a provider that retracts, for the keys it
// stored (it sees every retraction committed before it); after a
// retraction, for its keys (it sees every store committed before it).
// Whichever of the two commits later sees the other's rows.
func (d *DB) ReapplyRetractions(ctx context.Context, tenantID, source string, keys []string) (int64, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	var n int64
	err := d.withTenantWriter(ctx, tenantID, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE signals s SET payload = `+retractedPayload+`
			WHERE s.tenant_id = $1 AND s.dedupe_key = ANY($2) AND `+notRetracted+`
			  AND EXISTS (SELECT 1 FROM signal_tombstones t WHERE t.tenant_id = $1 AND t.dedupe_key = s.dedupe_key)`,
			tenantID, sourceKeys(source, keys))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("db: reapply retractions: %w", wrapConnErr(err))
	}
	return n, nil
}

// sourceKeys are keys as stored: prefixed with their source, and cleaned
// as Postgres text (CleanText) as the Signals' keys were (ingest.Rows).
// Every retraction passes here, whatever provider or path made it: a key
// from a signed delivery with a NUL (a Slack deleted_ts) made Postgres
// refuse the statement, so the delivery failed at every retry, and a
// cleaned key is the one the Signal it names was stored under.
func sourceKeys(source string, keys []string) []string {
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = CleanText(source + ":" + k)
	}
	return full
}
