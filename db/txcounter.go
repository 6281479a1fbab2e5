package db

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
)

// TxCounterBehindError refuses a database whose Signals carry transaction
// ids at or past the id the Postgres cluster assigns next: it was copied
// logically (pg_dump and pg_restore, or COPY) into a cluster whose counter
// started again from its own. The feed orders and bounds rows by those ids
// (signals.txid, the feed horizon), so on such a cluster every Signal
// stored from then on would sort before the consumers' cursors and never
// reach them, and the copied rows would stay behind the horizon.
type TxCounterBehindError struct {
	// Newest is the highest transaction id a stored Signal carries.
	Newest uint64
	// Next is the id the cluster assigns next.
	Next uint64
}

// Epoch is the transaction id epoch that puts the cluster's counter past
// every stored Signal's id: pg_resetwal -e <Epoch> on the stopped cluster.
func (e *TxCounterBehindError) Epoch() uint64 { return e.Newest>>32 + 1 }

func (e *TxCounterBehindError) Error() string {
	return fmt.Sprintf("database: Signals were stored up to transaction %d, but this Postgres cluster assigns %d next: "+
		"it was restored from a logical copy (pg_dump/pg_restore) into a new cluster, and every feed consumer would miss "+
		"the Signals stored from now on. Stop Postgres and run `pg_resetwal -e %d <data directory>` on it (or restore "+
		"a physical backup of the current point instead); see docs/reliability.md, \"Restoring a backup\"", e.Newest, e.Next, e.Epoch())
}

// txCounterSQL answers the highest transaction id stored Signals carry
// (empty when there are none) and the id the cluster assigns next (the
// snapshot's xmax: reading it assigns no id). The highest id is read one
// tenant at a time, each a backward step of the feed index (signals_feed,
// tenant_id then txid), so the check costs a probe per tenant however
// many Signals there are.
const txCounterSQL = `SELECT coalesce((SELECT max(n.txid) FROM tenants t CROSS JOIN LATERAL (
		SELECT s.txid FROM signals s WHERE s.tenant_id = t.id ORDER BY s.txid DESC LIMIT 1) n)::text, ''),
	pg_snapshot_xmax(pg_current_snapshot())::text`

// CheckTxCounter returns a *TxCounterBehindError when a stored Signal's
// transaction id is at or past the id the cluster assigns next (see
// TxCounterBehindError); the service refuses to start then. It reads every
// tenant's Signals (system scope).
func (d *DB) CheckTxCounter(ctx context.Context) error {
	return checkTxCounter(ctx, d.X.DB)
}

// checkTxCounter is CheckTxCounter on any pool of the schema: the
// application's, or the migrator's (the schema owner, under the same
// forced row-level security). A schema without the signals table (not
// migrated yet) passes.
func checkTxCounter(ctx context.Context, pool *sql.DB) error {
	tx, err := pool.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("db: transaction counter: %w", wrapConnErr(err))
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	var migrated bool
	if err := tx.QueryRowContext(ctx, `SELECT to_regclass('signals') IS NOT NULL`).Scan(&migrated); err != nil {
		return fmt.Errorf("db: transaction counter: %w", wrapConnErr(err))
	}
	if !migrated {
		return nil
	}
	// Every tenant's Signals: row-level security applies to the app role
	// and, forced, to the schema owner.
	if _, err := tx.ExecContext(ctx, `SELECT set_config('poblysh.system', 'on', true)`); err != nil {
		return fmt.Errorf("db: transaction counter: %w", wrapConnErr(err))
	}
	var newest, next string
	if err := tx.QueryRowContext(ctx, txCounterSQL).Scan(&newest, &next); err != nil {
		return fmt.Errorf("db: transaction counter: %w", wrapConnErr(err))
	}
	if newest == "" {
		return nil
	}
	e := &TxCounterBehindError{}
	if e.Newest, err = strconv.ParseUint(newest, 10, 64); err != nil {
		return fmt.Errorf("db: transaction counter: %w", err)
	}
	if e.Next, err = strconv.ParseUint(next, 10, 64); err != nil {
		return fmt.Errorf("db: transaction counter: %w", err)
	}
	if e.Newest >= e.Next {
		return e
	}
	return nil
}
