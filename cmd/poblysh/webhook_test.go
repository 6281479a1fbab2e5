package main

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/sandbox"
	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
)

func post(t *testing.T, url string, d sandbox.Delivery) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(string(d.Body)))
	require.NoError(t, err)
	for k, vs := range d.Header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	return resp.StatusCode, readAll(resp)
}

// TestWebhookIntake covers the unified intake with the engine's provider:
// verified deliveries store Signals, bad ones store nothing, redeliveries
// are idempotent even when concurrent, bodies are size-limited, unknown
// providers are 404, and a delivery that arrives while Postgres is away is
// answered 503 and stored when the provider retries.
func TestWebhookIntake(t *testing.T) {
	t.Parallel()
	f, env := fakeSandbox(t, fakesandbox.Options{Streams: map[string]int{"items": 3}})
	proxy := newTCPProxy(t, "127.0.0.1:5432")
	s := newStack(t, withEnv(env))
	s.env["DATABASE_URL"] = strings.Replace(s.schema.OwnerURL, "127.0.0.1:5432", proxy.addr, 1)
	s.stop()
	s.start()
	hook := s.base + "/api/v1/webhooks/fake"
	_, key := s.tenant("Acme")
	conn := s.connect(key, "fake", nil)
	s.waitJobs(key, string(*conn.ID), "backfill", 1, 60*time.Second)
	s.feed(key, 3, 30*time.Second)
	signals := func() int { return s.count(`SELECT count(*) FROM signals`) }

	// A verified payload delivery becomes a Signal.
	items := f.Add("items", 1)
	code, body := post(t, hook, f.Build(fakesandbox.Delivery{Stream: "items", Items: items}))
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"status":"accepted"`)
	require.Contains(t, body, `"signals":1`)
	require.Len(t, s.feed(key, 4, 10*time.Second), 4)

	// Bad signature, missing signature, wrong secret: 401, nothing stored.
	items = f.Add("items", 1)
	good := f.Build(fakesandbox.Delivery{Stream: "items", Items: items})
	bad := good
	bad.Header = good.Header.Clone()
	bad.Header.Set("X-Fake-Signature", "sha256=00")
	code, body = post(t, hook, bad)
	require.Equal(t, http.StatusUnauthorized, code)
	require.Contains(t, body, `"code":"unauthorized"`)
	missing := good
	missing.Header = good.Header.Clone()
	missing.Header.Del("X-Fake-Signature")
	code, _ = post(t, hook, missing)
	require.Equal(t, http.StatusUnauthorized, code)
	wrong := good
	wrong.Header = good.Header.Clone()
	wrong.Header.Set("X-Fake-Signature", fakesandbox.Sign("not-the-secret", good.Body))
	code, _ = post(t, hook, wrong)
	require.Equal(t, http.StatusUnauthorized, code)
	require.Equal(t, 4, signals())
	require.Zero(t, s.count(`SELECT count(*) FROM webhook_events WHERE delivery_id = $1`, good.Header.Get("X-Fake-Delivery")))

	// The same delivery five times concurrently: exactly one Signal.
	var wg sync.WaitGroup
	statuses := make([]string, 5)
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, b := post(t, hook, good)
			require.Equal(t, http.StatusOK, c, b)
			statuses[i] = b
		}()
	}
	wg.Wait()
	require.Equal(t, 5, signals())
	var accepted, dup int
	for _, st := range statuses {
		switch {
		case strings.Contains(st, `"accepted"`):
			accepted++
		case strings.Contains(st, `"duplicate"`):
			dup++
		}
	}
	require.Equal(t, 1, accepted)
	require.Equal(t, 4, dup)

	// Oversized body: 413. Unknown provider: 404.
	code, body = post(t, hook, sandbox.Delivery{Header: good.Header, Body: []byte(strings.Repeat("x", 5<<20+1))})
	require.Equal(t, http.StatusRequestEntityTooLarge, code)
	require.Contains(t, body, `"code":"payload_too_large"`)
	code, _ = post(t, s.base+"/api/v1/webhooks/nope", good)
	require.Equal(t, http.StatusNotFound, code)

	// A delivery for an account nobody connected: acknowledged, unroutable.
	stranger := f.Build(fakesandbox.Delivery{Account: "acct-unknown", Stream: "items", Items: f.Add("items", 1)})
	code, body = post(t, hook, stranger)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `"status":"unroutable"`)
	require.Equal(t, 5, signals())

	// Postgres away: 503 (the provider retries), nothing acknowledged; the
	// retry after Postgres is back stores it.
	late := f.Build(fakesandbox.Delivery{Stream: "items", Items: f.Add("items", 1)})
	proxy.cut()
	code, body = post(t, hook, late)
	require.Equal(t, http.StatusServiceUnavailable, code, body)
	require.Contains(t, body, `"code":"unavailable"`)
	proxy.restore()
	eventually(t, 20*time.Second, "the retried delivery to be stored", func() bool {
		code, body = post(t, hook, late)
		return code == http.StatusOK
	})
	require.Contains(t, body, `"accepted"`)
	require.Equal(t, 6, signals())
}

// TestNotifyBurstCoalesces: 100 "something changed" notifications run at
// most one incremental sync plus one follow-up.
func TestNotifyBurstCoalesces(t *testing.T) {
	t.Parallel()
	f, env := fakeSandbox(t, fakesandbox.Options{Streams: map[string]int{"items": 10}})
	s := newStack(t, withEnv(env))
	hook := s.base + "/api/v1/webhooks/fake"
	_, key := s.tenant("Acme")
	conn := s.connect(key, "fake", nil)
	s.waitJobs(key, string(*conn.ID), "backfill", 1, 60*time.Second)
	f.Add("items", 5)
	for range 100 {
		code, body := post(t, hook, f.Build(fakesandbox.Delivery{Stream: "items", Notify: true}))
		require.Equal(t, http.StatusOK, code, body)
	}
	js := s.waitJobs(key, string(*conn.ID), "incremental", 1, 60*time.Second)
	require.LessOrEqual(t, len(js), 2, "a burst runs at most one sync and one follow-up, got %d jobs", len(js))
	for _, j := range js {
		require.Equal(t, "webhook", string(*j.Trigger))
	}
	require.Len(t, s.feed(key, 15, 30*time.Second), 15, "the notified change was synced")
	require.Equal(t, 100, s.count(`SELECT count(*) FROM webhook_events WHERE status = 'accepted'`))
}
