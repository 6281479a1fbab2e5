package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/gen/client/connections"
	"github.com/poblysh/poblysh/gen/client/jobs"
	"github.com/poblysh/poblysh/gen/models"
	"github.com/poblysh/poblysh/sandbox"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
	gcalsandbox "github.com/poblysh/poblysh/sandbox/googlecalendar"
	slacksandbox "github.com/poblysh/poblysh/sandbox/slack"
	"github.com/poblysh/poblysh/workflows"
)

// control calls a sandbox control endpoint and decodes its JSON answer.
func control(t *testing.T, method, url string, body any) map[string]any {
	t.Helper()
	var rd *bytes.Reader
	if body == nil {
		rd = bytes.NewReader(nil)
	} else {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw := readAll(resp)
	require.Less(t, resp.StatusCode, 300, "%s %s: %s", method, url, raw)
	out := map[string]any{}
	_ = json.Unmarshal([]byte(raw), &out)
	return out
}

func kinds(sigs []*models.Signal) map[string]int {
	out := map[string]int{}
	for _, s := range sigs {
		out[*s.Kind]++
	}
	return out
}

// sync asks for a sync of a connection and waits for its jobs.
func (s *stack) sync(key, provider, connID, mode string) []*models.Job {
	s.t.Helper()
	res, err := s.client.Jobs.StartSync(jobs.NewStartSyncParams().WithProvider(provider).
		WithBody(&models.SyncRequest{ConnectionID: strfmt.UUID(connID), Mode: &mode}), httptransport.BearerToken(key))
	require.NoError(s.t, err)
	require.NoError(s.t, res.Payload.Validate(strfmt.Default))
	var out []*models.Job
	for _, j := range res.Payload.Jobs {
		j := j
		eventually(s.t, 90*time.Second, "job "+string(*j.ID), func() bool {
			got, err := s.client.Jobs.GetJob(jobs.NewGetJobParams().WithID(*j.ID), httptransport.BearerToken(key))
			require.NoError(s.t, err)
			if *got.Payload.Status == models.JobStatusQueued || *got.Payload.Status == models.JobStatusRunning {
				return false
			}
			out = append(out, got.Payload)
			return true
		})
	}
	return out
}

func stored(js []*models.Job) (n int64) {
	for _, j := range js {
		n += *j.SignalsStored
	}
	return n
}

func (s *stack) connection(key, id string) *models.Connection {
	s.t.Helper()
	res, err := s.client.Connections.GetConnection(connections.NewGetConnectionParams().WithID(strfmt.UUID(id)), httptransport.BearerToken(key))
	require.NoError(s.t, err)
	require.NoError(s.t, res.Payload.Validate(strfmt.Default))
	return res.Payload
}

// TestGitHubEndToEnd: connect through GitHub's OAuth (App user tokens that
// expire, rotating refresh), backfill the seeded repository exactly, with
// the access token expiring mid-backfill and a burst of 502s; webhooks registered on the repo
// deliver live activity; a later incremental sync adds only what webhooks
// missed; a second backfill adds nothing.
func TestGitHubEndToEnd(t *testing.T) {
	t.Parallel()
	gh := githubsandbox.New(githubsandbox.Options{Seed: true, AccessTTL: 8 * time.Hour})
	var pulls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The access token expires in the middle of the backfill.
		if strings.HasSuffix(r.URL.Path, "/pulls") && pulls.Add(1) == 2 {
			gh.OAuth.ExpireAccessTokens()
		}
		gh.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s := newStack(t, withEnv(gh.Env(srv.URL)), withEnv(map[string]string{"POBLYSH_GITHUB_PAGE_SIZE": "5"}))
	gh.Deliverer.SetTarget(s.base + "/api/v1/webhooks/github")
	// A burst of 5xx on one stream: retried with backoff, then completes.
	gh.Faults.Add(sandbox.Fault{Status: 502, Count: 3, PathPrefix: "/repos/" + githubsandbox.SeedRepo + "/releases"})
	sb := srv.URL + "/_sandbox/github/repos/" + githubsandbox.SeedRepo
	_, key := s.tenant("Acme")

	conn := s.connect(key, "github", map[string]any{"repos": []string{githubsandbox.SeedRepo}})
	id := string(*conn.ID)
	js := s.waitJobs(key, id, "backfill", 3, 2*time.Minute)
	for _, j := range js {
		require.Equal(t, models.JobStatusSucceeded, *j.Status, "%s: %s", *j.Stream, deref(j.Error))
	}
	total := githubsandbox.SeedPullSignals + githubsandbox.SeedReleaseSignals + githubsandbox.SeedCommitSignals
	require.EqualValues(t, total, stored(js))
	sigs := s.feed(key, total, 30*time.Second)
	require.Len(t, sigs, total)
	k := kinds(sigs)
	require.Equal(t, githubsandbox.SeedPullSignals, k["pull_request.opened"]+k["pull_request.merged"]+k["pull_request.closed"])
	require.Equal(t, githubsandbox.SeedReleaseSignals, k["release.published"])
	require.Equal(t, githubsandbox.SeedCommitSignals, k["code.pushed"])
	require.GreaterOrEqual(t, gh.OAuth.Refreshes, 1, "the expired token was refreshed on demand")
	require.Equal(t, 3, gh.Faults.Hits, "the 5xx burst was served and retried through")

	// The repository webhook is registered (watch), so pushes arrive live.
	eventually(t, 30*time.Second, "the repo webhook", func() bool {
		c := s.connection(key, id)
		return *c.PushEnabled && len(c.Watches) == 1
	})
	control(t, "POST", sb+"/pulls", map[string]any{"title": "Launch blog post", "user": "hubot"})
	control(t, "POST", sb+"/push", map[string]any{"commits": 2, "branch": "main"})
	control(t, "POST", sb+"/releases", map[string]any{"tag_name": "v9.0.0", "name": "Nine"})
	sigs = s.feed(key, total+3, 30*time.Second)
	require.Len(t, sigs, total+3)
	var titled bool
	for _, sg := range sigs {
		if *sg.Kind == "pull_request.opened" && *sg.Payload.Title != "" && strings.Contains(*sg.Payload.Title, "Launch blog post") {
			titled = true
		}
	}
	require.True(t, titled, "the live pull_request webhook became a Signal")

	// A merge whose webhooks never arrive: the incremental sync finds it
	// and nothing else: the merged PR, and the two commits it brings to the
	// default branch (the PR's commit and the merge commit).
	control(t, "POST", sb+"/pulls/25/merge", map[string]any{"hold": true})
	js = s.sync(key, "github", id, "incremental")
	require.Len(t, js, 3)
	require.EqualValues(t, 3, stored(js), "incremental adds only what is new")
	require.Len(t, s.feed(key, total+6, 30*time.Second), total+6)

	// Backfill again: nothing new.
	js = s.sync(key, "github", id, "backfill")
	require.Len(t, js, 3)
	require.Zero(t, stored(js), "re-running backfill stores no duplicates")
	require.Equal(t, total+6, s.count(`SELECT count(*) FROM signals`))
	s.requireNoSecrets(gh.OAuth.Issued()...)
}

// TestSlackEndToEnd: connect a workspace, backfill the seeded channels
// exactly (through a 429 with Retry-After 2 s), receive signed events live
// (duplicates stored once, bot messages skipped), catch a lost event with
// an incremental sync, and backfill again without duplicates.
func TestSlackEndToEnd(t *testing.T) {
	t.Parallel()
	sl := slacksandbox.New(slacksandbox.Options{Seed: true})
	srv := httptest.NewServer(sl)
	t.Cleanup(srv.Close)
	s := newStack(t, withEnv(sl.Env(srv.URL)))
	sl.Deliverer.SetTarget(s.base + "/api/v1/webhooks/slack")
	before := metricValue(t, s, `poblysh_provider_rate_limited_total{provider="slack"}`)
	sl.Faults.Add(sandbox.Fault{Status: 429, RetryAfter: 2, PathPrefix: "/api/conversations.history", After: 1})
	_, key := s.tenant("Acme")

	conn := s.connect(key, "slack", map[string]any{"channels": []string{slacksandbox.ChannelGeneral, slacksandbox.ChannelPress}})
	id := string(*conn.ID)
	js := s.waitJobs(key, id, "backfill", 2, 2*time.Minute)
	for _, j := range js {
		require.Equal(t, models.JobStatusSucceeded, *j.Status, "%s: %s", *j.Stream, deref(j.Error))
	}
	total := slacksandbox.GeneralSignals + slacksandbox.PressSignals
	require.EqualValues(t, total, stored(js))
	require.Len(t, s.feed(key, total, 30*time.Second), total)
	require.Greater(t, metricValue(t, s, `poblysh_provider_rate_limited_total{provider="slack"}`), before, "the 429 was counted")

	sb := srv.URL + "/_sandbox/slack"
	msg := control(t, "POST", sb+"/messages", map[string]any{"channel": slacksandbox.ChannelGeneral, "user": "U05BOB0001", "text": "The Verge piece is live", "copies": 3})
	ts := findString(msg, "ts")
	require.NotEmpty(t, ts, "sandbox answer: %v", msg)
	control(t, "POST", sb+"/reactions", map[string]any{"channel": slacksandbox.ChannelGeneral, "ts": ts, "user": "U05ALICE01", "reaction": "tada"})
	control(t, "POST", sb+"/messages", map[string]any{"channel": slacksandbox.ChannelGeneral, "bot": true, "text": "Deploy finished"})
	sigs := s.feed(key, total+2, 30*time.Second)
	time.Sleep(500 * time.Millisecond)
	require.Equal(t, total+2, s.count(`SELECT count(*) FROM signals`), "three copies store one message; bot messages are skipped")
	require.Equal(t, 1, kinds(sigs[total:])["message.posted"])
	require.Equal(t, 1, kinds(sigs[total:])["reaction.added"])

	// An event that never arrives is caught by the incremental sync.
	control(t, "POST", sb+"/messages", map[string]any{"channel": slacksandbox.ChannelPress, "user": "U05BOB0001", "text": "Embargo lifts at 9", "hold": true})
	js = s.sync(key, "slack", id, "incremental")
	require.EqualValues(t, 1, stored(js), "incremental adds only what is new")
	js = s.sync(key, "slack", id, "backfill")
	require.Zero(t, stored(js), "re-running backfill stores no duplicates")
	require.Equal(t, total+3, s.count(`SELECT count(*) FROM signals`))
	s.requireNoSecrets(sl.OAuth.Issued()...)
}

func findString(m map[string]any, key string) string {
	for k, v := range m {
		if k == key {
			if s, ok := v.(string); ok {
				return s
			}
		}
		if sub, ok := v.(map[string]any); ok {
			if s := findString(sub, key); s != "" {
				return s
			}
		}
	}
	return ""
}

// TestGoogleCalendarEndToEnd: connect with offline access, backfill two
// calendars exactly, open watch channels, turn push notifications (no
// body) into coalesced incremental syncs, survive a 410 GONE with a full
// resync that stores nothing twice, and move to needs_reauth when the
// refresh token is revoked (schedules paused, job failed with the reason).
func TestGoogleCalendarEndToEnd(t *testing.T) {
	t.Parallel()
	gc := gcalsandbox.New(gcalsandbox.Options{Seed: true, PageSize: 4})
	srv := httptest.NewServer(gc)
	t.Cleanup(srv.Close)
	s := newStack(t, withEnv(gc.Env(srv.URL)), withEnv(map[string]string{"POBLYSH_GOOGLE_CALENDAR_WEBHOOK_SECRET": "calendar-channel-secret"}))
	_, key := s.tenant("Acme")

	conn := s.connect(key, "google-calendar", map[string]any{"calendars": []string{"primary", gcalsandbox.TeamCalendarID}})
	id := string(*conn.ID)
	js := s.waitJobs(key, id, "backfill", 2, 2*time.Minute)
	total := gcalsandbox.PrimarySignals + gcalsandbox.TeamSignals
	require.EqualValues(t, total, stored(js))
	require.Len(t, s.feed(key, total, 30*time.Second), total)
	eventually(t, 30*time.Second, "watch channels on both calendars", func() bool {
		c := s.connection(key, id)
		return *c.PushEnabled && len(c.Watches) == 2
	})

	// A change pushed as a bodiless notification → incremental sync → Signal.
	cb := srv.URL + "/_sandbox/calendar/calendars/primary/events"
	ev := control(t, "POST", cb, map[string]any{"summary": "Press call", "start": map[string]any{"dateTime": "2026-12-01T15:00:00Z"}, "end": map[string]any{"dateTime": "2026-12-01T15:30:00Z"}})
	evID := findString(ev, "id")
	require.NotEmpty(t, evID)
	require.Len(t, s.feed(key, total+1, 30*time.Second), total+1)
	// Edits within 2 s of creation read as part of the creation (Google
	// stamps created and updated a few ms apart); edit later, as people do.
	time.Sleep(2500 * time.Millisecond)
	control(t, "PATCH", cb+"/"+evID, map[string]any{"summary": "Press call (moved)", "start": map[string]any{"dateTime": "2026-12-02T15:00:00Z"}})
	// Calendar sync reads the latest state only: let the update be seen
	// before cancelling, or the pass would see just the cancellation.
	require.Len(t, s.feed(key, total+2, 30*time.Second), total+2)
	control(t, "POST", cb+"/"+evID+"/cancel", nil)
	sigs := s.feed(key, total+3, 30*time.Second)
	k := kinds(sigs[total:])
	require.Equal(t, map[string]int{"calendar_event.created": 1, "calendar_event.updated": 1, "calendar_event.cancelled": 1}, k)

	// 410 GONE: the sync token expired; a full resync stores nothing twice.
	gc.ExpireSyncTokens()
	js = s.sync(key, "google-calendar", id, "incremental")
	for _, j := range js {
		require.Equal(t, models.JobStatusSucceeded, *j.Status, "%v", j.Error)
	}
	require.Zero(t, stored(js))
	var dups int64
	for _, j := range js {
		dups += *j.Duplicates
	}
	require.Positive(t, dups, "the resync re-read everything")
	require.Equal(t, total+3, s.count(`SELECT count(*) FROM signals`))

	// Refresh token revoked: the next sync cannot refresh, the connection
	// needs re-auth, its schedule pauses, the job fails with the reason.
	control(t, "POST", srv.URL+"/_sandbox/tokens/revoke", nil)
	control(t, "POST", srv.URL+"/_sandbox/tokens/expire", nil)
	js = s.sync(key, "google-calendar", id, "incremental")
	failed := 0
	for _, j := range js {
		if *j.Status == models.JobStatusFailed {
			failed++
			require.Contains(t, *j.Error, "refresh", "the job says why")
		}
	}
	require.Positive(t, failed)
	c := s.connection(key, id)
	require.Equal(t, models.ConnectionHealthNeedsReauth, *c.Health)
	require.NotNil(t, c.ReconnectURL, "a re-connect URL is offered")
	desc, err := s.temporal.Client().ScheduleClient().GetHandle(context.Background(), workflows.PollScheduleID(id)).Describe(context.Background())
	require.NoError(t, err)
	require.True(t, desc.Schedule.State.Paused, "scheduled work stops while re-auth is needed")
	s.requireNoSecrets(gc.Base.OAuth.Issued()...)
}
