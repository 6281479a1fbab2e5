package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"

	"github.com/poblysh/poblysh/gen/client/jobs"
	"github.com/poblysh/poblysh/gen/client/signals"
	"github.com/poblysh/poblysh/gen/models"
)

// feed follows GET /api/v1/signals the way a downstream consumer does:
// page with next_cursor, and when a page is short, wait and ask again with
// the same cursor. It prints every Signal once, as it arrives.
type feed struct {
	d *demo

	mu      sync.Mutex
	signals []seenSignal
	first   time.Duration // first Signal, after d.t0; 0: none yet
	lastErr error
	notify  chan struct{}

	cancel context.CancelFunc
	done   chan struct{}
	live   []liveResult
}

type seenSignal struct {
	s    *models.Signal
	seen time.Time
}

type liveResult struct {
	want    liveWant
	latency time.Duration // activity created → Signal read from the feed
}

func newFeed(d *demo) *feed {
	return &feed{d: d, notify: make(chan struct{}, 1), done: make(chan struct{})}
}

// start reads the feed in the background until stop is called.
func (f *feed) start(ctx context.Context) {
	ctx, f.cancel = context.WithCancel(ctx)
	go f.poll(ctx)
}

func (f *feed) poll(ctx context.Context) {
	defer close(f.done)
	var cursor *string
	limit := int64(1000)
	for ctx.Err() == nil {
		res, err := f.d.api.Signals.ListSignalsContext(ctx, signals.NewListSignalsParams().WithCursor(cursor).WithLimit(&limit),
			httptransport.BearerToken(f.d.key))
		if err != nil {
			if ctx.Err() == nil {
				f.mu.Lock()
				f.lastErr = fmt.Errorf("GET /api/v1/signals: %w", err)
				f.mu.Unlock()
				f.d.printf("%s  feed error (retrying): %v\n", f.d.since(), err)
				sleep(ctx, time.Second)
			}
			continue
		}
		if err := res.Payload.Validate(strfmt.Default); err != nil {
			f.d.printf("%s  feed page does not match the spec: %v\n", f.d.since(), err)
		}
		now := time.Now()
		for _, s := range res.Payload.Signals {
			f.add(s, now)
		}
		if res.Payload.NextCursor != nil {
			cursor = res.Payload.NextCursor
		}
		if int64(len(res.Payload.Signals)) < limit {
			sleep(ctx, 250*time.Millisecond)
		}
	}
}

func (f *feed) add(s *models.Signal, now time.Time) {
	f.mu.Lock()
	if f.first == 0 {
		f.first = now.Sub(f.d.t0)
		f.d.printf("%s  first Signal in the feed, %.1fs after the first connect\n", f.d.since(), f.first.Seconds())
	}
	f.signals = append(f.signals, seenSignal{s, now})
	f.mu.Unlock()
	f.d.printf("%s  %s\n", f.d.since(), oneLine(s))
	select {
	case f.notify <- struct{}{}:
	default:
	}
}

// oneLine formats a Signal for a terminal:
// source, kind, context, title, actor and when it happened at the provider.
func oneLine(s *models.Signal) string {
	var ctxName, title, actor string
	if p := s.Payload; p != nil {
		if p.Context != nil && p.Context.Name != nil {
			ctxName = *p.Context.Name
		}
		if p.Title != nil {
			title = *p.Title
		}
		if p.Actor != nil && p.Actor.Name != nil {
			actor = *p.Actor.Name
		}
	}
	when := ""
	if s.Timestamp != nil {
		when = time.Time(*s.Timestamp).UTC().Format("2006-01-02 15:04")
	}
	line := fmt.Sprintf("%-16s %-24s %-22s %-16s %s", *s.Source, *s.Kind, clip(ctxName, 22), when, clip(title, 70))
	if actor != "" {
		line += " — " + actor
	}
	return line
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// matches reports whether s is the Signal of the live activity w: same
// source and kind, and the run's marker in its payload or a timestamp no
// older than the activity (the seeded histories are all in the past).
func (f *feed) matches(s *models.Signal, w liveWant) bool {
	if *s.Source != w.source || *s.Kind != w.kind {
		return false
	}
	if b, err := json.Marshal(s.Payload); err == nil && strings.Contains(string(b), f.d.marker) {
		return true
	}
	return s.Timestamp != nil && !time.Time(*s.Timestamp).Before(w.at.Add(-5*time.Second))
}

// waitLive waits until every wanted live Signal was read from the feed.
func (f *feed) waitLive(ctx context.Context, wants []liveWant) error {
	found := make([]bool, len(wants))
	for {
		f.mu.Lock()
		missing := 0
		for i, w := range wants {
			if found[i] {
				continue
			}
			for _, s := range f.signals {
				if f.matches(s.s, w) {
					found[i] = true
					f.live = append(f.live, liveResult{w, s.seen.Sub(w.at)})
					break
				}
			}
			if !found[i] {
				missing++
			}
		}
		lastErr := f.lastErr
		f.mu.Unlock()
		if missing == 0 {
			return nil
		}
		select {
		case <-f.notify:
		case <-ctx.Done():
			var names []string
			for i, w := range wants {
				if !found[i] {
					names = append(names, w.source+" "+w.kind)
				}
			}
			f.d.diagnose()
			if lastErr != nil {
				return fmt.Errorf("live Signals never arrived: %s (last feed error: %v)", strings.Join(names, ", "), lastErr)
			}
			return fmt.Errorf("live Signals never arrived: %s", strings.Join(names, ", "))
		}
	}
}

// stop ends polling.
func (f *feed) stop() {
	if f.cancel != nil {
		f.cancel()
		<-f.done
	}
}

// diagnose prints the jobs that did not succeed, to show why a Signal is missing.
func (d *demo) diagnose() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := d.api.Jobs.ListJobsContext(ctx, jobs.NewListJobsParams(), httptransport.BearerToken(d.key))
	if err != nil {
		d.printf("could not list jobs: %v\n", err)
		return
	}
	d.section("Jobs of the demo tenant (newest first)")
	for _, j := range res.Payload.Jobs {
		msg := ""
		if j.Error != nil {
			msg = "  error: " + *j.Error
		}
		d.printf("%-16s %-14s %-10s %-9s %-36s %4d Signals  %s%s\n", *j.Provider, *j.Kind, *j.Trigger, *j.Status, *j.Stream,
			*j.SignalsStored, j.TemporalUIURL, msg)
	}
}

// summary prints the Signal counts and the timings.
func (d *demo) summary(total time.Duration) {
	f := d.feed
	f.mu.Lock()
	defer f.mu.Unlock()
	d.section("Summary")
	counts := map[string]int{}
	for _, s := range f.signals {
		counts[fmt.Sprintf("%-16s %s", *s.s.Source, *s.s.Kind)]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		d.printf("  %-42s %5d\n", k, counts[k])
	}
	d.printf("  %-42s %5d\n", "total Signals read from the feed", len(f.signals))
	for _, l := range f.live {
		d.printf("  live %-16s %-24s webhook → feed in %.1fs\n", l.want.source, l.want.kind, l.latency.Seconds())
	}
	if f.first == 0 {
		d.printf("  no Signal arrived (target: first Signal within %s of the first connect)\n", firstSignalTarget)
	} else {
		verdict := "met"
		if f.first > firstSignalTarget {
			verdict = "MISSED"
		}
		d.printf("  first Signal %.1fs after the first connect (target %s: %s)\n", f.first.Seconds(), firstSignalTarget, verdict)
	}
	d.printf("  demo ran for %.1fs\n", total.Seconds())
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
