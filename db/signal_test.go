package db_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

func sig(key, kind string) db.NewSignal {
	return db.NewSignal{Kind: kind, OccurredAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), DedupeKey: key,
		Payload: []byte(`{"title":"t"}`), Raw: []byte(`{"id":1}`)}
}

func TestInsertSignalsIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "github", "u1")

	insert := func(sigs ...db.NewSignal) db.Stored {
		var st db.Stored
		require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) (err error) {
			st, err = tx.InsertSignals(ctx, f.conn, "github", sigs)
			return err
		}))
		return st
	}
	st := insert(sig("a", "code.pushed"), sig("b", "code.pushed"), sig("a", "code.pushed"))
	require.Equal(t, []string{"code.pushed", "code.pushed"}, st.Kinds)
	require.Equal(t, 1, st.Duplicates, "a key repeated within one batch is stored once")

	st = insert(sig("a", "code.pushed"), sig("c", "pull_request.opened"))
	require.Equal(t, []string{"pull_request.opened"}, st.Kinds)
	require.Equal(t, 1, st.Duplicates)

	// Aliases: a push that carries commits x and y makes their later
	// backfilled Signals duplicates.
	push := sig("commit:r:y", "code.pushed")
	push.AliasKeys = []string{"commit:r:x"}
	require.Equal(t, 1, len(insert(push).Kinds))
	st = insert(sig("commit:r:x", "code.pushed"), sig("commit:r:y", "code.pushed"), sig("commit:r:z", "code.pushed"))
	require.Equal(t, 1, len(st.Kinds))
	require.Equal(t, 2, st.Duplicates)

	rows := feedAll(t, s.DB, f.tenant, db.SignalFilter{}, 5)
	require.Len(t, rows, 5)
	require.Equal(t, "github:a", keyOf(t, s, f, rows[0].ID), "the feed is in ingestion order")

	// Another tenant sees none of them and may store the same keys.
	g := newFixture(t, s.DB, "github", "u2")
	var st2 db.Stored
	require.NoError(t, s.DB.WithTenant(ctx, g.tenant, func(tx *db.Tx) (err error) {
		st2, err = tx.InsertSignals(ctx, g.conn, "github", []db.NewSignal{sig("a", "code.pushed")})
		return err
	}))
	require.Len(t, st2.Kinds, 1)
	require.Len(t, feedAll(t, s.DB, g.tenant, db.SignalFilter{}, 1), 1, "tenant B sees only its own Signal")

	// Aliases are stored only for the Signals inserted: a duplicate's are
	// not taken over, and a key repeated in one batch keeps its first
	// occurrence's.
	dup := sig("commit:r:y", "code.pushed")
	dup.AliasKeys = []string{"commit:r:w"}
	first := sig("commit:r:v", "code.pushed")
	first.AliasKeys = []string{"commit:r:u"}
	again := sig("commit:r:v", "code.pushed")
	again.AliasKeys = []string{"commit:r:t"}
	st = insert(dup, first, again)
	require.Equal(t, []string{"code.pushed"}, st.Kinds)
	require.Equal(t, 2, st.Duplicates)
	st = insert(sig("commit:r:w", "code.pushed"), sig("commit:r:u", "code.pushed"), sig("commit:r:t", "code.pushed"))
	require.Len(t, st.Kinds, 2, "w and t are new")
	require.Equal(t, 1, st.Duplicates, "u is an alias of v")
}

// TestInsertSignalsMatchKeys: a Signal one of whose match keys is stored,
// as another Signal's dedupe key or alias, is a duplicate; its match keys
// are not claimed (a later Signal keyed by one is stored), and a Signal
// matching nothing stored is inserted, with its aliases.
func TestInsertSignalsMatchKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "github", "u1")
	insert := func(sigs ...db.NewSignal) db.Stored {
		var st db.Stored
		require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) (err error) {
			st, err = tx.InsertSignals(ctx, f.conn, "github", sigs)
			return err
		}))
		return st
	}
	with := func(key string, aliases, matches []string) db.NewSignal {
		n := sig(key, "code.pushed")
		n.AliasKeys, n.MatchKeys = aliases, matches
		return n
	}
	// Stored under the branch's old name, claiming the commits' HEAD keys.
	require.Len(t, insert(with("commit:r:master:x", []string{"commit:r:master:w", "commit:r:HEAD:w", "commit:r:HEAD:x"}, nil)).Kinds, 1)

	st := insert(
		with("commit:r:main:x", []string{"commit:r:HEAD:x"}, []string{"commit:r:HEAD:x"}), // HEAD:x is an alias
		with("commit:r:main:w", []string{"commit:r:HEAD:w"}, []string{"commit:r:HEAD:w"}), // HEAD:w too
		with("commit:r:main:v", []string{"commit:r:HEAD:v"}, []string{"commit:r:HEAD:u", "commit:r:HEAD:v"}),
	)
	require.Len(t, st.Kinds, 1, "v matches nothing stored")
	require.Equal(t, 2, st.Duplicates)
	st = insert(with("commit:r:trunk:v", nil, []string{"commit:r:HEAD:v"}), with("commit:r:trunk:t", nil, []string{"commit:r:main:v"}))
	require.Empty(t, st.Kinds, "a match on a stored alias (HEAD:v) and on a stored key (main:v)")
	require.Equal(t, 2, st.Duplicates)
	st = insert(sig("commit:r:HEAD:u", "code.pushed"))
	require.Len(t, st.Kinds, 1, "a match key is not claimed")
}

// feedAll reads the feed until want rows arrived (rows of concurrently
// running transactions anywhere in the cluster are withheld until they end,
// so a read right after a commit may need another poll) or 10 s pass.
func feedAll(t *testing.T, d *db.DB, tenant string, f db.SignalFilter, want int) []db.Signal {
	t.Helper()
	var all []db.Signal
	f.Limit = 1000
	for deadline := time.Now().Add(10 * time.Second); len(all) < want && time.Now().Before(deadline); {
		var rows []db.Signal
		require.NoError(t, d.WithTenant(context.Background(), tenant, func(tx *db.Tx) (err error) {
			rows, f.Cursor, err = tx.ListSignals(context.Background(), f)
			return err
		}))
		all = append(all, rows...)
		if len(rows) == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	return all
}

func keyOf(t *testing.T, s *dbtest.Schema, f fixture, id string) string {
	var k string
	require.NoError(t, s.DB.WithTenant(context.Background(), f.tenant, func(tx *db.Tx) error {
		return tx.GetContext(context.Background(), &k, `SELECT dedupe_key FROM signals WHERE id = $1`, id)
	}))
	return k
}

// TestFeedIsGapless runs many writers whose transactions commit out of order
// (each holds its transaction open for a random while) and a reader polling
// the feed with next_cursor; the reader must see every row exactly once.
func TestFeedIsGapless(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "github", "feed")
	const writers, perWriter, batch = 8, 60, 3

	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; i += batch {
				err := s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
					if w%2 == 1 {
						// Hold a transaction id (as a webhook's record
						// would) well before inserting Signals: announced
						// first, as every such writer must.
						if err := tx.LockSignals(ctx); err != nil {
							return err
						}
						if _, err := tx.ExecContext(ctx, `SELECT pg_current_xact_id()`); err != nil {
							return err
						}
						time.Sleep(time.Duration(w) * time.Millisecond)
					}
					var sigs []db.NewSignal
					for j := range batch {
						sigs = append(sigs, sig(fmt.Sprintf("w%d-%d", w, i+j), "code.pushed"))
					}
					if _, err := tx.InsertSignals(ctx, f.conn, "github", sigs); err != nil {
						return err
					}
					// Hold the transaction open so later writers commit first.
					time.Sleep(time.Duration((w*7+i)%5) * 3 * time.Millisecond)
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	// Two readers follow the feed at once: one through ListSignals in a
	// tenant transaction, one through the pipelined ListFeed (the API's
	// path, whose horizon is read inside its own transaction).
	readers := map[string]func(cursor string) ([]db.Signal, string, error){
		"ListSignals": func(cursor string) (rows []db.Signal, next string, err error) {
			err = s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
				rows, next, err = tx.ListSignals(ctx, db.SignalFilter{Cursor: cursor, Limit: 7})
				return err
			})
			return rows, next, err
		},
		"ListFeed": func(cursor string) ([]db.Signal, string, error) {
			return s.DB.ListFeed(ctx, f.tenant, db.SignalFilter{Cursor: cursor, Limit: 7})
		},
	}
	seenBy := map[string]map[string]int{}
	var mu sync.Mutex
	var rg sync.WaitGroup
	for name, read := range readers {
		rg.Add(1)
		go func() {
			defer rg.Done()
			seen := map[string]int{}
			defer func() { mu.Lock(); seenBy[name] = seen; mu.Unlock() }()
			cursor := ""
			finished := false
			for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
				rows, next, err := read(cursor)
				if err != nil {
					t.Errorf("%s: %v", name, err)
					return
				}
				if next == "" {
					t.Errorf("%s: the feed always returns a cursor", name)
					return
				}
				cursor = next
				for _, r := range rows {
					seen[r.ID]++
				}
				// An empty page after the writers finished is not the end:
				// a transaction elsewhere in the cluster (another test) may
				// still hold back the feed's horizon. Stop once every row
				// arrived and a further page is empty (no repeats).
				if finished && len(rows) == 0 && len(seen) >= writers*perWriter {
					return
				}
				select {
				case <-done:
					finished = true
				default:
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	rg.Wait()
	require.Len(t, seenBy, len(readers))
	for name, seen := range seenBy {
		require.Equal(t, writers*perWriter, len(seen), "%s: the reader must see every row", name)
		for id, n := range seen {
			require.Equal(t, 1, n, "%s: row %s seen %d times", name, id, n)
		}
	}
}

func TestFeedFiltersAndTimeQueries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "github", "q")
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
		var sigs []db.NewSignal
		for i := range 10 {
			k := "code.pushed"
			if i%2 == 1 {
				k = "release.published"
			}
			n := sig(fmt.Sprint(i), k)
			n.OccurredAt = base.Add(time.Duration(9-i) * time.Hour) // backfilled in reverse time order
			sigs = append(sigs, n)
		}
		_, err := tx.InsertSignals(ctx, f.conn, "github", sigs)
		return err
	}))
	var got []db.Signal
	cursor := ""
	since, until := base.Add(2*time.Hour), base.Add(8*time.Hour)
	for {
		var rows []db.Signal
		require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) (err error) {
			rows, cursor, err = tx.ListSignals(ctx, db.SignalFilter{Since: &since, Until: &until, Cursor: cursor, Limit: 2})
			return err
		}))
		got = append(got, rows...)
		if cursor == "" {
			break
		}
	}
	require.Len(t, got, 6, "[since, until) on the provider timestamp")
	for i := 1; i < len(got); i++ {
		require.True(t, got[i-1].OccurredAt.Before(got[i].OccurredAt), "time queries are ordered by timestamp")
	}
	require.Len(t, feedAll(t, s.DB, f.tenant, db.SignalFilter{Kind: "release.published"}, 5), 5)
	err := s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
		_, _, err := tx.ListSignals(ctx, db.SignalFilter{Cursor: "garbage", Limit: 1})
		return err
	})
	require.Error(t, err)
}

// TestTimeQueryCursorItCannotWrite: a page's cursor that cannot be
// written fails the read. The marshal error was dropped, so a time query
// whose page ended at a Signal stored at 10000-01-01T00:00:00Z (a time in
// the last half microsecond of 9999, which ingest kept before it bounded
// the time stored) answered next_cursor null: the last page, with Signals
// left.
func TestTimeQueryCursorItCannotWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "github", "late")
	require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
		a, b := sig("a", "code.pushed"), sig("b", "code.pushed")
		a.OccurredAt = time.Date(9999, time.December, 31, 23, 59, 59, 999_999_600, time.UTC) // rounded to year 10000
		b.OccurredAt = a.OccurredAt
		_, err := tx.InsertSignals(ctx, f.conn, "github", []db.NewSignal{a, b})
		return err
	}))
	since := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var rows []db.Signal
	var next string
	err := s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) (err error) {
		rows, next, err = tx.ListSignals(ctx, db.SignalFilter{Since: &since, Limit: 1})
		return err
	})
	require.Error(t, err, "a Signal is left, and the page's cursor cannot be written (rows %d, next %q)", len(rows), next)
	require.ErrorContains(t, err, "10000-01-01")
}

// TestFeedOrdersByTransactionNumerically: the feed's order and cursor
// compare transaction ids as numbers; ordering their text form would put
// txid 10 before 9 and skip or repeat rows across a digit boundary.
func TestFeedOrdersByTransactionNumerically(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "github", "digits")
	require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
		_, err := tx.InsertSignals(ctx, f.conn, "github", []db.NewSignal{sig("a", "code.pushed"), sig("b", "code.pushed"), sig("c", "code.pushed")})
		return err
	}))
	// Give the rows transaction ids on both sides of digit boundaries (as
	// the owner; the ids are old, so all rows are visible).
	owner, err := pgx.Connect(ctx, s.OwnerURL)
	require.NoError(t, err)
	defer owner.Close(ctx)
	for key, txid := range map[string]string{"github:a": "100", "github:b": "9", "github:c": "10"} {
		_, err := owner.Exec(ctx, `UPDATE signals SET txid = $1::xid8 WHERE dedupe_key = $2`, txid, key)
		require.NoError(t, err)
	}
	var got []string
	cursor := ""
	for range 10 {
		var rows []db.Signal
		require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) (err error) {
			rows, cursor, err = tx.ListSignals(ctx, db.SignalFilter{Cursor: cursor, Limit: 1})
			return err
		}))
		if len(rows) == 0 {
			break
		}
		got = append(got, rows[0].TxID)
	}
	require.Equal(t, []string{"9", "10", "100"}, got, "paging one row at a time sees every row, in numeric txid order")
}

// TestInsertSignalsStoresTheJSONGiven: each Signal's payload and raw object
// are stored as Postgres reads their text as jsonb, whatever they hold
// (escapes, non-ASCII text, whitespace, a large object), the same in the
// plain and the alias form of the insert, and a raw object that is nil or
// empty is stored as NULL. The JSON is sent as the bytes it is in (no
// string copy); this pins what the string form stored.
func TestInsertSignalsStoresTheJSONGiven(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "github", "u1")
	big := `{"commits": [` + strings.Repeat(`{"message": "a line\nand \"quotes\", café 🙂"}, `, 200) + `{}]}`
	cases := []struct {
		payload string
		raw     []byte
	}{
		{`{"title":"t"}`, []byte(`{"id":1}`)},
		{`{"title": "tab\there, \u00e9 \\ \"q\"", "n": [1, 2.50, -3e7]}`, []byte(" {\n \"a\" : null } ")},
		{`{"title":"no raw"}`, nil},
		{`{"title":"empty raw"}`, []byte{}},
		{`{"title":"big"}`, []byte(big)},
	}
	for _, withAlias := range []bool{false, true} {
		sigs := make([]db.NewSignal, len(cases))
		for i, c := range cases {
			sigs[i] = sig(fmt.Sprintf("json:%t:%d", withAlias, i), "code.pushed")
			sigs[i].Payload, sigs[i].Raw = []byte(c.payload), c.raw
			if withAlias {
				sigs[i].AliasKeys = []string{fmt.Sprintf("alias:%d", i)}
			}
		}
		require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
			st, err := tx.InsertSignals(ctx, f.conn, "github", sigs)
			require.Len(t, st.Kinds, len(sigs))
			return err
		}))
		for i, c := range cases {
			var payload, wantPayload string
			var raw, wantRaw *string
			require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
				return tx.QueryRowxContext(ctx, `SELECT payload::text, raw::text, $2::jsonb::text, nullif($3, '')::jsonb::text
					FROM signals WHERE dedupe_key = $1`, "github:"+sigs[i].DedupeKey, c.payload, string(c.raw)).
					Scan(&payload, &raw, &wantPayload, &wantRaw)
			}))
			require.Equal(t, wantPayload, payload, "case %d", i)
			require.Equal(t, wantRaw, raw, "case %d", i)
			if len(c.raw) == 0 {
				require.Nil(t, raw, "case %d: no raw object is NULL", i)
			}
		}
	}
}
