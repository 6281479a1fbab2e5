package googlecalendar_test

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/googlecalendar"
	"github.com/poblysh/poblysh/sandbox"
	gcalsandbox "github.com/poblysh/poblysh/sandbox/googlecalendar"
)

const primaryStream = "events:primary"

func (h *harness) fetch(t *testing.T, stream string, cursor json.RawMessage) (*connectors.Page, error) {
	t.Helper()
	p, err := h.prov.Connector.(connectors.Syncer).FetchPage(context.Background(), connectors.PageRequest{
		Connection: h.conn, Stream: stream, Cursor: cursor, HTTP: h.client(), Now: time.Now(), Memory: h.mem,
	})
	if err == nil {
		h.mem.store(p)
	}
	return p, err
}

// drain reads a stream to the end and returns its Signals, the resting
// cursor and the cursors stored after each page.
func (h *harness) drain(t *testing.T, stream string, cursor json.RawMessage) ([]connectors.Signal, json.RawMessage, []json.RawMessage) {
	t.Helper()
	var all []connectors.Signal
	var cursors []json.RawMessage
	for range 100 {
		p, err := h.fetch(t, stream, cursor)
		require.NoError(t, err)
		all = append(all, p.Signals...)
		cursors = append(cursors, p.Next)
		cursor = p.Next
		if p.Done {
			return all, cursor, cursors
		}
	}
	t.Fatal("stream did not finish")
	return nil, nil, nil
}

func dedupeKeys(sigs []connectors.Signal) []string {
	var out []string
	for _, s := range sigs {
		out = append(out, s.DedupeKey)
	}
	slices.Sort(out)
	return out
}

func decode(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	return m
}

func TestCursorShape(t *testing.T) {
	h := newHarness(t, gcalsandbox.Options{Seed: true, PageSize: 3}, nil)
	_, resting, cursors := h.drain(t, primaryStream, nil)
	require.Len(t, cursors, 4, "10 seeded events, 3 per page")
	for _, c := range cursors[:3] {
		m := decode(t, c)
		require.NotEmpty(t, m["page_token"], "mid-pass cursors hold the page token")
		require.NotContains(t, m, "sync_token", "a full pass has no sync token until its last page")
	}
	rest := decode(t, resting)
	require.NotEmpty(t, rest["sync_token"])
	require.NotContains(t, rest, "page_token", "the resting cursor holds only the new sync token")

	// An incremental pass over 4 changes pages too, keeping its sync token.
	for i := range 4 {
		_, _, err := h.sb.CreateEvent(context.Background(), "primary", gcalsandbox.EventInput{Summary: "New " + string(rune('A'+i))}, sandbox.DeliveryOptions{})
		require.NoError(t, err)
	}
	sigs, resting2, cursors := h.drain(t, primaryStream, resting)
	require.Len(t, sigs, 4)
	require.Len(t, cursors, 2)
	mid := decode(t, cursors[0])
	require.Equal(t, rest["sync_token"], mid["sync_token"])
	require.NotEmpty(t, mid["page_token"])
	require.NotEqual(t, rest["sync_token"], decode(t, resting2)["sync_token"])
}

func TestIncrementalSyncSeesChanges(t *testing.T) {
	h := newHarness(t, gcalsandbox.Options{Seed: true, PageSize: 3}, nil)
	ctx := context.Background()
	backfill, resting, _ := h.drain(t, primaryStream, nil)
	require.Len(t, backfill, gcalsandbox.PrimarySignals)

	created, _, err := h.sb.CreateEvent(ctx, "primary", gcalsandbox.EventInput{Summary: "Podcast recording", Location: "Studio 1"}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	upd, _, err := h.sb.UpdateEvent(ctx, "primary", "q3roadmapreview0a1b2c3d4e", gcalsandbox.EventInput{Location: "Room 101"}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	_, _, err = h.sb.CancelEvent(ctx, "primary", "focusblock5e7g9i1k3m5o7q9s", sandbox.DeliveryOptions{})
	require.NoError(t, err)

	sigs, _, _ := h.drain(t, primaryStream, resting)
	var kinds []string
	for _, s := range sigs {
		kinds = append(kinds, s.Kind+" "+s.Payload.Subject.ID)
	}
	require.ElementsMatch(t, []string{
		"calendar_event.updated q3roadmapreview0a1b2c3d4e", // seen before: an update only
		"calendar_event.cancelled focusblock5e7g9i1k3m5o7q9s",
		"calendar_event.created " + created.ID,
	}, kinds)
	old := dedupeKeys(backfill)
	for _, s := range sigs {
		isNew := !slices.Contains(old, s.DedupeKey)
		require.Equal(t, s.Kind != googlecalendar.KindCreated || s.Payload.Subject.ID == created.ID, isNew, s.DedupeKey)
		if s.Kind == googlecalendar.KindUpdated {
			require.Equal(t, "Room 101", s.Payload.Attributes["location"])
			require.Equal(t, upd.Updated, s.OccurredAt.Format("2006-01-02T15:04:05.000Z"))
		}
		require.Equal(t, h.sb.User(), s.Payload.Context.ID, `"primary" is keyed by the calendar's real id`)
	}
}

func TestFullResyncAfter410YieldsSameKeys(t *testing.T) {
	h := newHarness(t, gcalsandbox.Options{Seed: true, PageSize: 3}, nil)
	for _, stream := range []string{primaryStream, "events:" + gcalsandbox.TeamCalendarID} {
		first, resting, _ := h.drain(t, stream, nil)
		h.sb.ExpireSyncTokens()
		_, err := h.fetch(t, stream, resting)
		require.ErrorIs(t, err, connectors.ErrCursorExpired)
		require.Equal(t, connectors.ErrCursorExpired, connectors.Kind(err))

		// The engine clears the cursor and resyncs from the start: what was
		// seen is remembered, cancellations included.
		again, resting2, _ := h.drain(t, stream, nil)
		require.Empty(t, again, "stream %s: a resync of an unchanged calendar derives nothing", stream)
		again2, _, _ := h.drain(t, stream, resting2)
		require.Empty(t, again2, "the new sync token works")
		// Without the memory (fingerprints lost) the keys are the same.
		h.mem = newMemory()
		forgot, _, _ := h.drain(t, stream, nil)
		require.Equal(t, dedupeKeys(first), dedupeKeys(forgot), "stream %s: keys depend on the event only", stream)
	}
}

func TestSyncTokenExpiresMidPass(t *testing.T) {
	h := newHarness(t, gcalsandbox.Options{Seed: true, PageSize: 3}, nil)
	_, resting, _ := h.drain(t, primaryStream, nil)
	for range 4 {
		_, _, err := h.sb.CreateEvent(context.Background(), "primary", gcalsandbox.EventInput{Summary: "x"}, sandbox.DeliveryOptions{})
		require.NoError(t, err)
	}
	p, err := h.fetch(t, primaryStream, resting)
	require.NoError(t, err)
	require.False(t, p.Done)
	h.sb.ExpireSyncTokens()
	_, err = h.fetch(t, primaryStream, p.Next)
	require.ErrorIs(t, err, connectors.ErrCursorExpired)
}

func TestFetchPageErrors(t *testing.T) {
	h := newHarness(t, gcalsandbox.Options{Seed: true}, nil)
	_, err := h.fetch(t, primaryStream, json.RawMessage(`"not a cursor object"`))
	require.ErrorIs(t, err, connectors.ErrCursorExpired, "an unreadable cursor forces a resync")
	_, err = h.fetch(t, primaryStream, json.RawMessage(`{"page_token":"p","held":[{"series":"s","signal":{}}]}`))
	require.ErrorIs(t, err, connectors.ErrCursorExpired, "a held cancellation the connector did not write forces a resync")

	_, err = h.fetch(t, "events:nobody@example.com", nil)
	require.ErrorIs(t, err, connectors.ErrNotFound)

	_, err = h.fetch(t, "pulls:octo/hello", nil)
	require.ErrorIs(t, err, connectors.ErrInvalidConfig)

	h.sb.Base.OAuth.ExpireAccessTokens()
	_, err = h.fetch(t, primaryStream, nil)
	require.ErrorIs(t, err, connectors.ErrUnauthorized)
	require.NotContains(t, err.Error(), h.tok, "tokens never appear in errors")
}

func TestPageSizeSetting(t *testing.T) {
	h := newHarness(t, gcalsandbox.Options{Seed: true}, map[string]string{"PAGE_SIZE": "4"})
	sigs, _, cursors := h.drain(t, primaryStream, nil)
	require.Len(t, sigs, gcalsandbox.PrimarySignals)
	require.Len(t, cursors, 3, "10 events, 4 per page")

	for _, bad := range []string{"0", "2501", "many"} {
		env := map[string]string{"POBLYSH_GOOGLE_CALENDAR_PAGE_SIZE": bad}
		cfg, err := connectors.LoadConfig(googlecalendar.Spec, func(k string) string { return env[k] }, "", false)
		require.NoError(t, err)
		_, err = googlecalendar.Spec.New(cfg)
		require.ErrorIs(t, err, connectors.ErrInvalidConfig, bad)
	}
}

// With a plain authorized client (not the engine's classifying one), Google
// errors still map to the neutral errors.
func TestErrorsWithoutTheEngineClient(t *testing.T) {
	h := newHarness(t, gcalsandbox.Options{Seed: true}, nil)
	plain := oauth2.NewClient(context.Background(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: h.tok}))
	fetch := func(cursor json.RawMessage) (*connectors.Page, error) {
		return h.prov.Connector.(connectors.Syncer).FetchPage(context.Background(), connectors.PageRequest{
			Connection: h.conn, Stream: primaryStream, Cursor: cursor, HTTP: plain, Now: time.Now(),
		})
	}
	var cursor json.RawMessage
	for {
		p, err := fetch(cursor)
		require.NoError(t, err)
		cursor = p.Next
		if p.Done {
			break
		}
	}
	h.sb.ExpireSyncTokens()
	_, err := fetch(cursor)
	require.ErrorIs(t, err, connectors.ErrCursorExpired)
	h.sb.Base.Faults.Add(gcalsandbox.RateLimitFault("rateLimitExceeded", 1))
	_, err = fetch(nil)
	require.ErrorIs(t, err, connectors.ErrRateLimited)

	err = h.prov.Connector.(connectors.Watcher).StopWatch(context.Background(), connectors.StopWatchRequest{
		Connection: h.conn, HTTP: plain, Channel: connectors.Channel{ID: "poblysh-gone", ResourceID: "r"},
	})
	require.NoError(t, err, "a channel Google does not know is already stopped")
}

// TestBackfillWindow: a full sync reads events that end after now minus
// backfill_days (30 by default) and every future event; an incremental pass
// has no window. The window is fixed for the whole pass (in the cursor).
func TestBackfillWindow(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		config string
		want   []string
	}{
		{`{}`, []string{"Ten days ago", "Tomorrow", "In 2031", "Team standup"}},
		{`{"backfill_days": 60}`, []string{"Forty days ago", "Ten days ago", "Tomorrow", "In 2031", "Team standup"}},
		{`{"backfill_days": 5}`, []string{"Tomorrow", "In 2031", "Team standup"}},
	} {
		t.Run(tc.config, func(t *testing.T) {
			h := newHarness(t, gcalsandbox.Options{Seed: true, PageSize: 2}, nil)
			cfg, err := h.prov.Connector.(connectors.ConfigValidator).ValidateConfig([]byte(tc.config))
			require.NoError(t, err)
			h.conn.Config = cfg
			now := time.Now().UTC()
			for title, start := range map[string]time.Time{
				"Forty days ago": now.AddDate(0, 0, -40), "Ten days ago": now.AddDate(0, 0, -10),
				"Tomorrow": now.AddDate(0, 0, 1), "In 2031": time.Date(2031, 3, 1, 9, 0, 0, 0, time.UTC),
			} {
				_, _, err := h.sb.CreateEvent(ctx, "primary", gcalsandbox.EventInput{Summary: title,
					Start: &gcalsandbox.DateTime{DateTime: start.Format(time.RFC3339)}}, sandbox.DeliveryOptions{})
				require.NoError(t, err)
			}
			sigs, resting, cursors := h.drain(t, primaryStream, nil)
			var titles []string
			for _, s := range sigs {
				titles = append(titles, s.Payload.Title)
			}
			// The seeded week-day standup series never ends: it is in every window.
			require.ElementsMatch(t, tc.want, titles)
			first := decode(t, cursors[0])
			require.NotEmpty(t, first["time_min"], "a full sync's window travels in its cursor")
			for _, c := range cursors[:len(cursors)-1] {
				require.Equal(t, first["time_min"], decode(t, c)["time_min"], "every page of the pass asks the same window")
			}
			require.NotContains(t, decode(t, resting), "time_min", "incremental passes have no window")

			// An edit of an event older than the window reaches the incremental pass.
			old := h.sb.Events("primary")[0].(gcalsandbox.Event)
			_, _, err = h.sb.UpdateEvent(ctx, "primary", old.ID, gcalsandbox.EventInput{Location: "Room 9"}, sandbox.DeliveryOptions{})
			require.NoError(t, err)
			sigs, _, _ = h.drain(t, primaryStream, resting)
			require.Len(t, sigs, 1)
			require.Equal(t, old.ID, sigs[0].Payload.Subject.ID)
		})
	}
}

// TestRSVPOnlyChangeIsNoSignal: an attendee's answer bumps the event's
// updated time and reaches the incremental pass, which stores no Signal;
// a real edit afterwards is one calendar_event.updated.
func TestRSVPOnlyChangeIsNoSignal(t *testing.T) {
	h := newHarness(t, gcalsandbox.Options{Seed: true}, nil)
	ctx := context.Background()
	ev, _, err := h.sb.CreateEvent(ctx, "primary", gcalsandbox.EventInput{Summary: "Launch sync", Attendees: []gcalsandbox.Attendee{
		{Email: h.sb.User(), ResponseStatus: "accepted"}, {Email: "jo@northwind-pr.example", ResponseStatus: "needsAction"},
	}}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	_, resting, _ := h.drain(t, primaryStream, nil)

	_, _, err = h.sb.RespondEvent(ctx, "primary", ev.ID, "jo@northwind-pr.example", "accepted", sandbox.DeliveryOptions{})
	require.NoError(t, err)
	p, err := h.fetch(t, primaryStream, resting)
	require.NoError(t, err)
	require.True(t, p.Done)
	require.Equal(t, 1, p.Items, "Google lists the answered event as changed")
	require.Empty(t, p.Signals, "an RSVP is not a Signal")

	_, _, err = h.sb.UpdateEvent(ctx, "primary", ev.ID, gcalsandbox.EventInput{Summary: "Launch sync (moved)"}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	sigs, _, _ := h.drain(t, primaryStream, p.Next)
	require.Len(t, sigs, 1)
	require.Equal(t, googlecalendar.KindUpdated, sigs[0].Kind)
	require.Equal(t, "Launch sync (moved)", sigs[0].Payload.Title)
}

// TestCancelledInvitationTakesStoredTitle: an invitation deleted by its
// organizer reaches the invitee's calendar as an id; the Signal names the
// event by the title stored when it was last seen.
func TestCancelledInvitationTakesStoredTitle(t *testing.T) {
	h := newHarness(t, gcalsandbox.Options{Seed: true}, nil)
	ctx := context.Background()
	inv, _, err := h.sb.CreateEvent(ctx, "primary", gcalsandbox.EventInput{Summary: "Interview: Le Monde",
		Location: "Zoom", Organizer: &gcalsandbox.Person{Email: "camille@lemonde.example", DisplayName: "Camille Martin"}}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	_, resting, _ := h.drain(t, primaryStream, nil)
	_, _, err = h.sb.UpdateEvent(ctx, "primary", inv.ID, gcalsandbox.EventInput{Summary: "Interview: Le Monde (moved)"}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	_, resting, _ = h.drain(t, primaryStream, resting)

	_, _, err = h.sb.CancelEvent(ctx, "primary", inv.ID, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	sigs, _, _ := h.drain(t, primaryStream, resting)
	require.Len(t, sigs, 1)
	s := sigs[0]
	require.Equal(t, googlecalendar.KindCancelled, s.Kind)
	require.JSONEq(t, `{"kind":"calendar#event","etag":`+mustJSON(t, s.Raw, "etag")+`,"id":"`+inv.ID+`","status":"cancelled"}`, string(s.Raw),
		"Google sent the id only")
	require.Equal(t, "Interview: Le Monde (moved)", s.Payload.Title, "the last stored title")
	require.Equal(t, "camille@lemonde.example", s.Payload.Actor.ID)
	require.Equal(t, "Zoom", s.Payload.Attributes["location"])
	require.NoError(t, connectors.ValidateSignal(googlecalendar.Spec, s))
}

func mustJSON(t *testing.T, raw json.RawMessage, field string) string {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &m))
	return string(m[field])
}

// TestPageWritesOnlyChangedFingerprints: a pass that sees nothing new
// rewrites no fingerprint; a changed event's is replaced.
func TestPageWritesOnlyChangedFingerprints(t *testing.T) {
	h := newHarness(t, gcalsandbox.Options{Seed: true}, nil)
	first, err := h.fetch(t, primaryStream, nil)
	require.NoError(t, err)
	require.True(t, first.Done)
	require.Len(t, first.Fingerprints, gcalsandbox.PrimaryEvents, "every event seen is remembered")
	h.sb.ExpireSyncTokens()
	again, err := h.fetch(t, primaryStream, nil)
	require.NoError(t, err)
	require.Empty(t, again.Fingerprints, "a resync of unchanged events writes nothing")

	_, _, err = h.sb.UpdateEvent(context.Background(), "primary", "q3roadmapreview0a1b2c3d4e", gcalsandbox.EventInput{Location: "Room 101"}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	inc, err := h.fetch(t, primaryStream, again.Next)
	require.NoError(t, err)
	require.Len(t, inc.Fingerprints, 1)
	fp := inc.Fingerprints["event:"+h.sb.User()+":q3roadmapreview0a1b2c3d4e"]
	require.Equal(t, inc.Signals[0].DedupeKey, fp.SignalKey)
}

// TestFullSyncStartedWithoutWindowEndsWithout: a full sync stored mid-pass
// before backfill windows existed ({"page_token"} only) continues with the
// question it started with, so Google's page token stays valid.
func TestFullSyncStartedWithoutWindowEndsWithout(t *testing.T) {
	h := newHarness(t, gcalsandbox.Options{Seed: true, PageSize: 3}, nil)
	cfg, err := h.prov.Connector.(connectors.ConfigValidator).ValidateConfig([]byte(`{}`)) // a 30-day window
	require.NoError(t, err)
	h.conn.Config = cfg
	// The first page of an unbounded pass, as the earlier code asked it.
	resp, err := h.client().Get(h.url + "/calendar/v3/calendars/primary/events?maxResults=3&showDeleted=true&singleEvents=false")
	require.NoError(t, err)
	var body struct {
		Items         []json.RawMessage `json:"items"`
		NextPageToken string            `json:"nextPageToken"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	resp.Body.Close()
	require.NotEmpty(t, body.NextPageToken)

	sigs, _, cursors := h.drain(t, primaryStream, json.RawMessage(`{"page_token":"`+body.NextPageToken+`"}`))
	require.Len(t, sigs, gcalsandbox.PrimarySignals-len(body.Items), "the rest of the unbounded pass, January 2025 included")
	for _, c := range cursors {
		require.NotContains(t, decode(t, c), "time_min")
	}
}

// TestCancelledOccurrenceTakesTheSeriesTitle: one cancelled occurrence of
// a weekly meeting reaches the calendar as an id, the series' id and the
// original start; the Signal names the meeting by its series, whether the
// series came on the same page or on an earlier one. It was "(no title)",
// without actor or link.
func TestCancelledOccurrenceTakesTheSeriesTitle(t *testing.T) {
	for _, size := range []string{"", "1"} {
		t.Run("page size "+size, func(t *testing.T) {
			settings := map[string]string{}
			if size != "" {
				settings["PAGE_SIZE"] = size
			}
			h := newHarness(t, gcalsandbox.Options{Seed: true}, settings)
			sigs, _, _ := h.drain(t, primaryStream, nil)
			var found bool
			for _, s := range sigs {
				if s.DedupeKey != "event:"+gcalsandbox.DefaultUser+":"+gcalsandbox.StandupSeriesID+"_20250117T093000Z:cancelled" {
					continue
				}
				found = true
				require.Equal(t, "Team standup", s.Payload.Title)
				require.Equal(t, gcalsandbox.DefaultUser, s.Payload.Actor.ID)
				require.NotEmpty(t, s.Payload.URL)
				require.NoError(t, connectors.ValidateSignal(googlecalendar.Spec, s))
			}
			require.True(t, found, "the cancelled occurrence's Signal")
		})
	}
}

// TestEndingASeriesIsAnUpdate: "this and all following" cancelled trims the
// series' rule with UNTIL, and nothing else of the series changes; the
// series' update is a Signal. It was none.
func TestEndingASeriesIsAnUpdate(t *testing.T) {
	h := newHarness(t, gcalsandbox.Options{Seed: true}, nil)
	_, resting, _ := h.drain(t, primaryStream, nil)
	_, _, err := h.sb.UpdateEvent(context.Background(), "primary", gcalsandbox.StandupSeriesID, gcalsandbox.EventInput{
		Recurrence: []string{"RRULE:FREQ=WEEKLY;WKST=MO;BYDAY=MO,WE,FR;UNTIL=20250201T000000Z"}}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	sigs, _, _ := h.drain(t, primaryStream, resting)
	require.Len(t, sigs, 1)
	require.Equal(t, googlecalendar.KindUpdated, sigs[0].Kind)
	require.Equal(t, "Team standup", sigs[0].Payload.Title)
}

// dryRunID is the seeded event deleted by its organizer (listed in full).
const dryRunID = "dryrun9b1d3f5h7j9l1n3p5r7"

// TestCancellationNotStoredAgainAfterSignalTTL: the Signal TTL deletes
// Signals and keeps fingerprints. A full sync afterwards (410, a backfill)
// lists the long-cancelled events again, unchanged: no Signal. They were
// stored again, dated now. A restored event cancelled again is still a
// cancellation.
func TestCancellationNotStoredAgainAfterSignalTTL(t *testing.T) {
	h := newHarness(t, gcalsandbox.Options{Seed: true, PageSize: 3}, nil)
	ctx := context.Background()
	first, _, _ := h.drain(t, primaryStream, nil)
	require.Len(t, first, gcalsandbox.PrimarySignals)
	h.mem.sigs = map[string]connectors.Payload{} // POBLYSH_SIGNAL_TTL passed: the fingerprints stay
	h.sb.ExpireSyncTokens()

	again, resting, _ := h.drain(t, primaryStream, nil)
	for _, s := range again {
		t.Logf("derived again: %s %s %q", s.Kind, s.DedupeKey, s.Payload.Title)
	}
	require.Empty(t, again, "nothing changed on the calendar: every fingerprint matches")

	_, _, err := h.sb.UpdateEvent(ctx, "primary", dryRunID, gcalsandbox.EventInput{Status: "confirmed"}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	sigs, resting, _ := h.drain(t, primaryStream, resting)
	require.Len(t, sigs, 1)
	require.Equal(t, googlecalendar.KindUpdated, sigs[0].Kind, "restored")
	_, _, err = h.sb.CancelEvent(ctx, "primary", dryRunID, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	sigs, _, _ = h.drain(t, primaryStream, resting)
	require.Len(t, sigs, 1)
	require.Equal(t, googlecalendar.KindCancelled, sigs[0].Kind, "cancelled again")
	require.Equal(t, "event:"+h.sb.User()+":"+dryRunID+":cancelled", sigs[0].DedupeKey,
		"the first cancellation's Signal is gone: its key is free again")
}

// standupCancelled is the dedupe key of the seeded cancelled occurrence.
func standupCancelled(user string) string {
	return "event:" + user + ":" + gcalsandbox.StandupSeriesID + "_20250117T093000Z:cancelled"
}

// TestCancelledOccurrenceBeforeItsSeries: events.list's order is
// "unspecified, stable", so a full sync may list a cancelled occurrence
// (id, recurringEventId, originalStartTime) pages before its series. The
// pass holds its Signal back (in the cursor) until the series is read and
// names it after the series. It was "(no title)", without actor or link.
func TestCancelledOccurrenceBeforeItsSeries(t *testing.T) {
	for _, size := range []string{"1", "3"} {
		t.Run("page size "+size, func(t *testing.T) {
			h := newHarness(t, gcalsandbox.Options{Seed: true, SeriesLast: true}, map[string]string{"PAGE_SIZE": size})
			sigs, resting, cursors := h.drain(t, primaryStream, nil)
			require.Len(t, sigs, gcalsandbox.PrimarySignals)
			var found bool
			for _, s := range sigs {
				if s.DedupeKey != standupCancelled(h.sb.User()) {
					continue
				}
				found = true
				t.Logf("%s title=%q actor=%q url=%q", s.Kind, s.Payload.Title, s.Payload.Actor.ID, s.Payload.URL)
				require.Equal(t, "Team standup", s.Payload.Title, "named after its series, read pages later")
				require.Equal(t, gcalsandbox.DefaultUser, s.Payload.Actor.ID)
				require.NotEmpty(t, s.Payload.URL)
				require.Equal(t, "2025-01-17T09:30:00Z", s.Payload.Attributes["start"], "its own original start")
				require.NoError(t, connectors.ValidateSignal(googlecalendar.Spec, s))
			}
			require.True(t, found, "the cancelled occurrence's Signal")
			held := 0
			for _, c := range cursors[:len(cursors)-1] {
				if bytes.Contains(c, []byte(`"held"`)) {
					held++
				}
			}
			require.Positive(t, held, "the Signal waited in the cursor")
			require.NotContains(t, string(resting), "held", "a pass ends holding nothing")
			fp := h.mem.fps["event:"+h.sb.User()+":"+gcalsandbox.StandupSeriesID+"_20250117T093000Z"]
			require.Equal(t, standupCancelled(h.sb.User()), fp.SignalKey, "remembered with its Signal")
		})
	}
}

// TestCancellationHeldThenCursorLost: a held cancellation's fingerprint is
// written with its Signal, so a pass whose cursor is lost (410 mid-pass:
// the engine clears it) derives the cancellation again from the start.
func TestCancellationHeldThenCursorLost(t *testing.T) {
	h := newHarness(t, gcalsandbox.Options{Seed: true, SeriesLast: true, PageSize: 3}, nil)
	var cur json.RawMessage
	for !bytes.Contains(cur, []byte(`"held"`)) {
		p, err := h.fetch(t, primaryStream, cur)
		require.NoError(t, err)
		require.False(t, p.Done, "the occurrence is held before the last page")
		for _, s := range p.Signals {
			require.NotEqual(t, googlecalendar.KindCancelled+" "+standupCancelled(h.sb.User()), s.Kind+" "+s.DedupeKey)
		}
		cur = p.Next
	}
	sigs, _, _ := h.drain(t, primaryStream, nil)
	require.Contains(t, dedupeKeys(sigs), standupCancelled(h.sb.User()))
	for _, s := range sigs {
		if s.DedupeKey == standupCancelled(h.sb.User()) {
			require.Equal(t, "Team standup", s.Payload.Title)
		}
	}
}

// invitedSeries creates, on the primary calendar, a weekly series someone
// else organizes and n of its occurrences cancelled by the organizer: the
// invitee's calendar lists each as an id, the series' id and the original
// start only. It returns the occurrences' ids.
func invitedSeries(t *testing.T, h *harness, n int) (string, []string) {
	t.Helper()
	ctx := context.Background()
	org := &gcalsandbox.Person{Email: "grace@example.com", DisplayName: "Grace Hopper"}
	start := time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)
	series, _, err := h.sb.CreateEvent(ctx, "primary", gcalsandbox.EventInput{Summary: "Press office hours", Organizer: org,
		Start: &gcalsandbox.DateTime{DateTime: start.Format(time.RFC3339)}, Recurrence: []string{"RRULE:FREQ=DAILY"}}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	var ids []string
	for i := range n {
		at := &gcalsandbox.DateTime{DateTime: start.AddDate(0, 0, i+1).Format(time.RFC3339)}
		occ, _, err := h.sb.CreateEvent(ctx, "primary", gcalsandbox.EventInput{Organizer: org,
			RecurringEventID: series.ID, OriginalStartTime: at, Start: at}, sandbox.DeliveryOptions{})
		require.NoError(t, err)
		_, _, err = h.sb.CancelEvent(ctx, "primary", occ.ID, sandbox.DeliveryOptions{})
		require.NoError(t, err)
		ids = append(ids, occ.ID)
	}
	return series.ID, ids
}

// TestCancelledOccurrenceBeforeItsSeriesIncremental: an incremental pass
// that lists a new series' cancelled occurrence before the series names it
// after the series too.
func TestCancelledOccurrenceBeforeItsSeriesIncremental(t *testing.T) {
	h := newHarness(t, gcalsandbox.Options{Seed: true, SeriesLast: true}, map[string]string{"PAGE_SIZE": "1"})
	_, resting, _ := h.drain(t, primaryStream, nil)
	seriesID, occ := invitedSeries(t, h, 1)
	sigs, _, _ := h.drain(t, primaryStream, resting)
	var kinds []string
	for _, s := range sigs {
		kinds = append(kinds, s.Kind+" "+s.Payload.Subject.ID+" "+s.Payload.Title)
		if s.Kind == googlecalendar.KindCancelled {
			require.Equal(t, "grace@example.com", s.Payload.Actor.ID)
			require.NotEmpty(t, s.Payload.URL)
		}
	}
	require.ElementsMatch(t, []string{
		googlecalendar.KindCreated + " " + seriesID + " Press office hours",
		googlecalendar.KindCancelled + " " + occ[0] + " Press office hours",
	}, kinds)
}

// TestHeldCancellationsAreBounded: a pass holds at most
// MaxHeldCancellations Signals in its cursor; past that the one held
// longest is stored as it is ("(no title)"). Every occurrence is stored
// once.
func TestHeldCancellationsAreBounded(t *testing.T) {
	// 5 per page: every occurrence comes before the page of the series.
	h := newHarness(t, gcalsandbox.Options{SeriesLast: true}, map[string]string{"PAGE_SIZE": "5"})
	n := googlecalendar.MaxHeldCancellations + 10
	_, occ := invitedSeries(t, h, n)
	sigs, _, cursors := h.drain(t, primaryStream, nil)
	require.Len(t, cursors, n/5+1)
	for _, c := range cursors {
		var cur struct {
			Held []json.RawMessage `json:"held"`
		}
		require.NoError(t, json.Unmarshal(c, &cur))
		require.LessOrEqual(t, len(cur.Held), googlecalendar.MaxHeldCancellations)
	}
	titles := map[string]string{}
	for _, s := range sigs {
		if s.Kind == googlecalendar.KindCancelled {
			_, dup := titles[s.Payload.Subject.ID]
			require.False(t, dup, s.DedupeKey)
			titles[s.Payload.Subject.ID] = s.Payload.Title
		}
	}
	require.Len(t, titles, n)
	for i, id := range occ {
		want := "Press office hours"
		if i < n-googlecalendar.MaxHeldCancellations {
			want = "(no title)" // the first ones, released before the series came
		}
		require.Equal(t, want, titles[id], id)
	}
}

// A first (full) sync bounded by backfill_days that reads nothing (a
// calendar with no event in the window) still rests at Google's
// nextSyncToken, which marks where the next pass goes on whatever its
// date: an event added after it is read by the next pass even when it
// ends before a window counted from that pass (the shape of a pass that
// comes more than backfill_days later; it sends no time_min).
func TestBackfillDaysQuietCalendarKeepsItsMark(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, gcalsandbox.Options{PageSize: 3}, nil) // no seed: an empty calendar
	cfg, err := h.prov.Connector.(connectors.ConfigValidator).ValidateConfig([]byte(`{"backfill_days": 5}`))
	require.NoError(t, err)
	h.conn.Config = cfg
	sigs, resting, _ := h.drain(t, primaryStream, nil)
	require.Empty(t, sigs)
	rest := decode(t, resting)
	require.NotEmpty(t, rest["sync_token"], "the quiet first sync leaves a mark")
	require.NotContains(t, rest, "time_min")

	start := time.Now().UTC().AddDate(0, 0, -30)
	created, _, err := h.sb.CreateEvent(ctx, "primary", gcalsandbox.EventInput{Summary: "Logged late",
		Start: &gcalsandbox.DateTime{DateTime: start.Format(time.RFC3339)}}, sandbox.DeliveryOptions{})
	require.NoError(t, err)
	sigs, _, _ = h.drain(t, primaryStream, resting)
	require.Len(t, sigs, 1)
	require.Equal(t, googlecalendar.KindCreated, sigs[0].Kind)
	require.Equal(t, created.ID, sigs[0].Payload.Subject.ID)
}
