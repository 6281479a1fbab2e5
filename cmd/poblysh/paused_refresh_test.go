package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/gen/models"
	gcalsandbox "github.com/poblysh/poblysh/sandbox/googlecalendar"
	"github.com/poblysh/poblysh/workflows"
)

// TestRefreshSweepKeepsAPausedConnectionAlive: Google drops a refresh
// token unused for six months, and pausing stops syncing, not the
// authorization. The hourly sweep refreshes a paused Google Calendar
// connection's refresh token idle for 150 days, through the same
// RefreshToken workflow as an active one's: the token endpoint is asked
// once and the job succeeds; the connection stays paused (health
// disabled, schedule paused), no sync runs, and its cursors do not move.
func TestRefreshSweepKeepsAPausedConnectionAlive(t *testing.T) {
	t.Parallel()
	gc := gcalsandbox.New(gcalsandbox.Options{Seed: true})
	srv := newHTTPServer(t, gc)
	s := newStack(t, withEnv(gc.Env(srv)), withEnv(map[string]string{"POBLYSH_GOOGLE_CALENDAR_WEBHOOK_SECRET": "calendar-channel-secret"}))
	_, key := s.tenant("Paused")
	conn := s.connect(key, "google-calendar", nil)
	id := string(*conn.ID)
	s.waitJobs(key, id, "backfill", 1, 2*time.Minute)
	s.waitJobs(key, id, "watch_renewal", 1, 30*time.Second)
	code, body := s.patch(key, id, `{"paused": true}`)
	require.Equal(t, http.StatusOK, code, body)
	sched := workflows.PollScheduleID(s.taskQueue, id)
	s.schedulePaused(sched, true, "pausing pauses the schedule")
	before := s.waitJobs(key, id, "", 2, 30*time.Second) // the pause applied: nothing running

	cursors := func() string {
		var out string
		require.NoError(t, s.owner().QueryRow(context.Background(), `SELECT coalesce(string_agg(stream || ':' || version || ':' || md5(coalesce(cursor::text, '')), ',' ORDER BY stream), '')
			FROM sync_cursors WHERE connection_id = $1`, id).Scan(&out))
		return out
	}
	cur := cursors()
	require.NotEmpty(t, cur, "the backfill stored cursors")
	s.exec(`UPDATE connections SET token_refreshed_at = now() - interval '150 days' WHERE id = $1`, id)
	refreshes := gc.Base.OAuth.Refreshes

	s.trigger(workflows.RefreshScheduleID(s.taskQueue))
	js := s.waitJobs(key, id, "token_refresh", 1, 60*time.Second)
	require.Equal(t, models.JobStatusSucceeded, *js[0].Status, deref(js[0].Error))
	require.Equal(t, models.JobTriggerSchedule, *js[0].Trigger)
	require.Equal(t, refreshes+1, gc.Base.OAuth.Refreshes, "the refresh token was used")
	require.Equal(t, 0, s.count(`SELECT count(*) FROM connections WHERE id = $1 AND token_refreshed_at < now() - interval '1 day'`, id),
		"the keep-alive clock starts again")

	c := s.connection(key, id)
	require.True(t, *c.Paused)
	require.Equal(t, models.ConnectionHealthDisabled, *c.Health)
	s.schedulePaused(sched, true, "the schedule stays paused")
	require.Equal(t, syncJobs(before), syncJobs(s.waitJobs(key, id, "", len(before)+1, 10*time.Second)), "no sync ran")
	require.Equal(t, cur, cursors(), "no cursor moved")
}

// syncJobs counts the jobs that read from the provider (backfills and
// incremental passes).
func syncJobs(js []*models.Job) int {
	n := 0
	for _, j := range js {
		if k := *j.Kind; k != models.JobKindTokenRefresh && k != models.JobKindWatchRenewal {
			n++
		}
	}
	return n
}
