package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/poblysh/poblysh/gen/client/connections"
	"github.com/poblysh/poblysh/gen/client/jobs"
	"github.com/poblysh/poblysh/gen/models"
	"github.com/poblysh/poblysh/sandbox"
	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
	gcalsandbox "github.com/poblysh/poblysh/sandbox/googlecalendar"
	"github.com/poblysh/poblysh/workflows"
)

func (s *stack) schedule(id string) *client.ScheduleDescription {
	s.t.Helper()
	d, err := s.temporal.Client().ScheduleClient().GetHandle(context.Background(), id).Describe(context.Background())
	require.NoError(s.t, err)
	return d
}

// schedulePaused waits up to 10 s for schedule id to be paused (or not):
// the lifecycle and a concurrent watch reconcile may both apply it, and
// engine.SyncSchedules converges on the connection's state.
func (s *stack) schedulePaused(id string, want bool, msg string) {
	s.t.Helper()
	require.Eventually(s.t, func() bool { return s.schedule(id).Schedule.State.Paused == want }, 10*time.Second, 100*time.Millisecond, msg)
}

func (s *stack) trigger(id string) {
	s.t.Helper()
	require.NoError(s.t, s.temporal.Client().ScheduleClient().GetHandle(context.Background(), id).Trigger(context.Background(), client.ScheduleTriggerOptions{}))
}

func (s *stack) patch(key, id, body string) (int, string) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodPatch, s.base+"/api/v1/connections/"+id, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	return resp.StatusCode, readAll(resp)
}

// TestConnectionLifecycle: polling interval and pause are operator
// controls that reshape the connection's schedule; a revoked grant moves it
// to needs_reauth and pauses its work; re-connecting the same account heals
// it in place through POST /connections/{id}/reconnect.
func TestConnectionLifecycle(t *testing.T) {
	t.Parallel()
	f, env := fakeSandbox(t, fakesandbox.Options{Streams: map[string]int{"items": 5}})
	s := newStack(t, withEnv(env))
	_, key := s.tenant("Ops")
	conn := s.connect(key, "fake", nil)
	id := string(*conn.ID)
	s.waitJobs(key, id, "backfill", 1, 60*time.Second)
	sched := workflows.PollScheduleID(s.taskQueue, id)
	// The schedule starts at the poll interval and takes the provider's
	// longer reconcile interval once the watch reconcile has seen that
	// webhooks deliver; that runs beside the backfill, so either can end
	// first.
	eventually(t, 60*time.Second, "the schedule to take the reconcile interval (webhooks deliver)", func() bool {
		return s.schedule(sched).Schedule.Spec.Intervals[0].Every == 10*time.Minute
	})

	code, body := s.patch(key, id, `{"poll_interval_seconds": 120}`)
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"poll_interval_seconds":120`)
	require.Equal(t, 2*time.Minute, s.schedule(sched).Schedule.Spec.Intervals[0].Every)
	code, body = s.patch(key, id, `{"poll_interval_seconds": 10}`)
	require.Equal(t, http.StatusUnprocessableEntity, code, body)
	code, body = s.patch(key, id, `{"config": {"streams": ["Not Valid!"]}}`)
	require.Equal(t, http.StatusUnprocessableEntity, code, body)
	require.Contains(t, body, `"config.streams"`)
	code, body = s.patch(key, id, `{"poll_interval_seconds": null}`)
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, 10*time.Minute, s.schedule(sched).Schedule.Spec.Intervals[0].Every, "null resets to the default")

	code, body = s.patch(key, id, `{"paused": true}`)
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"health":"disabled"`)
	s.schedulePaused(sched, true, "pausing pauses the schedule")
	_, err := s.client.Jobs.StartSync(jobs.NewStartSyncParams().WithProvider("fake").
		WithBody(&models.SyncRequest{ConnectionID: strfmt.UUID(id), Mode: ptr("incremental")}), httptransport.BearerToken(key))
	var conflict *jobs.StartSyncConflict
	require.ErrorAs(t, err, &conflict, "a paused connection does no work")
	code, body = s.patch(key, id, `{"paused": false}`)
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"health":"healthy"`)
	s.schedulePaused(sched, false, "resuming resumes the schedule")

	// The grant is revoked at the provider: the next sync cannot refresh.
	f.OAuth.RevokeRefreshTokens()
	f.OAuth.ExpireAccessTokens()
	js := s.sync(key, "fake", id, "incremental")
	// The request ran as its own pass (failed), or queued behind the
	// catch-up pass of the resume, which failed first and cancelled it.
	require.Contains(t, []models.JobStatus{models.JobStatusFailed, models.JobStatusCancelled}, *js[0].Status)
	all := s.waitJobs(key, id, "incremental", 1, 30*time.Second)
	var reason string
	for _, j := range all {
		if *j.Status == models.JobStatusFailed {
			reason = deref(j.Error)
		}
	}
	require.Contains(t, reason, "token refresh failed permanently", "a job failed with the reason")
	c := s.connection(key, id)
	require.Equal(t, models.ConnectionHealthNeedsReauth, *c.Health)
	s.schedulePaused(sched, true, "needs_reauth pauses scheduled work")
	require.Zero(t, s.count(`SELECT count(*) FROM oauth_states WHERE used_at IS NULL`), "reading the connection writes no OAuth state")

	// Re-authorizing (POST /connections/{id}/reconnect, then the browser
	// flow) with the same account heals the same connection.
	re, err := s.client.Connections.ReconnectConnection(connections.NewReconnectConnectionParams().WithID(strfmt.UUID(id)),
		httptransport.BearerToken(key))
	require.NoError(t, err)
	require.NoError(t, re.Payload.Validate(strfmt.Default))
	require.Equal(t, 1, s.count(`SELECT count(*) FROM oauth_states WHERE connection_id = $1`, id), "the state is bound to the connection")
	again := s.complete(s.authorize(re.Payload.AuthorizationURL.String()))
	require.Equal(t, id, string(*again.ID))
	require.Equal(t, models.ConnectionHealthHealthy, *again.Health)
	s.schedulePaused(sched, false, "re-auth resumes the schedule")
	list, err := s.client.Connections.ListConnections(connections.NewListConnectionsParams(), httptransport.BearerToken(key))
	require.NoError(t, err)
	require.Len(t, list.Payload.Connections, 1, "no duplicate connection")
}

// TestRefreshSweep: the hourly schedule refreshes tokens that expire within
// the window, one RefreshToken workflow per connection.
func TestRefreshSweep(t *testing.T) {
	t.Parallel()
	f, env := fakeSandbox(t, fakesandbox.Options{AccessTTL: 10 * time.Minute})
	s := newStack(t, withEnv(env))
	_, key := s.tenant("Sweep")
	conn := s.connect(key, "fake", nil)
	id := string(*conn.ID)
	before := time.Time(*s.connection(key, id).TokenExpiresAt)
	refreshes := f.OAuth.Refreshes
	s.trigger(workflows.RefreshScheduleID(s.taskQueue))
	js := s.waitJobs(key, id, "token_refresh", 1, 60*time.Second)
	require.Equal(t, models.JobStatusSucceeded, *js[0].Status)
	require.Equal(t, models.JobTriggerSchedule, *js[0].Trigger)
	require.Equal(t, refreshes+1, f.OAuth.Refreshes)
	after := time.Time(*s.connection(key, id).TokenExpiresAt)
	require.True(t, after.After(before), "the stored token expiry moved forward")
}

// TestActivationSweep: a connection left marked by a callback that could
// not reach Temporal (as if it had been down then) is activated by the
// worker's activation sweep: its backfill runs and the mark goes.
func TestActivationSweep(t *testing.T) {
	t.Parallel()
	_, env := fakeSandbox(t, fakesandbox.Options{Streams: map[string]int{"items": 3}})
	s := newStack(t, withEnv(env))
	_, key := s.tenant("Late")
	conn := s.connect(key, "fake", nil)
	id := string(*conn.ID)
	s.waitJobs(key, id, "backfill", 1, 60*time.Second)
	require.Zero(t, s.count(`SELECT count(*) FROM connections WHERE activation_pending IS NOT NULL`), "activated at once")

	s.exec(`UPDATE connections SET activation_pending = 'backfill', activation_pending_at = now() - interval '2 minutes' WHERE id = $1`, id)
	s.trigger(workflows.ActivationScheduleID(s.taskQueue))
	js := s.waitJobs(key, id, "backfill", 2, 60*time.Second)
	require.Equal(t, models.JobTriggerConnect, *js[0].Trigger)
	eventually(t, 30*time.Second, "the mark to go", func() bool {
		return s.count(`SELECT count(*) FROM connections WHERE activation_pending IS NOT NULL`) == 0
	})
}

// TestCalendarWithoutPublicURLPolls: with no public URL configured, no
// watch channel is opened and the connection polls at the provider's
// interval instead.
func TestCalendarWithoutPublicURLPolls(t *testing.T) {
	t.Parallel()
	gc := gcalsandbox.New(gcalsandbox.Options{Seed: true})
	srv := newHTTPServer(t, gc)
	s := newStack(t, withEnv(gc.Env(srv)), withEnv(map[string]string{
		"POBLYSH_GOOGLE_CALENDAR_WEBHOOK_SECRET": "calendar-channel-secret", "POBLYSH_PUBLIC_URL": "",
	}))
	_, key := s.tenant("Poll")
	conn := s.connect(key, "google-calendar", nil)
	id := string(*conn.ID)
	s.waitJobs(key, id, "backfill", 1, 60*time.Second)
	s.waitJobs(key, id, "watch_renewal", 1, 30*time.Second)
	c := s.connection(key, id)
	require.False(t, *c.PushEnabled)
	require.Empty(t, c.Watches)
	require.Empty(t, gc.Channels(), "no channel was requested from Google")
	require.Equal(t, 5*time.Minute, s.schedule(workflows.PollScheduleID(s.taskQueue, id)).Schedule.Spec.Intervals[0].Every)
}

// TestCalendarWithAnUnwatchableCalendarPolls: Google cannot watch a
// generated calendar (holidays: 400 pushNotSupportedForRequestedResource).
// The connection's other calendar keeps its channel and pushes; the
// holiday calendar has none, so push is not on for the whole connection
// and it polls at the provider's interval, which reads the holiday
// calendar's changes.
func TestCalendarWithAnUnwatchableCalendarPolls(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	gc := gcalsandbox.New(gcalsandbox.Options{Seed: true})
	gc.AddCalendar(gcalsandbox.HolidayCalendarID, "Holidays in United States", "")
	srv := newHTTPServer(t, gc)
	s := newStack(t, withEnv(gc.Env(srv)), withEnv(map[string]string{"POBLYSH_GOOGLE_CALENDAR_WEBHOOK_SECRET": "calendar-channel-secret"}))
	tenant, key := s.tenant("Holidays")
	conn := s.connect(key, "google-calendar", map[string]any{"calendars": []string{"primary", gcalsandbox.HolidayCalendarID}})
	id := string(*conn.ID)
	for _, j := range s.waitJobs(key, id, "backfill", 2, 2*time.Minute) {
		require.Equal(t, models.JobStatusSucceeded, *j.Status, "%s: %s", *j.Stream, deref(j.Error))
	}
	for _, j := range s.waitJobs(key, id, "watch_renewal", 1, 30*time.Second) {
		require.Equal(t, models.JobStatusSucceeded, *j.Status, deref(j.Error))
	}
	c := s.connection(key, id)
	require.Len(t, c.Watches, 1, "primary keeps its channel")
	require.Equal(t, "primary", *c.Watches[0].Target)
	require.False(t, *c.PushEnabled, "a calendar without a channel: the connection polls")
	require.Equal(t, 5*time.Minute, s.schedule(workflows.PollScheduleID(s.taskQueue, id)).Schedule.Spec.Intervals[0].Every)
	chans := gc.Channels()
	require.Len(t, chans, 1)
	require.True(t, chans[0].Live, "primary's channel was not stopped")

	titled := func(title string) int {
		return s.count(`SELECT count(*) FROM signals WHERE tenant_id = $1 AND payload->>'title' LIKE $2`, tenant, title+"%")
	}
	_, notes, err := gc.CreateEvent(ctx, "primary", gcalsandbox.EventInput{Summary: "Press call"}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	require.Len(t, notes, 1, "primary pushes")
	eventually(t, 30*time.Second, "the primary calendar's change by push", func() bool { return titled("Press call") == 1 })

	_, notes, err = gc.CreateEvent(ctx, gcalsandbox.HolidayCalendarID, gcalsandbox.EventInput{Summary: "Company holiday"}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	require.Empty(t, notes, "the holiday calendar pushes nothing")
	s.trigger(workflows.PollScheduleID(s.taskQueue, id))
	eventually(t, 30*time.Second, "the holiday calendar's change by the poll", func() bool { return titled("Company holiday") == 1 })
}

// TestCalendarChannelRenewal: a channel near its expiry is replaced by the
// renewal sweep: the new channel opens first, then the old one is stopped.
func TestCalendarChannelRenewal(t *testing.T) {
	t.Parallel()
	gc := gcalsandbox.New(gcalsandbox.Options{Seed: true})
	srv := newHTTPServer(t, gc)
	s := newStack(t, withEnv(gc.Env(srv)), withEnv(map[string]string{
		"POBLYSH_GOOGLE_CALENDAR_WEBHOOK_SECRET": "calendar-channel-secret",
		"POBLYSH_GOOGLE_CALENDAR_CHANNEL_TTL":    "2h",
	}))
	_, key := s.tenant("Renew")
	conn := s.connect(key, "google-calendar", nil)
	id := string(*conn.ID)
	eventually(t, 30*time.Second, "a watch channel", func() bool { return len(s.connection(key, id).Watches) == 1 })
	first := *s.connection(key, id).Watches[0].ChannelID
	// Two hours of lifetime: renewal is due in its last hour (two 30 m
	// sweeps); move the clock by ageing the stored channel instead of waiting.
	s.exec(`UPDATE watch_channels SET created_at = created_at - interval '90 minutes', expires_at = expires_at - interval '90 minutes'`)
	s.trigger(workflows.RenewalScheduleID(s.taskQueue))
	eventually(t, 60*time.Second, "the channel to be replaced", func() bool {
		w := s.connection(key, id).Watches
		return len(w) == 1 && *w[0].ChannelID != first
	})
	var oldStopped, newLive bool
	for _, ch := range gc.Channels() {
		if ch.ID == first && ch.Stopped {
			oldStopped = true
		}
		if ch.ID != first && ch.Live {
			newLive = true
		}
	}
	require.True(t, oldStopped, "the old channel was stopped at Google")
	require.True(t, newLive, "the new channel is live")
}

// TestDisconnectRefreshesAnIdleToken: access tokens are refreshed when a
// call needs one, so a connection idle past its token's hour still holds an
// expired one; disconnecting refreshes it first, and the watch channel is
// stopped at Google (with the stale token, channels.stop was refused and the
// channel kept pushing until it expired).
func TestDisconnectRefreshesAnIdleToken(t *testing.T) {
	t.Parallel()
	gc := gcalsandbox.New(gcalsandbox.Options{Seed: true})
	srv := newHTTPServer(t, gc)
	s := newStack(t, withEnv(gc.Env(srv)), withEnv(map[string]string{"POBLYSH_GOOGLE_CALENDAR_WEBHOOK_SECRET": "calendar-channel-secret"}))
	_, key := s.tenant("Idle")
	conn := s.connect(key, "google-calendar", nil)
	id := string(*conn.ID)
	s.waitJobs(key, id, "backfill", 1, 2*time.Minute)
	eventually(t, 30*time.Second, "a watch channel", func() bool { return len(s.connection(key, id).Watches) == 1 })
	eventually(t, 30*time.Second, "the connection's work to end", func() bool {
		return s.count(`SELECT count(*) FROM jobs WHERE connection_id = $1 AND status IN ('queued', 'running')`, id) == 0
	})
	channel := *s.connection(key, id).Watches[0].ChannelID

	// An hour later: Google has expired the token, and so has the record.
	gc.Base.OAuth.ExpireAccessTokens()
	s.exec(`UPDATE connections SET token_expires_at = now() - interval '5 minutes' WHERE id = $1`, id)
	refreshes := gc.Base.OAuth.Refreshes
	_, err := s.client.Connections.DeleteConnection(connections.NewDeleteConnectionParams().WithID(strfmt.UUID(id)), httptransport.BearerToken(key))
	require.NoError(t, err)
	require.Equal(t, refreshes+1, gc.Base.OAuth.Refreshes, "the expired token was refreshed for the disconnect")
	var stopped bool
	for _, ch := range gc.Channels() {
		if ch.ID == channel {
			stopped = ch.Stopped
		}
	}
	require.True(t, stopped, "the channel was stopped at Google")
	require.NotContains(t, s.logs.String(), "could not stop channel")
}

// TestGitHubWithoutHookPermissionPolls: a grant that may not create repo
// webhooks leaves the connection healthy and polling (hooks can be added by
// hand with the configured secret), and the job says why.
func TestGitHubWithoutHookPermissionPolls(t *testing.T) {
	t.Parallel()
	gh := githubsandbox.New(githubsandbox.Options{Seed: true})
	srv := newHTTPServer(t, gh)
	s := newStack(t, withEnv(gh.Env(srv)), withEnv(map[string]string{"POBLYSH_GITHUB_SCOPES": "public_repo"}))
	_, key := s.tenant("NoHooks")
	conn := s.connect(key, "github", map[string]any{"repos": []string{githubsandbox.SeedRepo}})
	id := string(*conn.ID)
	js := s.waitJobs(key, id, "watch_renewal", 1, 60*time.Second)
	require.Equal(t, models.JobStatusSucceeded, *js[0].Status)
	require.Contains(t, fmt.Sprint(js[0].ErrorContext), "watch_error")
	c := s.connection(key, id)
	require.Equal(t, models.ConnectionHealthHealthy, *c.Health)
	require.False(t, *c.PushEnabled)
	require.Equal(t, 15*time.Minute, s.schedule(workflows.PollScheduleID(s.taskQueue, id)).Schedule.Spec.Intervals[0].Every)
}
