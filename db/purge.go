package db

import (
	"context"
	"fmt"
	"strconv"
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
	where, args := s.where()
	res, err := tx.ExecContext(ctx, `DELETE FROM signals WHERE id IN (SELECT s.id FROM signals s WHERE `+where+
		` LIMIT $`+strconv.Itoa(len(args)+1)+`)`, append(args, batch)...)
	if err != nil {
		return 0, fmt.Errorf("db: purge signals: %w", wrapConnErr(err))
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// where is the condition on signals s that names scope's Signals, with
// its arguments.
func (s SignalScope) where() (string, []any) {
	if s.ConnectionID == "" {
		return `s.tenant_id = $1`, []any{s.TenantID}
	}
	return `s.tenant_id = $1 AND s.connection_id = $2 AND s.ingested_at <
		(SELECT c.signals_purge_before FROM connections c WHERE c.id = $2 AND c.tenant_id = $1)`, []any{s.TenantID, s.ConnectionID}
}

// signalsLeft reports whether any of scope's Signals is left, as a
// statement begun now sees them.
func (tx *Tx) signalsLeft(ctx context.Context, s SignalScope) (bool, error) {
	where, args := s.where()
	var left bool
	if err := tx.GetContext(ctx, &left, `SELECT EXISTS (SELECT 1 FROM signals s WHERE `+where+`)`, args...); err != nil {
		return false, fmt.Errorf("db: purge signals: %w", wrapConnErr(err))
	}
	return left, nil
}

// lockPurge makes the transaction the only purge of scope until it ends.
// Two purges of one scope at once picked the same batch: the one that
// waited for the other's rows deleted none and took that for "none left"
// (a connection's purge then removed its mark with Signals still there,
// and nothing looked for them again).
func (tx *Tx) lockPurge(ctx context.Context, s SignalScope) error {
	key := s.TenantID
	if s.ConnectionID != "" {
		key = s.ConnectionID
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('poblysh-purge:' || $1, 0))`, key); err != nil {
		return fmt.Errorf("db: purge signals: lock: %w", wrapConnErr(err))
	}
	return nil
}

// PurgeSignalsInBatches deletes scope's Signals in transactions of
// PurgeBatch (system scope) until one finds none left, and answers how
// many it deleted. The batches of one scope run one at a time, whoever
// runs them (lockPurge), and "none left" is a batch that deleted nothing
// and then found no Signal of scope (another deleter, the retention's
// expiry, may have taken the batch's rows first). each, when set, runs in
// every batch's transaction with the batch's count (progress,
// heartbeats); its last call has 0, in the transaction that found none
// left.
func (d *DB) PurgeSignalsInBatches(ctx context.Context, s SignalScope, each func(tx *Tx, n int) error) (int, error) {
	total := 0
	for {
		var n int
		left := false
		err := d.withSystemWriter(ctx, func(tx *Tx) (err error) {
			if err = tx.lockPurge(ctx, s); err != nil {
				return err
			}
			if n, err = tx.PurgeSignals(ctx, s, PurgeBatch); err != nil {
				return err
			}
			if n == 0 {
				if left, err = tx.signalsLeft(ctx, s); err != nil || left {
					return err
				}
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
		if n == 0 && !left {
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
// or beside another run (a repeated delete, the retention run finishing a
// purge cut short), is safe: their batches take turns
// (PurgeSignalsInBatches), and each ends only once none is left. progress,
// when set, is told each batch's count (in its transaction).
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
	for {
		ended := false
		m, err := d.PurgeSignalsInBatches(ctx, s, func(tx *Tx, n int) (err error) {
			if n > 0 {
				return count(tx, n)
			}
			ended, err = tx.endSignalPurge(ctx, s)
			return err
		})
		n += m
		if err != nil || ended {
			return n, err
		}
	}
}

// endSignalPurge removes a connection's purge mark, with the tombstones of
// the retractions (RetractSignals) recorded before it, if no Signal below
// the mark is left; it answers false when one is (its purge goes on).
// A connection not marked has nothing to end.
func (tx *Tx) endSignalPurge(ctx context.Context, s SignalScope) (bool, error) {
	var ended int
	err := tx.GetContext(ctx, &ended, `WITH ended AS (
			UPDATE connections c SET signals_purge_before = NULL FROM connections was
			WHERE c.id = $1 AND c.tenant_id = $2 AND c.signals_purge_before IS NOT NULL AND was.id = c.id
			  AND NOT EXISTS (SELECT 1 FROM signals s
				WHERE s.connection_id = c.id AND s.tenant_id = c.tenant_id AND s.ingested_at < c.signals_purge_before)
			RETURNING was.signals_purge_before AS mark),
		tombstones AS (
			DELETE FROM signal_tombstones t USING ended
			WHERE t.connection_id = $1 AND t.tenant_id = $2 AND t.retracted_at < ended.mark)
		SELECT count(*) FROM ended`, s.ConnectionID, s.TenantID)
	if err != nil {
		return false, fmt.Errorf("db: end signal purge: %w", wrapConnErr(err))
	}
	if ended > 0 {
		return true, nil
	}
	left, err := tx.signalsLeft(ctx, s)
	return !left, err
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
