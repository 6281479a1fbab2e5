package db_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// TestListFeedMatchesListSignals: the pipelined feed read (DB.ListFeed)
// returns exactly the pages and cursors of ListSignals in a tenant
// transaction, with and without filters, never another tenant's rows,
// and refuses a bad cursor; a writer still open holds its rows back.
func TestListFeedMatchesListSignals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	a := newFixture(t, s.DB, "github", "a")
	b := newFixture(t, s.DB, "github", "b")
	for _, f := range []fixture{a, b} {
		for batch := range 3 {
			require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
				var sigs []db.NewSignal
				for i := range 7 {
					k := "code.pushed"
					if i%3 == 0 {
						k = "release.published"
					}
					sigs = append(sigs, sig(fmt.Sprintf("%d-%d", batch, i), k))
				}
				_, err := tx.InsertSignals(ctx, f.conn, "github", sigs)
				return err
			}))
		}
	}
	// One retracted Signal: hidden unless IncludeRetracted, in both reads.
	require.NoError(t, s.DB.WithTenant(ctx, a.tenant, func(tx *db.Tx) error {
		n, err := tx.RetractSignals(ctx, a.tenant, a.conn, "github", []string{"1-1"})
		if err == nil && n != 1 {
			err = fmt.Errorf("retracted %d", n)
		}
		return err
	}))
	for _, filter := range []db.SignalFilter{{Limit: 4}, {Limit: 5, Kind: "release.published"}, {Limit: 100, ConnectionID: a.conn},
		{Limit: 100, IncludeRetracted: true}} {
		cursor, cursor2 := "", ""
		total := 0
		for range 20 {
			var want []db.Signal
			var wantNext string
			f := filter
			f.Cursor = cursor
			require.NoError(t, s.DB.WithTenant(ctx, a.tenant, func(tx *db.Tx) (err error) {
				want, wantNext, err = tx.ListSignals(ctx, f)
				return err
			}))
			f.Cursor = cursor2
			got, next, err := s.DB.ListFeed(ctx, a.tenant, f)
			require.NoError(t, err)
			require.Equal(t, want, got)
			require.Equal(t, wantNext, next)
			for _, r := range got {
				require.Equal(t, a.tenant, r.TenantID)
			}
			total += len(got)
			cursor, cursor2 = wantNext, next
			if len(got) == 0 {
				break
			}
		}
		want := 21 // a's Signals
		switch {
		case filter.Kind != "":
			want = 9
		case !filter.IncludeRetracted:
			want = 20
		}
		require.Equal(t, want, total, "%+v", filter)
	}

	// An open writer of Signals holds back rows committed after it.
	tx, err := s.DB.X.BeginTxx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	_, err = tx.ExecContext(ctx, `SELECT set_config('poblysh.tenant_id', $1, true)`, b.tenant)
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, `SELECT poblysh_lock_signals()`)
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, `SELECT pg_current_xact_id()`)
	require.NoError(t, err)
	_, end, err := s.DB.ListFeed(ctx, a.tenant, db.SignalFilter{Limit: 1000})
	require.NoError(t, err)
	require.NoError(t, s.DB.WithTenant(ctx, a.tenant, func(tx *db.Tx) error {
		_, err := tx.InsertSignals(ctx, a.conn, "github", []db.NewSignal{sig("late", "code.pushed")})
		return err
	}))
	rows, _, err := s.DB.ListFeed(ctx, a.tenant, db.SignalFilter{Limit: 1000, Cursor: end})
	require.NoError(t, err)
	require.Empty(t, rows, "held back behind the open writer")
	require.NoError(t, tx.Rollback())
	rows, _, err = s.DB.ListFeed(ctx, a.tenant, db.SignalFilter{Limit: 1000, Cursor: end})
	require.NoError(t, err)
	require.Len(t, rows, 1)

	_, _, err = s.DB.ListFeed(ctx, a.tenant, db.SignalFilter{Limit: 1, Cursor: "garbage"})
	require.Error(t, err)
}

// TestFeedPageBelowSettingUsesTheFeedIndex: the feed page compares txid
// with the horizon its transaction read into a setting (not a constant);
// the plan must still bound the index scan by it, not filter row by row.
func TestFeedPageBelowSettingUsesTheFeedIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "fake", "plan")
	seedSignals(t, s.DB, f, 5, "code.pushed", func(i int) string { return fmt.Sprintf(`{"title": "item %d"}`, i) })
	owner, err := pgx.Connect(ctx, s.OwnerURL)
	require.NoError(t, err)
	defer owner.Close(ctx)
	_, err = owner.Exec(ctx, `VACUUM (ANALYZE) signals`)
	require.NoError(t, err)
	var txid string
	var seq int64
	require.NoError(t, owner.QueryRow(ctx, `SELECT txid::text, seq FROM signals ORDER BY txid, seq OFFSET 2500 LIMIT 1`).Scan(&txid, &seq))
	fq, err := db.NewFeedQuery(f.tenant, db.SignalFilter{Cursor: db.FeedCursor(txid, seq), Limit: 100})
	require.NoError(t, err)
	q, args := db.PageBelowSetting(fq)

	tx := tenantPgxTx(t, s, f.tenant)
	_, err = tx.Exec(ctx, db.FeedHorizonSetSQL)
	require.NoError(t, err)
	rows, err := tx.Query(ctx, "EXPLAIN (COSTS OFF) "+q, args...)
	require.NoError(t, err)
	var plan []string
	for rows.Next() {
		var l string
		require.NoError(t, rows.Scan(&l))
		plan = append(plan, l)
	}
	require.NoError(t, rows.Err())
	text := strings.Join(plan, "\n")
	require.Contains(t, text, "Index Scan using signals_feed", text)
	require.Regexp(t, `Index Cond: .*txid < \(current_setting\('poblysh\.feed_horizon'`, text)
}
