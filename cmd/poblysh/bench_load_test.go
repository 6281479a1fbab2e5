package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The benchmarks' HTTP load runs in a separate process (this test binary
// run again with loadEnv set; TestMain hands it to loadMain), so the
// service's process does not also pay for the clients.

const loadEnv = "POBLYSH_BENCH_LOAD"

// loadReq is one request to send.
type loadReq struct {
	Method string      `json:"method"`
	URL    string      `json:"url"`
	Header http.Header `json:"header"`
	Body   []byte      `json:"body,omitempty"`
}

// loadSpec is what the load process sends: Requests by Concurrency
// workers, each taking the next request; the first Warmup requests are
// sent (by the same workers) but not measured.
type loadSpec struct {
	Concurrency int       `json:"concurrency"`
	Warmup      int       `json:"warmup"`
	Requests    []loadReq `json:"requests"`
}

// loadResult is what it measured.
type loadResult struct {
	LatMS   []float64      `json:"lat_ms"`
	Status  map[string]int `json:"status"`
	Elapsed float64        `json:"elapsed_s"`
	Errors  []string       `json:"errors,omitempty"`
}

// pct is the nearest-rank percentile p (0 < p ≤ 1) of the latencies: the
// smallest value that at least p of them do not exceed.
func (r loadResult) pct(p float64) float64 {
	if len(r.LatMS) == 0 {
		return 0
	}
	l := append([]float64(nil), r.LatMS...)
	sort.Float64s(l)
	return l[max(int(math.Ceil(p*float64(len(l))))-1, 0)]
}

func (r loadResult) rate() float64 { return float64(len(r.LatMS)) / r.Elapsed }

// merge adds o's measurements to r's (phases run one after another: their
// elapsed times add up).
func (r loadResult) merge(o loadResult) loadResult {
	r.LatMS = append(r.LatMS, o.LatMS...)
	r.Elapsed += o.Elapsed
	r.Errors = append(r.Errors, o.Errors...)
	if len(o.Status) > 0 && r.Status == nil {
		r.Status = map[string]int{}
	}
	for k, v := range o.Status {
		r.Status[k] += v
	}
	return r
}

// runLoad runs spec in a separate process and returns what it measured.
func runLoad(tb testing.TB, spec loadSpec) loadResult {
	tb.Helper()
	dir := tb.TempDir()
	in, out := filepath.Join(dir, "spec.json"), filepath.Join(dir, "result.json")
	b, err := json.Marshal(spec)
	require.NoError(tb, err)
	require.NoError(tb, os.WriteFile(in, b, 0o600))
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), loadEnv+"="+in+","+out)
	msg, err := cmd.CombinedOutput()
	require.NoError(tb, err, "load process: %s", msg)
	var res loadResult
	b, err = os.ReadFile(out)
	require.NoError(tb, err)
	require.NoError(tb, json.Unmarshal(b, &res))
	require.Empty(tb, res.Errors, "load errors")
	return res
}

// loadMain is the load process: reads the spec, sends, writes the result.
func loadMain(arg string) int {
	in, out, _ := strings.Cut(arg, ",")
	b, err := os.ReadFile(in)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var spec loadSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	client := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: spec.Concurrency}}
	send := func(r loadReq) (int, time.Duration, error) {
		req, err := http.NewRequest(r.Method, r.URL, bytes.NewReader(r.Body))
		if err != nil {
			return 0, 0, err
		}
		req.Header = r.Header
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, time.Since(t0), nil
	}
	res := loadResult{Status: map[string]int{}}
	var mu sync.Mutex
	phase := func(reqs []loadReq, measure bool) {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range spec.Concurrency {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= len(reqs) {
						return
					}
					code, d, err := send(reqs[i])
					mu.Lock()
					switch {
					case err != nil:
						if len(res.Errors) < 10 {
							res.Errors = append(res.Errors, err.Error())
						}
					case measure:
						res.Status[strconv.Itoa(code)]++
						res.LatMS = append(res.LatMS, float64(d.Microseconds())/1000)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	}
	w := min(spec.Warmup, len(spec.Requests))
	phase(spec.Requests[:w], false)
	start := time.Now()
	phase(spec.Requests[w:], true)
	res.Elapsed = time.Since(start).Seconds()
	b, _ = json.Marshal(res)
	if err := os.WriteFile(out, b, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	return 0
}

// benchScale is POBLYSH_BENCH_SCALE (default 1): every benchmark's sizes
// are multiplied by it, so a quick look runs with e.g. 0.05.
func benchScale() float64 {
	if v, err := strconv.ParseFloat(os.Getenv("POBLYSH_BENCH_SCALE"), 64); err == nil && v > 0 {
		return v
	}
	return 1
}

func scaled(n int) int { return max(1, int(float64(n)*benchScale())) }
