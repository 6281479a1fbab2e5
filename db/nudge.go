package db

import (
	"context"
	"time"
)

// PendingNudge is a sync nudge a notify-only push could not deliver to
// Temporal; Stream "" nudges every stream of the connection.
type PendingNudge struct {
	TenantID     string    `db:"tenant_id"`
	ConnectionID string    `db:"connection_id"`
	Stream       string    `db:"stream"`
	Trigger      string    `db:"trigger"`
	CreatedAt    time.Time `db:"created_at"`
	// Seq counts the nudges coalesced into the row; a delivery deletes the
	// row only while it is the one it read.
	Seq int64 `db:"seq"`
}

// DeferNudge records a nudge for later delivery (system scope). Nudges of
// one connection and stream coalesce into the oldest, counted in Seq.
func (tx *Tx) DeferNudge(ctx context.Context, n PendingNudge) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO pending_nudges (tenant_id, connection_id, stream, trigger)
		VALUES ($1, $2, $3, $4) ON CONFLICT (connection_id, stream) DO UPDATE SET seq = pending_nudges.seq + 1`,
		n.TenantID, n.ConnectionID, n.Stream, n.Trigger)
	return wrapConnErr(err)
}

// DeferStreamNudges records, in one statement, a nudge of each of streams
// of n's connection (n's Stream is not used), as old as n's CreatedAt (now
// when it is zero), coalescing as DeferNudge does (system scope).
func (tx *Tx) DeferStreamNudges(ctx context.Context, n PendingNudge, streams []string) error {
	var created any
	if !n.CreatedAt.IsZero() {
		created = n.CreatedAt
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO pending_nudges (tenant_id, connection_id, stream, trigger, created_at)
		SELECT $1, $2, s, $4, COALESCE($5::timestamptz, now()) FROM unnest($3::text[]) AS s
		ON CONFLICT (connection_id, stream) DO UPDATE SET seq = pending_nudges.seq + 1`,
		n.TenantID, n.ConnectionID, streams, n.Trigger, created)
	return wrapConnErr(err)
}

// ExpandNudge replaces a recorded nudge of every stream (Stream "") with
// a nudge of each of streams, as old as it (system scope), so that each
// recorded nudge is one round trip to Temporal. A push recorded into it
// since it was read (seq moved on) keeps it, to be expanded again.
func (tx *Tx) ExpandNudge(ctx context.Context, n PendingNudge, streams []string) error {
	if err := tx.DeferStreamNudges(ctx, n, streams); err != nil {
		return err
	}
	return tx.DeleteNudge(ctx, n)
}

// PendingNudges lists up to limit pending nudges, oldest first (system
// scope). Nothing is locked: two API processes may send one nudge twice,
// which the sync workflow coalesces, and a nudge recorded while one is
// sent is never taken for it (DeleteNudge).
func (tx *Tx) PendingNudges(ctx context.Context, limit int) ([]PendingNudge, error) {
	var out []PendingNudge
	err := tx.SelectContext(ctx, &out, `SELECT tenant_id, connection_id, stream, trigger, created_at, seq
		FROM pending_nudges ORDER BY created_at, connection_id, stream LIMIT $1`, limit)
	return out, wrapConnErr(err)
}

// DeleteNudges is DeleteNudge of each of ns, in one statement.
func (tx *Tx) DeleteNudges(ctx context.Context, ns []PendingNudge) error {
	conns, streams, seqs := make([]string, len(ns)), make([]string, len(ns)), make([]int64, len(ns))
	for i, n := range ns {
		conns[i], streams[i], seqs[i] = n.ConnectionID, n.Stream, n.Seq
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM pending_nudges p USING unnest($1::text[], $2::text[], $3::bigint[]) AS d(c, s, q)
		WHERE p.connection_id = d.c::uuid AND p.stream = d.s AND p.seq = d.q`, conns, streams, seqs)
	return wrapConnErr(err)
}

// DeleteNudge removes a delivered nudge, unless another was recorded into
// its row since it was read (seq moved on): that one is still to send.
func (tx *Tx) DeleteNudge(ctx context.Context, n PendingNudge) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM pending_nudges WHERE connection_id = $1 AND stream = $2 AND seq = $3`,
		n.ConnectionID, n.Stream, n.Seq)
	return wrapConnErr(err)
}
