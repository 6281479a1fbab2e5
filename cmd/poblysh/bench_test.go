package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/fake"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/ingest"
	"github.com/poblysh/poblysh/sandbox"
	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
	"github.com/poblysh/poblysh/testenv"
)

// Benchmarks run with `make bench` (go test -run '^$' -bench . -benchtime 1x).
// They use the whole service, as the e2e tests do, and report custom
// metrics; the ns/op column is the wall time of one complete scenario.

// BenchmarkBackfill100k measures Signals/s through the full path (Temporal
// workflow, activities of up to 10 pages: fetch from the fake provider over
// HTTP, normalize, store and advance the cursor in one transaction per
// page) for 100,000 items, next to the raw Postgres insert rate of the same
// rows through the same idempotent insert in the same kind of transaction,
// and raw COPY, measured in the same run.
func BenchmarkBackfill100k(b *testing.B) {
	n := scaled(100_000)
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

		// The same rows, straight into Postgres (another tenant, the same
		// insert in the same kind of transaction as a stored page).
		rows := make([]db.NewSignal, 0, n)
		for i := 1; i <= n; i++ {
			sig, err := ingest.Rows([]connectors.Signal{fake.Normalize(fakesandbox.MakeItem("items", i))})
			require.NoError(b, err)
			rows = append(rows, sig...)
		}
		tenant, connID := seedConnection(b, s)
		rawStart := time.Now()
		for i := 0; i < n; i += 1000 {
			require.NoError(b, s.schema.DB.WithTenantSignals(context.Background(), tenant, func(tx *db.Tx) error {
				_, err := tx.InsertSignals(context.Background(), connID, "fake", rows[i:min(i+1000, n)])
				return err
			}))
		}
		raw := time.Since(rawStart)

		// And once more as a raw bulk load: COPY of the same rows in pages
		// of 1000 (one transaction each), on a raw pool as the schema owner.
		bulkTenant, bulkConn := seedConnection(b, s)
		pool := rawPool(b, s, 1)
		bulkStart := time.Now()
		for i := 0; i < n; i += 1000 {
			page := rows[i:min(i+1000, n)]
			src := make([][]any, len(page))
			for j, r := range page {
				src[j] = []any{bulkTenant, bulkConn, "fake", r.Kind, r.OccurredAt, "fake:" + r.DedupeKey, string(r.Payload)}
			}
			_, err := pool.CopyFrom(context.Background(), pgx.Identifier{"signals"},
				[]string{"tenant_id", "connection_id", "source", "kind", "occurred_at", "dedupe_key", "payload"}, pgx.CopyFromRows(src))
			require.NoError(b, err)
		}
		bulk := time.Since(bulkStart)
		b.ReportMetric(float64(n)/full.Seconds(), "signals/s_full_path")
		b.ReportMetric(float64(n)/raw.Seconds(), "signals/s_idempotent_insert")
		b.ReportMetric(float64(n)/bulk.Seconds(), "signals/s_raw_copy")
		b.ReportMetric(raw.Seconds()/full.Seconds()*100, "%_of_idempotent_insert")
		b.ReportMetric(bulk.Seconds()/full.Seconds()*100, "%_of_raw_copy")
		b.Logf("%d-item backfill: full path %s (%.0f Signals/s); the same rows through the idempotent insert %s (%.0f rows/s, full path at %.0f%%); "+
			"raw COPY in pages of 1000 %s (%.0f rows/s, full path at %.0f%%)",
			n, full.Round(time.Millisecond), float64(n)/full.Seconds(), raw.Round(time.Millisecond), float64(n)/raw.Seconds(), raw.Seconds()/full.Seconds()*100,
			bulk.Round(time.Millisecond), float64(n)/bulk.Seconds(), bulk.Seconds()/full.Seconds()*100)
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

// BenchmarkSignalsFeed1M: with 1,000,000 stored Signals (times
// POBLYSH_BENCH_SCALE), the exact feed page query of ListSignals (the
// horizon statement, then the page of 100) on a raw pgx pool at 4 and 32
// clients, beside GET /api/v1/signals?limit=100 sent from a separate load
// process at 4 and 32 readers, all from random feed positions; the ratio
// is the service's requests/s over the raw page queries/s. Raw and service
// alternate in feedRounds rounds of a few seconds each (a single short
// phase of each measured the machine's moment more than the code), and
// each side's figures are over all its rounds.
func BenchmarkSignalsFeed1M(b *testing.B) {
	n := scaled(1_000_000)
	// Requests per client and round, at every scale: about 2 s of each
	// side per round on this machine.
	perClient := map[int]int{4: 600, 32: 100}
	for range b.N {
		_, env := fakeSandbox(b, fakesandbox.Options{Streams: map[string]int{"items": 1}})
		s := newStack(b, withEnv(env), withEnv(map[string]string{"POBLYSH_LOG_LEVEL": "warn"}))
		tenant, key := s.tenant("Feed")
		conn := s.connect(key, "fake", nil)
		ctx := context.Background()
		seedStart := time.Now()
		batch := make([]db.NewSignal, 0, 5000)
		for i := 2; i <= n; i++ {
			sig, _ := ingest.Rows([]connectors.Signal{fake.Normalize(fakesandbox.MakeItem("items", i))})
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

		// Positions across the feed: every 1000th row (at least 100).
		var cursors []string
		every := max(1, min(1000, n/100))
		rows, err := s.owner().Query(ctx, `SELECT txid::text, seq FROM (
			SELECT txid, seq, row_number() OVER (ORDER BY txid, seq) AS rn FROM signals) AS t WHERE rn % $1 = 0`, every)
		require.NoError(b, err)
		for rows.Next() {
			var txid string
			var seq int64
			require.NoError(b, rows.Scan(&txid, &seq))
			cursors = append(cursors, db.FeedCursor(txid, seq))
		}
		require.NoError(b, rows.Err())
		require.NotEmpty(b, cursors)

		raw := rawPool(b, s, 32)
		b.ResetTimer()
		for _, clients := range []int{4, 32} {
			var rawRes, svc loadResult
			for round := range feedRounds {
				rawRes = rawRes.merge(rawFeed(b, raw, tenant, cursors, clients, perClient[clients]))
				reqs := make([]loadReq, 0, clients*(perClient[clients]+5))
				rng := rand.New(rand.NewPCG(uint64(clients), uint64(7+round)))
				for range cap(reqs) {
					reqs = append(reqs, loadReq{Method: http.MethodGet,
						URL:    s.base + "/api/v1/signals?limit=100&cursor=" + url.QueryEscape(cursors[rng.IntN(len(cursors))]),
						Header: http.Header{"Authorization": {"Bearer " + key}}})
				}
				svc = svc.merge(runLoad(b, loadSpec{Concurrency: clients, Warmup: clients * 5, Requests: reqs}))
			}
			require.Equal(b, map[string]int{"200": len(svc.LatMS)}, svc.Status)
			ratio := svc.rate() / rawRes.rate() * 100
			b.ReportMetric(rawRes.rate(), fmt.Sprintf("raw_q/s_%d", clients))
			b.ReportMetric(svc.rate(), fmt.Sprintf("svc_req/s_%d", clients))
			b.ReportMetric(ratio, fmt.Sprintf("%%_of_raw_%d", clients))
			b.ReportMetric(svc.pct(0.95), fmt.Sprintf("svc_p95_ms_%d", clients))
			b.ReportMetric(svc.pct(0.99), fmt.Sprintf("svc_p99_ms_%d", clients))
			b.Logf("feed at %d Signals, %d clients: raw page query %.0f q/s (p50 %.1f p95 %.1f p99 %.1f ms); "+
				"service GET /signals from a load process %.0f req/s (p50 %.1f p95 %.1f p99 %.1f ms); service at %.0f%% of raw",
				n, clients, rawRes.rate(), rawRes.pct(0.5), rawRes.pct(0.95), rawRes.pct(0.99),
				svc.rate(), svc.pct(0.5), svc.pct(0.95), svc.pct(0.99), ratio)
		}
		b.StopTimer()
	}
}

// rawPool is a pgx pool on the schema as its owner, set up as the
// service's pool is (plan_cache_mode), for the raw baselines.
func rawPool(tb testing.TB, s *stack, conns int32) *pgxpool.Pool {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(s.schema.OwnerURL)
	require.NoError(tb, err)
	cfg.MaxConns = conns
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, "SET plan_cache_mode = force_custom_plan")
		return err
	}
	p, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(tb, err)
	tb.Cleanup(p.Close)
	return p
}

// feedRounds is how many times BenchmarkSignalsFeed1M alternates raw and
// service phases.
const feedRounds = 3

// rawFeed runs ListSignals's two statements (horizon, then the page of
// 100) from random positions, clients at a time, perClient each after a
// warm-up of 5 each.
func rawFeed(tb testing.TB, pool *pgxpool.Pool, tenant string, cursors []string, clients, perClient int) loadResult {
	tb.Helper()
	ctx := context.Background()
	one := func(rng *rand.Rand) error {
		fq, err := db.NewFeedQuery(tenant, db.SignalFilter{Cursor: cursors[rng.IntN(len(cursors))], Limit: 100})
		if err != nil {
			return err
		}
		var h string
		if err := pool.QueryRow(ctx, db.FeedHorizonSQL).Scan(&h); err != nil {
			return err
		}
		q, args := fq.Page(h)
		rows, err := pool.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		n := 0
		for rows.Next() {
			n++
		}
		rows.Close()
		if n == 0 && rows.Err() == nil {
			return nil
		}
		return rows.Err()
	}
	res := loadResult{Status: map[string]int{}}
	var mu sync.Mutex
	run := func(count int, measure bool) {
		var wg sync.WaitGroup
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(c), 11))
				for range count {
					t0 := time.Now()
					err := one(rng)
					d := time.Since(t0)
					if err != nil {
						tb.Errorf("raw feed query: %v", err)
						return
					}
					if measure {
						mu.Lock()
						res.LatMS = append(res.LatMS, float64(d.Microseconds())/1000)
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
	}
	run(5, false)
	start := time.Now()
	run(perClient, true)
	res.Elapsed = time.Since(start).Seconds()
	return res
}

// BenchmarkWebhookIntake: signed GitHub push deliveries (GitHub App
// deliveries from the sandbox, one commit each, every one with its own
// delivery id) through POST /api/v1/webhooks/github, 16 senders in a
// separate load process, beside the raw two-insert transaction a delivery
// needs (the delivery record with the raw body, and the Signal, both ON
// CONFLICT DO NOTHING) on a raw pgx pool at 16 clients, alternating in
// intakeRounds rounds. Afterwards every delivery must be recorded once and
// have stored its one Signal once.
func BenchmarkWebhookIntake(b *testing.B) {
	const senders = 16
	n := scaled(3000)
	for range b.N {
		port := testenv.FreePort()
		o := sandbox.Options{Seed: true, DeliverTo: fmt.Sprintf("http://127.0.0.1:%d", port),
			WebhookSecret: sandbox.RandomString(32), Faults: []string{githubsandbox.FaultGitHubApp}}
		f, err := sandbox.New("github", o)
		require.NoError(b, err)
		gh := f.(*githubsandbox.Server)
		srv := httptest.NewServer(gh)
		b.Cleanup(srv.Close)
		s := newStack(b, withPort(port), withEnv(f.Env(srv.URL)), withEnv(map[string]string{"POBLYSH_LOG_LEVEL": "warn"}))
		_, key := s.tenant("Hooks")
		conn := s.connect(key, "github", map[string]any{"repos": []string{githubsandbox.SeedRepo}})
		s.waitJobs(key, string(*conn.ID), "backfill", 3, 5*time.Minute)

		// n pushes, built (and signed) before the clock starts.
		reqs := make([]loadReq, 0, n)
		ids := make([]string, 0, n)
		bytesTotal := 0
		for range n {
			act, err := gh.Push(githubsandbox.SeedRepo, githubsandbox.PushInput{Commits: 1})
			require.NoError(b, err)
			require.Len(b, act.Events, 1)
			d := gh.AppDelivery(act.Events[0])
			reqs = append(reqs, loadReq{Method: http.MethodPost, URL: s.base + "/api/v1/webhooks/github", Header: d.Header, Body: d.Body})
			ids = append(ids, d.Header.Get("X-GitHub-Hook-ID")+"/"+d.Header.Get("X-GitHub-Delivery")) // as recorded
			bytesTotal += len(d.Body)
		}
		avgBody := bytesTotal / n
		signalsBefore := s.count(`SELECT count(*) FROM signals`)

		// Raw: the same two inserts per delivery, another tenant's rows.
		tenant, connID := seedConnection(b, s)
		raw := rawPool(b, s, senders)
		body := reqs[0].Body
		payload := []byte(`{"title":"` + strings.Repeat("x", 400) + `","url":"https://github.com/octo-org/hello-world/commit/0"}`)
		// The rows as the service stores a push: the Signal also keeps the
		// delivery's body as its raw provider object (jsonb), with a
		// payload the GitHub connector normalized (the backfill's).
		var storedPayload []byte
		require.NoError(b, raw.QueryRow(context.Background(),
			`SELECT payload::text FROM signals WHERE source = 'github' ORDER BY length(payload::text) DESC LIMIT 1`).Scan(&storedPayload))
		b.ResetTimer()
		// In intakeRounds rounds, each a third of the deliveries: the raw
		// transaction, the same with a NOTIFY inside it (what a trigger
		// announcing Signals would cost every write: Postgres serializes
		// the commits of notifying transactions), the rows as stored, then
		// the service.
		var rawRes, notify, asStored, svc loadResult
		for round := range intakeRounds {
			lo, hi := round*n/intakeRounds, (round+1)*n/intakeRounds
			tag := func(t string) string { return fmt.Sprintf("%s%d", t, round) }
			rawRes = rawRes.merge(rawIntake(b, raw, senders, hi-lo, tag("bare"), tenant, connID, body, payload, nil, false))
			notify = notify.merge(rawIntake(b, raw, senders, hi-lo, tag("notify"), tenant, connID, body, payload, nil, true))
			asStored = asStored.merge(rawIntake(b, raw, senders, hi-lo, tag("stored"), tenant, connID, body, storedPayload, body, false))
			svc = svc.merge(runLoad(b, loadSpec{Concurrency: senders, Requests: reqs[lo:hi]}))
		}
		b.StopTimer()
		b.Logf("raw two-insert tx: %.0f tx/s (p50 %.1f p99 %.1f ms); with a NOTIFY in the transaction: %.0f tx/s (p50 %.1f p99 %.1f ms); "+
			"with the rows as the service stores them (the body also as the Signal's raw jsonb, a %d-byte normalized payload): %.0f tx/s (p50 %.1f p99 %.1f ms)",
			rawRes.rate(), rawRes.pct(0.5), rawRes.pct(0.99), notify.rate(), notify.pct(0.5), notify.pct(0.99),
			len(storedPayload), asStored.rate(), asStored.pct(0.5), asStored.pct(0.99))
		b.ReportMetric(notify.rate(), "raw_tx/s_with_notify")
		b.ReportMetric(asStored.rate(), "raw_tx/s_as_stored")
		require.Equal(b, map[string]int{"200": n}, svc.Status)
		recorded := s.count(`SELECT count(DISTINCT delivery_id) FROM webhook_events WHERE provider = 'github' AND delivery_id = ANY($1)`, ids)
		records := s.count(`SELECT count(*) FROM webhook_events WHERE provider = 'github' AND delivery_id = ANY($1)`, ids)
		stored := s.count(`SELECT coalesce(sum(signals), 0) FROM webhook_events WHERE provider = 'github' AND delivery_id = ANY($1)`, ids)
		added := s.count(`SELECT count(*) FROM signals`) - signalsBefore - 3*n // minus the raw rows
		require.Equal(b, n, recorded, "every delivery recorded")
		require.Equal(b, n, records, "no delivery recorded twice")
		require.Equal(b, n, stored, "every delivery stored its Signal")
		require.Equal(b, n, added, "one Signal per delivery, none twice")
		ratio := svc.rate() / rawRes.rate() * 100
		ratioStored := svc.rate() / asStored.rate() * 100
		b.ReportMetric(rawRes.rate(), "raw_tx/s")
		b.ReportMetric(svc.rate(), "svc_deliveries/s")
		b.ReportMetric(ratio, "%_of_raw")
		b.ReportMetric(ratioStored, "%_of_raw_as_stored")
		b.ReportMetric(svc.pct(0.99), "svc_p99_ms")
		b.Logf("webhook intake, %d deliveries of %d bytes on average, %d senders: raw two-insert tx %.0f tx/s (p50 %.1f p99 %.1f ms); "+
			"service POST /webhooks/github from a load process %.0f deliveries/s (p50 %.1f p95 %.1f p99 %.1f ms); service at %.0f%% of raw, "+
			"%.0f%% of raw with the rows as stored; %d recorded once, %d Signals stored once (0 lost, 0 duplicated)",
			n, avgBody, senders, rawRes.rate(), rawRes.pct(0.5), rawRes.pct(0.99),
			svc.rate(), svc.pct(0.5), svc.pct(0.95), svc.pct(0.99), ratio, ratioStored, recorded, added)
	}
}

// BenchmarkFeedWaitLatency: 100 readers long-poll the feed
// (wait=30s); a signed webhook delivery stores one Signal; the figure is
// the time from the delivery's 200 to each waiting reader's response
// (p50/p99 over every reader of every round). The readers run in this
// process, beside the service.
func BenchmarkFeedWaitLatency(b *testing.B) {
	const waiters = 100
	rounds := max(5, scaled(30))
	for range b.N {
		f, env := fakeSandbox(b, fakesandbox.Options{Streams: map[string]int{"items": 1}})
		s := newStack(b, withEnv(env), withEnv(map[string]string{"POBLYSH_LOG_LEVEL": "warn"}))
		_, key := s.tenant("Wait")
		conn := s.connect(key, "fake", nil)
		s.waitJobs(key, string(*conn.ID), "backfill", 1, 2*time.Minute)
		client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: waiters + 10}}
		get := func(u string) (feedAnswer, error) { return readFeed(client, u, key) }
		first, err := get(s.base + "/api/v1/signals?limit=1000")
		require.NoError(b, err)
		cursors := make([]string, waiters)
		for i := range cursors {
			cursors[i] = first.NextCursor
		}
		var lat []float64
		b.ResetTimer()
		for range rounds {
			done := make([]time.Time, waiters)
			var wg sync.WaitGroup
			for i := range waiters {
				wg.Add(1)
				go func() {
					defer wg.Done()
					a, err := get(s.base + "/api/v1/signals?wait=30s&cursor=" + url.QueryEscape(cursors[i]))
					done[i] = time.Now()
					if err != nil || len(a.Signals) != 1 {
						b.Errorf("waiting reader: %v, %d signals", err, len(a.Signals))
						return
					}
					cursors[i] = a.NextCursor
				}()
			}
			time.Sleep(500 * time.Millisecond) // let the readers reach their wait (not measured)
			d := f.Build(fakesandbox.Delivery{Stream: "items", Items: f.Add("items", 1)})
			req, _ := http.NewRequest(http.MethodPost, s.base+"/api/v1/webhooks/fake", strings.NewReader(string(d.Body)))
			req.Header = d.Header
			resp, err := client.Do(req)
			require.NoError(b, err)
			ok := time.Now()
			resp.Body.Close()
			require.Equal(b, http.StatusOK, resp.StatusCode)
			wg.Wait()
			for _, t := range done {
				lat = append(lat, float64(max(0, t.Sub(ok)).Microseconds())/1000)
			}
		}
		b.StopTimer()
		r := loadResult{LatMS: lat}
		b.ReportMetric(r.pct(0.5), "p50_ms")
		b.ReportMetric(r.pct(0.99), "p99_ms")
		b.Logf("webhook 200 to waiting reader's response, %d waiting readers, %d rounds: p50 %.1f ms, p99 %.1f ms, max %.1f ms",
			waiters, rounds, r.pct(0.5), r.pct(0.99), r.pct(1))
	}
}

type feedAnswer struct {
	Signals    []json.RawMessage `json:"signals"`
	NextCursor string            `json:"next_cursor"`
}

// readFeed GETs a feed URL with a tenant's key; an error unless 200.
func readFeed(hc *http.Client, u, key string) (feedAnswer, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return feedAnswer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := hc.Do(req)
	if err != nil {
		return feedAnswer{}, err
	}
	defer resp.Body.Close()
	var a feedAnswer
	if resp.StatusCode != http.StatusOK {
		return a, fmt.Errorf("status %d", resp.StatusCode)
	}
	return a, json.NewDecoder(resp.Body).Decode(&a)
}

// intakeRounds is how many times BenchmarkWebhookIntake alternates the raw
// transactions and the service.
const intakeRounds = 3

// rawIntake runs n two-insert transactions (the delivery record with the
// raw body, then the Signal, both ON CONFLICT DO NOTHING) at clients.
func rawIntake(tb testing.TB, raw *pgxpool.Pool, clients, n int, tag, tenant, connID string, body, payload, signalRaw []byte, notify bool) loadResult {
	tb.Helper()
	var next atomic.Int64
	res := loadResult{Status: map[string]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				t0 := time.Now()
				err := pgx.BeginFunc(context.Background(), raw, func(tx pgx.Tx) error {
					ctx := context.Background()
					if _, err := tx.Exec(ctx, `INSERT INTO webhook_events (provider, delivery_id, event, status, tenant_ids, connection_ids, signals, raw_body)
						VALUES ('raw', $1, 'push', 'accepted', ARRAY[$2::uuid], ARRAY[$3::uuid], 1, $4) ON CONFLICT DO NOTHING`,
						fmt.Sprintf("%s-%d", tag, i), tenant, connID, body); err != nil {
						return err
					}
					var sigRaw any // NULL unless given
					if signalRaw != nil {
						sigRaw = string(signalRaw)
					}
					_, err := tx.Exec(ctx, `INSERT INTO signals (tenant_id, connection_id, source, kind, occurred_at, dedupe_key, payload, raw)
						VALUES ($1, $2, 'raw', 'code.pushed', now(), $3, $4::jsonb, $5::jsonb) ON CONFLICT DO NOTHING`,
						tenant, connID, fmt.Sprintf("%s:%d", tag, i), string(payload), sigRaw)
					if err == nil && notify {
						_, err = tx.Exec(ctx, `SELECT pg_notify('poblysh_bench', $1)`, tenant)
					}
					return err
				})
				d := time.Since(t0)
				if err != nil {
					tb.Errorf("raw intake tx: %v", err)
					return
				}
				mu.Lock()
				res.LatMS = append(res.LatMS, float64(d.Microseconds())/1000)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start).Seconds()
	return res
}
