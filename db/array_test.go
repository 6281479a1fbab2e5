package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// TestArraysRoundTrip: text[] columns written from []string and read back
// into db.TextArray keep every element as it was, including the ones the
// array literal must quote or escape.
func TestArraysRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "github", "arrays")
	awkward := []string{"repo", "a,b", `say "hi"`, `back\slash`, "with space", "NULL", "{}", "", "ünïcode"}

	for _, tc := range []struct {
		name string
		in   []string
		want []string
	}{
		{"awkward elements", awkward, awkward},
		{"empty", []string{}, []string{}},
		{"nil is stored as empty", nil, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
				c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "github", ExternalAccountID: "arrays", Scopes: tc.in})
				require.NoError(t, err)
				require.Equal(t, tc.want, []string(c.Scopes), "returned by the upsert")
				got, err := tx.FindConnection(ctx, c.ID)
				require.NoError(t, err)
				require.Equal(t, tc.want, []string(got.Scopes), "read again")

				require.NoError(t, tx.ReplaceResources(ctx, f.conn, []db.Resource{{Ref: "r", RouteKeys: tc.in}}))
				rs, err := tx.ListResources(ctx, f.conn)
				require.NoError(t, err)
				require.Len(t, rs, 1)
				require.Equal(t, tc.want, []string(rs[0].RouteKeys))
				return nil
			}))
		})
	}

	// A []string argument is matched element by element (ANY($2::text[])),
	// and a nil one matches nothing, as before.
	require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
		return tx.ReplaceRoutes(ctx, f.conn, "github", []db.Route{{RouteKey: "a,b"}, {RouteKey: `say "hi"`}})
	}))
	require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
		routes, err := tx.LookupRoutes(ctx, "github", []string{"a,b", "a", "b", `say "hi"`})
		require.NoError(t, err)
		var keys []string
		for _, r := range routes {
			keys = append(keys, r.RouteKey)
		}
		require.ElementsMatch(t, []string{"a,b", `say "hi"`}, keys)
		routes, err = tx.LookupRoutes(ctx, "github", nil)
		require.NoError(t, err)
		require.Empty(t, routes)
		return nil
	}))
}

// TestSignalTimesRoundToMicroseconds: Postgres keeps microseconds; a finer
// occurred_at is rounded (as Postgres rounds a time given as text), not
// truncated.
func TestSignalTimesRoundToMicroseconds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	f := newFixture(t, s.DB, "github", "times")
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456900, time.UTC)
	n := sig("fine", "code.pushed")
	n.OccurredAt = at
	var got time.Time
	require.NoError(t, s.DB.WithTenant(ctx, f.tenant, func(tx *db.Tx) error {
		if _, err := tx.InsertSignals(ctx, f.conn, "github", []db.NewSignal{n}); err != nil {
			return err
		}
		return tx.GetContext(ctx, &got, `SELECT occurred_at FROM signals WHERE dedupe_key = 'github:fine'`)
	}))
	require.Equal(t, time.Date(2026, 1, 2, 3, 4, 5, 123457000, time.UTC), got.UTC())
}
