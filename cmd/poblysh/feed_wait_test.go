package main

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
)

// TestFeedLongPollAcrossTheStack: through `poblysh serve`, a reader
// waiting on the feed answers with the Signal a webhook delivery stores;
// at shutdown a waiting reader is answered (empty, 200) instead of being
// cut off or holding the shutdown.
func TestFeedLongPollAcrossTheStack(t *testing.T) {
	t.Parallel()
	f, env := fakeSandbox(t, fakesandbox.Options{Streams: map[string]int{"items": 1}})
	s := newStack(t, withEnv(env))
	_, key := s.tenant("Acme")
	conn := s.connect(key, "fake", nil)
	s.waitJobs(key, string(*conn.ID), "backfill", 1, 60*time.Second)
	first := s.feed(key, 1, 30*time.Second)
	require.Len(t, first, 1)

	type answer struct {
		status int
		body   struct {
			Signals    []json.RawMessage `json:"signals"`
			NextCursor string            `json:"next_cursor"`
		}
		err error
	}
	wait := func(cursor string) chan answer {
		ch := make(chan answer, 1)
		go func() {
			var a answer
			req, _ := http.NewRequest(http.MethodGet, s.base+"/api/v1/signals?wait=60s&cursor="+cursor, nil)
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := (&http.Client{Timeout: 90 * time.Second}).Do(req)
			if err == nil {
				a.status = resp.StatusCode
				a.err = json.NewDecoder(resp.Body).Decode(&a.body)
				resp.Body.Close()
			} else {
				a.err = err
			}
			ch <- a
		}()
		return ch
	}
	// The cursor after the backfilled Signal.
	req, _ := http.NewRequest(http.MethodGet, s.base+"/api/v1/signals?limit=1000", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := s.http.Do(req)
	require.NoError(t, err)
	var page struct {
		NextCursor string `json:"next_cursor"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&page))
	resp.Body.Close()

	got := wait(page.NextCursor)
	time.Sleep(300 * time.Millisecond) // let it reach its wait (the test holds either way)
	code, body := post(t, s.base+"/api/v1/webhooks/fake", f.Build(fakesandbox.Delivery{Stream: "items", Items: f.Add("items", 1)}))
	require.Equal(t, http.StatusOK, code, body)
	a := <-got
	require.NoError(t, a.err)
	require.Equal(t, http.StatusOK, a.status)
	require.Len(t, a.body.Signals, 1)

	// Shutdown answers a waiting reader.
	cursor := a.body.NextCursor
	idle := wait(cursor)
	time.Sleep(300 * time.Millisecond)
	s.stop()
	a = <-idle
	require.NoError(t, a.err, "the waiting reader is answered, not cut off")
	require.Equal(t, http.StatusOK, a.status)
	require.Empty(t, a.body.Signals)
	require.Equal(t, cursor, a.body.NextCursor, "an empty answer keeps the cursor")
}
