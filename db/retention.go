package db

import (
	"context"
	"time"
)

// Pruned counts what a retention pass removed.
type Pruned struct {
	RawPayloads   int64
	WebhookBodies int64
	Signals       int64
	States        int64
	WebhookEvents int64
	// Retractions counts Signals marked retracted from their tombstones:
	// stored beside a retraction by a process that stopped before it
	// re-applied them (ReapplyRetractions).
	Retractions int64
	// Tombstones counts retraction tombstones dropped with the intake
	// records of their time.
	Tombstones int64
	// Jobs counts tenants' jobs deleted past the job retention.
	Jobs int64
}

// Prune applies retention (system scope): raw provider payloads older than
// rawBefore are dropped from Signals and webhook events; Signals ingested
// before signalsBefore are deleted (nil keeps them); expired OAuth states and
// webhook intake records older than eventsBefore are deleted, with the
// retraction tombstones of their time once re-applied to any Signal of
// their key not yet marked; tenants' jobs that finished before jobsBefore
// are deleted (nil keeps them), oldest first: queued and running jobs are
// their workflows', and an operator's job (a tenant's deletion) stays, as
// the record of the deletion and the job a failed one is restarted from
// (BeginTenantDeletion). Work is done
// in batches of batch rows per statement so a large backlog never holds
// long locks; call it again until it returns zero counts.
//
// Each step is a transaction of its own, which commits before the next
// begins. A transaction that has a transaction id and the signals table's
// writer lock (any statement on signals that changes rows takes it) holds
// the feed horizon of every tenant until it ends (FeedHorizonSQL); one
// that has written nothing has no id and holds nothing. So a step that
// finds nothing to do holds no feed back however long it looks, and one
// that writes holds it for its own batch only. When every step ran in one
// transaction, the intake records or raw payloads it had dropped gave it
// an id and the lock, and every tenant's feed waited for the TTL step's
// look for old Signals (a sequential scan until migration 0040's index:
// about 0.5 s at a million Signals, 5 s at ten million). Each step takes
// what is still past its bound, so a pass that fails half-way keeps what
// its steps committed and the next does what is left.
func (d *DB) Prune(ctx context.Context, rawBefore time.Time, signalsBefore *time.Time, eventsBefore time.Time, jobsBefore *time.Time, batch int) (Pruned, error) {
	var p Pruned
	for _, s := range pruneSteps(&p, rawBefore, signalsBefore, eventsBefore, jobsBefore, batch) {
		var n int64
		err := d.withSystemWriter(ctx, func(tx *Tx) error {
			res, err := tx.ExecContext(ctx, s.q, s.a...)
			if err != nil {
				return wrapConnErr(err)
			}
			n, _ = res.RowsAffected()
			return nil
		})
		if err != nil {
			return p, err
		}
		*s.n = n
	}
	return p, nil
}

type pruneStep struct {
	n *int64
	q string
	a []any
}

// pruneSteps are Prune's statements, in order, each counting into p.
func pruneSteps(p *Pruned, rawBefore time.Time, signalsBefore *time.Time, eventsBefore time.Time, jobsBefore *time.Time, batch int) []pruneStep {
	steps := []pruneStep{
		{&p.RawPayloads, `UPDATE signals SET raw = NULL WHERE id IN (
			SELECT id FROM signals WHERE raw IS NOT NULL AND ingested_at < $1 LIMIT $2)`, []any{rawBefore, batch}},
		{&p.WebhookBodies, `UPDATE webhook_events SET raw_body = NULL WHERE id IN (
			SELECT id FROM webhook_events WHERE raw_body IS NOT NULL AND received_at < $1 LIMIT $2)`, []any{rawBefore, batch}},
		{&p.States, `DELETE FROM oauth_states WHERE id IN (
			SELECT id FROM oauth_states WHERE expires_at < now() - interval '1 hour' LIMIT $1)`, []any{batch}},
		{&p.WebhookEvents, `DELETE FROM webhook_events WHERE id IN (
			SELECT id FROM webhook_events WHERE received_at < $1 LIMIT $2)`, []any{eventsBefore, batch}},
		{&p.Retractions, `UPDATE signals SET payload = ` + retractedPayload + ` WHERE id IN (
			SELECT s.id FROM signal_tombstones t JOIN signals s ON s.tenant_id = t.tenant_id AND s.dedupe_key = t.dedupe_key
			WHERE (s.payload->'attributes'->>'retracted') IS DISTINCT FROM 'true' LIMIT $1)`, []any{batch}},
		{&p.Tombstones, `DELETE FROM signal_tombstones WHERE ctid IN (
			SELECT t.ctid FROM signal_tombstones t WHERE t.retracted_at < $1
			  AND NOT EXISTS (SELECT 1 FROM signals s WHERE s.tenant_id = t.tenant_id AND s.dedupe_key = t.dedupe_key
				AND (s.payload->'attributes'->>'retracted') IS DISTINCT FROM 'true')
			LIMIT $2)`, []any{eventsBefore, batch}},
	}
	if signalsBefore != nil {
		// The signals_ingested index (migration 0040) finds the batch,
		// or that there is none, without reading the table.
		steps = append(steps, pruneStep{&p.Signals, `DELETE FROM signals WHERE id IN (
			SELECT id FROM signals WHERE ingested_at < $1 LIMIT $2)`, []any{*signalsBefore, batch}})
	}
	if jobsBefore != nil {
		// jobs_finished (0039) holds exactly these rows, by finished_at.
		steps = append(steps, pruneStep{&p.Jobs, `DELETE FROM jobs WHERE id IN (
			SELECT id FROM jobs WHERE status IN ('succeeded', 'failed', 'cancelled') AND tenant_id IS NOT NULL
			  AND finished_at < $1 ORDER BY finished_at LIMIT $2)`, []any{*jobsBefore, batch}})
	}
	return steps
}
