package db

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/poblysh/poblysh"
)

// NewSignal is a Signal to store.
type NewSignal struct {
	Kind       string
	OccurredAt time.Time
	DedupeKey  string
	AliasKeys  []string
	Payload    []byte // JSON
	Raw        []byte // JSON or nil
}

// Signal is a stored Signal.
type Signal struct {
	ID           string    `db:"id"`
	TenantID     string    `db:"tenant_id"`
	ConnectionID string    `db:"connection_id"`
	Source       string    `db:"source"`
	Kind         string    `db:"kind"`
	OccurredAt   time.Time `db:"occurred_at"`
	IngestedAt   time.Time `db:"ingested_at"`
	TxID         string    `db:"feed_txid"`
	Seq          int64     `db:"seq"`
	Payload      []byte    `db:"payload"`
	Raw          []byte    `db:"raw"`
}

// Stored reports how an insert went.
type Stored struct {
	// Kinds of the Signals actually inserted, in input order.
	Kinds      []string
	Duplicates int
}

// InsertSignals stores Signals idempotently for one connection: a Signal
// whose dedupe key (or alias) is already stored for the tenant is skipped and
// counted as a duplicate, never an error. Concurrent inserts of the same key
// store exactly one. source is the provider name.
func (tx *Tx) InsertSignals(ctx context.Context, connID, source string, sigs []NewSignal) (Stored, error) {
	return tx.InsertSignalsFor(ctx, tx.TenantID, connID, source, sigs)
}

// InsertSignalsFor is InsertSignals for a system-scope transaction that
// stores on behalf of the given tenant (webhook intake).
func (tx *Tx) InsertSignalsFor(ctx context.Context, tenantID, connID, source string, sigs []NewSignal) (Stored, error) {
	if len(sigs) == 0 {
		return Stored{}, nil
	}
	kinds := make([]string, len(sigs))
	times := make([]time.Time, len(sigs))
	keys := make([]string, len(sigs))
	payloads := make([]string, len(sigs))
	raws := make([]string, len(sigs))
	for i, s := range sigs {
		kinds[i], times[i], payloads[i], raws[i] = s.Kind, s.OccurredAt, string(s.Payload), string(s.Raw)
		keys[i] = source + ":" + s.DedupeKey
	}
	var inserted []struct {
		ID   string `db:"id"`
		Kind string `db:"kind"`
		Key  string `db:"dedupe_key"`
	}
	err := tx.SelectContext(ctx, &inserted, `
		INSERT INTO signals (tenant_id, connection_id, source, kind, occurred_at, dedupe_key, payload, raw)
		SELECT $1, $2, $3, t.kind, t.occurred_at, t.dedupe_key, t.payload::jsonb, nullif(t.raw, '')::jsonb
		FROM unnest($4::text[], $5::timestamptz[], $6::text[], $7::text[], $8::text[])
			WITH ORDINALITY AS t(kind, occurred_at, dedupe_key, payload, raw, ord)
		WHERE NOT EXISTS (SELECT 1 FROM signal_aliases a WHERE a.tenant_id = $1 AND a.key = t.dedupe_key)
		ORDER BY t.ord
		ON CONFLICT (tenant_id, dedupe_key) DO NOTHING
		RETURNING id, kind, dedupe_key`,
		tenantID, connID, source, pq.StringArray(kinds), pq.Array(times), pq.StringArray(keys), pq.StringArray(payloads), pq.StringArray(raws))
	if err != nil {
		return Stored{}, wrapConnErr(err)
	}
	byKey := make(map[string]string, len(inserted))
	for _, r := range inserted {
		byKey[r.Key] = r.ID
	}
	var aliasKeys, aliasIDs []string
	out := Stored{}
	for i, s := range sigs {
		id, ok := byKey[keys[i]]
		if !ok {
			out.Duplicates++
			continue
		}
		delete(byKey, keys[i]) // a key repeated in the batch counts once
		out.Kinds = append(out.Kinds, s.Kind)
		for _, a := range s.AliasKeys {
			aliasKeys = append(aliasKeys, source+":"+a)
			aliasIDs = append(aliasIDs, id)
		}
	}
	if len(aliasKeys) > 0 {
		_, err := tx.ExecContext(ctx, `INSERT INTO signal_aliases (tenant_id, key, signal_id)
			SELECT $1, k, id::uuid FROM unnest($2::text[], $3::text[]) AS t(k, id)
			ON CONFLICT (tenant_id, key) DO NOTHING`, tenantID, pq.StringArray(aliasKeys), pq.StringArray(aliasIDs))
		if err != nil {
			return Stored{}, wrapConnErr(err)
		}
	}
	return out, nil
}

const signalCols = `id, tenant_id, connection_id, source, kind, occurred_at, ingested_at, txid::text AS feed_txid, seq, payload`

// FindSignal returns one Signal of the tenant, with raw while retained.
func (tx *Tx) FindSignal(ctx context.Context, id string) (*Signal, error) {
	var s Signal
	err := tx.GetContext(ctx, &s, `SELECT `+signalCols+`, raw FROM signals WHERE id = $1 AND tenant_id = $2`, id, tx.TenantID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, poblysh.NotFound("signal")
	}
	return &s, wrapConnErr(err)
}

// SignalFilter narrows ListSignals.
type SignalFilter struct {
	Source       string
	Kind         string
	ConnectionID string
	Since, Until *time.Time
	Cursor       string
	Limit        int
}

// ListSignals reads the tenant's Signals.
//
// Without a time filter it is the gapless feed: ordered by ingestion (the
// inserting transaction, then the row sequence), exposing only rows whose
// transaction has ended and no older transaction is still running
// (txid < pg_snapshot_xmin). Rows of still-running writers are withheld, not
// skipped: a consumer looping on next_cursor sees every row exactly once.
// The returned cursor is never empty for the feed; poll it again later.
//
// With since/until it is a query ordered by (timestamp, id), and the cursor
// is empty when the range is exhausted.
func (tx *Tx) ListSignals(ctx context.Context, f SignalFilter) ([]Signal, string, error) {
	if f.Since != nil || f.Until != nil {
		return tx.listSignalsByTime(ctx, f)
	}
	var afterTx string
	var afterSeq int64
	if f.Cursor != "" {
		var err error
		if afterTx, afterSeq, err = decodeFeedCursor(f.Cursor); err != nil {
			return nil, "", err
		}
	} else {
		afterTx = "0"
	}
	q := newWhere(tx.TenantID)
	q.add("(txid, seq) > (%s::xid8, %s)", afterTx, afterSeq)
	q.add("txid < pg_snapshot_xmin(pg_current_snapshot())")
	f.filters(q)
	var rows []Signal
	err := tx.SelectContext(ctx, &rows, `SELECT `+signalCols+` FROM signals WHERE `+q.sql()+
		` ORDER BY txid, seq LIMIT `+q.arg(f.Limit), q.args...)
	if err != nil {
		return nil, "", wrapConnErr(err)
	}
	next := encodeFeedCursor(afterTx, afterSeq)
	if len(rows) > 0 {
		last := rows[len(rows)-1]
		next = encodeFeedCursor(last.TxID, last.Seq)
	}
	return rows, next, nil
}

func (tx *Tx) listSignalsByTime(ctx context.Context, f SignalFilter) ([]Signal, string, error) {
	after, err := Page{Cursor: f.Cursor}.decode()
	if err != nil {
		return nil, "", err
	}
	q := newWhere(tx.TenantID)
	if f.Since != nil {
		q.add("occurred_at >= %s", *f.Since)
	}
	if f.Until != nil {
		q.add("occurred_at < %s", *f.Until)
	}
	f.filters(q)
	if after.Time != nil {
		q.add("(occurred_at, id) > (%s, %s::uuid)", *after.Time, *after.ID)
	}
	var rows []Signal
	err = tx.SelectContext(ctx, &rows, `SELECT `+signalCols+` FROM signals WHERE `+q.sql()+
		` ORDER BY occurred_at, id LIMIT `+q.arg(f.Limit+1), q.args...)
	if err != nil {
		return nil, "", wrapConnErr(err)
	}
	rows, next := trimPage(rows, f.Limit, func(s Signal) pageKey { return pageKey{Time: s.OccurredAt, ID: s.ID} })
	return rows, next, nil
}

// filters adds the optional equality filters that are set.
func (f SignalFilter) filters(q *where) {
	if f.Source != "" {
		q.add("source = %s", f.Source)
	}
	if f.Kind != "" {
		q.add("kind = %s", f.Kind)
	}
	if f.ConnectionID != "" {
		q.add("connection_id = %s::uuid", f.ConnectionID)
	}
}

// FeedCursor is the feed cursor positioned after the row (txid, seq); for
// tools that pick feed positions directly (benchmarks, backfill of a new
// consumer from a known point).
func FeedCursor(txid string, seq int64) string { return encodeFeedCursor(txid, seq) }

func encodeFeedCursor(txid string, seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("f1:" + txid + ":" + strconv.FormatInt(seq, 10)))
}

func decodeFeedCursor(c string) (string, int64, error) {
	bad := poblysh.Invalid("cursor is not valid", map[string]string{"cursor": "not a feed cursor returned by this API"})
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", 0, bad
	}
	parts := strings.Split(string(b), ":")
	if len(parts) != 3 || parts[0] != "f1" {
		return "", 0, bad
	}
	if _, err := strconv.ParseUint(parts[1], 10, 64); err != nil {
		return "", 0, bad
	}
	seq, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return "", 0, bad
	}
	return parts[1], seq, nil
}

// NewestSignalTime returns the newest provider timestamp of a connection's
// Signals (for the freshness gauge).
func (tx *Tx) NewestSignalTime(ctx context.Context, connID string) (*time.Time, error) {
	var t *time.Time
	err := tx.GetContext(ctx, &t, `SELECT max(occurred_at) FROM signals WHERE connection_id = $1 AND tenant_id = $2`, connID, tx.TenantID)
	if err != nil {
		return nil, fmt.Errorf("db: newest signal: %w", wrapConnErr(err))
	}
	return t, nil
}
