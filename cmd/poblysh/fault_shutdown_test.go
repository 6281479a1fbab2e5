package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/gen/models"
	"github.com/poblysh/poblysh/sandbox"
	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
	"github.com/poblysh/poblysh/testenv"
	"github.com/poblysh/poblysh/vault"
)

// TestGracefulShutdown sends SIGTERM to a `poblysh serve` process while a
// webhook request is half sent, webhooks keep arriving and a sync page is
// in flight. The half-sent request is answered and stored, no request in
// flight sees its connection reset (new connections are refused once the
// listener closes; one still queued in the kernel then is closed unread), the page in flight finishes and is stored instead of
// being cancelled, the process exits 0, and a new worker completes the
// backfill with every item exactly once.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	f, env := fakeSandbox(t, fakesandbox.Options{Streams: map[string]int{"items": 1000}, PageDelay: 1500 * time.Millisecond})
	s := newStack(t, withEnv(env), withEnv(map[string]string{"POBLYSH_FAKE_PAGE_SIZE": "100"}), withCommand("api"))
	port := testenv.FreePort()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	srv := s.spawnWith("serve", map[string]string{"POBLYSH_HTTP_ADDR": addr, "POBLYSH_SHUTDOWN_TIMEOUT": "20s"})
	hook := "http://" + addr + "/api/v1/webhooks/fake"
	eventually(t, 60*time.Second, "the serve process to answer", func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	_, key := s.tenant("Drain")
	conn := s.connect(key, "fake", nil)

	// A page request is in flight: the sandbox answered fewer pages than it
	// was asked for.
	eventually(t, 60*time.Second, "a sync page in flight", func() bool {
		n := f.PageRequests()
		return n >= 2 && s.count(`SELECT count(*) FROM signals`) < n*100
	})

	// A delivery whose body is half sent when SIGTERM arrives.
	slow := f.Build(fakesandbox.Delivery{Stream: "items", Items: f.Add("items", 1)})
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	var head strings.Builder
	fmt.Fprintf(&head, "POST /api/v1/webhooks/fake HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", addr, len(slow.Body))
	for k := range slow.Header {
		fmt.Fprintf(&head, "%s: %s\r\n", k, slow.Header.Get(k))
	}
	head.WriteString("\r\n")
	half := len(slow.Body) / 2
	_, err = io.WriteString(c, head.String()+string(slow.Body[:half]))
	require.NoError(t, err)

	// Webhooks keep arriving, each on a new connection.
	load := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var (
		mu       sync.Mutex
		accepted []string
		refused  int
		// dropped are deliveries whose connection was closed without an
		// answer: queued in the kernel when the listener closed, never
		// accepted by the server (checked below: none was processed).
		dropped  []string
		stopLoad = make(chan struct{})
		wg       sync.WaitGroup
	)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stopLoad:
					return
				default:
				}
				d := f.Build(fakesandbox.Delivery{Stream: "items", Items: f.Add("items", 1)})
				code, err := postWith(load, hook, d)
				mu.Lock()
				switch {
				case err == nil && code == http.StatusOK:
					accepted = append(accepted, d.Header.Get("X-Fake-Delivery"))
				case err != nil && errors.Is(err, syscall.ECONNREFUSED):
					refused++
				case err != nil && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)):
					dropped = append(dropped, d.Header.Get("X-Fake-Delivery"))
				case err != nil:
					t.Errorf("a webhook request failed other than by a refused connection: %v", err)
				default:
					t.Errorf("a webhook request was answered %d", code)
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)

	exited := make(chan error, 1)
	start := time.Now()
	go func() { exited <- srv.terminate() }()
	eventually(t, 10*time.Second, "the listener to close", func() bool {
		return strings.Contains(srv.logs.String(), `"shutting down"`)
	})
	time.Sleep(300 * time.Millisecond)
	_, err = c.Write(slow.Body[half:])
	require.NoError(t, err, "the half-sent request's connection is still open")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err, "the request in flight is answered, not reset")
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Contains(t, string(body), `"accepted"`)

	select {
	case err := <-exited:
		require.NoError(t, err, "a graceful stop exits 0")
	case <-time.After(25 * time.Second):
		t.Fatal("serve did not stop within its shutdown timeout")
	}
	t.Logf("stopped %s after SIGTERM", time.Since(start).Round(time.Millisecond))
	close(stopLoad)
	wg.Wait()
	require.Contains(t, srv.logs.String(), `"stopped"`)

	// The page in flight at SIGTERM finished and was stored: every page the
	// sandbox answered is in Postgres (a cancelled page would be missing).
	pages := f.PageRequests()
	require.Equal(t, pages*100, s.count(`SELECT count(*) FROM signals WHERE dedupe_key IN (
		SELECT 'fake:item:items:' || g FROM generate_series(1, 1000) g)`), "every page fetched before the stop is stored")

	// Every acknowledged delivery is stored once; the half-sent one too.
	mu.Lock()
	acked := append([]string{slow.Header.Get("X-Fake-Delivery")}, accepted...)
	t.Logf("during the stop: %d deliveries acknowledged, %d connections refused, %d dropped unaccepted", len(accepted), refused, len(dropped))
	mu.Unlock()
	for _, id := range acked {
		require.Equal(t, 1, s.count(`SELECT count(*) FROM webhook_events WHERE delivery_id = $1 AND status = 'accepted'`, id), id)
	}
	// A connection closed without an answer was never a request in flight:
	// the server had not read it (it would be recorded otherwise).
	require.Zero(t, s.count(`SELECT count(*) FROM webhook_events WHERE delivery_id = ANY($1::text[])`, append([]string{}, dropped...)),
		"a request the server processed was answered")

	// A new worker resumes the backfill from its cursor.
	s.spawn("worker")
	js := s.waitJobs(key, string(*conn.ID), "backfill", 1, 3*time.Minute)
	require.Equal(t, models.JobStatusSucceeded, *js[0].Status)
	s.requireItems("items", f.Count("items"))
}

// postWith posts a delivery with client and returns the status.
func postWith(client *http.Client, url string, d sandbox.Delivery) (int, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(string(d.Body)))
	if err != nil {
		return 0, err
	}
	for k, vs := range d.Header {
		req.Header[k] = vs
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// A stop asked for while the worker is still starting (here: dialing a
// Temporal server that accepts the connection and never answers) is a clean
// exit, not a failure: status 0 and a line that says so. Without a stop, the
// same start-up is a failure that names the server.
func TestStopDuringStartUp(t *testing.T) {
	t.Parallel()
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = silent.Close() })
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	env := map[string]string{
		"DATABASE_URL":         dbtest.NewSchema(t).OwnerURL,
		"TEMPORAL_ADDRESS":     silent.Addr().String(),
		"TEMPORAL_NAMESPACE":   "default",
		"POBLYSH_TASK_QUEUE":   "test-" + rand.Text()[:10],
		"POBLYSH_METRICS_ADDR": "off",
		"POBLYSH_CRYPTO_KEY":   vault.GenerateKey(),
		"POBLYSH_ENV_FILE":     "none",
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	buf := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"worker"}, envOf(env), buf, buf) }()
	select {
	case err := <-done:
		t.Fatalf("the worker returned before it was stopped: %v\n%s", err, buf.String())
	case <-time.After(time.Second):
	}
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err, "a stop during start-up is a clean exit")
		require.Contains(t, buf.String(), "stopped during start-up")
	case <-time.After(10 * time.Second):
		t.Fatal("the worker did not stop within 10 s of being told to")
	}

	// Not stopped, the same start-up fails, naming the server.
	short, cancelShort := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancelShort()
	err = run(short, []string{"worker"}, envOf(env), buf, buf)
	require.Error(t, err)
	require.Contains(t, err.Error(), "cannot reach "+silent.Addr().String())
}

// TestShutdownDelay: with POBLYSH_SHUTDOWN_DELAY, an API told to stop keeps
// accepting connections for that long while /readyz answers 503
// "draining", so a load balancer that has not yet seen the instance go
// still has its new connections (GitHub deliveries among them) answered;
// then it stops and exits 0.
func TestShutdownDelay(t *testing.T) {
	t.Parallel()
	f, env := fakeSandbox(t, fakesandbox.Options{Streams: map[string]int{"items": 1}})
	s := newStack(t, withEnv(env), withCommand("api"))
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort())
	api := s.spawnWith("api", map[string]string{"POBLYSH_HTTP_ADDR": addr, "POBLYSH_SHUTDOWN_DELAY": "3s"})
	fresh := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	eventually(t, 60*time.Second, "the api process to answer", func() bool {
		resp, err := fresh.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	exited := make(chan error, 1)
	stopped := time.Now()
	go func() { exited <- api.terminate() }()
	time.Sleep(500 * time.Millisecond)
	resp, err := fresh.Get("http://" + addr + "/readyz")
	require.NoError(t, err, "a new connection during the delay is accepted")
	body := readAll(resp)
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, body)
	require.Contains(t, body, `"status":"draining"`)
	d := f.Build(fakesandbox.Delivery{Stream: "items", Items: f.Add("items", 1)})
	code, err := postWith(fresh, "http://"+addr+"/api/v1/webhooks/fake", d)
	require.NoError(t, err, "a delivery on a new connection during the delay is answered")
	require.Equal(t, http.StatusOK, code)

	select {
	case err := <-exited:
		require.NoError(t, err, "a graceful stop exits 0")
		require.GreaterOrEqual(t, time.Since(stopped), 3*time.Second, "the listener stayed open for the delay")
	case <-time.After(30 * time.Second):
		t.Fatal("the api did not stop after its delay")
	}
	_, err = fresh.Get("http://" + addr + "/readyz")
	require.Error(t, err, "the listener is closed after the delay")
}
