package main

import (
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/gen/models"
	"github.com/poblysh/poblysh/sandbox"
	gcalsandbox "github.com/poblysh/poblysh/sandbox/googlecalendar"
	"github.com/poblysh/poblysh/workflows"
)

// Google Calendar's row: connect with offline access (keyed by the OpenID
// subject), backfill two calendars exactly in short pages, open watch
// channels, turn bodiless push notifications into incremental syncs
// (created, updated, cancelled; an RSVP stores nothing; an invitation
// cancelled by its organizer, sent as an id, keeps its title), then: a 410 GONE is survived with a full
// resync that derives nothing (the fingerprints match), and a revoked refresh token moves the
// connection to needs_reauth (schedule paused, job failed with the reason).
func init() {
	events := func(r *providerRun) string { return r.url + "/_sandbox/calendar/calendars/primary/events" }
	gc := func(r *providerRun) *gcalsandbox.Server { return r.fake.(*gcalsandbox.Server) }
	addProviderCase(providerCase{
		provider: "google-calendar",
		fake:     sandbox.Options{Faults: []string{gcalsandbox.FaultShortPages}},
		// The seed is of January 2025: a window long enough to backfill it.
		config:   map[string]any{"calendars": []string{"primary", gcalsandbox.TeamCalendarID}, "backfill_days": 3650},
		streams:  2, // one per calendar
		backfill: gcalsandbox.PrimarySignals + gcalsandbox.TeamSignals,
		watches:  2, // a channel per calendar
		afterConnect: func(r *providerRun) {
			require.Equal(r.t, gcalsandbox.Subject(gc(r).User()), *r.conn.ExternalAccountID, "keyed by the OpenID subject, not the email")
			require.Equal(r.t, gc(r).User(), *r.conn.DisplayName, "the email is kept for display")
		},
		live: func(r *providerRun) {
			// A change pushed as a bodiless notification → incremental sync → Signal.
			ev := control(r.t, "POST", events(r), map[string]any{"summary": "Press call",
				"start": map[string]any{"dateTime": "2026-12-01T15:00:00Z"}, "end": map[string]any{"dateTime": "2026-12-01T15:30:00Z"},
				"attendees": []map[string]any{{"email": gc(r).User(), "responseStatus": "accepted"}, {"email": "jo@northwind-pr.example"}}})
			evID := findString(ev, "id")
			require.NotEmpty(r.t, evID)
			added := r.arrive(1)
			// An RSVP bumps the event's updated time and nothing else: the
			// sync reads it (Google lists it as changed) and stores nothing.
			control(r.t, "POST", events(r)+"/"+evID+"/rsvp", map[string]any{"email": "jo@northwind-pr.example", "response": "accepted"})
			r.jobs(r.s.sync(r.key, "google-calendar", r.id, "incremental"), 2)
			require.Equal(r.t, r.total, r.s.count(`SELECT count(*) FROM signals`), "an RSVP is not a Signal")
			control(r.t, "PATCH", events(r)+"/"+evID, map[string]any{"summary": "Press call (moved)",
				"start": map[string]any{"dateTime": "2026-12-02T15:00:00Z"}})
			// Calendar sync reads the latest state only: let the update be
			// seen before cancelling, or the pass would see just the
			// cancellation.
			added = append(added, r.arrive(1)...)
			control(r.t, "POST", events(r)+"/"+evID+"/cancel", nil)
			added = append(added, r.arrive(1)...)
			require.Equal(r.t, map[string]int{"calendar_event.created": 1, "calendar_event.updated": 1, "calendar_event.cancelled": 1}, kinds(added))

			// An invitation from outside, deleted by its organizer, reaches
			// Ada's calendar as an id: the Signal takes the stored title.
			inv := control(r.t, "POST", events(r), map[string]any{"summary": "Interview: Le Monde",
				"organizer": map[string]any{"email": "camille@lemonde.example", "displayName": "Camille Martin"}})
			invID := findString(inv, "id")
			r.arrive(1)
			control(r.t, "POST", events(r)+"/"+invID+"/cancel", nil)
			gone := r.arrive(1)
			require.Equal(r.t, "calendar_event.cancelled", *gone[0].Kind)
			require.Equal(r.t, "Interview: Le Monde", *gone[0].Payload.Title, "titled from the stored Signal")
		},
		missed: func(r *providerRun) int {
			// Created with its notification held: only a sync finds it.
			control(r.t, "POST", events(r)+"?hold=true", map[string]any{"summary": "Embargoed briefing",
				"start": map[string]any{"dateTime": "2026-12-03T09:00:00Z"}, "end": map[string]any{"dateTime": "2026-12-03T09:30:00Z"}})
			return 1
		},
		after: func(r *providerRun) {
			t, s := r.t, r.s
			// 410 GONE: the sync token expired; a full resync stores nothing twice.
			gc(r).ExpireSyncTokens()
			js := s.sync(r.key, "google-calendar", r.id, "incremental")
			r.jobs(js, 2)
			require.Zero(t, stored(js))
			var dups, pages int64
			for _, j := range js {
				dups += *j.Duplicates
				pages += *j.Pages
			}
			require.Greater(t, pages, int64(len(js)), "the resync re-read every page (an idle increment is one page a stream)")
			require.Zero(t, dups, "the fingerprints match: nothing is derived again, cancellations included")
			require.Equal(t, r.total, s.count(`SELECT count(*) FROM signals`))

			// Refresh token revoked: the next sync cannot refresh, the
			// connection needs re-auth, its schedule pauses, the job fails
			// with the reason.
			control(t, "POST", r.url+"/_sandbox/tokens/revoke", nil)
			control(t, "POST", r.url+"/_sandbox/tokens/expire", nil)
			js = s.sync(r.key, "google-calendar", r.id, "incremental")
			failed := 0
			for _, j := range js {
				if *j.Status == models.JobStatusFailed {
					failed++
					require.Contains(t, *j.Error, "refresh", "the job says why")
				}
			}
			require.Positive(t, failed)
			c := s.connection(r.key, r.id)
			require.Equal(t, models.ConnectionHealthNeedsReauth, *c.Health)
			require.Zero(t, s.count(`SELECT count(*) FROM oauth_states WHERE used_at IS NULL`), "reading the connection writes no OAuth state")
			s.schedulePaused(workflows.PollScheduleID(s.taskQueue, r.id), true, "scheduled work stops while re-auth is needed")
		},
	})
}
