package googlecalendar_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors/googlecalendar"
	"github.com/poblysh/poblysh/sandbox"
	gcalsandbox "github.com/poblysh/poblysh/sandbox/googlecalendar"
)

// standupOccurrence is one occurrence of the seeded standup series, at its
// original start, as Google's exceptions name it.
var standupOccurrence = &gcalsandbox.DateTime{DateTime: "2025-01-20T09:30:00Z", TimeZone: "Europe/London"}

// TestMovedOccurrenceOfKnownSeriesIsAnUpdate: moving one occurrence of a
// series the connection remembers makes Google list a new event (the
// exception <series>_<original start>, created as the series was). It is
// an edit of the series' occurrence, dated when it was made. It was
// calendar_event.created, dated at the series' creation (2025-01-09), so
// GET /signals?since= never showed it.
func TestMovedOccurrenceOfKnownSeriesIsAnUpdate(t *testing.T) {
	h := newHarness(t, gcalsandbox.Options{Seed: true}, nil)
	_, resting, _ := h.drain(t, primaryStream, nil)
	before := time.Now().Add(-time.Minute)
	ev, _, err := h.sb.CreateEvent(context.Background(), "primary", gcalsandbox.EventInput{
		RecurringEventID: gcalsandbox.StandupSeriesID, OriginalStartTime: standupOccurrence, Summary: "Team standup",
		Start: &gcalsandbox.DateTime{DateTime: "2025-01-20T11:00:00Z", TimeZone: "Europe/London"},
		End:   &gcalsandbox.DateTime{DateTime: "2025-01-20T11:15:00Z", TimeZone: "Europe/London"},
	}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	sigs, _, _ := h.drain(t, primaryStream, resting)
	require.Len(t, sigs, 1)
	s := sigs[0]
	require.Equal(t, googlecalendar.KindUpdated, s.Kind)
	require.True(t, s.OccurredAt.After(before), "dated at the exception's updated, not the series' created: %s", s.OccurredAt)
	updated, err := time.Parse(time.RFC3339Nano, ev.Updated)
	require.NoError(t, err)
	require.Equal(t, updated.UnixMilli(), s.OccurredAt.UnixMilli())
	require.Equal(t, "event:"+h.sb.User()+":"+ev.ID+":updated:"+strconv.FormatInt(updated.UnixMilli(), 10), s.DedupeKey,
		"the key of an edit of a remembered event")
	require.Equal(t, "2025-01-20T11:00:00Z", s.Payload.Attributes["start"])
	require.Equal(t, gcalsandbox.StandupSeriesID, s.Payload.Attributes["recurring_event_id"])
}

// movedStandup is the dedupe key prefix of the seeded moved occurrence.
func movedStandup(user string) string {
	return "event:" + user + ":" + gcalsandbox.StandupSeriesID + "_20250115T093000Z"
}

// TestExceptionsInABackfillAreCreations: a backfill reads a series and its
// exceptions for the first time, in any order and on any page: the moved
// occurrence is a creation like every event first seen, though its series
// is remembered from an earlier page of the pass.
func TestExceptionsInABackfillAreCreations(t *testing.T) {
	for _, tc := range []struct {
		size       string
		seriesLast bool
	}{{"1", false}, {"3", false}, {"250", false}, {"1", true}} {
		t.Run(tc.size, func(t *testing.T) {
			h := newHarness(t, gcalsandbox.Options{Seed: true, SeriesLast: tc.seriesLast}, map[string]string{"PAGE_SIZE": tc.size})
			sigs, resting, cursors := h.drain(t, primaryStream, nil)
			kinds := map[string]int{}
			for _, s := range sigs {
				kinds[s.Kind]++
				if s.Payload.Subject.ID == gcalsandbox.StandupSeriesID+"_20250115T093000Z" {
					require.Equal(t, movedStandup(h.sb.User())+":created", s.DedupeKey)
				}
			}
			require.Equal(t, map[string]int{googlecalendar.KindCreated: 8, googlecalendar.KindCancelled: 2}, kinds)
			if tc.size == "1" && !tc.seriesLast {
				require.Contains(t, string(cursors[3]), `"new_series":["`+gcalsandbox.StandupSeriesID+`"]`,
					"the pass names the series it read first")
			}
			require.NotContains(t, string(resting), "new_series", "a pass ends naming none")
		})
	}
}

// TestOccurrenceRSVPIsNoSignal: an answer to one occurrence alone makes
// Google list an exception whose title, times and place are the series'
// at its original start: no Signal, as an RSVP to any event. An edit of
// that occurrence afterwards is an update.
func TestOccurrenceRSVPIsNoSignal(t *testing.T) {
	h := newHarness(t, gcalsandbox.Options{Seed: true}, nil)
	ctx := context.Background()
	_, resting, _ := h.drain(t, primaryStream, nil)
	occ, _, err := h.sb.CreateEvent(ctx, "primary", gcalsandbox.EventInput{
		RecurringEventID: gcalsandbox.StandupSeriesID, OriginalStartTime: standupOccurrence, Summary: "Team standup",
		Start:     standupOccurrence,
		End:       &gcalsandbox.DateTime{DateTime: "2025-01-20T09:45:00Z", TimeZone: "Europe/London"},
		Attendees: []gcalsandbox.Attendee{{Email: "grace@example.com", ResponseStatus: "declined"}},
	}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	p, err := h.fetch(t, primaryStream, resting)
	require.NoError(t, err)
	require.True(t, p.Done)
	require.Equal(t, 1, p.Items, "Google lists the new exception")
	require.Empty(t, p.Signals, "an answer to one occurrence is not a Signal")
	require.Contains(t, p.Fingerprints, "event:"+h.sb.User()+":"+occ.ID, "the occurrence is remembered")

	_, _, err = h.sb.UpdateEvent(ctx, "primary", occ.ID, gcalsandbox.EventInput{Summary: "Team standup (demo day)"}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	sigs, _, _ := h.drain(t, primaryStream, p.Next)
	require.Len(t, sigs, 1)
	require.Equal(t, googlecalendar.KindUpdated, sigs[0].Kind)
	require.Equal(t, "Team standup (demo day)", sigs[0].Payload.Title)
}

// TestExceptionsInAResyncAfter410: the full sync after an expired sync
// token reads what changed in between with everything else. An occurrence
// of a remembered series moved meanwhile is an update; a series created
// meanwhile and its moved occurrence (a page later) are creations, and
// nothing stored before is derived again.
func TestExceptionsInAResyncAfter410(t *testing.T) {
	h := newHarness(t, gcalsandbox.Options{Seed: true}, map[string]string{"PAGE_SIZE": "1"})
	ctx := context.Background()
	_, _, _ = h.drain(t, primaryStream, nil)
	moved, _, err := h.sb.CreateEvent(ctx, "primary", gcalsandbox.EventInput{
		RecurringEventID: gcalsandbox.StandupSeriesID, OriginalStartTime: standupOccurrence, Summary: "Team standup",
		Start: &gcalsandbox.DateTime{DateTime: "2025-01-20T11:00:00Z"}, End: &gcalsandbox.DateTime{DateTime: "2025-01-20T11:15:00Z"},
	}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	first := time.Date(2025, 3, 3, 15, 0, 0, 0, time.UTC)
	series, _, err := h.sb.CreateEvent(ctx, "primary", gcalsandbox.EventInput{Summary: "Launch war room",
		Start: &gcalsandbox.DateTime{DateTime: first.Format(time.RFC3339)}, Recurrence: []string{"RRULE:FREQ=DAILY"}}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	exc, _, err := h.sb.CreateEvent(ctx, "primary", gcalsandbox.EventInput{Summary: "Launch war room (press day)",
		RecurringEventID: series.ID, OriginalStartTime: &gcalsandbox.DateTime{DateTime: first.AddDate(0, 0, 1).Format(time.RFC3339)},
		Start: &gcalsandbox.DateTime{DateTime: first.AddDate(0, 0, 1).Add(time.Hour).Format(time.RFC3339)}}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	h.sb.ExpireSyncTokens()

	sigs, _, _ := h.drain(t, primaryStream, nil)
	var kinds []string
	for _, s := range sigs {
		kinds = append(kinds, s.Kind+" "+s.Payload.Subject.ID)
	}
	require.ElementsMatch(t, []string{
		googlecalendar.KindUpdated + " " + moved.ID,
		googlecalendar.KindCreated + " " + series.ID,
		googlecalendar.KindCreated + " " + exc.ID,
	}, kinds)
}

// TestManyNewSeriesInAPass: past MaxNewSeries series read first, a pass
// stops naming them in its cursor and takes every exception it has not
// seen for a first sight, so none of a new series' is an update.
func TestManyNewSeriesInAPass(t *testing.T) {
	h := newHarness(t, gcalsandbox.Options{Seed: true}, map[string]string{"PAGE_SIZE": "25"})
	ctx := context.Background()
	_, _, _ = h.drain(t, primaryStream, nil)
	var last gcalsandbox.Event
	for i := range googlecalendar.MaxNewSeries + 1 {
		var err error
		last, _, err = h.sb.CreateEvent(ctx, "primary", gcalsandbox.EventInput{Summary: "Series " + strconv.Itoa(i),
			Start: &gcalsandbox.DateTime{DateTime: "2025-03-03T15:00:00Z"}, Recurrence: []string{"RRULE:FREQ=DAILY"}}, sandbox.DeliveryOptions{})
		require.NoError(t, err)
	}
	for i := range 25 { // the exception on a page after the one past the bound
		_, _, err := h.sb.CreateEvent(ctx, "primary", gcalsandbox.EventInput{Summary: "Event " + strconv.Itoa(i)}, sandbox.DeliveryOptions{})
		require.NoError(t, err)
	}
	exc, _, err := h.sb.CreateEvent(ctx, "primary", gcalsandbox.EventInput{Summary: "Moved",
		RecurringEventID: last.ID, OriginalStartTime: &gcalsandbox.DateTime{DateTime: "2025-03-04T15:00:00Z"}}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	h.sb.ExpireSyncTokens()

	sigs, _, cursors := h.drain(t, primaryStream, nil)
	var many bool
	for _, c := range cursors {
		many = many || decode(t, c)["many_new_series"] == true
		require.LessOrEqual(t, len(c), 8<<10, "the cursor stays small")
	}
	require.True(t, many)
	require.Len(t, sigs, googlecalendar.MaxNewSeries+1+25+1)
	for _, s := range sigs {
		require.Equal(t, googlecalendar.KindCreated, s.Kind, s.Payload.Subject.ID)
		if s.Payload.Subject.ID == exc.ID {
			require.Equal(t, "Moved", s.Payload.Title)
		}
	}
}
