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
}

// DeferNudge records a nudge for later delivery (system scope). Nudges of
// one connection and stream coalesce into the oldest.
func (tx *Tx) DeferNudge(ctx context.Context, n PendingNudge) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO pending_nudges (tenant_id, connection_id, stream, trigger)
		VALUES ($1, $2, $3, $4) ON CONFLICT (connection_id, stream) DO NOTHING`,
		n.TenantID, n.ConnectionID, n.Stream, n.Trigger)
	return wrapConnErr(err)
}

// ClaimNudges locks up to limit pending nudges, oldest first (system
// scope); rows another transaction holds are skipped, so several API
// processes deliver each nudge once.
func (tx *Tx) ClaimNudges(ctx context.Context, limit int) ([]PendingNudge, error) {
	var out []PendingNudge
	err := tx.SelectContext(ctx, &out, `SELECT tenant_id, connection_id, stream, trigger, created_at
		FROM pending_nudges ORDER BY created_at, connection_id, stream
		LIMIT $1 FOR UPDATE SKIP LOCKED`, limit)
	return out, wrapConnErr(err)
}

// DeleteNudge removes a delivered nudge.
func (tx *Tx) DeleteNudge(ctx context.Context, connID, stream string) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM pending_nudges WHERE connection_id = $1 AND stream = $2`, connID, stream)
	return wrapConnErr(err)
}
