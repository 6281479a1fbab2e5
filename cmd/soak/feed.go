package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// consumer follows GET /api/v1/signals from the start with next_cursor, as
// a downstream consumer does: a short page means "caught up", so it waits
// a little and asks again with the same cursor.
type consumer struct {
	s *soak

	mu     sync.Mutex
	seen   []feedSignal
	pages  int
	errors int
}

type feedSignal struct {
	ID      string          `json:"id"`
	Kind    string          `json:"kind"`
	Payload json.RawMessage `json:"payload"`
}

type feedPage struct {
	Signals    []feedSignal `json:"signals"`
	NextCursor *string      `json:"next_cursor"`
}

func (c *consumer) page(ctx context.Context, cursor string) (*feedPage, error) {
	q := url.Values{"limit": {"500"}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	var p feedPage
	err := c.s.call(ctx, http.MethodGet, "/api/v1/signals?"+q.Encode(), c.s.key, nil, &p)
	return &p, err
}

func (c *consumer) follow(ctx context.Context) {
	cursor := ""
	for ctx.Err() == nil {
		p, err := c.page(ctx, cursor)
		c.mu.Lock()
		if err != nil {
			if ctx.Err() == nil {
				c.errors++
			}
			c.mu.Unlock()
			sleep(ctx, time.Second)
			continue
		}
		c.pages++
		c.seen = append(c.seen, p.Signals...)
		c.mu.Unlock()
		if p.NextCursor != nil {
			cursor = *p.NextCursor
		}
		if len(p.Signals) < 500 {
			sleep(ctx, 500*time.Millisecond)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func (c *consumer) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

func (c *consumer) ids() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.seen))
	for i, s := range c.seen {
		out[i] = s.ID
	}
	return out
}

// markers counts, per marker and kind, the Signals the consumer saw whose
// payload carries the marker.
func (c *consumer) markers() map[string]map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]map[string]int{}
	for _, s := range c.seen {
		ms := map[string]bool{}
		for _, m := range markerRE.FindAllString(string(s.Payload), -1) {
			ms[m] = true
		}
		for m := range ms {
			if out[m] == nil {
				out[m] = map[string]int{}
			}
			out[m][s.Kind]++
		}
	}
	return out
}

// sample is one reading of every process's metrics.
type sample struct {
	at    time.Time
	procs map[string]reading
}

type reading struct {
	goroutines float64
	heap       float64 // go_memstats_heap_inuse_bytes
	start      float64 // process_start_time_seconds: changes on restart
}

func (s *soak) sampleEvery(ctx context.Context, every time.Duration) {
	for {
		smp := sample{at: time.Now(), procs: map[string]reading{}}
		for name, base := range s.o.metrics {
			if r, err := s.read(ctx, base); err == nil {
				smp.procs[name] = r
			}
		}
		s.samples = append(s.samples, smp)
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

func (s *soak) read(ctx context.Context, base string) (reading, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return reading{}, err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return reading{}, err
	}
	defer resp.Body.Close()
	var r reading
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			continue
		}
		switch name {
		case "go_goroutines":
			r.goroutines = f
		case "go_memstats_heap_inuse_bytes":
			r.heap = f
		case "process_start_time_seconds":
			r.start = f
		}
	}
	if r.goroutines == 0 {
		return r, fmt.Errorf("%s/metrics: no go_goroutines", base)
	}
	return r, sc.Err()
}

// flat prints the samples as a table and checks, for each process and
// each run of it (a restart starts a new one), that the last readings are
// not far above the first ones after warm-up: goroutines at most 1.5× + 25,
// heap in use at most 2× + 32 MiB. A run needs 6 samples to be judged.
func (s *soak) flat() []string {
	var names []string
	for n := range s.o.metrics {
		names = append(names, n)
	}
	sort.Strings(names)
	s.printf("\n   %-8s", "t")
	for _, n := range names {
		s.printf("  %14s %14s", n+" gor", n+" heap MiB")
	}
	s.printf("\n")
	for _, smp := range s.samples {
		s.printf("   %-8s", smp.at.Format("15:04:05"))
		for _, n := range names {
			r, ok := smp.procs[n]
			if !ok {
				s.printf("  %14s %14s", "-", "-")
				continue
			}
			s.printf("  %14.0f %14.1f", r.goroutines, r.heap/(1<<20))
		}
		s.printf("\n")
	}
	var out []string
	for _, n := range names {
		var runs [][]reading
		var last float64 = -1
		for _, smp := range s.samples {
			r, ok := smp.procs[n]
			if !ok {
				continue
			}
			if r.start != last {
				runs = append(runs, nil)
				last = r.start
			}
			runs[len(runs)-1] = append(runs[len(runs)-1], r)
		}
		for i, rs := range runs {
			if len(rs) < 6 {
				s.printf("   %s run %d: %d samples, too few to judge\n", n, i+1, len(rs))
				continue
			}
			// First readings after one warm-up sample, last readings.
			g0, h0 := avg(rs[1:3], true), avg(rs[1:3], false)
			g1, h1 := avg(rs[len(rs)-2:], true), avg(rs[len(rs)-2:], false)
			s.printf("   %s run %d: goroutines %.0f → %.0f, heap %.1f → %.1f MiB (%d samples)\n", n, i+1, g0, g1, h0/(1<<20), h1/(1<<20), len(rs))
			if g1 > 1.5*g0+25 {
				out = append(out, fmt.Sprintf("%s run %d: goroutines grew from %.0f to %.0f", n, i+1, g0, g1))
			}
			if h1 > 2*h0+32<<20 {
				out = append(out, fmt.Sprintf("%s run %d: heap in use grew from %.1f to %.1f MiB", n, i+1, h0/(1<<20), h1/(1<<20)))
			}
		}
	}
	return out
}

func avg(rs []reading, goroutines bool) float64 {
	var sum float64
	for _, r := range rs {
		if goroutines {
			sum += r.goroutines
		} else {
			sum += r.heap
		}
	}
	return sum / float64(len(rs))
}
