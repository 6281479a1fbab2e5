package db_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// TestCollectSignalsMatchesScan: the feed's own decoding of a row gives
// what pgx's Scan gives, takes the fast path for ordinary rows, and leaves
// timestamps it does not handle to Scan; ListFeed, which uses it, still
// returns what ListSignals returns for them.
func TestCollectSignalsMatchesScan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	tenant, conn := dbtest.Seed(t, s.DB, "scan", "github", "acct")
	ordinary := []time.Time{
		time.Date(2026, 12, 6, 5, 4, 3, 123_456_000, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1999, 12, 31, 23, 59, 59, 999_999_000, time.UTC), // just before the wire format's epoch
		time.Date(2000, 1, 1, 0, 0, 0, 1_000, time.FixedZone("x", 7200)),
		time.Date(1912, 6, 23, 1, 2, 3, 4_000, time.UTC),
	}
	far := []time.Time{ // beyond 142 years from 2000: Scan's
		time.Date(1800, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2400, 2, 29, 12, 0, 0, 5_000, time.UTC),
	}
	var sigs []db.NewSignal
	for i, at := range append(append([]time.Time(nil), ordinary...), far...) {
		sigs = append(sigs, db.NewSignal{Kind: []string{"code.pushed", "issue.opened", "ü.kind"}[i%3], OccurredAt: at,
			DedupeKey: fmt.Sprintf("k%d", i),
			Payload:   []byte(fmt.Sprintf(`{"i": %d, "title": "日本 \"q\" \\ é", "nested": {"a": [1, 2.50, null]}}`, i))})
	}
	require.NoError(t, s.DB.WithTenantSignals(ctx, tenant, func(tx *db.Tx) error {
		_, err := tx.InsertSignals(ctx, conn, "github", sigs)
		return err
	}))

	tx := tenantPgxTx(t, s, tenant)
	rows, err := tx.Query(ctx, `SELECT `+db.SignalCols+` FROM signals WHERE tenant_id = $1 ORDER BY txid, seq`, tenant)
	require.NoError(t, err)
	fast, slow := 0, 0
	for rows.Next() {
		want, err := db.ScanSignal(rows)
		require.NoError(t, err)
		got, ok := db.DecodeSignalForTest(rows)
		if !ok {
			slow++
			require.True(t, want.OccurredAt.Year() < 1858 || want.OccurredAt.Year() > 2141, "fell back for %s", want.OccurredAt)
			continue
		}
		fast++
		require.Equal(t, want, got)
		require.Equal(t, want.OccurredAt.Location(), got.OccurredAt.Location())
	}
	require.NoError(t, rows.Err())
	require.Equal(t, len(ordinary), fast)
	require.Equal(t, len(far), slow)

	// Through ListFeed, page by page, against ListSignals.
	var feed, list []db.Signal
	cursor := ""
	for range 10 {
		page, next, err := s.DB.ListFeed(ctx, tenant, db.SignalFilter{Limit: 3, Cursor: cursor})
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		feed, cursor = append(feed, page...), next
	}
	require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) (err error) {
		list, _, err = tx.ListSignals(ctx, db.SignalFilter{Limit: 100})
		return err
	}))
	require.Len(t, feed, len(sigs))
	require.Equal(t, list, feed)
}
