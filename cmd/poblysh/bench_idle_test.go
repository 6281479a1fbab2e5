package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
	"github.com/poblysh/poblysh/testenv"
	"github.com/poblysh/poblysh/workflows"
)

// BenchmarkIdlePollCost measures what one poll that finds nothing costs a
// connection of the engine's test provider: Temporal Actions (the dev
// server's own `action` counter, namespace default), Postgres rows written
// (pg_stat_user_tables of the schema), provider requests, and the
// service process's CPU, per poll; then per connection-day at the polling
// intervals the real providers use (15 min without push, 6 h
// reconciliation with push), with the Temporal Cloud price of the
// Actions ($50 per million, docs.temporal.io/cloud/pricing).
func BenchmarkIdlePollCost(b *testing.B) {
	polls := max(5, scaled(20))
	for range b.N {
		ds, metricsPort := devServerWithMetrics(b)

		var requests atomic.Int64
		f := fakesandbox.New(fakesandbox.Options{Streams: map[string]int{"items": 3}})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			f.ServeHTTP(w, r)
		}))
		b.Cleanup(srv.Close)
		s := newStack(b, withEnv(f.Env(srv.URL)), withEnv(map[string]string{"POBLYSH_LOG_LEVEL": "warn"}), func(s *stack) {
			s.temporal = ds
			s.env["TEMPORAL_ADDRESS"] = ds.FrontendHostPort()
		})
		_, key := s.tenant("Idle")
		conn := s.connect(key, "fake", nil)
		id := string(*conn.ID)
		backfill := s.waitJobs(key, id, "backfill", 1, 2*time.Minute)
		streams := len(backfill)

		rows := func() int {
			_, _ = s.owner().Exec(context.Background(), `SELECT pg_stat_clear_snapshot()`)
			return s.count(`SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::int FROM pg_stat_user_tables WHERE schemaname = current_schema()`)
		}
		cpu := func() time.Duration {
			var ru syscall.Rusage
			require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
			return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
		time.Sleep(2 * time.Second) // let the connect's own work settle
		done := func() int {
			return s.count(`SELECT count(*) FROM jobs WHERE connection_id = $1 AND kind <> 'backfill' AND status NOT IN ('queued', 'running')`, id)
		}
		a0, by0 := temporalActions(b, metricsPort)
		r0, q0, c0, j0 := rows(), requests.Load(), cpu(), done()
		b.ResetTimer()
		for i := 1; i <= polls; i++ {
			// Trigger is a PatchSchedule call: it stands in for the
			// schedule's own firing (one schedule action in Temporal Cloud).
			s.trigger(workflows.PollScheduleID(s.taskQueue, id))
			eventually(b, 2*time.Minute, "the poll's jobs", func() bool { return done() >= j0+i*streams })
		}
		b.StopTimer()
		time.Sleep(3 * time.Second) // the server's metrics and Postgres's statistics catch up
		a1, by1 := temporalActions(b, metricsPort)
		perPoll := (a1 - a0) / float64(polls)
		rowsPerPoll := float64(rows()-r0) / float64(polls)
		reqPerPoll := float64(requests.Load()-q0) / float64(polls)
		cpuPerPoll := (cpu() - c0).Seconds() / float64(polls)
		var types []string
		for t, v := range by1 {
			if d := v - by0[t]; d > 0 {
				types = append(types, fmt.Sprintf("%s %.1f", t, d/float64(polls)))
			}
		}
		b.ReportMetric(perPoll, "actions/poll")
		b.ReportMetric(rowsPerPoll, "pg_rows/poll")
		b.ReportMetric(reqPerPoll, "provider_requests/poll")
		b.Logf("one idle poll of a %d-stream connection (%d polls): %.1f Temporal actions (%s), %.1f Postgres rows written, %.1f provider requests, %.3f s CPU of the service process",
			streams, polls, perPoll, strings.Join(types, ", "), rowsPerPoll, reqPerPoll, cpuPerPoll)
		for _, p := range []struct {
			name  string
			every time.Duration
		}{{"every 15 min (no push)", 15 * time.Minute}, {"every 6 h (push + reconciliation)", 6 * time.Hour}} {
			perDay := float64(24*time.Hour) / float64(p.every)
			b.Logf("per connection-day polling %s: %.0f actions ($%.4f at $50 per million), %.0f rows, %.0f provider requests, %.2f CPU s",
				p.name, perPoll*perDay, perPoll*perDay*50/1e6, rowsPerPoll*perDay, reqPerPoll*perDay, cpuPerPoll*perDay)
		}

		// A proactive refresh by the hourly sweep: sweeps that refresh
		// this connection's token (the fake's hour-long tokens are always
		// inside its window of RefreshBefore + 1 h, as Google's and Jira's
		// are), less sweeps that find nothing due.
		sweep := workflows.RefreshScheduleID(s.taskQueue)
		ran := func() int {
			d, err := s.temporal.Client().ScheduleClient().GetHandle(context.Background(), sweep).Describe(context.Background())
			require.NoError(b, err)
			if len(d.Info.RunningWorkflows) > 0 {
				return -1
			}
			return d.Info.NumActions
		}
		refreshed := func() int {
			return s.count(`SELECT count(*) FROM jobs WHERE connection_id = $1 AND kind = 'token_refresh' AND status NOT IN ('queued', 'running')`, id)
		}
		sweeps := func(n int) (actions float64, rowsWritten, providerRequests int) {
			a0, _ := temporalActions(b, metricsPort)
			r0, q0, n0, j0 := rows(), requests.Load(), ran(), refreshed()
			due := s.count(`SELECT count(*) FROM connections WHERE id = $1 AND token_expires_at < now() + interval '65 minutes'`, id) > 0
			for i := 1; i <= n; i++ {
				s.trigger(sweep)
				eventually(b, time.Minute, "the sweep", func() bool {
					return ran() >= n0+i && (!due || refreshed() >= j0+i)
				})
			}
			time.Sleep(3 * time.Second)
			a1, _ := temporalActions(b, metricsPort)
			return a1 - a0, rows() - r0, int(requests.Load() - q0)
		}
		n := max(3, scaled(10))
		aDue, rDue, qDue := sweeps(n)
		s.exec(`UPDATE connections SET token_expires_at = now() + interval '30 days' WHERE id = $1`, id)
		aIdle, rIdle, qIdle := sweeps(n)
		perRefresh := (aDue - aIdle) / float64(n)
		rowsPerRefresh := float64(rDue-rIdle) / float64(n)
		reqPerRefresh := float64(qDue-qIdle) / float64(n)
		b.ReportMetric(perRefresh, "actions/refresh")
		b.Logf("one refresh by the sweep (%d sweeps with the token due, %d with nothing due): %.1f Temporal actions, %.1f Postgres rows written, %.1f provider requests; "+
			"per connection-day with hour-long tokens (24 refreshes): %.0f actions ($%.4f at $50 per million), %.0f rows, %.0f provider requests",
			n, n, perRefresh, rowsPerRefresh, reqPerRefresh, 24*perRefresh, 24*perRefresh*50/1e6, 24*rowsPerRefresh, 24*reqPerRefresh)
	}
}

// devServerWithMetrics starts a Temporal dev server of the benchmark's own
// (stopped at cleanup) that serves its Prometheus metrics, and returns it
// with the metrics port.
func devServerWithMetrics(tb testing.TB) (*testsuite.DevServer, int) {
	metricsPort := testenv.FreePort()
	path, err := testenv.CLIPath()
	require.NoError(tb, err)
	ds, err := testsuite.StartDevServer(context.Background(), testsuite.DevServerOptions{
		ExistingPath:     path,
		ClientOptions:    &client.Options{HostPort: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort()), Namespace: "default"},
		LogLevel:         "error",
		SearchAttributes: testenv.SearchAttributes,
		ExtraArgs:        []string{"--metrics-port", strconv.Itoa(metricsPort)},
	})
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = ds.Stop() })
	return ds, metricsPort
}

// temporalActions sums the dev server's `action` counter (namespace
// default), in total and by action type.
func temporalActions(tb testing.TB, metricsPort int) (float64, map[string]float64) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort))
	require.NoError(tb, err)
	defer resp.Body.Close()
	total, by := 0.0, map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "action{") || !strings.Contains(line, `namespace="default"`) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		require.NoError(tb, err)
		typ := "?"
		if i := strings.Index(line, `action_type="`); i >= 0 {
			typ = line[i+13:]
			typ = typ[:strings.IndexByte(typ, '"')]
		}
		total += v
		by[typ] += v
	}
	return total, by
}
