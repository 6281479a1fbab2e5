// Command soak puts a running Poblysh stack under steady mixed load from
// outside, the way its users do, and checks at the end that nothing was
// lost, duplicated or reordered. scripts/soak.sh (make soak) starts the
// stack (API and worker as separate processes, the provider sandbox with
// access tokens that expire every minute), runs it, and restarts the
// worker once in the middle.
//
// What it does:
//
//   - listens on -listen as a recording reverse proxy in front of -api: the
//     service's public URL points here, so every webhook and push
//     notification the fakes deliver, and its answer, is recorded;
//   - creates a tenant and connects every provider whose fake has a demo
//     hook (sandbox.Demoer) through the real OAuth redirects;
//   - follows the Signal feed with next_cursor from the start, as a
//     downstream consumer;
//   - for -duration, every -interval runs each provider's demo hook with a
//     unique marker (the fake delivers a signed webhook, or a push that
//     makes the service sync), every 30 s asks for a manual sync of one
//     provider in turn, and every minute expires the access tokens of one
//     provider's fake in turn (the service must refresh and carry on);
//   - samples goroutines and heap of each -metrics process every 10 s.
//
// Then it waits (up to -settle) for the feed to carry every marker, and
// checks: every marker carried by a delivery answered 2xx, and every push
// marker, is in the feed exactly once with its kind; the consumer saw
// exactly the feed a fresh read returns, in the same order, each Signal
// once; no job failed; goroutines and heap stayed flat. It prints a table
// of the samples and one summary line, and exits 1 on any violation.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/poblysh/poblysh/sandbox"
	_ "github.com/poblysh/poblysh/sandbox/all" // every provider's fake, with its demo hook
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "\nsoak: FAILED:", err)
		}
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}

type options struct {
	api, listen        string
	sandboxes          map[string]string
	metrics            map[string]string // process name → metrics base URL
	duration, interval time.Duration
	settle             time.Duration
}

type soak struct {
	o       options
	out     io.Writer
	http    *http.Client // no redirects
	browser *http.Client // cookie jar, no redirects
	key     string
	run     string // marker prefix of this run
	proxy   *recorder
	feed    *consumer
	samples []sample
}

func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) (bool, error) {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.api, "api", "http://127.0.0.1:8080", "base URL of the Poblysh API")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8079", "address of the recording proxy the service's public URL points at")
	sandboxes := fs.String("sandbox", getenv("POBLYSH_SANDBOX_URLS"), "the running fakes as name=url pairs (POBLYSH_SANDBOX_URLS)")
	metricsFlag := fs.String("metrics", "", "processes to sample, as name=metrics-base-url pairs (e.g. api=http://127.0.0.1:9090,worker=...)")
	fs.DurationVar(&o.duration, "duration", 10*time.Minute, "how long the load runs")
	fs.DurationVar(&o.interval, "interval", 5*time.Second, "time between two rounds of live activity (one per provider)")
	fs.DurationVar(&o.settle, "settle", 3*time.Minute, "how long to wait after the load for the feed to carry every marker")
	if err := fs.Parse(args); err != nil {
		return false, err
	}
	var err error
	if o.sandboxes, err = sandbox.ParseURLs(*sandboxes); err != nil || len(o.sandboxes) == 0 {
		return false, fmt.Errorf("-sandbox: want name=url pairs: %v", err)
	}
	if o.metrics, err = sandbox.ParseURLs(*metricsFlag); err != nil {
		return false, fmt.Errorf("-metrics: %w", err)
	}
	adminKey := getenv("POBLYSH_ADMIN_KEY")
	if adminKey == "" {
		return false, errors.New("POBLYSH_ADMIN_KEY is not set")
	}
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	jar, _ := cookiejar.New(nil)
	s := &soak{o: o, out: out, run: fmt.Sprintf("soak%d", time.Now().Unix()%100000),
		http:    &http.Client{Timeout: 60 * time.Second, CheckRedirect: noRedirect},
		browser: &http.Client{Timeout: 60 * time.Second, Jar: jar, CheckRedirect: noRedirect}}

	target, err := url.Parse(o.api)
	if err != nil || target.Host == "" {
		return false, fmt.Errorf("-api %q: must be an absolute URL", o.api)
	}
	s.proxy = newRecorder(target)
	srv := &http.Server{Addr: o.listen, Handler: s.proxy, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	defer srv.Close()
	select {
	case err := <-errc:
		return false, fmt.Errorf("proxy on %s: %w", o.listen, err)
	case <-time.After(200 * time.Millisecond):
	}
	return s.play(ctx, adminKey)
}

func (s *soak) printf(format string, args ...any) { fmt.Fprintf(s.out, format, args...) }

// provider is one connected provider and its demo hook.
type provider struct {
	name, url, connID string
	demo              sandbox.Demo
}

// activity is one happening the soak created.
type activity struct {
	marker, provider, kind string
	at                     time.Time
}

func (s *soak) play(ctx context.Context, adminKey string) (bool, error) {
	if err := s.waitReady(ctx); err != nil {
		return false, err
	}
	var tenant struct {
		ID     string `json:"id"`
		APIKey string `json:"api_key"`
	}
	if err := s.call(ctx, http.MethodPost, "/api/v1/tenants", adminKey, map[string]string{"name": "Soak " + s.run}, &tenant); err != nil {
		return false, err
	}
	s.key = tenant.APIKey
	s.printf("== Tenant %s\n", tenant.ID)

	s.printf("\n== Connect\n")
	ps, err := s.connectAll(ctx)
	if err != nil {
		return false, err
	}
	s.feed = &consumer{s: s}
	feedCtx, stopFeed := context.WithCancel(ctx)
	feedDone := make(chan struct{})
	go func() { defer close(feedDone); s.feed.follow(feedCtx) }()

	samplerCtx, stopSampler := context.WithCancel(ctx)
	samplerDone := make(chan struct{})
	go func() { defer close(samplerDone); s.sampleEvery(samplerCtx, 10*time.Second) }()

	s.printf("\n== Load for %s (a round of %d activities every %s, a manual sync every 30s)\n", s.o.duration, len(ps), s.o.interval)
	acts, syncs, actErrs := s.load(ctx, ps)
	s.printf("   load done: %d activities, %d manual syncs, %d activity errors\n", len(acts), syncs, actErrs)

	s.printf("\n== Settle (up to %s): waiting for every marker in the feed\n", s.o.settle)
	s.settle(ctx, acts)
	stopSampler()
	<-samplerDone
	stopFeed()
	<-feedDone
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	return s.check(ctx, acts, actErrs), nil
}

func (s *soak) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := s.http.Get(s.o.api + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s/readyz: not ready after 60s", s.o.api)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// call sends a JSON request to the API (directly, not through the proxy)
// and decodes a 2xx answer into out.
func (s *soak) call(ctx context.Context, method, path, key string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.o.api+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s %s", method, path, resp.Status, b)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// connectAll connects every fake with a demo hook through its OAuth flow
// (start page, click, the fake's authorization, the callback) and waits
// for the backfills.
func (s *soak) connectAll(ctx context.Context) ([]provider, error) {
	names := make([]string, 0, len(s.o.sandboxes))
	for n := range s.o.sandboxes {
		names = append(names, n)
	}
	sort.Strings(names)
	var ps []provider
	for _, n := range names {
		f, err := sandbox.New(n, sandbox.Options{})
		if err != nil {
			continue
		}
		dm, ok := f.(sandbox.Demoer)
		if !ok {
			s.printf("   %-16s skipped: no demo hook\n", n)
			continue
		}
		p := provider{name: n, url: s.o.sandboxes[n], demo: dm.Demo()}
		hookURL, err := s.connect(ctx, &p)
		if err != nil {
			return nil, fmt.Errorf("connect %s: %w", n, err)
		}
		if p.demo.Connected != nil {
			if err := p.demo.Connected(ctx, s.http, p.url, hookURL); err != nil {
				return nil, fmt.Errorf("%s set-up: %w", n, err)
			}
		}
		s.printf("   %-16s connection %s\n", n, p.connID)
		ps = append(ps, p)
	}
	if len(ps) == 0 {
		return nil, errors.New("no fake with a demo hook")
	}
	for _, p := range ps {
		if err := s.waitJobs(ctx, p.connID, 3*time.Minute); err != nil {
			return nil, fmt.Errorf("%s backfill: %w", p.name, err)
		}
	}
	s.printf("   every backfill finished\n")
	return ps, nil
}

func (s *soak) connect(ctx context.Context, p *provider) (string, error) {
	var start struct {
		AuthorizationURL string `json:"authorization_url"`
	}
	if err := s.call(ctx, http.MethodPost, "/api/v1/connect/"+p.name, s.key, map[string]any{"config": p.demo.Config}, &start); err != nil {
		return "", err
	}
	flow, err := sandbox.CompleteConnect(ctx, s.browser, start.AuthorizationURL, p.name)
	if err != nil {
		return "", err
	}
	var cb struct {
		Connection struct {
			ID string `json:"id"`
		} `json:"connection"`
	}
	if err := json.Unmarshal(flow.Callback, &cb); err != nil || cb.Connection.ID == "" {
		return "", fmt.Errorf("callback answer %s", flow.Callback)
	}
	p.connID = cb.Connection.ID
	// The callback's answer carries no webhook_url (it goes to a browser):
	// the tenant's own view of the connection does.
	var conn struct {
		WebhookURL string `json:"webhook_url"`
	}
	if err := s.call(ctx, http.MethodGet, "/api/v1/connections/"+cb.Connection.ID, s.key, nil, &conn); err != nil {
		return "", err
	}
	return conn.WebhookURL, nil
}

type job struct {
	ID       string  `json:"id"`
	Provider string  `json:"provider"`
	Stream   string  `json:"stream"`
	Kind     string  `json:"kind"`
	Trigger  string  `json:"trigger"`
	Status   string  `json:"status"`
	Error    *string `json:"error"`
}

// jobs lists the tenant's jobs (of one connection when connID is set).
func (s *soak) jobs(ctx context.Context, connID string) ([]job, error) {
	var all []job
	cursor := ""
	for {
		q := url.Values{"limit": {"100"}}
		if connID != "" {
			q.Set("connection_id", connID)
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Jobs       []job   `json:"jobs"`
			NextCursor *string `json:"next_cursor"`
		}
		if err := s.call(ctx, http.MethodGet, "/api/v1/jobs?"+q.Encode(), s.key, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Jobs...)
		if page.NextCursor == nil || *page.NextCursor == "" || len(page.Jobs) == 0 {
			return all, nil
		}
		cursor = *page.NextCursor
	}
}

// waitJobs waits until the connection has jobs and none is open.
func (s *soak) waitJobs(ctx context.Context, connID string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		js, err := s.jobs(ctx, connID)
		if err != nil {
			return err
		}
		open := len(js) == 0
		for _, j := range js {
			if j.Status == "queued" || j.Status == "running" {
				open = true
			}
		}
		if !open {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("jobs still open after %s", limit)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// load runs the live activity and the manual syncs for o.duration.
func (s *soak) load(ctx context.Context, ps []provider) (acts []activity, syncs, errs int) {
	end := time.Now().Add(s.o.duration)
	tick := time.NewTicker(s.o.interval)
	defer tick.Stop()
	lastSync, lastExpiry := time.Now(), time.Now()
	round, expiries := 0, 0
	fmt.Fprintf(s.out, "   load started\n")
	for time.Now().Before(end) && ctx.Err() == nil {
		round++
		for _, p := range ps {
			marker := fmt.Sprintf("%s-%d-%s", s.run, round, strings.ReplaceAll(p.name, "-", ""))
			at := time.Now()
			a, err := p.demo.Activity(ctx, s.http, p.url, marker)
			if err != nil {
				errs++
				s.printf("   %s activity error: %v\n", p.name, err)
				continue
			}
			acts = append(acts, activity{marker: marker, provider: p.name, kind: a.Kind, at: at})
		}
		if time.Since(lastSync) >= 30*time.Second {
			p := ps[syncs%len(ps)]
			if err := s.call(ctx, http.MethodPost, "/api/v1/sync/"+p.name, s.key, map[string]any{"connection_id": p.connID}, nil); err != nil {
				s.printf("   manual sync %s: %v\n", p.name, err)
			} else {
				syncs++
			}
			lastSync = time.Now()
		}
		if time.Since(lastExpiry) >= time.Minute {
			p := ps[expiries%len(ps)]
			if err := s.expireTokens(ctx, p); err != nil {
				s.printf("   expire %s tokens: %v\n", p.name, err)
				errs++
			} else {
				s.printf("   %s  expired every %s access token at the provider\n", time.Now().Format("15:04:05"), p.name)
			}
			expiries++
			lastExpiry = time.Now()
		}
		if round%6 == 0 {
			s.printf("   %s  round %d, %d activities, %d deliveries, %d Signals consumed\n",
				time.Now().Format("15:04:05"), round, len(acts), s.proxy.count(), s.feed.count())
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	return acts, syncs, errs
}

// expireTokens makes the fake of p expire every access token it issued
// (POST /_sandbox/tokens/expire): the service's next call gets a 401 and
// must refresh and carry on.
func (s *soak) expireTokens(ctx context.Context, p provider) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url+"/_sandbox/tokens/expire", nil)
	if err != nil {
		return err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s", resp.Status)
	}
	return nil
}

// settle waits until every activity's marker is in the feed with its kind,
// or o.settle passes.
func (s *soak) settle(ctx context.Context, acts []activity) {
	deadline := time.Now().Add(s.o.settle)
	for {
		found := s.feed.markers()
		missing := 0
		for _, a := range acts {
			if found[a.marker][a.kind] == 0 {
				missing++
			}
		}
		if missing == 0 {
			s.printf("   every marker arrived\n")
			// One more poll interval so a duplicate would show.
			time.Sleep(3 * time.Second)
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.printf("   %d marker(s) still missing after %s\n", missing, s.o.settle)
			return
		}
		time.Sleep(time.Second)
	}
}

var markerRE = regexp.MustCompile(`soak[0-9]+-[0-9]+-[a-z]+`)

// check verifies the invariants, prints the samples and the summary line.
func (s *soak) check(ctx context.Context, acts []activity, actErrs int) bool {
	var violations []string
	fail := func(format string, args ...any) {
		violations = append(violations, fmt.Sprintf(format, args...))
	}
	s.printf("\n== Checks\n")

	// 1. Deliveries: every marker a 2xx delivery carried, and every
	// activity's marker, is in the feed exactly once with its kind.
	dels := s.proxy.all()
	status := map[int]int{}
	in2xx := map[string]bool{}
	for _, d := range dels {
		status[d.status]++
		if d.status/100 == 2 {
			for _, m := range markerRE.FindAllString(string(d.body), -1) {
				in2xx[m] = true
			}
		}
	}
	var codes []string
	for c, n := range status {
		codes = append(codes, fmt.Sprintf("%d×%d", n, c))
	}
	sort.Strings(codes)
	s.printf("   deliveries through the proxy: %d (%s); %d markers in 2xx bodies\n", len(dels), strings.Join(codes, ", "), len(in2xx))
	for _, d := range dels {
		switch {
		case d.status >= 500 || d.status == 0:
			fail("delivery %s answered %d: %s", d.path, d.status, clip(d.answer, 200))
		case d.status/100 != 2:
			// Not a violation: the provider was told no and may retry.
			s.printf("   not acknowledged: %s %d %s\n", d.path, d.status, clip(strings.TrimSpace(d.answer), 160))
		}
	}
	found := s.feed.markers()
	want := map[string]string{}
	for _, a := range acts {
		want[a.marker] = a.kind
		if n := found[a.marker][a.kind]; n != 1 {
			fail("%s activity %s (%s): %d Signal(s) in the feed, want exactly 1", a.provider, a.marker, a.kind, n)
		}
	}
	for m := range in2xx {
		if _, ok := want[m]; !ok {
			fail("a 2xx delivery carried marker %s that no activity made", m)
		}
	}
	for m, kinds := range found {
		for k, n := range kinds {
			if n > 1 {
				fail("marker %s kind %s: %d Signals in the feed (duplicate)", m, k, n)
			}
		}
	}
	s.printf("   activities: %d (%d errors creating them), markers in the feed: %d\n", len(acts), actErrs, len(found))
	if actErrs > 0 {
		fail("%d activities could not be created in the fakes", actErrs)
	}

	// 2. The consumer saw every Signal once, in the order a fresh read of
	// the whole feed returns.
	seen := s.feed.ids()
	fresh, err := s.readAll(ctx)
	if err != nil {
		fail("fresh read of the feed: %v", err)
	}
	dup := map[string]bool{}
	for _, id := range seen {
		if dup[id] {
			fail("the consumer saw Signal %s twice", id)
		}
		dup[id] = true
	}
	if len(seen) != len(fresh) {
		fail("the consumer saw %d Signals, a fresh read of the feed returns %d", len(seen), len(fresh))
	}
	for i := range min(len(seen), len(fresh)) {
		if seen[i] != fresh[i] {
			fail("order: the consumer's Signal #%d is %s, the feed's is %s", i, seen[i], fresh[i])
			break
		}
	}
	s.printf("   feed: the consumer read %d Signals in %d pages (%d page errors); a fresh read returns %d\n",
		len(seen), s.feed.pages, s.feed.errors, len(fresh))

	// 3. No job failed (every fault in this run is one a retry gets past).
	js, err := s.jobs(ctx, "")
	if err != nil {
		fail("GET /api/v1/jobs: %v", err)
	}
	byStatus := map[string]int{}
	for _, j := range js {
		byStatus[j.Status]++
		if j.Status == "failed" {
			msg := ""
			if j.Error != nil {
				msg = *j.Error
			}
			fail("job %s (%s %s %s, %s) failed: %s", j.ID, j.Provider, j.Kind, j.Stream, j.Trigger, msg)
		}
	}
	s.printf("   jobs: %d %v\n", len(js), byStatus)

	// 4. Goroutines and heap flat.
	violations = append(violations, s.flat()...)

	s.printf("\n")
	for _, v := range violations {
		s.printf("VIOLATION: %s\n", v)
	}
	verdict := "PASS"
	if len(violations) > 0 {
		verdict = fmt.Sprintf("FAIL (%d violations)", len(violations))
	}
	s.printf("soak: %s: %s of load, %d activities, %d deliveries, %d Signals consumed in order, %d jobs, %d samples\n",
		verdict, s.o.duration, len(acts), len(dels), len(seen), len(js), len(s.samples))
	return len(violations) == 0
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// readAll reads the whole feed from the start.
func (s *soak) readAll(ctx context.Context) ([]string, error) {
	var ids []string
	cursor := ""
	for {
		page, err := s.feed.page(ctx, cursor)
		if err != nil {
			return nil, err
		}
		for _, sg := range page.Signals {
			ids = append(ids, sg.ID)
		}
		if len(page.Signals) == 0 || page.NextCursor == nil {
			return ids, nil
		}
		cursor = *page.NextCursor
	}
}

// recorder is the reverse proxy that records webhook deliveries.
type recorder struct {
	proxy *httputil.ReverseProxy
	mu    sync.Mutex
	dels  []delivery
}

type delivery struct {
	path   string
	body   []byte
	status int // 0: the service could not be reached
	answer string
}

func newRecorder(target *url.URL) *recorder {
	r := &recorder{proxy: httputil.NewSingleHostReverseProxy(target)}
	return r
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if !strings.HasPrefix(req.URL.Path, "/api/v1/webhooks/") {
		r.proxy.ServeHTTP(w, req)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(req.Body, 8<<20))
	req.Body = io.NopCloser(bytes.NewReader(body))
	rec := &captureWriter{ResponseWriter: w}
	r.proxy.ServeHTTP(rec, req)
	r.mu.Lock()
	r.dels = append(r.dels, delivery{path: req.URL.Path, body: body, status: rec.status, answer: rec.buf.String()})
	r.mu.Unlock()
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.dels)
}

func (r *recorder) all() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.dels...)
}

type captureWriter struct {
	http.ResponseWriter
	status int
	buf    bytes.Buffer
}

func (c *captureWriter) WriteHeader(code int) {
	c.status = code
	c.ResponseWriter.WriteHeader(code)
}

func (c *captureWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if c.buf.Len() < 4096 {
		c.buf.Write(b)
	}
	return c.ResponseWriter.Write(b)
}
