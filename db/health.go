package db

import (
	"context"
	"database/sql"
	"errors"

	"github.com/poblysh/poblysh"
)

// Health is stored here, decided by poblysh.Health.Next: these functions
// read the current state under a row lock, ask Next, and write its answer.
// No SQL here decides a health state.

// ApplyHealth moves a live connection's health by ev as poblysh.Health.Next
// decides. The row is locked first, so concurrent events (a sync failing
// while an operator pauses) each see the other's outcome. It returns the
// health after ev and whether anything was written.
func (tx *Tx) ApplyHealth(ctx context.Context, id string, ev poblysh.HealthEvent) (poblysh.Health, bool, error) {
	var cur struct {
		Health poblysh.Health `db:"health"`
		Reason string         `db:"health_reason"`
	}
	err := tx.GetContext(ctx, &cur, `SELECT health, health_reason FROM connections
		WHERE id = $1 AND ($2 = '' OR tenant_id = $2::uuid) AND deleted_at IS NULL FOR UPDATE`, id, tx.TenantID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, poblysh.NotFound("connection")
	}
	if err != nil {
		return "", false, wrapConnErr(err)
	}
	h, reason := cur.Health.NextFrom(cur.Reason, ev)
	if reason == "" || h == cur.Health && reason == cur.Reason {
		return cur.Health, false, nil
	}
	return h, true, tx.storeHealth(ctx, id, cur.Health, h, reason)
}

// SetHealth stores a health state and reason as given, whatever the
// current state (tests and operator tools; the service moves health with
// ApplyHealth). The change time moves only when the state changes.
func (tx *Tx) SetHealth(ctx context.Context, id string, h poblysh.Health, reason string) error {
	var cur poblysh.Health
	err := tx.GetContext(ctx, &cur, `SELECT health FROM connections
		WHERE id = $1 AND ($2 = '' OR tenant_id = $2::uuid) FOR UPDATE`, id, tx.TenantID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return wrapConnErr(err)
	}
	return tx.storeHealth(ctx, id, cur, h, reason)
}

func (tx *Tx) storeHealth(ctx context.Context, id string, from, to poblysh.Health, reason string) error {
	_, err := tx.ExecContext(ctx, `UPDATE connections SET health = $3, health_reason = $4,
			health_changed_at = `+healthStamp(from, to)+`, updated_at = now()
		WHERE id = $1 AND ($2 = '' OR tenant_id = $2::uuid)`, id, tx.TenantID, to, CleanText(reason))
	return wrapConnErr(err)
}

// healthStamp is the value health_changed_at takes: the change time moves
// only when the state does (a new reason alone keeps it).
func healthStamp(from, to poblysh.Health) string {
	if from == to {
		return "health_changed_at"
	}
	return "now()"
}

// MarkSynced records a finished sync pass. Its effect on health is the
// caller's ApplyHealth with poblysh.EventSynced.
func (tx *Tx) MarkSynced(ctx context.Context, id string) error {
	_, err := tx.ExecContext(ctx, `UPDATE connections SET last_sync_at = now()
		WHERE id = $1 AND tenant_id = $2`, id, tx.TenantID)
	return wrapConnErr(err)
}
