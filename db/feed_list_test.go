package db_test

import (
	"context"
	"fmt"
	"testing"

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
		n, err := tx.RetractSignals(ctx, a.tenant, "github", []string{"1-1"})
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
