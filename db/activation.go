package db

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/poblysh/poblysh"
)

// Activation is what a stored connection is owed by Temporal (its
// activation_pending, migration 0027): a connection is stored before
// Temporal is asked for its schedule, watch channels and syncs, and keeps
// the mark until that has been done.
type Activation string

// The activations, each including the ones before it.
const (
	// ActivateApply applies an update: routes, schedule, watch channels.
	ActivateApply Activation = "apply"
	// ActivateSync applies an update and syncs incrementally to catch up
	// (a new config, a resume).
	ActivateSync Activation = "sync"
	// ActivateBackfill activates a connection just authorized, with a
	// backfill of every stream. A connection inactive (paused) when
	// activated holds the backfill until its next mark (HoldBackfill).
	ActivateBackfill Activation = "backfill"
)

// ActivationGrace is how long a mark belongs to the request that set it
// (which activates the connection itself right after its commit) before
// ActivationsDue lists it.
const ActivationGrace = time.Minute

// MarkActivation records in the caller's transaction (the one storing the
// connection or its change) that c is owed activation a, keeping a larger
// one it is owed already (a backfill held while it was paused, HoldBackfill,
// included), and sets c's fields to the mark.
func (tx *Tx) MarkActivation(ctx context.Context, c *Connection, a Activation) error {
	var row struct {
		Pending Activation `db:"activation_pending"`
		At      time.Time  `db:"activation_pending_at"`
	}
	err := tx.GetContext(ctx, &row, `UPDATE connections SET
			activation_pending = CASE
				WHEN backfill_held OR 'backfill' IN (activation_pending, $3) THEN 'backfill'
				WHEN 'sync' IN (activation_pending, $3) THEN 'sync'
				ELSE 'apply' END,
			activation_pending_at = clock_timestamp(), backfill_held = false
		WHERE id = $1 AND tenant_id = $2
		RETURNING activation_pending, activation_pending_at`, c.ID, tx.TenantID, string(a))
	if errors.Is(err, sql.ErrNoRows) {
		return poblysh.NotFound("connection")
	}
	if err != nil {
		return wrapConnErr(err)
	}
	c.ActivationPending, c.ActivationPendingAt = row.Pending, &row.At
	return nil
}

// ClearActivation takes c's mark off once what it owed is done, unless a
// request marked c again since c was read (its activation is the one still
// owed). It reports whether the mark went.
func (tx *Tx) ClearActivation(ctx context.Context, c *Connection) (bool, error) {
	if c.ActivationPendingAt == nil {
		return false, nil
	}
	res, err := tx.ExecContext(ctx, `UPDATE connections SET activation_pending = NULL, activation_pending_at = NULL
		WHERE id = $1 AND tenant_id = $2 AND activation_pending_at = $3`, c.ID, tx.TenantID, *c.ActivationPendingAt)
	if err != nil {
		return false, wrapConnErr(err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// HoldBackfill takes c's mark off as ClearActivation does, once its
// activation has done all but the backfill it owes (ActivateBackfill),
// which an inactive connection does not run, and keeps that backfill owed
// (backfill_held) for the activation that follows its next mark (a
// resume): the activation sweep does not list it meanwhile. It reports
// whether the mark went (a request that marked c again since activates
// it, backfill included).
func (tx *Tx) HoldBackfill(ctx context.Context, c *Connection) (bool, error) {
	if c.ActivationPendingAt == nil {
		return false, nil
	}
	res, err := tx.ExecContext(ctx, `UPDATE connections SET activation_pending = NULL, activation_pending_at = NULL, backfill_held = true
		WHERE id = $1 AND tenant_id = $2 AND activation_pending_at = $3`, c.ID, tx.TenantID, *c.ActivationPendingAt)
	if err != nil {
		return false, wrapConnErr(err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// PostponeActivation moves c's mark behind the others (an activation that
// failed for a reason of its own is tried again after those), unless a
// request marked c again since c was read.
func (tx *Tx) PostponeActivation(ctx context.Context, c *Connection) error {
	if c.ActivationPendingAt == nil {
		return nil
	}
	_, err := tx.ExecContext(ctx, `UPDATE connections SET activation_pending_at = clock_timestamp()
		WHERE id = $1 AND tenant_id = $2 AND activation_pending_at = $3`, c.ID, tx.TenantID, *c.ActivationPendingAt)
	return wrapConnErr(err)
}

// ActivationsDue lists (system scope) the live connections still marked
// ActivationGrace after their mark, oldest mark first, leaving out those a
// delete is tearing down and those of tenants being deleted.
func (tx *Tx) ActivationsDue(ctx context.Context, limit int) ([]poblysh.ConnectionRef, error) {
	var out []dueRow
	err := tx.SelectContext(ctx, &out, `SELECT c.id, c.tenant_id, c.provider FROM connections c
		WHERE c.activation_pending IS NOT NULL AND c.deleted_at IS NULL
		  AND c.activation_pending_at < now() - make_interval(secs => $1)
		  AND (c.disconnecting_at IS NULL OR c.disconnecting_at < now() - interval '`+disconnectingHeeded+`')
		  AND NOT EXISTS (SELECT 1 FROM tenants t WHERE t.id = c.tenant_id AND t.deleting_at IS NOT NULL)
		ORDER BY c.activation_pending_at LIMIT $2`, ActivationGrace.Seconds(), limit)
	return dueRefs(out), wrapConnErr(err)
}
