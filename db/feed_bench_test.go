package db_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
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
// transaction (5 round trips) and through ListFeed (1).
func BenchmarkFeedRead(b *testing.B) {
	ctx := context.Background()
	s := dbtest.NewSchema(b)
	tenant, conn := dbtest.Seed(b, s.DB, "bench", "fake", "b")
	seedSignals(b, s.DB, fixture{tenant, conn}, 10, "item.created", func(int) string {
		return `{"title":"an item with a title of some length","url":"https://example.com/items/1"}`
	})
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

// BenchmarkFeedPageLayers splits a feed page's cost at the database layer
// into what each layer adds, over 20,000 Signals with fake-provider
// payloads, from random positions (issue 15, changes 14 and 15 in
// docs/performance.md). Run it with parallelism above the core count:
//
//	go test ./db -run '^$' -bench FeedPageLayers -count 3 -cpu 8
//
//	raw        the horizon, then the page, as the schema owner (no
//	           row-level security); rows read, not decoded: the bench's
//	           raw baseline
//	owner_tx   the same, the page in ListFeed's pipelined transaction
//	           (BEGIN, the tenant's set_config, page, COMMIT)
//	app_tx     owner_tx as the application role: row-level security
//	ListFeed   the service's read: as app_tx, with the horizon read inside
//	           the transaction's batch (one round trip instead of two), and
//	           the rows decoded into Signals
func BenchmarkFeedPageLayers(b *testing.B) {
	ctx := context.Background()
	s := dbtest.NewSchema(b)
	tenant, conn := dbtest.Seed(b, s.DB, "bench", "fake", "b")
	seedSignals(b, s.DB, fixture{tenant, conn}, 20, "message.posted", func(i int) string {
		return fmt.Sprintf(`{"url": "https://fake.invalid/items/%d", "actor": {"id": "user-%d", "name": "user-%d"}, `+
			`"title": "Item %d of items: a title, long enough", "context": {"id": "items", "name": "items", "type": "stream"}, `+
			`"subject": {"id": "%d", "type": "item"}, "attributes": {"ts": "%d", "channel_id": "items"}}`, i, i, i, i, i, i)
	})
	cfg, err := pgxpool.ParseConfig(s.OwnerURL)
	require.NoError(b, err)
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, "SET plan_cache_mode = force_custom_plan") // as the service's pool
		return err
	}
	owner, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(b, err)
	b.Cleanup(owner.Close)
	_, err = owner.Exec(ctx, `VACUUM (ANALYZE) signals`)
	require.NoError(b, err)
	var cursors []string
	rows, err := owner.Query(ctx, `SELECT txid::text, seq FROM signals ORDER BY txid, seq LIMIT 19000`)
	require.NoError(b, err)
	for i := 0; rows.Next(); i++ {
		var txid string
		var seq int64
		require.NoError(b, rows.Scan(&txid, &seq))
		if i%97 == 0 {
			cursors = append(cursors, db.FeedCursor(txid, seq))
		}
	}
	require.NoError(b, rows.Err())
	count := func(r pgx.Rows) error {
		n := 0
		for r.Next() {
			n++
		}
		r.Close()
		if err := r.Err(); err != nil {
			return err
		}
		if n != 100 {
			return fmt.Errorf("%d rows", n)
		}
		return nil
	}
	// page reads one page from cursor c on a connection of pool, the page
	// alone or in the pipelined transaction.
	page := func(pool *pgxpool.Pool, inTx bool, c string) error {
		fq, err := db.NewFeedQuery(tenant, db.SignalFilter{Cursor: c, Limit: 100})
		if err != nil {
			return err
		}
		cn, err := pool.Acquire(ctx)
		if err != nil {
			return err
		}
		defer cn.Release()
		var h string
		if err := cn.QueryRow(ctx, db.FeedHorizonSQL).Scan(&h); err != nil {
			return err
		}
		q, args := fq.Page(h)
		if !inTx {
			r, err := cn.Query(ctx, q, args...)
			if err != nil {
				return err
			}
			return count(r)
		}
		bt := &pgx.Batch{}
		bt.Queue("BEGIN")
		bt.Queue(`SELECT set_config('poblysh.tenant_id', $1, true)`, tenant)
		bt.Queue(q, args...).Query(count)
		bt.Queue("COMMIT")
		return cn.SendBatch(ctx, bt).Close()
	}
	run := func(b *testing.B, one func(c string) error) {
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := one(cursors[int(next.Add(7))%len(cursors)]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.Run("raw", func(b *testing.B) { run(b, func(c string) error { return page(owner, false, c) }) })
	b.Run("owner_tx", func(b *testing.B) { run(b, func(c string) error { return page(owner, true, c) }) })
	b.Run("app_tx", func(b *testing.B) { run(b, func(c string) error { return page(s.DB.Pool, true, c) }) })
	b.Run("ListFeed", func(b *testing.B) {
		run(b, func(c string) error {
			rows, _, err := s.DB.ListFeed(ctx, tenant, db.SignalFilter{Cursor: c, Limit: 100})
			if err == nil && len(rows) != 100 {
				err = fmt.Errorf("%d rows", len(rows))
			}
			return err
		})
	})
}
