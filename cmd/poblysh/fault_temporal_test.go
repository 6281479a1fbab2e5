package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/gen/models"
	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
	"github.com/poblysh/poblysh/testenv"
)

// TestTemporalDown stops the Temporal server for 30 s during a backfill and
// a webhook burst, then starts it again on the same port and database
// file. Meanwhile /readyz stays ready (200) and reports Temporal down, a
// manual sync is refused
// 503 unavailable (after the SDK's own retries), deliveries that carry
// their events are stored and acknowledged, notify-only pushes are
// acknowledged with their sync nudge recorded; once Temporal is back the
// recorded nudges run a webhook-triggered sync and the backfill resumes
// from its cursor and completes with every item exactly once.
func TestTemporalDown(t *testing.T) {
	t.Parallel()
	tmp := testenv.OwnTemporal(t)
	f, env := fakeSandbox(t, fakesandbox.Options{Streams: map[string]int{"items": 2000}, PageDelay: 300 * time.Millisecond})
	s := newStack(t, withEnv(env), withEnv(map[string]string{"POBLYSH_FAKE_PAGE_SIZE": "100", "TEMPORAL_ADDRESS": tmp.Address()}))
	hook := s.base + "/api/v1/webhooks/fake"
	_, key := s.tenant("NoTemporal")
	conn := s.connect(key, "fake", nil)
	eventually(t, 60*time.Second, "the backfill to be under way", func() bool {
		return s.count(`SELECT coalesce(max(pages), 0) FROM jobs WHERE kind = 'backfill'`) >= 3
	})

	tmp.Stop()
	down := time.Now()
	readiness := func() (int, map[string]any) {
		resp, err := s.http.Get(s.base + "/readyz")
		require.NoError(t, err)
		defer resp.Body.Close()
		var body map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		return resp.StatusCode, body
	}
	// A manual sync needs Temporal: it is answered 503 once the SDK gives
	// up (about 30 s), and the answer is awaited before Temporal returns.
	manual := make(chan string, 1)
	go func() {
		began := time.Now()
		req, _ := http.NewRequest(http.MethodPost, s.base+"/api/v1/sync/fake",
			strings.NewReader(`{"connection_id": "`+string(*conn.ID)+`", "mode": "incremental"}`))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := (&http.Client{Timeout: 90 * time.Second}).Do(req)
		if err != nil {
			manual <- err.Error()
			return
		}
		defer resp.Body.Close()
		manual <- fmt.Sprintf("%d %s (after %s)", resp.StatusCode, readAll(resp), time.Since(began).Round(time.Second))
	}()
	// The instance stays ready: a load balancer keeps sending it the
	// webhooks it can store without Temporal.
	code, body := readiness()
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ready", body["status"])
	require.Equal(t, map[string]any{"postgres": "ok", "temporal": "down: unreachable"}, body["checks"])

	// The burst: deliveries with events are stored; notify-only pushes are
	// acknowledged and their nudge recorded.
	for i := range 20 {
		d := f.Build(fakesandbox.Delivery{Stream: "items", Items: f.Add("items", 1)})
		code, body := post(t, hook, d)
		require.Equal(t, http.StatusOK, code, "delivery %d: %s", i, body)
		require.Contains(t, body, `"accepted"`)
		require.Equal(t, 1, s.count(`SELECT count(*) FROM signals WHERE dedupe_key = $1`, "fake:item:items:"+strconv.Itoa(f.Count("items"))))
		if i%4 == 0 {
			code, body = post(t, hook, f.Build(fakesandbox.Delivery{Stream: "items", Notify: true}))
			require.Equal(t, http.StatusOK, code, body)
			require.Contains(t, body, `"accepted"`)
		}
	}
	require.Equal(t, 1, s.count(`SELECT count(*) FROM pending_nudges`), "the notify-only pushes recorded one coalesced nudge")

	require.Zero(t, s.count(`SELECT count(*) FROM jobs WHERE trigger = 'webhook'`))

	time.Sleep(time.Until(down.Add(30 * time.Second)))
	stored := s.count(`SELECT count(*) FROM signals`)
	require.Less(t, stored, f.Count("items"), "the backfill was cut short")
	select {
	case got := <-manual:
		t.Logf("manual sync while Temporal is down: %s", got)
		require.True(t, strings.HasPrefix(got, "503 "), got)
		require.Contains(t, got, `"code":"unavailable"`)
	case <-time.After(80 * time.Second):
		t.Fatal("the manual sync was not answered while Temporal was down")
	}
	tmp.Start()

	eventually(t, 30*time.Second, "/readyz to report Temporal ok", func() bool {
		code, body := readiness()
		return code == http.StatusOK && body["checks"].(map[string]any)["temporal"] == "ok"
	})
	eventually(t, 30*time.Second, "the recorded nudge to be delivered", func() bool {
		return s.count(`SELECT count(*) FROM pending_nudges`) == 0
	})
	js := s.waitJobs(key, string(*conn.ID), "backfill", 1, 3*time.Minute)
	require.Equal(t, models.JobStatusSucceeded, *js[0].Status)
	eventually(t, 60*time.Second, "the nudged sync", func() bool {
		return s.count(`SELECT count(*) FROM jobs WHERE trigger = 'webhook' AND status = 'succeeded'`) >= 1
	})
	s.requireItems("items", f.Count("items"))
}

// TestAPIStartsWithoutTemporal starts `poblysh api` while its Temporal
// server is down: it starts and is ready (webhook intake needs Postgres
// only), /readyz reports Temporal down, and what needs Temporal (here a
// tenant's deletion) is refused 503 unavailable; once Temporal is up the
// same call is accepted without restarting the API.
func TestAPIStartsWithoutTemporal(t *testing.T) {
	t.Parallel()
	tmp := testenv.OwnTemporal(t)
	tmp.Stop()
	s := newStack(t, withCommand("api"), withEnv(map[string]string{"TEMPORAL_ADDRESS": tmp.Address()}))
	resp, err := s.http.Get(s.base + "/readyz")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.JSONEq(t, `{"status": "ready", "checks": {"postgres": "ok", "temporal": "down: unreachable"}}`, readAll(resp))
	resp.Body.Close()

	id, _ := s.tenant("Lazy")
	del := func() (int, string) {
		req, _ := http.NewRequest(http.MethodDelete, s.base+"/api/v1/tenants/"+id+"?confirm=Lazy", nil)
		req.Header.Set("Authorization", "Bearer "+s.adminKey)
		resp, err := (&http.Client{Timeout: 90 * time.Second}).Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		return resp.StatusCode, readAll(resp)
	}
	code, body := del()
	require.Equal(t, http.StatusServiceUnavailable, code, body)
	require.Contains(t, body, `"code":"unavailable"`)

	tmp.Start()
	eventually(t, 60*time.Second, "/readyz to report Temporal ok", func() bool {
		resp, err := s.http.Get(s.base + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return strings.Contains(readAll(resp), `"temporal":"ok"`)
	})
	code, body = del()
	require.Equal(t, http.StatusAccepted, code, body)
}
