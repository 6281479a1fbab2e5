//go:build benchscale

package main

// BenchmarkScale is `make bench-scale` (scripts/bench-scale.sh): built only
// with -tags benchscale, so neither `make test` nor `make bench` runs it.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/engine"
	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
	"github.com/poblysh/poblysh/vault"
)

func scaleEnv(tb testing.TB, name string, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func scaleInt(tb testing.TB, name string, def int) int {
	n, err := strconv.Atoi(scaleEnv(tb, name, strconv.Itoa(def)))
	require.NoError(tb, err, name)
	require.Positive(tb, n, name)
	return n
}

func scaleDuration(tb testing.TB, name string, def time.Duration) time.Duration {
	d, err := time.ParseDuration(scaleEnv(tb, name, def.String()))
	require.NoError(tb, err, name)
	require.Positive(tb, d, name)
	return d
}

// procStat reads a process's CPU time (utime+stime, /proc/<pid>/stat) and
// resident memory (VmRSS, /proc/<pid>/status).
func procStat(tb testing.TB, pid int) (cpu time.Duration, rssMiB float64) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(tb, err)
	// Fields after the command name (which is in parentheses).
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)       // field 14 of the whole line
	st, _ := strconv.ParseInt(f[12], 10, 64)       // field 15
	cpu = time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(tb, err)
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			rssMiB = kb / 1024
		}
	}
	return cpu, rssMiB
}

// devServerPID finds the Temporal dev server listening on port (the SDK's
// DevServer does not expose its process).
func devServerPID(tb testing.TB, port string) int {
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range dirs {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(raw), "\x00")
		if !strings.Contains(string(raw), "start-dev") {
			continue
		}
		for i, a := range args {
			if (a == "--port" || a == "-p") && i+1 < len(args) && args[i+1] == port {
				pid, _ := strconv.Atoi(strings.Split(p, "/")[2])
				return pid
			}
		}
	}
	tb.Fatalf("no Temporal dev server process on port %s", port)
	return 0
}

// BenchmarkScale runs the service (API in this process, the worker as its
// own OS process) with BENCH_SCALE_TENANTS tenants × BENCH_SCALE_CONNECTIONS
// idle connections of the engine's test provider, polling every
// BENCH_SCALE_INTERVAL (default 6 h: the reconcile interval of a provider
// with working push), for BENCH_SCALE_WINDOW, while one webhook stream
// delivers to another connection. It reports per connection per idle day:
// Temporal Actions, Postgres rows written, provider requests and worker CPU
// seconds; the webhook-to-feed time (p50/p99); and the RSS of the worker
// and of the Temporal dev server.
//
// How the connections are made: one connection goes through the real
// OAuth flow (and carries the webhook stream); every other connection is
// inserted into Postgres as the OAuth callback writes it (connection row,
// its webhook route, tokens sealed with the service's key under the new
// connection's own AAD: the template's tokens, valid at the sandbox), with
// poll_interval_seconds set as PATCH /connections/{id} would, and its
// Temporal schedule created by the engine itself (engine.SyncSchedules).
// No backfill runs for the inserted ones: they are already idle.
func BenchmarkScale(b *testing.B) {
	tenantsN := scaleInt(b, "BENCH_SCALE_TENANTS", 1000)
	perTenant := scaleInt(b, "BENCH_SCALE_CONNECTIONS", 10)
	window := scaleDuration(b, "BENCH_SCALE_WINDOW", 5*time.Minute)
	every := scaleDuration(b, "BENCH_SCALE_INTERVAL", 6*time.Hour)
	require.GreaterOrEqual(b, every, time.Minute, "BENCH_SCALE_INTERVAL: the fake provider's floor is 1m")
	hookEvery := scaleDuration(b, "BENCH_SCALE_WEBHOOK_EVERY", 2*time.Second)
	total := tenantsN * perTenant
	for range b.N {
		setupStart := time.Now()
		ds, metricsPort := devServerWithMetrics(b)
		temporalPID := devServerPID(b, ds.FrontendHostPort()[strings.LastIndexByte(ds.FrontendHostPort(), ':')+1:])

		// Every request to the provider's API (not OAuth) is counted. The
		// access tokens outlive the run, so no refresh happens (a refresh
		// would rotate the refresh token the inserted connections share).
		var requests atomic.Int64
		f := fakesandbox.New(fakesandbox.Options{Streams: map[string]int{"items": 0, "hook": 0}, AccessTTL: 30 * 24 * time.Hour})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/api/") {
				requests.Add(1)
			}
			f.ServeHTTP(w, r)
		}))
		b.Cleanup(srv.Close)
		s := newStack(b, withEnv(f.Env(srv.URL)), withCommand("api"), withEnv(map[string]string{"POBLYSH_LOG_LEVEL": "warn"}), func(s *stack) {
			s.temporal = ds
			s.env["TEMPORAL_ADDRESS"] = ds.FrontendHostPort()
		})
		worker := s.spawn("worker")
		workerPID := worker.cmd.Process.Pid

		// The webhook stream's connection, through the real OAuth flow.
		_, hookKey := s.tenant("Hook")
		hook := s.connect(hookKey, "fake", map[string]any{"streams": []string{"hook"}})
		hookID := string(*hook.ID)
		s.waitJobs(hookKey, hookID, "backfill", 1, 2*time.Minute)

		// The template: its tokens, decrypted with the service's key.
		key, err := vault.ParseKey(s.cryptoKey)
		require.NoError(b, err)
		kr := vault.NewKeyRing(key)
		ctx := context.Background()
		var tplTenant, tokenType string
		var accessCT, refreshCT string
		var expires *time.Time
		require.NoError(b, s.owner().QueryRow(ctx, `SELECT tenant_id::text, token_type, token_expires_at, access_token_ct, refresh_token_ct
			FROM connections WHERE id = $1`, hookID).Scan(&tplTenant, &tokenType, &expires, &accessCT, &refreshCT))
		access, err := kr.Decrypt(accessCT, vault.AAD(tplTenant, hookID, "access_token"))
		require.NoError(b, err)
		refresh, err := kr.Decrypt(refreshCT, vault.AAD(tplTenant, hookID, "refresh_token"))
		require.NoError(b, err)

		// Tenants through the admin API, a few at a time.
		tenantIDs := make([]string, tenantsN)
		var wg sync.WaitGroup
		next := atomic.Int64{}
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1)) - 1; i < tenantsN; i = int(next.Add(1)) - 1 {
					tenantIDs[i], _ = s.tenant(fmt.Sprintf("Scale %d", i))
				}
			}()
		}
		wg.Wait()

		// Connections, inserted as the OAuth callback stores them.
		secs := int(every / time.Second)
		conns := make([][2]string, 0, total)
		pool := s.owner()
		for t, tenant := range tenantIDs {
			batch := &pgx.Batch{}
			for c := range perTenant {
				id := uuid.NewString()
				acct := fmt.Sprintf("acct-%d-%d", t, c)
				at, err := kr.Encrypt(access, vault.AAD(tenant, id, "access_token"))
				require.NoError(b, err)
				rt, err := kr.Encrypt(refresh, vault.AAD(tenant, id, "refresh_token"))
				require.NoError(b, err)
				batch.Queue(`INSERT INTO connections (id, tenant_id, provider, external_account_id, display_name, account, scopes, config,
						poll_interval_seconds, access_token_ct, refresh_token_ct, token_type, token_expires_at, token_refreshed_at, last_sync_at)
					VALUES ($1, $2, 'fake', $3, $4, jsonb_build_object('id', $3::text, 'name', $4::text), '{items:read}', '{"streams": ["items"]}',
						$5, $6, $7, $8, $9, now(), now())`, id, tenant, acct, "Fake Org "+acct, secs, at, rt, tokenType, expires)
				batch.Queue(`INSERT INTO webhook_routes (provider, route_key, connection_id, tenant_id) VALUES ('fake', $1, $2, $3)`,
					"account:"+acct, id, tenant)
				conns = append(conns, [2]string{tenant, id})
			}
			require.NoError(b, pool.SendBatch(ctx, batch).Close())
		}
		_, err = pool.Exec(ctx, `UPDATE connections SET poll_interval_seconds = $2 WHERE id = $1`, hookID, secs)
		require.NoError(b, err)
		conns = append(conns, [2]string{tplTenant, hookID})

		// Their schedules, created by the engine as the connect does.
		registry, err := connectors.Build(connectors.Registered(), func(k string) string { return s.env[k] }, s.base, true)
		require.NoError(b, err)
		tc, err := client.Dial(client.Options{HostPort: ds.FrontendHostPort(), Namespace: "default"})
		require.NoError(b, err)
		b.Cleanup(tc.Close)
		eng := &engine.Engine{Client: tc, DB: s.schema.DB, Registry: registry, TaskQueue: s.taskQueue, Namespace: "default"}
		next.Store(0)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1)) - 1; i < len(conns); i = int(next.Add(1)) - 1 {
					if err := eng.SyncSchedules(ctx, conns[i][0], conns[i][1]); err != nil {
						b.Errorf("schedule of %s: %v", conns[i][1], err)
						return
					}
				}
			}()
		}
		wg.Wait()
		schedulesCreated := time.Now()
		require.False(b, b.Failed())
		b.Logf("setup: %d tenants × %d connections (+1 webhook connection), schedules every %s, in %s",
			tenantsN, perTenant, every, time.Since(setupStart).Round(time.Second))
		// Each schedule is a scheduler workflow on the server, whose first
		// task (a search attribute upsert, a marker, a timer until its
		// first action) runs behind a backlog after thousands of creates.
		// Wait until that counter is as quiet as the steady polling would
		// make it (at most 8 minutes), so the window measures idle cost,
		// not setup.
		settle := time.Now()
		quiet := 2*int(10*time.Second*time.Duration(len(conns))/every) + 2
		_, by := temporalActions(b, metricsPort)
		for calm := 0; calm < 2 && time.Since(settle) < 8*time.Minute; {
			time.Sleep(10 * time.Second)
			_, now := temporalActions(b, metricsPort)
			grew := now["command_UpsertWorkflowSearchAttributes"] - by["command_UpsertWorkflowSearchAttributes"]
			if grew <= float64(quiet) {
				calm++
			} else {
				calm = 0
			}
			by = now
		}
		b.Logf("the schedulers settled in %s", time.Since(settle).Round(time.Second))
		// Idle backends flush their table statistics at most every 10 s
		// (PGSTAT_IDLE_INTERVAL): the setup's rows are in before the window.
		time.Sleep(11 * time.Second)

		rows := func() (int, map[string]int) {
			r, err := pool.Query(ctx, `SELECT relname, (n_tup_ins + n_tup_upd)::int FROM pg_stat_user_tables WHERE schemaname = current_schema()`)
			require.NoError(b, err)
			out, sum := map[string]int{}, 0
			for r.Next() {
				var name string
				var n int
				require.NoError(b, r.Scan(&name, &n))
				out[name], sum = n, sum+n
			}
			require.NoError(b, r.Err())
			return sum, out
		}
		polls := func() int {
			return s.count(`SELECT count(*) FROM jobs WHERE kind <> 'backfill' AND connection_id <> $1`, hookID)
		}
		_, _ = pool.Exec(ctx, `SELECT pg_stat_clear_snapshot()`)
		a0, by0 := temporalActions(b, metricsPort)
		r0, rt0 := rows()
		q0, p0 := requests.Load(), polls()
		c0, _ := procStat(b, workerPID)
		start := time.Now()

		// One webhook stream: a reader long-polls the feed, a delivery
		// arrives, the time from sending it to the reader's answer.
		hc := &http.Client{Timeout: time.Minute}
		feed := func(u string) (feedAnswer, error) { return readFeed(hc, u, hookKey) }
		first, err := feed(s.base + "/api/v1/signals?limit=1000")
		require.NoError(b, err)
		cursor := first.NextCursor
		var lat []float64
		var maxWorkerRSS, maxTemporalRSS float64
		b.ResetTimer()
		for time.Since(start) < window {
			tick := time.Now()
			got := make(chan feedAnswer, 1)
			go func() {
				a, err := feed(s.base + "/api/v1/signals?wait=30s&cursor=" + url.QueryEscape(cursor))
				if err != nil {
					b.Errorf("feed reader: %v", err)
				}
				got <- a
			}()
			time.Sleep(200 * time.Millisecond) // the reader reaches its wait (not measured)
			d := f.Build(fakesandbox.Delivery{Stream: "hook", Items: f.Add("hook", 1)})
			req, _ := http.NewRequest(http.MethodPost, s.base+"/api/v1/webhooks/fake", strings.NewReader(string(d.Body)))
			req.Header = d.Header
			sent := time.Now()
			resp, err := hc.Do(req)
			require.NoError(b, err)
			resp.Body.Close()
			require.Equal(b, http.StatusOK, resp.StatusCode)
			a := <-got
			require.Len(b, a.Signals, 1, "the delivery's Signal reaches the feed")
			lat = append(lat, float64(time.Since(sent).Microseconds())/1000)
			cursor = a.NextCursor
			_, w := procStat(b, workerPID)
			_, t := procStat(b, temporalPID)
			maxWorkerRSS, maxTemporalRSS = max(maxWorkerRSS, w), max(maxTemporalRSS, t)
			time.Sleep(max(0, hookEvery-time.Since(tick)))
		}
		b.StopTimer()
		elapsed := time.Since(start)
		time.Sleep(3 * time.Second) // the server's metrics and Postgres's statistics catch up
		_, _ = pool.Exec(ctx, `SELECT pg_stat_clear_snapshot()`)
		a1, by1 := temporalActions(b, metricsPort)
		r1, rt1 := rows()
		q1, p1 := requests.Load(), polls()
		c1, workerRSS := procStat(b, workerPID)
		_, temporalRSS := procStat(b, temporalPID)

		// Per connection per idle day: the window's totals scaled to a day,
		// divided by the idle connections.
		days := elapsed.Hours() / 24
		perConnDay := func(v float64) float64 { return v / days / float64(total) }
		actions := a1 - a0
		var types []string
		for t, v := range by1 {
			if dv := v - by0[t]; dv > 0 {
				types = append(types, fmt.Sprintf("%s %.0f", t, dv))
			}
		}
		sort.Strings(types)
		var tables []string
		for t, v := range rt1 {
			if dv := v - rt0[t]; dv > 0 {
				tables = append(tables, fmt.Sprintf("%s %d", t, dv))
			}
		}
		sort.Strings(tables)
		// The webhook stream's own rows (its Signals and delivery records)
		// are not the idle connections' cost.
		hookRows := (rt1["signals"] - rt0["signals"]) + (rt1["webhook_events"] - rt0["webhook_events"])
		idleRows := float64(r1 - r0 - hookRows)
		// The dev server's counter has no schedule actions; each poll is
		// started by one (what Temporal Cloud bills for a schedule firing).
		billed := actions + float64(p1-p0)
		r := loadResult{LatMS: lat}
		b.ReportMetric(perConnDay(billed), "actions/conn-day")
		b.ReportMetric(perConnDay(idleRows), "pg_rows/conn-day")
		b.ReportMetric(perConnDay(float64(q1-q0)), "provider_requests/conn-day")
		b.ReportMetric(perConnDay((c1 - c0).Seconds()), "worker_cpu_s/conn-day")
		b.ReportMetric(r.pct(0.5), "webhook_feed_p50_ms")
		b.ReportMetric(r.pct(0.99), "webhook_feed_p99_ms")
		b.Logf("size: %d tenants × %d connections = %d idle connections polling every %s, window %s, %d polls ran (%.0f expected from the schedules' intervals once steady; %.0f expected in this window, %s after the schedules were created, with their %s jitter)",
			tenantsN, perTenant, total, every, elapsed.Round(time.Second), p1-p0, float64(total)*elapsed.Seconds()/every.Seconds(),
			expectedPolls(total, every, every/10, start.Sub(schedulesCreated), elapsed), start.Sub(schedulesCreated).Round(time.Second), every/10)
		b.Logf("window totals: %.0f Temporal actions counted by the server (%s) + %d schedule actions (one per poll); %d Postgres rows written (%s; %d of them the webhook stream's signals and webhook_events); %d provider requests; %.2f worker CPU s",
			actions, strings.Join(types, ", "), p1-p0, r1-r0, strings.Join(tables, ", "), hookRows, q1-q0, (c1 - c0).Seconds())
		if p1 > p0 {
			n := float64(p1 - p0)
			b.Logf("per poll: %.1f Temporal actions (incl. the schedule action), %.1f Postgres rows, %.1f provider requests, %.3f worker CPU s (all of the worker's CPU in the window over its polls)",
				billed/n, idleRows/n, float64(q1-q0)/n, (c1-c0).Seconds()/n)
		}
		b.Logf("per connection per idle day, as measured in the window: %.2f Temporal actions ($%.5f at $50 per million), %.2f Postgres rows, %.2f provider requests, %.4f worker CPU s",
			perConnDay(billed), perConnDay(billed)*50/1e6, perConnDay(idleRows), perConnDay(float64(q1-q0)), perConnDay((c1 - c0).Seconds()))
		b.Logf("webhook → feed (one stream, every %s, %d deliveries): p50 %.1f ms, p99 %.1f ms, max %.1f ms",
			hookEvery, len(lat), r.pct(0.5), r.pct(0.99), r.pct(1))
		b.Logf("RSS: worker %.0f MiB (max %.0f), Temporal dev server %.0f MiB (max %.0f)", workerRSS, maxWorkerRSS, temporalRSS, maxTemporalRSS)
	}
}

// expectedPolls is how many polls n schedules, created together, fire in a
// window that opens `after` their creation and lasts `window`: each has
// nominal times every `every` at a uniform phase, delayed by a uniform
// random jitter in [0, jitter) (Temporal's ScheduleSpec.Jitter), and a
// schedule never fires for nominal times before its creation. Until one
// jitter span has passed, fewer polls fire than n·window/every: the
// delayed first actions have not arrived and none are owed from before.
func expectedPolls(n int, every, jitter, after, window time.Duration) float64 {
	a, b := after.Seconds(), (after + window).Seconds()
	j := jitter.Seconds()
	if j <= 0 {
		return float64(n) * window.Seconds() / every.Seconds()
	}
	// Integrate over nominal times s in [0, b] (created at 0) the chance
	// that s + U(0, j) falls in [a, b].
	const steps = 10000
	ds := b / steps
	var sum float64
	for i := range steps {
		s := (float64(i) + 0.5) * ds
		lo, hi := max(a-s, 0), min(b-s, j)
		if hi > lo {
			sum += (hi - lo) / j * ds
		}
	}
	return float64(n) * sum / every.Seconds()
}
