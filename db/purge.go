package db

import (
	"context"
	"fmt"
)

// PurgeBatch is how many Signals one purge transaction deletes. The feed
// horizon of every tenant waits for each transaction that writes Signals,
// deleting ones too: a purge never holds it for longer than one batch.
const PurgeBatch = 5000

// SignalScope names the Signals a purge deletes: all of a tenant's
// (ConnectionID empty; its deletion), or those of one of its connections
// that DeleteConnection marked for purging (ConnectionID set: the Signals
// ingested before the connection's signals_purge_before).
type SignalScope struct {
	TenantID     string
	ConnectionID string
}

// PurgeSignals deletes up to batch of scope's Signals and answers how
// many it deleted (system scope).
func (tx *Tx) PurgeSignals(ctx context.Context, s SignalScope, batch int) (int, error) {
	q, args := `DELETE FROM signals WHERE id IN (SELECT id FROM signals WHERE tenant_id = $1 LIMIT $2)`, []any{s.TenantID, batch}
	if s.ConnectionID != "" {
		q = `DELETE FROM signals WHERE id IN (SELECT s.id FROM signals s JOIN connections c ON c.id = s.connection_id
			WHERE s.connection_id = $3 AND s.tenant_id = $1 AND s.ingested_at < c.signals_purge_before LIMIT $2)`
		args = append(args, s.ConnectionID)
	}
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("db: purge signals: %w", wrapConnErr(err))
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// PurgeSignalsInBatches deletes scope's Signals in transactions of
// PurgeBatch (system scope) until one finds none left, and answers how
// many it deleted. each, when set, runs in every batch's transaction with
// the batch's count (progress, heartbeats); its last call has 0.
func (d *DB) PurgeSignalsInBatches(ctx context.Context, s SignalScope, each func(tx *Tx, n int) error) (int, error) {
	total := 0
	for {
		var n int
		err := d.WithSystem(ctx, func(tx *Tx) (err error) {
			if n, err = tx.PurgeSignals(ctx, s, PurgeBatch); err != nil {
				return err
			}
			if each != nil {
				return each(tx, n)
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
		if n == 0 {
			return total, nil
		}
	}
}

// PurgeConnectionSignals deletes the Signals of a connection that
// DeleteConnection marked for purging, in batches, and then removes the
// mark. A webhook delivery that read the connection's routes before the
// delete committed may still be storing Signals for it (its transaction
// holds the writers' lock from its first statement): once every Signal
// writer running after the first pass has ended, a second pass purges
// what they stored and removes the mark in the transaction that finds
// nothing left. A connection not marked purges nothing. Running it again,
// or beside another run (the retention run finishing a purge cut short),
// is safe. progress, when set, is told each batch's count (in its
// transaction).
func (d *DB) PurgeConnectionSignals(ctx context.Context, tenantID, connID string, progress func(n int)) (int, error) {
	s := SignalScope{TenantID: tenantID, ConnectionID: connID}
	count := func(_ *Tx, n int) error {
		if progress != nil && n > 0 {
			progress(n)
		}
		return nil
	}
	n, err := d.PurgeSignalsInBatches(ctx, s, count)
	if err != nil {
		return n, err
	}
	if err := d.WaitForSignalWriters(ctx); err != nil {
		return n, err
	}
	m, err := d.PurgeSignalsInBatches(ctx, s, func(tx *Tx, n int) error {
		if n > 0 {
			return count(tx, n)
		}
		return tx.endSignalPurge(ctx, s)
	})
	return n + m, err
}

// endSignalPurge removes a connection's purge mark once its Signals are
// gone, with the tombstones of its retractions (RetractSignals).
func (tx *Tx) endSignalPurge(ctx context.Context, s SignalScope) error {
	for _, q := range []string{
		`UPDATE connections SET signals_purge_before = NULL
		WHERE id = $1 AND tenant_id = $2 AND signals_purge_before IS NOT NULL`,
		`DELETE FROM signal_tombstones WHERE connection_id = $1 AND tenant_id = $2`,
	} {
		if _, err := tx.ExecContext(ctx, q, s.ConnectionID, s.TenantID); err != nil {
			return fmt.Errorf("db: end signal purge: %w", wrapConnErr(err))
		}
	}
	return nil
}

// SignalPurgePending reports whether the tenant's connection was deleted
// with its Signals' purge not yet ended (a purge cut short).
func (tx *Tx) SignalPurgePending(ctx context.Context, connID string) (bool, error) {
	var pending bool
	err := tx.GetContext(ctx, &pending, `SELECT EXISTS (SELECT 1 FROM connections
		WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NOT NULL AND signals_purge_before IS NOT NULL)`, connID, tx.TenantID)
	return pending, wrapConnErr(err)
}

// PendingSignalPurges lists the connections whose Signals' purge has not
// ended (system scope), for the retention run to finish.
func (tx *Tx) PendingSignalPurges(ctx context.Context) ([]SignalScope, error) {
	var rows []struct {
		TenantID     string `db:"tenant_id"`
		ConnectionID string `db:"id"`
	}
	if err := tx.SelectContext(ctx, &rows, `SELECT tenant_id, id FROM connections
		WHERE signals_purge_before IS NOT NULL ORDER BY signals_purge_before, id`); err != nil {
		return nil, fmt.Errorf("db: pending signal purges: %w", wrapConnErr(err))
	}
	out := make([]SignalScope, len(rows))
	for i, r := range rows {
		out[i] = SignalScope{TenantID: r.TenantID, ConnectionID: r.ConnectionID}
	}
	return out, nil
}
