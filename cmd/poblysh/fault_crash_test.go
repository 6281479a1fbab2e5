package main

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/gen/models"
	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
)

// burst posts signed deliveries, each carrying one new item, until stop is
// closed, retrying every delivery that was not answered 2xx (as providers
// do) until it is. Every delivery ends acknowledged exactly once per
// attempt that got a 2xx; the ids are returned by wait.
type burst struct {
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	acked   []string
	retried int
	// notifyEvery sends a notify-only push after this many deliveries (0:
	// none), so that syncs run alongside.
	notifyEvery int
}

func startBurst(t *testing.T, f *fakesandbox.Server, hook string, workers, notifyEvery int) *burst {
	b := &burst{stop: make(chan struct{}), notifyEvery: notifyEvery}
	client := &http.Client{Timeout: 30 * time.Second}
	for w := range workers {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			for n := 0; ; n++ {
				select {
				case <-b.stop:
					return
				default:
				}
				d := f.Build(fakesandbox.Delivery{Stream: "items", Items: f.Add("items", 1)})
				for attempt := 0; ; attempt++ {
					code, err := postWith(client, hook, d)
					if err == nil && code == http.StatusOK {
						break
					}
					if err == nil && code != http.StatusServiceUnavailable {
						t.Errorf("delivery answered %d: only 503 may ask for a retry", code)
						return
					}
					b.mu.Lock()
					b.retried++
					b.mu.Unlock()
					if attempt > 600 {
						t.Errorf("delivery %s never acknowledged", d.Header.Get("X-Fake-Delivery"))
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
				b.mu.Lock()
				b.acked = append(b.acked, d.Header.Get("X-Fake-Delivery"))
				b.mu.Unlock()
				if b.notifyEvery > 0 && n%b.notifyEvery == w%b.notifyEvery {
					_, _ = postWith(client, hook, f.Build(fakesandbox.Delivery{Stream: "items", Notify: true}))
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	return b
}

// wait stops the burst and returns the acknowledged delivery ids and how
// many attempts were refused (and retried).
func (b *burst) wait() ([]string, int) {
	close(b.stop)
	b.wg.Wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.acked, b.retried
}

// requireStoredOnce: every acknowledged delivery is recorded once and
// stored its one Signal.
func (s *stack) requireStoredOnce(acked []string) {
	s.t.Helper()
	require.NotEmpty(s.t, acked)
	require.Equal(s.t, len(acked), s.count(`SELECT count(*) FROM webhook_events
		WHERE delivery_id = ANY($1::text[]) AND status = 'accepted' AND signals = 1`, acked), "every acknowledged delivery is stored once")
}

// TestWorkerKilledThreeTimes kills the worker (SIGKILL) three times in a
// row while a backfill runs and webhooks (with events, and notify-only
// ones that start syncs) keep arriving; a fourth worker finishes. Every
// acknowledged delivery is stored once and the stream holds every item
// exactly once.
func TestWorkerKilledThreeTimes(t *testing.T) {
	t.Parallel()
	f, env := fakeSandbox(t, fakesandbox.Options{Streams: map[string]int{"items": 3000}, PageDelay: 150 * time.Millisecond})
	s := newStack(t, withEnv(env), withEnv(map[string]string{"POBLYSH_FAKE_PAGE_SIZE": "100"}), withCommand("api"))
	w := s.spawn("worker")
	_, key := s.tenant("Crash3")
	conn := s.connect(key, "fake", nil)
	load := startBurst(t, f, s.base+"/api/v1/webhooks/fake", 2, 10)
	pages := func() int { return s.count(`SELECT coalesce(sum(pages), 0) FROM jobs`) }
	for kill := range 3 {
		before := pages()
		eventually(t, 90*time.Second, "the worker to make progress", func() bool { return pages() >= before+2 })
		w.kill()
		t.Logf("kill %d after %d pages", kill+1, pages())
		w = s.spawn("worker")
	}
	require.Less(t, s.count(`SELECT count(*) FROM signals WHERE dedupe_key IN (
		SELECT 'fake:item:items:' || g FROM generate_series(1, 3000) g)`), 3000, "the backfill was not over before the last kill")
	acked, _ := load.wait()
	js := s.waitJobs(key, string(*conn.ID), "backfill", 1, 4*time.Minute)
	require.Equal(t, models.JobStatusSucceeded, *js[0].Status)
	eventually(t, 2*time.Minute, "every sync to finish", func() bool {
		return s.count(`SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')`) == 0
	})
	require.Zero(t, s.count(`SELECT count(*) FROM jobs WHERE status = 'failed'`), "no job failed")
	s.requireStoredOnce(acked)
	s.requireItems("items", f.Count("items"))
}

// TestPostgresCutMidBackfillAndBurst takes Postgres away from the service
// (a TCP proxy between them is cut, closing every connection, and restored
// 10 s later; the shared Postgres server keeps running for the other
// tests) while a backfill runs and webhooks arrive. Deliveries are
// answered 503 while it is away and retried; every delivery that got a 2xx
// is stored exactly once, and the backfill completes with every item
// exactly once.
func TestPostgresCutMidBackfillAndBurst(t *testing.T) {
	t.Parallel()
	f, env := fakeSandbox(t, fakesandbox.Options{Streams: map[string]int{"items": 2000}, PageDelay: 200 * time.Millisecond})
	proxy := newTCPProxy(t, "127.0.0.1:5432")
	s := newStack(t, withEnv(env), withEnv(map[string]string{"POBLYSH_FAKE_PAGE_SIZE": "100"}))
	s.env["DATABASE_URL"] = strings.Replace(s.schema.OwnerURL, "127.0.0.1:5432", proxy.addr, 1)
	s.stop()
	s.start()
	_, key := s.tenant("NoPostgres")
	conn := s.connect(key, "fake", nil)
	eventually(t, 60*time.Second, "the backfill to be under way", func() bool {
		return s.count(`SELECT coalesce(max(pages), 0) FROM jobs WHERE kind = 'backfill'`) >= 3
	})
	load := startBurst(t, f, s.base+"/api/v1/webhooks/fake", 3, 0)
	time.Sleep(time.Second)
	proxy.cut()
	time.Sleep(10 * time.Second)
	proxy.restore()
	time.Sleep(2 * time.Second)
	acked, retried := load.wait()
	t.Logf("%d deliveries acknowledged, %d attempts refused and retried", len(acked), retried)
	require.Positive(t, retried, "deliveries arrived while Postgres was away")

	js := s.waitJobs(key, string(*conn.ID), "backfill", 1, 3*time.Minute)
	require.Equal(t, models.JobStatusSucceeded, *js[0].Status)
	s.requireStoredOnce(acked)
	s.requireItems("items", f.Count("items"))
}
