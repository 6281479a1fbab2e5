package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/ingest"
	"github.com/poblysh/poblysh/metrics"
)

func TestRowsRejectsIncompleteSignals(t *testing.T) {
	t.Parallel()
	ok := connectors.Signal{Kind: "code.pushed", DedupeKey: "commit:1:a", OccurredAt: time.Unix(1700000000, 0).In(time.FixedZone("x", 3600)),
		Payload: connectors.Payload{Title: "t"}, Raw: []byte(`{"a":1}`), AliasKeys: []string{"commit:1:b"}, MatchKeys: []string{"commit:1:c"}}
	out, err := ingest.Rows([]connectors.Signal{ok})
	require.NoError(t, err)
	require.Len(t, out, 1)
	require.Equal(t, time.UTC, out[0].OccurredAt.Location(), "stored in UTC")
	require.JSONEq(t, `{"title":"t","url":"","actor":{"id":"","name":""},"subject":{"type":"","id":""},"context":{"type":"","id":""},"attributes":{}}`, string(out[0].Payload))
	require.Equal(t, []string{"commit:1:b"}, out[0].AliasKeys)
	require.Equal(t, []string{"commit:1:c"}, out[0].MatchKeys)
	bad := ok
	bad.Raw = []byte("not json")
	out, err = ingest.Rows([]connectors.Signal{bad})
	require.NoError(t, err)
	require.Nil(t, out[0].Raw, "invalid raw JSON is dropped, the Signal kept")
	for _, broken := range []connectors.Signal{{DedupeKey: "k", OccurredAt: time.Now()}, {Kind: "k", OccurredAt: time.Now()}, {Kind: "k", DedupeKey: "k"}} {
		_, err := ingest.Rows([]connectors.Signal{broken})
		require.ErrorIs(t, err, ingest.ErrIncomplete)
	}
}

// TestRowsNameAContextByItsID: a context without a name (a provider that
// could not name it) is stored named by its id, as the contract requires a
// name; a named one keeps its name.
func TestRowsNameAContextByItsID(t *testing.T) {
	t.Parallel()
	at := time.Unix(1700000000, 0)
	out, err := ingest.Rows([]connectors.Signal{
		{Kind: "email.received", DedupeKey: "a", OccurredAt: at, Payload: connectors.Payload{Context: connectors.Ref{Type: "mailbox", ID: "6000123"}}},
		{Kind: "email.received", DedupeKey: "b", OccurredAt: at, Payload: connectors.Payload{Context: connectors.Ref{Type: "mailbox", ID: "6000123", Name: " "}}},
		{Kind: "email.received", DedupeKey: "c", OccurredAt: at, Payload: connectors.Payload{Context: connectors.Ref{Type: "mailbox", ID: "6000123", Name: "pr@acme.example"}}},
	})
	require.NoError(t, err)
	var names []string
	for _, r := range out {
		var p struct {
			Context struct{ Name string } `json:"context"`
		}
		require.NoError(t, json.Unmarshal(r.Payload, &p))
		names = append(names, p.Context.Name)
	}
	require.Equal(t, []string{"6000123", "6000123", "pr@acme.example"}, names)
}

// TestStoreIsIdempotentAndCounted: a batch stored twice for a connection
// stores each Signal once (aliases included); the second time they are
// duplicates, never an error; Count adds exactly what was committed to the
// metrics, and ObserveLag one observation per Signal.
func TestStoreIsIdempotentAndCounted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	tenantID, connID := dbtest.Seed(t, s.DB, "ingest", "ingest-test", "acct")
	at := time.Now().Add(-time.Minute)
	b, err := ingest.NewBatch("ingest-test", []connectors.Signal{
		{Kind: "code.pushed", DedupeKey: "push:1", AliasKeys: []string{"commit:a"}, OccurredAt: at},
		{Kind: "code.merged", DedupeKey: "pr:2", OccurredAt: at},
	})
	require.NoError(t, err)
	// The alias of the first Signal stands for a commit a later batch sees.
	later, err := ingest.NewBatch("ingest-test", []connectors.Signal{{Kind: "code.committed", DedupeKey: "commit:a", OccurredAt: at}})
	require.NoError(t, err)

	stored := value(t, metrics.SignalsStored.WithLabelValues("ingest-test", "code.pushed"))
	dups := value(t, metrics.SignalDuplicates.WithLabelValues("ingest-test"))
	require.Zero(t, lagCount(t, "ingest-test"))

	store := func(b *ingest.Batch) db.Stored {
		var st db.Stored
		require.NoError(t, s.DB.WithTenant(ctx, tenantID, func(tx *db.Tx) (err error) {
			st, err = b.Store(ctx, tx, tenantID, connID)
			return err
		}))
		b.Count(st)
		return st
	}
	first := store(b)
	require.Equal(t, []string{"code.pushed", "code.merged"}, first.Kinds)
	require.Len(t, first.OccurredAt, 2, "each stored Signal's provider time (poll freshness)")
	require.Zero(t, first.Duplicates)
	require.Equal(t, db.Stored{Duplicates: 2}, store(b), "the same batch again stores nothing")
	require.Equal(t, db.Stored{Duplicates: 1}, store(later), "a Signal another one stands for is a duplicate")

	var n int
	require.NoError(t, s.DB.WithTenant(ctx, tenantID, func(tx *db.Tx) error {
		return tx.GetContext(ctx, &n, `SELECT count(*) FROM signals WHERE connection_id = $1`, connID)
	}))
	require.Equal(t, 2, n)
	require.Equal(t, stored+1, value(t, metrics.SignalsStored.WithLabelValues("ingest-test", "code.pushed")))
	require.Equal(t, dups+3, value(t, metrics.SignalDuplicates.WithLabelValues("ingest-test")))

	b.ObserveLag(time.Now())
	require.Equal(t, uint64(2), lagCount(t, "ingest-test"), "one observation per Signal")
}

// value reads a counter.
func value(t *testing.T, c interface{ Write(*dto.Metric) error }) float64 {
	t.Helper()
	var m dto.Metric
	require.NoError(t, c.Write(&m))
	return m.GetCounter().GetValue()
}

// lagCount is the number of ingest-lag observations of a provider.
func lagCount(t *testing.T, provider string) uint64 {
	t.Helper()
	mfs, err := metrics.Registry.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "poblysh_signal_ingest_lag_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "provider" && l.GetValue() == provider {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}

// TestRowsCleanTextForPostgres: a NUL or an invalid UTF-8 byte anywhere in
// a Signal (a commit message, a key, the raw object) is cleaned, never
// handed to Postgres, which would refuse the whole insert.
func TestRowsCleanTextForPostgres(t *testing.T) {
	rows, err := ingest.Rows([]connectors.Signal{{
		Kind: "message.posted", DedupeKey: "k\x00ey\xff", AliasKeys: []string{"a\x00"}, MatchKeys: []string{"m\xff"}, OccurredAt: time.Now(),
		Payload: connectors.Payload{Title: "hi\x00there", Attributes: map[string]any{"n\x00": "v\xff", "x": []any{"\x00"}}},
		Raw:     json.RawMessage(`{"text":"a\u0000b","n":12345678901234567890,"k\u0000":"\\u0000 stays"}`),
	}})
	require.NoError(t, err)
	r := rows[0]
	require.Equal(t, "key\uFFFD", r.DedupeKey)
	require.Equal(t, []string{"a"}, r.AliasKeys)
	require.Equal(t, []string{"m\uFFFD"}, r.MatchKeys)
	require.NotContains(t, string(r.Payload), `\u0000`)
	require.Contains(t, string(r.Payload), `"title":"hithere"`)
	require.Contains(t, string(r.Payload), "\"n\":\"v\uFFFD\"")
	require.JSONEq(t, `{"text":"ab","n":12345678901234567890,"k":"\\u0000 stays"}`, string(r.Raw), "numbers kept exactly, a literal backslash-u kept")

	clean := json.RawMessage(`{"text":"plain"}`)
	rows, err = ingest.Rows([]connectors.Signal{{Kind: "message.posted", DedupeKey: "k", OccurredAt: time.Now(), Raw: clean}})
	require.NoError(t, err)
	require.Equal(t, []byte(clean), []byte(rows[0].Raw))
}

// TestRowsKeepRawObjectsJSONBRefuses: encoding/json accepts a surrogate
// escape without its other half and a number beyond Postgres numeric, and
// jsonb refuses both, failing the whole insert. A Signal whose raw object
// holds one (a provider's text cut in the middle of an emoji) is stored
// with the half replaced by U+FFFD and the number kept as a string of its
// text; everything Postgres takes as it is stays byte for byte.
func TestRowsKeepRawObjectsJSONBRefuses(t *testing.T) {
	t.Parallel()
	raw := func(doc string) json.RawMessage {
		rows, err := ingest.Rows([]connectors.Signal{{Kind: "message.posted", DedupeKey: "k", OccurredAt: time.Now(), Raw: json.RawMessage(doc)}})
		require.NoError(t, err)
		return rows[0].Raw
	}
	for doc, want := range map[string]string{
		`{"text":"cut \ud83d"}`:                    `{"text":"cut \uFFFD"}`,
		`{"text":"\udc00 alone"}`:                  `{"text":"\uFFFD alone"}`,
		`{"text":"\ud83d\ud83d\ude00"}`:            `{"text":"\uFFFD😀"}`,
		`{"n":1e131072,"m":1}`:                     `{"n":"1e131072","m":1}`,
		`{"n":[1.5e-16383,0e-1000000,-1E+999999]}`: `{"n":["1.5e-16383","0e-1000000","-1E+999999"]}`,
	} {
		got := raw(doc)
		require.JSONEq(t, want, string(got), doc)
	}
	for _, doc := range []string{
		`{"text":"😀 \ud83d\ude00 \u00e9 \u2028"}`, // pairs and other escapes
		`{"text":"\\ud83d is a literal backslash-u"}`,
		`{"sha":"9e12345abc","url":"https://example.com/commit/19e2345"}`, // hex is not a number
	} {
		require.Equal(t, doc, string(raw(doc)), "what jsonb takes is kept byte for byte")
	}
	// Long exponents within range, and a false alarm (an exponent-like
	// word in a string), take the slow path, which keeps every value.
	numbers := func(doc []byte) map[string]any {
		dec := json.NewDecoder(bytes.NewReader(doc))
		dec.UseNumber()
		var v map[string]any
		require.NoError(t, dec.Decode(&v))
		return v
	}
	for _, doc := range []string{`{"n":1e131071,"m":-9.9e999,"k":1e-16383,"z":0e99999,"id":"abe12345"}`, `{"text":"price 3e1234","n":2}`} {
		require.Equal(t, numbers([]byte(doc)), numbers(raw(doc)), doc)
	}
}

// TestRawObjectsJSONBRefusesAreStored stores the documents of
// TestRowsKeepRawObjectsJSONBRefuses, each of which Postgres refuses as
// it is.
func TestRawObjectsJSONBRefusesAreStored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	tenantID, connID := dbtest.Seed(t, s.DB, "ingest", "ingest-test", "acct")
	docs := []string{`{"text":"cut \ud83d"}`, `{"text":"\udc00"}`, `{"n":1e131072}`, `{"n":[1.5e-16383,0e-1000000]}`, `{"text":"\u0000"}`}
	var in []connectors.Signal
	for i, d := range docs {
		// Each one alone would fail the insert: prove it first.
		_, err := s.DB.Pool.Exec(ctx, `SELECT $1::text::jsonb`, d)
		require.Error(t, err, "Postgres refuses %s", d)
		in = append(in, connectors.Signal{Kind: "message.posted", DedupeKey: fmt.Sprint("raw:", i), OccurredAt: time.Now(), Raw: json.RawMessage(d)})
	}
	b, err := ingest.NewBatch("ingest-test", in)
	require.NoError(t, err)
	require.NoError(t, s.DB.WithTenant(ctx, tenantID, func(tx *db.Tx) error {
		st, err := b.Store(ctx, tx, tenantID, connID)
		require.Len(t, st.Kinds, len(docs))
		return err
	}))
	var texts []string
	require.NoError(t, s.DB.WithTenant(ctx, tenantID, func(tx *db.Tx) error {
		return tx.SelectContext(ctx, &texts, `SELECT raw->>'text' FROM signals WHERE connection_id = $1 AND raw ? 'text' ORDER BY dedupe_key`, connID)
	}))
	require.Equal(t, []string{"cut \uFFFD", "\uFFFD", ""}, texts)

}

// TestRowsReplaceTimesPostgresCannotHold: a connector's time outside the
// years RFC 3339 can write (epoch milliseconds far too large, a year
// before 1) fails the insert of its whole page at every retry, or is
// silently stored as another time by pgx's encoding, or cannot be written
// in the feed: the Signal is stored with the time it was converted.
// Times at the bounds are kept as they are.
func TestRowsReplaceTimesPostgresCannotHold(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	tenantID, connID := dbtest.Seed(t, s.DB, "ingest", "ingest-test", "acct")
	out := []time.Time{
		time.UnixMilli(99999999999999999), // year 3170843
		time.UnixMilli(math.MaxInt64),
		time.Unix(math.MinInt64/1000, 0),
		time.Date(300000, time.January, 1, 0, 0, 0, 0, time.UTC),
		time.Date(10000, time.January, 1, 0, 0, 0, 0, time.UTC),
		time.Date(0, time.December, 31, 23, 59, 59, 0, time.UTC),
	}
	kept := []time.Time{ingest.Earliest.Add(time.Microsecond), time.Date(9999, time.December, 31, 23, 59, 59, 999_999_000, time.UTC), time.UnixMilli(0)}
	for _, at := range out {
		// Prove each one a problem as it is: Postgres refuses it (the
		// insert fails), pgx's encoding overflows and stores another time
		// without a word (year 3170843 becomes 248073, MaxInt64 ms
		// 1969), or it is stored and cannot be written as RFC 3339.
		var back time.Time
		err := s.DB.Pool.QueryRow(ctx, `SELECT $1::timestamptz`, at).Scan(&back)
		require.True(t, err != nil || !back.Equal(at) || back.Year() > 9999 || back.Year() < 1, "%s: Postgres would hold it as it is (%s)", at, back)
	}
	var in []connectors.Signal
	for i, at := range append(append([]time.Time{}, out...), kept...) {
		in = append(in, connectors.Signal{Kind: "message.posted", DedupeKey: fmt.Sprint("time:", i), OccurredAt: at, Raw: json.RawMessage(`{"ts":1}`)})
	}
	before := time.Now()
	b, err := ingest.NewBatch("ingest-test", in)
	require.NoError(t, err)
	after := time.Now()
	for i, r := range b.Rows {
		if i < len(out) {
			require.False(t, r.OccurredAt.Before(before.Truncate(time.Microsecond)) || r.OccurredAt.After(after), "%s is replaced by the time of conversion, got %s", out[i], r.OccurredAt)
		} else {
			require.True(t, r.OccurredAt.Equal(kept[i-len(out)]), "%s is kept", kept[i-len(out)])
		}
	}
	require.NoError(t, s.DB.WithTenant(ctx, tenantID, func(tx *db.Tx) error {
		st, err := b.Store(ctx, tx, tenantID, connID)
		require.Len(t, st.Kinds, len(in), "every Signal is stored")
		return err
	}))
	var stored []time.Time
	require.NoError(t, s.DB.WithTenant(ctx, tenantID, func(tx *db.Tx) error {
		return tx.SelectContext(ctx, &stored, `SELECT occurred_at FROM signals WHERE connection_id = $1 ORDER BY occurred_at`, connID)
	}))
	require.Len(t, stored, len(in))
	require.True(t, stored[0].Equal(kept[0]))
	require.True(t, stored[len(stored)-1].Equal(kept[1]))
}

// TestRowsBoundTheTimeStored: Postgres keeps microseconds and a time is
// rounded to them on insert, so the bounds hold for the time stored.
// Latest was 9999-12-31T23:59:59.999999999Z: a time in the last half
// microsecond of 9999 was kept and stored as 10000-01-01T00:00:00Z, which
// the feed wrote as a timestamp that is no RFC 3339 date-time, and whose
// page cursor could not be written (a time query answered next_cursor
// null with Signals left). Such a time is now replaced like any other
// outside the bounds; the latest time kept is stored as Latest.
func TestRowsBoundTheTimeStored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	tenantID, connID := dbtest.Seed(t, s.DB, "ingest", "ingest-test", "acct")
	last := time.Date(9999, time.December, 31, 23, 59, 59, 999_999_000, time.UTC)
	require.True(t, ingest.Latest.Equal(last), "Latest is a time Postgres holds as it is")
	past := []time.Time{last.Add(500), last.Add(999)}      // round to year 10000
	kept := []time.Time{last.Add(499), last, last.Add(-1)} // round to Latest
	var in []connectors.Signal
	for i, at := range append(append([]time.Time{}, past...), kept...) {
		in = append(in, connectors.Signal{Kind: "message.posted", DedupeKey: fmt.Sprint("time:", i), OccurredAt: at})
	}
	before := time.Now()
	b, err := ingest.NewBatch("ingest-test", in)
	require.NoError(t, err)
	after := time.Now()
	for i := range past {
		at := b.Rows[i].OccurredAt
		require.False(t, at.Before(before) || at.After(after), "%s is replaced by the time of conversion, got %s", past[i], at)
	}
	for i := range kept {
		require.True(t, b.Rows[len(past)+i].OccurredAt.Equal(kept[i]), "%s is kept", kept[i])
	}
	require.NoError(t, s.DB.WithTenant(ctx, tenantID, func(tx *db.Tx) error {
		_, err := b.Store(ctx, tx, tenantID, connID)
		return err
	}))
	var stored []time.Time
	require.NoError(t, s.DB.WithTenant(ctx, tenantID, func(tx *db.Tx) error {
		return tx.SelectContext(ctx, &stored, `SELECT occurred_at FROM signals WHERE connection_id = $1 ORDER BY occurred_at DESC`, connID)
	}))
	require.Len(t, stored, len(in))
	require.True(t, stored[0].Equal(last), "the latest time stored is Latest, got %s", stored[0].UTC())
	require.True(t, stored[len(kept)-1].Equal(last))
	require.True(t, stored[len(kept)].Before(after), "the replaced times are now")
}
