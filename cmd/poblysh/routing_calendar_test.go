package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/gen/models"
	"github.com/poblysh/poblysh/sandbox"
	gcalsandbox "github.com/poblysh/poblysh/sandbox/googlecalendar"
)

// TestGoogleCalendarRoutesOnlyReadableCalendars: a config naming another
// user's calendar is refused at connect and at PATCH (Google answers 404
// to the connection's own token), so its changes never reach the tenant;
// a calendar shared later can be added; when sharing stops, the next sync
// drops its channel route and degrades the connection, and sharing again
// restores both.
func TestGoogleCalendarRoutesOnlyReadableCalendars(t *testing.T) {
	t.Parallel()
	gc := gcalsandbox.New(gcalsandbox.Options{Seed: true})
	base := newHTTPServer(t, gc)
	s := newStack(t, withEnv(gc.Env(base)), withEnv(map[string]string{"POBLYSH_GOOGLE_CALENDAR_WEBHOOK_SECRET": "calendar-channel-secret"}))
	const mallory = "mallory@example.com"
	team := gcalsandbox.TeamCalendarID
	tenantA, keyA := s.tenant("Acme")
	tenantB, keyB := s.tenant("Mallory Inc")

	code, body := s.connectAs(keyA, "google-calendar", gcalsandbox.DefaultUser, map[string]any{"calendars": []string{"primary", team}})
	require.Equal(t, http.StatusOK, code, body)
	connA := string(*connectionOf(t, body).ID)
	s.waitJobs(keyA, connA, "backfill", 2, 2*time.Minute)

	// Mallory names Ada's calendars: refused, nothing stored.
	for _, cal := range []string{gcalsandbox.DefaultUser, team} {
		code, body = s.connectAs(keyB, "google-calendar", mallory, map[string]any{"calendars": []string{"primary", cal}})
		require.Equal(t, http.StatusUnprocessableEntity, code, body)
		require.Contains(t, body, `"code":"invalid_config"`)
		require.Contains(t, body, cal)
	}
	require.Zero(t, s.count(`SELECT count(*) FROM connections WHERE tenant_id = $1`, tenantB))

	code, body = s.connectAs(keyB, "google-calendar", mallory, map[string]any{"calendars": []string{"primary"}})
	require.Equal(t, http.StatusOK, code, body)
	connB := string(*connectionOf(t, body).ID)
	s.waitJobs(keyB, connB, "backfill", 1, 2*time.Minute)
	code, body = s.patch(keyB, connB, `{"config":{"calendars":["primary","`+team+`"]}}`)
	require.Equal(t, http.StatusUnprocessableEntity, code, body)
	require.Contains(t, body, team)
	require.JSONEq(t, `{"calendars":["primary"]}`, string(mustJSON(t, s.connection(keyB, connB).Config)), "the config is unchanged")

	// A change on the team calendar reaches A only: B has no channel on it.
	eventually(t, 30*time.Second, "A's channel on the team calendar", func() bool {
		for _, c := range gc.Channels() {
			if c.Live && c.CalendarID == team {
				return true
			}
		}
		return false
	})
	for _, c := range gc.Channels() {
		require.False(t, c.User == mallory && c.CalendarID == team, "no channel of B's token on the team calendar")
	}
	_, notes, err := gc.CreateEvent(context.Background(), team, gcalsandbox.EventInput{Summary: "Embargoed launch briefing"}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	require.Len(t, notes, 1, "one live channel on the team calendar: A's")
	countTitle := func(tenant string) int {
		return s.count(`SELECT count(*) FROM signals WHERE tenant_id = $1 AND payload->>'title' LIKE 'Embargoed launch briefing%'`, tenant)
	}
	eventually(t, 30*time.Second, "A's Signal", func() bool { return countTitle(tenantA) == 1 })
	for _, mode := range []string{"incremental", "backfill"} {
		for _, j := range s.sync(keyB, "google-calendar", connB, mode) {
			require.Equal(t, models.JobStatusSucceeded, *j.Status, deref(j.Error))
		}
	}
	require.Zero(t, countTitle(tenantB))
	require.Zero(t, s.count(`SELECT count(*) FROM signals WHERE tenant_id = $1 AND payload->'context'->>'id' = $2`, tenantB, team))

	// Shared with Mallory: the same PATCH now passes, and B watches it.
	require.NoError(t, gc.Share(team, mallory, true))
	code, body = s.patch(keyB, connB, `{"config":{"calendars":["primary","`+team+`"]}}`)
	require.Equal(t, http.StatusOK, code, body)
	var channelB string
	eventually(t, 30*time.Second, "B's channel on the team calendar", func() bool {
		for _, w := range s.connection(keyB, connB).Watches {
			if *w.Target == team {
				channelB = *w.ChannelID
				return true
			}
		}
		return false
	})
	eventually(t, 30*time.Second, "B's channel routed", func() bool {
		return s.count(`SELECT count(*) FROM webhook_routes WHERE connection_id = $1 AND route_key = $2`, connB, "channel:"+channelB) == 1
	})
	// The PATCH started a sync of the new calendar; let it finish first, so
	// that the next request is a pass of its own, not a follow-up of it.
	for _, j := range s.sync(keyB, "google-calendar", connB, "incremental") {
		require.Equal(t, models.JobStatusSucceeded, *j.Status, deref(j.Error))
	}

	// Sharing stops: the sync of that calendar loses access.
	require.NoError(t, gc.Share(team, mallory, false))
	var failed bool
	for _, j := range s.sync(keyB, "google-calendar", connB, "incremental") {
		if *j.Stream == "events:"+team {
			require.Equal(t, models.JobStatusFailed, *j.Status, "%+v", j)
			require.Contains(t, deref(j.Error), "not found")
			failed = true
		}
	}
	require.True(t, failed)
	c := s.connection(keyB, connB)
	require.EqualValues(t, "degraded", *c.Health)
	require.Contains(t, c.HealthReason, team)
	require.Zero(t, s.count(`SELECT count(*) FROM webhook_routes WHERE connection_id = $1 AND route_key = $2`, connB, "channel:"+channelB),
		"the lost calendar's channel is not routed")

	// Shared again: the next sync reads it, proves it, routes it again.
	require.NoError(t, gc.Share(team, mallory, true))
	for _, j := range s.sync(keyB, "google-calendar", connB, "incremental") {
		require.Equal(t, models.JobStatusSucceeded, *j.Status, deref(j.Error))
	}
	require.EqualValues(t, "healthy", *s.connection(keyB, connB).Health)
	require.Equal(t, 1, s.count(`SELECT count(*) FROM webhook_routes WHERE connection_id = $1 AND route_key = $2`, connB, "channel:"+channelB))
}
