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

	"github.com/jackc/pgx/v5"

	"github.com/poblysh/poblysh"
)

// NewSignal is a Signal to store.
type NewSignal struct {
	Kind       string
	OccurredAt time.Time
	DedupeKey  string
	AliasKeys  []string
	// MatchKeys make the Signal a duplicate when one of them is stored (as
	// a dedupe key or an alias); unlike AliasKeys they are not claimed.
	MatchKeys []string
	Payload   []byte // JSON
	Raw       []byte // JSON or nil
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
	Kinds []string
	// OccurredAt of the Signals actually inserted, parallel to Kinds.
	OccurredAt []time.Time
	Duplicates int
}

// InsertSignals stores Signals idempotently for one connection: a Signal
// whose dedupe key (or alias) is already stored for the tenant is skipped and
// counted as a duplicate, never an error. Concurrent inserts of the same key
// store exactly one. source is the provider name.
func (tx *Tx) InsertSignals(ctx context.Context, connID, source string, sigs []NewSignal) (Stored, error) {
	return tx.InsertSignalsFor(ctx, tx.TenantID, connID, source, sigs)
}

// LockSignals announces that the transaction will insert Signals. It must
// come before the transaction's first write (InsertSignals calls it when
// the insert is that first write; a transaction that writes something else
// first, like the webhook intake's delivery record, begins with
// DB.WithSystemSignals or DB.WithTenantSignals, which take it in their
// first statement, or calls it at its start):
// the feed horizon waits only for transactions that hold this lock, so a
// writer that got its id without it could commit rows the feed has already
// passed. A transaction that already has an id is refused. Like the
// transactions that begin with it, the transaction is then bounded in how
// long it may sit idle (Options.SignalWriterIdle; txScope.sql).
func (tx *Tx) LockSignals(ctx context.Context) error {
	if tx.signalsLocked {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT `+writerIdleSQL(tx.writerIdle)+`, poblysh_lock_signals()`); err != nil {
		return fmt.Errorf("db: lock signals: %w", wrapConnErr(err))
	}
	tx.signalsLocked = true
	return nil
}

// InsertSignalsStatement is the statement InsertSignalsFor sends for sigs of
// source, stored for tenantID's connection connID, with its arguments: the
// Signals as arrays, and with alias keys, the aliases of the Signals inserted
// stored in the same statement (a duplicate's aliases are not taken over);
// with match keys, a Signal one of whose match keys is stored (as a key or
// an alias) is skipped as a duplicate.
// Exported, like LookupRoutesSQL, RecordWebhookStatement and
// SystemSignalsSQL, for the benchmark that runs the intake's statements on
// a raw pool (webhook.BenchmarkIntakeLayers).
func InsertSignalsStatement(tenantID, connID, source string, sigs []NewSignal) (string, []any) {
	q, args, _ := insertSignalsStatement(tenantID, connID, source, sigs)
	return q, args
}

// insertSignalsStatement is InsertSignalsStatement, with the dedupe key it
// stores for each Signal (source-prefixed).
func insertSignalsStatement(tenantID, connID, source string, sigs []NewSignal) (string, []any, []string) {
	kinds := make([]string, len(sigs))
	times := make([]time.Time, len(sigs))
	keys := make([]string, len(sigs))
	// The JSON goes as the bytes it is in (pgx encodes a []byte as a text
	// element, nil as NULL, which nullif maps as it maps ''): converted to
	// strings, each payload and raw object was copied once more, the whole
	// delivery body for a webhook's raw object.
	payloads := make([][]byte, len(sigs))
	raws := make([][]byte, len(sigs))
	for i, s := range sigs {
		// Postgres keeps microseconds. pgx sends a time in binary and so
		// truncates; the text form sent before let Postgres round: round
		// here, so a stored time stays what it was.
		kinds[i], times[i], payloads[i], raws[i] = s.Kind, s.OccurredAt.Round(time.Microsecond), s.Payload, s.Raw
		keys[i] = source + ":" + s.DedupeKey
	}
	// Alias and match keys of each key's first occurrence (a key repeated
	// in the batch is stored once, with the first's).
	var aliasOf, aliasKeys, matchOf, matchKeys []string
	first := make(map[string]bool, len(sigs))
	for i, s := range sigs {
		if first[keys[i]] {
			continue
		}
		first[keys[i]] = true
		for _, a := range s.AliasKeys {
			aliasOf = append(aliasOf, keys[i])
			aliasKeys = append(aliasKeys, source+":"+a)
		}
		for _, m := range s.MatchKeys {
			matchOf = append(matchOf, keys[i])
			matchKeys = append(matchKeys, source+":"+m)
		}
	}
	args := []any{tenantID, connID, source, kinds, times, keys, payloads, raws}
	switch {
	case len(matchKeys) > 0:
		return insertSignalsSQL[2], append(args, aliasOf, aliasKeys, matchOf, matchKeys), keys
	case len(aliasKeys) > 0:
		return insertSignalsSQL[1], append(args, aliasOf, aliasKeys), keys
	}
	return insertSignalsSQL[0], args, keys
}

// insertSignalsSQL is the insert: plain, with aliases ($9, $10), and with
// aliases and match keys ($11, $12).
//
// A Signal whose key has a tombstone (its deletion was recorded before:
// RetractSignals) is stored retracted, as the retraction would have marked
// it had it been stored: a sync page that read a Slack message before its
// deletion, or a message delivery that comes after the deletion's, stored
// it live, and the default feed (long polls too) served it until the
// store's re-apply (ReapplyRetractions, a transaction of its own after the
// commit) ran, or the retention run when that re-apply failed. The re-apply
// stays, for tombstones that commit while the store runs, which this
// statement cannot see. The lookup is one probe of signal_tombstones'
// primary key (tenant_id, dedupe_key, …) per Signal, a scalar subquery
// rather than EXISTS: Postgres may run an EXISTS as a hash of every
// tombstone of the tenant, read whole for each insert (docs/performance.md,
// "Tombstones looked up by the Signals' insert").
var insertSignalsSQL = func() [3]string {
	insert := func(match string) string {
		return `INSERT INTO signals (tenant_id, connection_id, source, kind, occurred_at, dedupe_key, payload, raw)
		SELECT $1, $2, $3, t.kind, t.occurred_at, t.dedupe_key,
			CASE WHEN (SELECT true FROM signal_tombstones d WHERE d.tenant_id = $1 AND d.dedupe_key = t.dedupe_key LIMIT 1)
				THEN ` + retracted("(t.payload::jsonb)") + ` ELSE t.payload::jsonb END,
			nullif(t.raw, '')::jsonb
		FROM unnest($4::text[], $5::timestamptz[], $6::text[], $7::text[], $8::text[])
			WITH ORDINALITY AS t(kind, occurred_at, dedupe_key, payload, raw, ord)
		WHERE NOT EXISTS (SELECT 1 FROM signal_aliases a WHERE a.tenant_id = $1 AND a.key = t.dedupe_key)` + match + `
		ORDER BY t.ord
		ON CONFLICT (tenant_id, dedupe_key) DO NOTHING
		RETURNING id, kind, dedupe_key`
	}
	withAliases := func(insert string) string {
		return `WITH ins AS (` + insert + `),
		aliases AS (INSERT INTO signal_aliases (tenant_id, key, signal_id)
			SELECT $1, a.key, ins.id FROM ins JOIN unnest($9::text[], $10::text[]) AS a(of, key) ON a.of = ins.dedupe_key
			ON CONFLICT (tenant_id, key) DO NOTHING)
		SELECT id, kind, dedupe_key FROM ins`
	}
	match := `
		AND NOT EXISTS (SELECT 1 FROM unnest($11::text[], $12::text[]) AS m(of, key)
			WHERE m.of = t.dedupe_key
			AND (EXISTS (SELECT 1 FROM signals s WHERE s.tenant_id = $1 AND s.dedupe_key = m.key)
				OR EXISTS (SELECT 1 FROM signal_aliases a WHERE a.tenant_id = $1 AND a.key = m.key)))`
	return [3]string{insert(""), withAliases(insert("")), withAliases(insert(match))}
}()

// InsertSignalsFor is InsertSignals for a system-scope transaction that
// stores on behalf of the given tenant (webhook intake).
func (tx *Tx) InsertSignalsFor(ctx context.Context, tenantID, connID, source string, sigs []NewSignal) (Stored, error) {
	if len(sigs) == 0 {
		return Stored{}, nil
	}
	if err := tx.LockSignals(ctx); err != nil {
		return Stored{}, err
	}
	insert, args, keys := insertSignalsStatement(tenantID, connID, source, sigs)
	var inserted []struct {
		ID   string `db:"id"`
		Kind string `db:"kind"`
		Key  string `db:"dedupe_key"`
	}
	if err := tx.SelectContext(ctx, &inserted, insert, args...); err != nil {
		return Stored{}, wrapConnErr(err)
	}
	if len(inserted) > 0 {
		tx.inserted = append(tx.inserted, tenantID)
	}
	byKey := make(map[string]string, len(inserted))
	for _, r := range inserted {
		byKey[r.Key] = r.ID
	}
	out := Stored{}
	for i, s := range sigs {
		if _, ok := byKey[keys[i]]; !ok {
			out.Duplicates++
			continue
		}
		delete(byKey, keys[i]) // a key repeated in the batch counts once
		out.Kinds = append(out.Kinds, s.Kind)
		out.OccurredAt = append(out.OccurredAt, s.OccurredAt)
	}
	return out, nil
}

const signalCols = `id, tenant_id, connection_id, source, kind, occurred_at, ingested_at, txid::text AS feed_txid, seq, payload`

// scanSignal scans a row of signalCols by position (the feed's hot path:
// no per-row lookup of columns by name).
func scanSignal(r pgx.CollectableRow) (Signal, error) {
	var s Signal
	err := r.Scan(&s.ID, &s.TenantID, &s.ConnectionID, &s.Source, &s.Kind, &s.OccurredAt, &s.IngestedAt, &s.TxID, &s.Seq, &s.Payload)
	return s, err
}

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
	// IncludeRetracted also lists Signals marked retracted (RetractSignals).
	IncludeRetracted bool
}

// ListSignals reads the tenant's Signals.
//
// Without a time filter it is the gapless feed: ordered by ingestion (the
// inserting transaction, then the row sequence), exposing only rows below
// the feed horizon (see feedHorizon): rows of writers that may still commit
// are withheld, not skipped, so a consumer looping on next_cursor sees every
// row exactly once. The returned cursor is never empty for the feed; poll it
// again later.
//
// With since/until it is a query ordered by (timestamp, id), and the cursor
// is empty when the range is exhausted.
func (tx *Tx) ListSignals(ctx context.Context, f SignalFilter) ([]Signal, string, error) {
	if f.Since != nil || f.Until != nil {
		return tx.listSignalsByTime(ctx, f)
	}
	fq, err := newFeedQuery(tx.TenantID, f)
	if err != nil {
		return nil, "", err
	}
	horizon, err := tx.feedHorizon(ctx)
	if err != nil {
		return nil, "", err
	}
	page, args := fq.Page(horizon)
	var rows []Signal
	if err := tx.SelectContext(ctx, &rows, page, args...); err != nil {
		return nil, "", wrapConnErr(err)
	}
	next := encodeFeedCursor(fq.afterTx, fq.afterSeq)
	if len(rows) > 0 {
		last := rows[len(rows)-1]
		next = encodeFeedCursor(last.TxID, last.Seq)
	}
	return rows, next, nil
}

// FeedQuery is the feed's page query, in two statements: FeedHorizonSQL,
// then Page with its answer. ListSignals runs exactly these (with
// set_config in its transaction); benchmarks run them on a raw pool to
// measure what Postgres alone does.
type FeedQuery struct {
	tenantID string
	f        SignalFilter
	afterTx  string
	afterSeq int64
}

// NewFeedQuery validates the cursor of a feed read.
func NewFeedQuery(tenantID string, f SignalFilter) (FeedQuery, error) {
	return newFeedQuery(tenantID, f)
}

func newFeedQuery(tenantID string, f SignalFilter) (FeedQuery, error) {
	fq := FeedQuery{tenantID: tenantID, f: f, afterTx: "0"}
	if f.Cursor != "" {
		var err error
		if fq.afterTx, fq.afterSeq, err = decodeFeedCursor(f.Cursor); err != nil {
			return FeedQuery{}, err
		}
	}
	return fq, nil
}

// Page is the page query below horizon, with its arguments.
func (fq FeedQuery) Page(horizon string) (string, []any) {
	q := newWhere(fq.tenantID)
	q.add("txid < %s::xid8", horizon)
	return fq.page(q)
}

// pageBelowSetting is the page query below the horizon that
// feedHorizonSetSQL set earlier in the transaction.
func (fq FeedQuery) pageBelowSetting() (string, []any) {
	q := newWhere(fq.tenantID)
	q.add("txid < current_setting('" + feedHorizonSetting + "')::xid8")
	return fq.page(q)
}

func (fq FeedQuery) page(q *where) (string, []any) {
	q.add("(txid, seq) > (%s::xid8, %s)", fq.afterTx, fq.afterSeq)
	fq.f.filters(q)
	return `SELECT ` + signalCols + ` FROM signals WHERE ` + q.sql() + ` ORDER BY txid, seq LIMIT ` + q.arg(fq.f.Limit), q.args
}

// heldBack is the query for whether the page's reader has committed rows
// at or above the horizon that feedHorizonSetSQL set earlier in the
// transaction: rows the horizon withholds because an older writer (of any
// tenant) is still running. Its end makes them visible and notifies nobody
// of this tenant, so a waiting reader must read again on its own
// (FeedNotifier.Wait).
func (fq FeedQuery) heldBack() (string, []any) {
	q := newWhere(fq.tenantID)
	q.add("txid >= current_setting('" + feedHorizonSetting + "')::xid8")
	q.add("(txid, seq) > (%s::xid8, %s)", fq.afterTx, fq.afterSeq)
	fq.f.filters(q)
	return `SELECT EXISTS (SELECT 1 FROM signals WHERE ` + q.sql() + `)`, q.args
}

// signalWritersSQL lists the transactions holding the Signal writers' lock
// (LockSignals) on this schema's signals table, by virtual transaction id:
// a writer holds the lock from its first statement, before it has a
// transaction id.
const signalWritersSQL = `SELECT virtualtransaction FROM pg_locks
	WHERE locktype = 'relation' AND relation = 'signals'::regclass AND mode = 'RowExclusiveLock' AND granted
	  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`

// WaitForSignalWriters returns once every transaction that held the Signal
// writers' lock when it was called has ended (polling pg_locks; other
// writers are not waited for), or ctx ends.
func (d *DB) WaitForSignalWriters(ctx context.Context) error {
	rows, err := d.Pool.Query(ctx, signalWritersSQL)
	if err != nil {
		return fmt.Errorf("db: signal writers: %w", wrapConnErr(err))
	}
	running, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("db: signal writers: %w", wrapConnErr(err))
	}
	for len(running) > 0 {
		var left int
		if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM (`+signalWritersSQL+`) w WHERE virtualtransaction = ANY ($1)`, running).Scan(&left); err != nil {
			return fmt.Errorf("db: signal writers: %w", wrapConnErr(err))
		}
		if left == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// feedHorizon is the lowest transaction id that may still commit a Signal:
// the oldest transaction that was running when the horizon was read and
// holds the lock on this schema's signals table (writers take it before
// their first write, LockSignals), or else the next id to be assigned. It
// must run as its own statement, before the page query: a writer running
// then holds the lock and its id bounds the horizon; a writer that gets
// its id later gets a higher one; every other writer below it has ended,
// so the page query's newer snapshot sees its rows. Read-only
// transactions, writers of other tables, of other schemas and of other
// databases hold nothing back.
//
// The snapshot's running ids are cluster-wide. An id is left out when
// pg_locks shows its transaction (its lock on its own id) without the
// signals lock; an id whose transaction is not listed (it has just been
// assigned, or just ended) is kept: holding back a little longer is safe,
// skipping is not.
func (tx *Tx) feedHorizon(ctx context.Context) (string, error) {
	var h string
	err := tx.GetContext(ctx, &h, FeedHorizonSQL)
	if err != nil {
		return "", fmt.Errorf("db: feed horizon: %w", wrapConnErr(err))
	}
	return h, nil
}

// FeedHorizonSQL reads the feed horizon (see feedHorizon).
const FeedHorizonSQL = `WITH s AS (SELECT pg_current_snapshot() AS snap),
		owners AS (
			SELECT l.transactionid AS x, l.pid FROM pg_locks l
			WHERE l.locktype = 'transactionid' AND l.mode = 'ExclusiveLock' AND l.granted),
		writers AS (
			SELECT l.pid FROM pg_locks l
			WHERE l.locktype = 'relation' AND l.relation = 'signals'::regclass AND l.mode = 'RowExclusiveLock'
			  AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())),
		others AS (SELECT x FROM owners WHERE pid NOT IN (SELECT pid FROM writers))
		SELECT coalesce(
			(SELECT min(x) FROM s, pg_snapshot_xip(s.snap) AS x
			 WHERE (x::text::numeric % 4294967296)::text::xid NOT IN (SELECT x FROM others)),
			(SELECT pg_snapshot_xmax(snap) FROM s))::text`

// feedHorizonSetting holds, for the rest of a feed read's transaction,
// the horizon its first statement read (feedHorizonSetSQL).
const feedHorizonSetting = "poblysh.feed_horizon"

// feedHorizonSetSQL is the first statement of ListFeed's transaction: it
// reads the feed horizon into feedHorizonSetting. The horizon is still
// its own statement, before the page query: under READ COMMITTED (which
// db.Open pins for every session) the page's statement takes a newer
// snapshot, in which every writer below the horizon has ended. Sent in
// the transaction's batch, it saves the round trip that reading the
// horizon alone cost. It takes no parameter, so Postgres keeps one plan
// for it (a statement with parameters is planned at each execution under
// the pool's force_custom_plan).
const feedHorizonSetSQL = `SELECT set_config('` + feedHorizonSetting + `', (` + FeedHorizonSQL + `), true)`

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
	return trimPage(rows, f.Limit, func(s Signal) pageKey { return pageKey{Time: s.OccurredAt, ID: s.ID} })
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
	if !f.IncludeRetracted {
		q.add("(payload->'attributes'->>'retracted') IS DISTINCT FROM 'true'")
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

// ListFeed is ListSignals for the feed (no time filter) in one round trip
// instead of five: BEGIN, the horizon read into a setting
// (feedHorizonSetSQL), the tenant's set_config, the page query below that
// horizon and COMMIT, sent as one pipelined batch. The horizon is read
// before the page's snapshot, as in ListSignals, and row-level security
// is the same.
func (d *DB) ListFeed(ctx context.Context, tenantID string, f SignalFilter) ([]Signal, string, error) {
	p, err := d.listFeed(ctx, tenantID, f, false)
	return p.Signals, p.Next, err
}

// FeedPage is a page of the feed for a reader that waits (long polling).
type FeedPage struct {
	Signals []Signal
	Next    string
	// HeldBack: the page is empty but the tenant has committed rows past
	// the cursor that the feed horizon withholds (see FeedQuery.heldBack).
	HeldBack bool
}

// ListFeedWaiting is ListFeed for a waiting reader: when the page is
// empty it also says whether rows are held back, in the same batch (no
// extra round trip).
func (d *DB) ListFeedWaiting(ctx context.Context, tenantID string, f SignalFilter) (FeedPage, error) {
	return d.listFeed(ctx, tenantID, f, true)
}

func (d *DB) listFeed(ctx context.Context, tenantID string, f SignalFilter, checkHeld bool) (FeedPage, error) {
	if tenantID == "" {
		return FeedPage{}, errors.New("db: tenant id is required")
	}
	f.Since, f.Until = nil, nil // the feed: every other filter as ListSignals
	fq, err := newFeedQuery(tenantID, f)
	if err != nil {
		return FeedPage{}, err
	}
	conn, err := d.Pool.Acquire(ctx)
	if err != nil {
		return FeedPage{}, wrapConnErr(err)
	}
	defer conn.Release()
	page, args := fq.pageBelowSetting()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(feedHorizonSetSQL)
	b.Queue(`SELECT set_config('poblysh.tenant_id', $1, true)`, tenantID)
	var rows []Signal
	b.Queue(page, args...).Query(func(r pgx.Rows) error {
		var err error
		rows, err = collectSignals(r, fq.f.Limit)
		return err
	})
	var held bool
	if checkHeld {
		q, args := fq.heldBack()
		b.Queue(q, args...).QueryRow(func(r pgx.Row) error { return r.Scan(&held) })
	}
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		// A failed batch leaves the session in an aborted transaction:
		// do not hand it back to the pool.
		_ = conn.Conn().Close(context.WithoutCancel(ctx))
		return FeedPage{}, wrapConnErr(err)
	}
	if len(rows) == 0 {
		rows = nil // as ListSignals
	}
	next := encodeFeedCursor(fq.afterTx, fq.afterSeq)
	if len(rows) > 0 {
		last := rows[len(rows)-1]
		next = encodeFeedCursor(last.TxID, last.Seq)
	}
	return FeedPage{Signals: rows, Next: next, HeldBack: held && len(rows) == 0}, nil
}
