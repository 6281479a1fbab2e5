package main

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/activities"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/fake"
	"github.com/poblysh/poblysh/db"
	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
)

// Benchmarks run with `make bench` (go test -run '^$' -bench . -benchtime 1x).
// They use the whole service, as the e2e tests do, and report custom
// metrics; the ns/op column is the wall time of one complete scenario.

// BenchmarkBackfill100k measures Signals/s through the full path (Temporal
// workflow, one activity per page: fetch from the fake provider over HTTP,
// normalize, store and advance the cursor in one transaction) for 100,000
// items, next to the raw Postgres insert rate of the same rows through the
// same idempotent insert, measured in the same run.
func BenchmarkBackfill100k(b *testing.B) {
	const n = 100_000
	for range b.N {
		_, env := fakeSandbox(b, fakesandbox.Options{Streams: map[string]int{"items": n}})
		s := newStack(b, withEnv(env), withEnv(map[string]string{"POBLYSH_FAKE_PAGE_SIZE": "1000", "POBLYSH_LOG_LEVEL": "warn"}))
		_, key := s.tenant("Bench")
		start := time.Now()
		conn := s.connect(key, "fake", nil)
		eventually(b, 15*time.Minute, "the backfill", func() bool {
			return s.count(`SELECT count(*) FROM jobs WHERE kind = 'backfill' AND status IN ('succeeded', 'failed')`) == 1
		})
		full := time.Since(start)
		require.Equal(b, n, s.count(`SELECT count(*) FROM signals`))
		_ = conn

		// The same rows, straight into Postgres (another tenant, same insert).
		rows := make([]db.NewSignal, 0, n)
		for i := 1; i <= n; i++ {
			sig, err := activities.ToNewSignals([]connectors.Signal{fake.Normalize(fakesandbox.MakeItem("items", i))})
			require.NoError(b, err)
			rows = append(rows, sig...)
		}
		tenant, connID := seedConnection(b, s)
		rawStart := time.Now()
		for i := 0; i < n; i += 1000 {
			require.NoError(b, s.schema.DB.WithTenant(context.Background(), tenant, func(tx *db.Tx) error {
				_, err := tx.InsertSignals(context.Background(), connID, "fake", rows[i:min(i+1000, n)])
				return err
			}))
		}
		raw := time.Since(rawStart)
		b.ReportMetric(float64(n)/full.Seconds(), "signals/s_full_path")
		b.ReportMetric(float64(n)/raw.Seconds(), "signals/s_raw_insert")
		b.ReportMetric(raw.Seconds()/full.Seconds()*100, "%_of_raw")
		b.Logf("100k backfill: full path %s (%.0f Signals/s); raw insert of the same rows %s (%.0f rows/s); full path runs at %.0f%% of the raw insert rate",
			full.Round(time.Millisecond), float64(n)/full.Seconds(), raw.Round(time.Millisecond), float64(n)/raw.Seconds(), raw.Seconds()/full.Seconds()*100)
	}
}

// seedConnection makes a tenant and connection directly in Postgres (for
// raw inserts that bypass the API).
func seedConnection(tb testing.TB, s *stack) (string, string) {
	ctx := context.Background()
	var tenant, conn string
	require.NoError(tb, s.schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
		t, _, _, err := tx.CreateTenant(ctx, "raw")
		tenant = t.ID
		return err
	}))
	require.NoError(tb, s.schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "fake", ExternalAccountID: "raw"})
		conn = c.ID
		return err
	}))
	return tenant, conn
}

// BenchmarkSignalsFeed1M measures GET /api/v1/signals latency (p50, p95,
// p99) with 1,000,000 stored Signals and 32 concurrent readers, each
// reading pages of 100 from random positions of the feed.
func BenchmarkSignalsFeed1M(b *testing.B) {
	const n, readers, perReader = 1_000_000, 32, 60
	for range b.N {
		_, env := fakeSandbox(b, fakesandbox.Options{Streams: map[string]int{"items": 1}})
		s := newStack(b, withEnv(env), withEnv(map[string]string{"POBLYSH_LOG_LEVEL": "warn"}))
		tenant, key := s.tenant("Feed")
		conn := s.connect(key, "fake", nil)
		ctx := context.Background()
		seedStart := time.Now()
		batch := make([]db.NewSignal, 0, 5000)
		for i := 2; i <= n; i++ {
			sig, _ := activities.ToNewSignals([]connectors.Signal{fake.Normalize(fakesandbox.MakeItem("items", i))})
			batch = append(batch, sig...)
			if len(batch) == cap(batch) || i == n {
				require.NoError(b, s.schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
					_, err := tx.InsertSignals(ctx, string(*conn.ID), "fake", batch)
					return err
				}))
				batch = batch[:0]
			}
		}
		_, err := s.owner().Exec(ctx, "VACUUM (ANALYZE) signals") // steady state: no autovacuum of the fresh rows mid-measurement
		require.NoError(b, err)
		b.Logf("seeded %d Signals in %s", n, time.Since(seedStart).Round(time.Second))

		// Positions across the feed: every 1000th row.
		var cursors []string
		rows, err := s.owner().Query(ctx, `SELECT txid::text, seq FROM (
			SELECT txid, seq, row_number() OVER (ORDER BY txid, seq) AS rn FROM signals) AS t WHERE rn % 1000 = 0`)
		require.NoError(b, err)
		for rows.Next() {
			var txid string
			var seq int64
			require.NoError(b, rows.Scan(&txid, &seq))
			cursors = append(cursors, db.FeedCursor(txid, seq))
		}
		require.NoError(b, rows.Err())
		require.GreaterOrEqual(b, len(cursors), n/1000-1)

		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: readers}}
		// Warm up (connections, plan cache, the hot part of the index) the
		// way a running service is warm; not measured.
		for i := range readers * 5 {
			req, _ := http.NewRequest(http.MethodGet, s.base+"/api/v1/signals?limit=100&cursor="+url.QueryEscape(cursors[i%len(cursors)]), nil)
			req.Header.Set("Authorization", "Bearer "+key)
			if resp, err := client.Do(req); err == nil {
				_ = readAll(resp)
				resp.Body.Close()
			}
		}
		var mu sync.Mutex
		var lat []time.Duration
		var wg sync.WaitGroup
		b.ResetTimer()
		start := time.Now()
		for r := range readers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(r), 7))
				for range perReader {
					u := s.base + "/api/v1/signals?limit=100&cursor=" + url.QueryEscape(cursors[rng.IntN(len(cursors))])
					req, _ := http.NewRequest(http.MethodGet, u, nil)
					req.Header.Set("Authorization", "Bearer "+key)
					t0 := time.Now()
					resp, err := client.Do(req)
					d := time.Since(t0)
					if err != nil || resp.StatusCode != http.StatusOK {
						b.Errorf("read failed: %v %v", err, resp)
						return
					}
					_ = readAll(resp)
					resp.Body.Close()
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		b.StopTimer()
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		pct := func(p float64) time.Duration { return lat[int(float64(len(lat)-1)*p)] }
		b.ReportMetric(float64(pct(0.50).Microseconds())/1000, "p50_ms")
		b.ReportMetric(float64(pct(0.95).Microseconds())/1000, "p95_ms")
		b.ReportMetric(float64(pct(0.99).Microseconds())/1000, "p99_ms")
		b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "requests/s")
		b.Logf("GET /signals over %d Signals, %d readers, %d requests: p50 %s p95 %s p99 %s, %.0f req/s",
			n, readers, len(lat), pct(0.50), pct(0.95), pct(0.99), float64(len(lat))/elapsed.Seconds())
	}
}
