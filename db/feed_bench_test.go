package db_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// Benchmarks of the round-trip changes of issue 15 at the database layer
// (no HTTP), old path beside new, in one process; run them interleaved:
//
//	go test ./db -run '^$' -bench 'FeedRead|APIKeyLookup' -count 5 -cpu 4
//
// BenchmarkFeedRead: a feed page of 100 through ListSignals in a tenant
// transaction (5 round trips) and through ListFeed (2).
func BenchmarkFeedRead(b *testing.B) {
	ctx := context.Background()
	s := dbtest.NewSchema(b)
	tenant, conn := dbtest.Seed(b, s.DB, "bench", "fake", "b")
	for batch := range 10 {
		var sigs []db.NewSignal
		for i := range 1000 {
			sigs = append(sigs, db.NewSignal{Kind: "item.created", OccurredAt: time.Now(), DedupeKey: fmt.Sprintf("%d-%d", batch, i),
				Payload: []byte(`{"title":"an item with a title of some length","url":"https://example.com/items/1"}`)})
		}
		require.NoError(b, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
			_, err := tx.InsertSignals(ctx, conn, "fake", sigs)
			return err
		}))
	}
	owner, err := pgx.Connect(ctx, s.OwnerURL)
	require.NoError(b, err)
	_, err = owner.Exec(ctx, `VACUUM (ANALYZE) signals`)
	require.NoError(b, err)
	require.NoError(b, owner.Close(ctx))
	f := db.SignalFilter{Limit: 100}
	b.Run("tx_ListSignals", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				err := s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
					rows, _, err := tx.ListSignals(ctx, f)
					if err == nil && len(rows) != 100 {
						err = fmt.Errorf("%d rows", len(rows))
					}
					return err
				})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("pipelined_ListFeed", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				rows, _, err := s.DB.ListFeed(ctx, tenant, f)
				if err == nil && len(rows) != 100 {
					err = fmt.Errorf("%d rows", len(rows))
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkAPIKeyLookup: a tenant key resolved by a system transaction
// (4 round trips) and by the cache.
func BenchmarkAPIKeyLookup(b *testing.B) {
	ctx := context.Background()
	s := dbtest.NewSchema(b)
	var key string
	require.NoError(b, s.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
		_, _, key, err = tx.CreateTenant(ctx, "bench")
		return err
	}))
	n := db.NewFeedNotifier(s.DB, nil)
	b.Cleanup(n.Close)
	c := db.NewAPIKeyCache(s.DB, n)
	for !n.Listening() {
		time.Sleep(10 * time.Millisecond)
	}
	b.Run("tx", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := s.DB.WithSystem(ctx, func(tx *db.Tx) error { _, _, err := tx.AuthenticateAPIKey(ctx, key); return err }); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("cache", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Authenticate(ctx, key); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
