package googlecalendar

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
)

func fixture(t testing.TB, name string) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

func mustTime(t *testing.T, v string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, v)
	require.NoError(t, err)
	return tm.UTC()
}

// normalize decodes raw and normalizes it as the connection remembers it.
func normalize(t testing.TB, cal calendarRef, raw json.RawMessage, p prior, now time.Time) ([]connectors.Signal, connectors.Fingerprint) {
	t.Helper()
	d, err := decodeEvent(cal, raw)
	require.NoError(t, err)
	sigs, fp := normalizeEvent(cal, d, p, now)
	return sigs, fp
}

const agenda = "<b>Agenda</b><br>1. Embargo date<br>2. Spokespeople<br>3. Press kit"

// TestNormalizeEvent: events seen for the first time.
func TestNormalizeEvent(t *testing.T) {
	now := time.Date(2025, 2, 1, 12, 0, 0, 0, time.UTC)
	primary := calendarRef{ID: "ada@example.com", Name: "ada@example.com"}
	// The Zoom invitation's description is 4 KB of accented text and
	// emoji: it is cut to the longest valid UTF-8 prefix of at most 2 KB.
	var zoom struct {
		Description string `json:"description"`
	}
	require.NoError(t, json.Unmarshal(fixture(t, "event_zoom_invitation.json"), &zoom))
	require.Greater(t, len(zoom.Description), 2048)
	zoomDescription := zoom.Description[:2048]
	for !utf8.ValidString(zoomDescription) {
		zoomDescription = zoomDescription[:len(zoomDescription)-1]
	}
	require.Less(t, len(zoomDescription), 2048, "the fixture puts a multi-byte rune across the 2 KB mark")
	team := calendarRef{ID: "c_press.team@group.calendar.google.com", Name: "Press team"}
	type want struct {
		kind, key, at string
	}
	cases := []struct {
		name      string
		file      string
		cal       calendarRef
		want      []want
		title     string
		actor     string
		attrs     map[string]any
		noPrivate []string // strings that must not reach the payload
	}{
		{
			name: "timed event created", file: "event_timed.json", cal: primary,
			want:  []want{{KindCreated, "event:ada@example.com:6p3k8s9q0v1m2n4b5c7d8e9f0g:created", "2025-01-13T09:15:25Z"}},
			title: "Launch sync with Northwind PR", actor: "ada@example.com",
			attrs: map[string]any{
				"calendar_id": "ada@example.com", "status": "confirmed", "all_day": false,
				"start": "2025-01-20T10:00:00Z", "end": "2025-01-20T11:00:00Z",
				"attendee_count": 2, "location": "Northwind office, 12 Market St", "sequence": int64(0),
				"description": agenda, "conference_url": "https://meet.google.com/jrt-kvbn-xqz", "organizer_name": "Ada Lovelace",
			},
			noPrivate: []string{"jo@northwind-pr.example", "room-2a@", "4481920337124"},
		},
		{
			// Edited before the connection first saw it: whether the edit
			// mattered is unknowable, so it is a creation only.
			name: "event edited before it was first seen", file: "event_updated.json", cal: primary,
			want: []want{
				{KindCreated, "event:ada@example.com:6p3k8s9q0v1m2n4b5c7d8e9f0g:created", "2025-01-13T09:15:25Z"},
			},
			title: "Launch sync with Northwind PR", actor: "ada@example.com",
			attrs: map[string]any{
				"calendar_id": "ada@example.com", "status": "confirmed", "all_day": false,
				"start": "2025-01-21T14:30:00Z", "end": "2025-01-21T15:30:00Z",
				"attendee_count": 2, "location": "Northwind office, 12 Market St", "sequence": int64(2),
				"description": agenda, "conference_url": "https://meet.google.com/jrt-kvbn-xqz", "organizer_name": "Ada Lovelace",
			},
			noPrivate: []string{"jo@northwind-pr.example"},
		},
		{
			name: "Zoom invitation from outside", file: "event_zoom_invitation.json", cal: primary,
			want:  []want{{KindCreated, "event:ada@example.com:zm1q2w3e4r5t6y7u8i9o0pa1s2:created", "2025-01-17T16:40:05Z"}},
			title: "Interview: Le Monde (Zoom)", actor: "camille@lemonde.example",
			attrs: map[string]any{
				"calendar_id": "ada@example.com", "status": "tentative", "all_day": false,
				"start": "2025-01-22T15:00:00+01:00", "end": "2025-01-22T15:45:00+01:00",
				"attendee_count": 3, "location": "https://zoom.us/j/98765432101", "sequence": int64(0),
				"description": zoomDescription, "description_truncated": true,
				"conference_url": "https://zoom.us/j/98765432101?pwd=ZmFrZXB3ZA", "organizer_name": "Camille Martin",
			},
			noPrivate: []string{"press@example.com", "412233", "tel:"},
		},
		{
			name: "all-day event", file: "event_all_day.json", cal: primary,
			want:  []want{{KindCreated, "event:ada@example.com:2b9h4kq7m1r5t8v0c3e6g9j2l4:created", "2025-01-13T18:53:20Z"}},
			title: "Trade show: MediaConf 2025", actor: "grace@example.com",
			attrs: map[string]any{
				"calendar_id": "ada@example.com", "status": "confirmed", "all_day": true,
				"start": "2025-03-11", "end": "2025-03-13", "attendee_count": 2,
				"location": "ExCeL London, Royal Victoria Dock, London E16 1XL, UK", "sequence": int64(0),
				"description": "Booth 42. Bring badges.", "organizer_name": "Grace Hopper",
			},
		},
		{
			name: "recurring series on a shared calendar", file: "event_recurring_series.json", cal: team,
			want: []want{
				{KindCreated, "event:c_press.team@group.calendar.google.com:7tq2mcl3f0dohbb6o5tsp4a5hk:created", "2025-01-09T11:00:00Z"},
			},
			title: "Weekly media monitoring review", actor: "ada@example.com", // creator: the organizer is the calendar
			attrs: map[string]any{
				"calendar_id": "c_press.team@group.calendar.google.com", "status": "confirmed", "all_day": false,
				"start": "2025-01-13T09:30:00-05:00", "end": "2025-01-13T10:00:00-05:00",
				"recurrence":     []string{"RRULE:FREQ=WEEKLY;WKST=SU;BYDAY=MO", "EXDATE;TZID=America/New_York:20250217T093000"},
				"attendee_count": 3, "sequence": int64(1), "description": "Coverage, sentiment, follow-ups.",
				"conference_url": "https://meet.google.com/pqm-wxyz-abc", "organizer_name": "Press team",
			},
			noPrivate: []string{"linus@example.com"},
		},
		{
			name: "modified instance of a series", file: "event_recurring_instance.json", cal: team,
			want: []want{
				{KindCreated, "event:c_press.team@group.calendar.google.com:7tq2mcl3f0dohbb6o5tsp4a5hk_20250120T143000Z:created", "2025-01-09T11:00:00Z"},
			},
			title: "Weekly media monitoring review (moved for MLK Day)", actor: "ada@example.com",
			attrs: map[string]any{
				"calendar_id": "c_press.team@group.calendar.google.com", "status": "confirmed", "all_day": false,
				"start": "2025-01-21T09:30:00-05:00", "end": "2025-01-21T10:00:00-05:00",
				"recurring_event_id": "7tq2mcl3f0dohbb6o5tsp4a5hk", "attendee_count": 3, "sequence": int64(2),
				"description": "Coverage, sentiment, follow-ups.", "conference_url": "https://meet.google.com/pqm-wxyz-abc",
				"organizer_name": "Press team",
			},
		},
		{
			name: "deleted event, incremental shape", file: "event_cancelled.json", cal: primary,
			want:  []want{{KindCancelled, "event:ada@example.com:0c4tq8u2j6n1r5v9d3h7l1p5t9:cancelled", "2025-02-01T12:00:00Z"}},
			title: noTitle, actor: "",
			attrs: map[string]any{"calendar_id": "ada@example.com", "status": "cancelled", "all_day": false},
		},
		{
			name: "cancelled instance of a series", file: "event_cancelled_instance.json", cal: team,
			want:  []want{{KindCancelled, "event:c_press.team@group.calendar.google.com:7tq2mcl3f0dohbb6o5tsp4a5hk_20250127T143000Z:cancelled", "2025-02-01T12:00:00Z"}},
			title: noTitle, actor: "",
			attrs: map[string]any{
				"calendar_id": "c_press.team@group.calendar.google.com", "status": "cancelled", "all_day": false,
				"start": "2025-01-27T09:30:00-05:00", "recurring_event_id": "7tq2mcl3f0dohbb6o5tsp4a5hk",
			},
		},
		{
			name: "deleted by its organizer, full shape", file: "event_cancelled_by_organizer.json", cal: primary,
			want:  []want{{KindCancelled, "event:ada@example.com:6p3k8s9q0v1m2n4b5c7d8e9f0g:cancelled", "2025-01-20T08:00:00Z"}},
			title: "Launch sync with Northwind PR", actor: "ada@example.com",
			attrs: map[string]any{
				"calendar_id": "ada@example.com", "status": "cancelled", "all_day": false,
				"start": "2025-01-20T10:00:00Z", "end": "2025-01-20T11:00:00Z",
				"attendee_count": 2, "location": "Northwind office, 12 Market St", "sequence": int64(1),
				"description": agenda, "conference_url": "https://meet.google.com/jrt-kvbn-xqz", "organizer_name": "Ada Lovelace",
			},
			noPrivate: []string{"jo@northwind-pr.example"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := fixture(t, tc.file)
			sigs, fp := normalize(t, tc.cal, raw, prior{}, now)
			require.Len(t, sigs, len(tc.want))
			require.Equal(t, sigs[len(sigs)-1].DedupeKey, fp.SignalKey, "the fingerprint names the Signal that carried the state")
			require.NotEmpty(t, fp.Hash)
			var compact bytes.Buffer
			require.NoError(t, json.Compact(&compact, raw))
			for i, w := range tc.want {
				s := sigs[i]
				require.Equal(t, w.kind, s.Kind)
				require.Equal(t, w.key, s.DedupeKey)
				require.Equal(t, mustTime(t, w.at), s.OccurredAt)
				require.NoError(t, connectors.ValidateSignal(Spec, s))
				require.Equal(t, tc.title, s.Payload.Title)
				require.Equal(t, tc.actor, s.Payload.Actor.ID)
				require.Equal(t, tc.actor, s.Payload.Actor.Email)
				require.Equal(t, tc.attrs, s.Payload.Attributes)
				require.Equal(t, connectors.Ref{Type: "calendar", ID: tc.cal.ID, Name: tc.cal.Name}, s.Payload.Context)
				require.Equal(t, "calendar_event", s.Payload.Subject.Type)
				require.JSONEq(t, string(raw), string(s.Raw), "Raw is the event as Google sent it")
				require.Equal(t, compact.Bytes(), []byte(s.Raw))
				p, err := json.Marshal(s.Payload)
				require.NoError(t, err)
				for _, secret := range tc.noPrivate {
					require.NotContains(t, string(p), secret, "attendee emails and dial-in pins stay out of the payload")
				}
			}
		})
	}
}

func TestNormalizeEventURLAndSubject(t *testing.T) {
	sigs, _ := normalize(t, calendarRef{ID: "ada@example.com"}, fixture(t, "event_timed.json"), prior{}, time.Now())
	require.Equal(t, "https://www.google.com/calendar/event?eid=NnAzazhzOXEwdjFtMm40YjVjN2Q4ZTlmMGcgYWRhQGV4YW1wbGUuY29t", sigs[0].Payload.URL)
	require.Equal(t, connectors.Ref{Type: "calendar_event", ID: "6p3k8s9q0v1m2n4b5c7d8e9f0g", Name: "Launch sync with Northwind PR"}, sigs[0].Payload.Subject)
	require.Equal(t, "Ada Lovelace", sigs[0].Payload.Actor.Name)
}

// TestUpdateThreshold: an event whose created Signal was stored before
// fingerprints existed is judged by the old rule, updated more than 2 s
// after created; a new event never is.
func TestUpdateThreshold(t *testing.T) {
	cases := []struct {
		updated string
		want    int // Signals
	}{
		{"2025-01-13T09:15:25.000Z", 1},
		{"2025-01-13T09:15:26.999Z", 1},
		{"2025-01-13T09:15:27.000Z", 1}, // exactly 2 s: still the creation
		{"2025-01-13T09:15:27.001Z", 2},
		{"2025-01-20T00:00:00.000Z", 2},
	}
	for _, tc := range cases {
		t.Run(tc.updated, func(t *testing.T) {
			raw := []byte(`{"kind":"calendar#event","id":"abcde12345","status":"confirmed","created":"2025-01-13T09:15:25.000Z","updated":"` + tc.updated + `","summary":"x","start":{"date":"2025-02-01"},"end":{"date":"2025-02-02"},"sequence":0}`)
			sigs, _ := normalize(t, calendarRef{ID: "ada@example.com"}, raw, prior{legacy: true}, time.Now())
			require.Len(t, sigs, tc.want)
			sigs, _ = normalize(t, calendarRef{ID: "ada@example.com"}, raw, prior{}, time.Now())
			require.Len(t, sigs, 1, "a new event is a creation only")
		})
	}
}

func TestNormalizeEventRejectsBadInput(t *testing.T) {
	for name, raw := range map[string]string{
		"not json":     `{"id":`,
		"no id":        `{"kind":"calendar#event","status":"confirmed"}`,
		"bad created":  `{"id":"abcde","created":"yesterday"}`,
		"bad updated":  `{"id":"abcde","created":"2025-01-13T09:15:25Z","updated":"2025-13-45"}`,
		"wrong shape":  `{"id":"abcde","start":"2025-01-01"}`,
		"not an event": `[1,2,3]`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := decodeEvent(calendarRef{ID: "c@example.com"}, []byte(raw))
			require.Error(t, err)
		})
	}
}

// catalogExamples are the Signals of the fixtures the catalog's Google
// Calendar examples are written from: a recurring series first seen on the
// team calendar, the timed event moved, and the same event deleted by its
// organizer.
func catalogExamples(t testing.TB) []connectors.Signal {
	now := time.Date(2025, 2, 1, 12, 0, 0, 0, time.UTC)
	primary := calendarRef{ID: "ada@example.com", Name: "ada@example.com"}
	team := calendarRef{ID: "c_press.team@group.calendar.google.com", Name: "Press team"}
	out, _ := normalize(t, team, fixture(t, "event_recurring_series.json"), prior{}, now)
	created, fp := normalize(t, primary, fixture(t, "event_timed.json"), prior{}, now)
	updated, _ := normalize(t, primary, fixture(t, "event_updated.json"), prior{fp: &fp, last: &created[0].Payload}, now)
	cancelled, _ := normalize(t, primary, fixture(t, "event_cancelled_by_organizer.json"), prior{}, now)
	return append(append(out, updated...), cancelled...)
}

// TestNormalizeEventChanges follows one event through the states Google
// sends for it (full-shape fixtures) with the fingerprint the connection
// remembers: an RSVP (which bumps updated) with a reminder change is no Signal;
// a moved meeting is; an id-only deletion takes its title from the last
// stored Signal.
func TestNormalizeEventChanges(t *testing.T) {
	now := time.Date(2025, 2, 1, 12, 0, 0, 0, time.UTC)
	cal := calendarRef{ID: "ada@example.com", Name: "ada@example.com"}
	const key = "event:ada@example.com:6p3k8s9q0v1m2n4b5c7d8e9f0g"

	sigs, fp := normalize(t, cal, fixture(t, "event_timed.json"), prior{}, now)
	require.Len(t, sigs, 1)
	require.Equal(t, KindCreated, sigs[0].Kind)
	require.Equal(t, connectors.Fingerprint{Hash: fp.Hash, SignalKey: key + ":created"}, fp)
	last := sigs[0].Payload

	// Jo accepts (Google moves updated) and Ada changes her reminders (which
	// alone would not move it): nothing that matters changed.
	rsvp := fixture(t, "event_rsvp_only.json")
	require.NotEqual(t, string(fixture(t, "event_timed.json")), string(rsvp))
	sigs, fp2 := normalize(t, cal, rsvp, prior{fp: &fp, last: &last}, now)
	require.Empty(t, sigs, "an RSVP or a reminder is not a Signal")
	require.Equal(t, fp, fp2, "the remembered state stays")

	// The meeting moves: calendar_event.updated, remembered as the last Signal.
	sigs, fp3 := normalize(t, cal, fixture(t, "event_updated.json"), prior{fp: &fp2, last: &last}, now)
	require.Len(t, sigs, 1)
	require.Equal(t, KindUpdated, sigs[0].Kind)
	require.Equal(t, key+":updated:1737278251235", sigs[0].DedupeKey)
	require.Equal(t, mustTime(t, "2025-01-19T09:17:31.235Z"), sigs[0].OccurredAt)
	require.Equal(t, "2025-01-21T14:30:00Z", sigs[0].Payload.Attributes["start"])
	require.Equal(t, connectors.Fingerprint{Hash: fp3.Hash, SignalKey: sigs[0].DedupeKey}, fp3)
	require.NotEqual(t, fp.Hash, fp3.Hash)
	last = sigs[0].Payload

	// The same state seen again (a resync after 410): nothing.
	sigs, _ = normalize(t, cal, fixture(t, "event_updated.json"), prior{fp: &fp3, last: &last}, now)
	require.Empty(t, sigs)

	// Deleted on a calendar Ada does not organize: Google sends the id only.
	gone := []byte(`{"kind":"calendar#event","etag":"\"3473412290114000\"","id":"6p3k8s9q0v1m2n4b5c7d8e9f0g","status":"cancelled"}`)
	sigs, fp4 := normalize(t, cal, gone, prior{fp: &fp3, last: &last}, now)
	require.Len(t, sigs, 1)
	s := sigs[0]
	require.Equal(t, KindCancelled, s.Kind)
	require.Equal(t, key+":cancelled", s.DedupeKey)
	require.Equal(t, "Launch sync with Northwind PR", s.Payload.Title, "the title comes from the stored Signal")
	require.Equal(t, "Launch sync with Northwind PR", s.Payload.Subject.Name)
	require.Equal(t, last.URL, s.Payload.URL)
	require.Equal(t, "ada@example.com", s.Payload.Actor.ID)
	require.Equal(t, "cancelled", s.Payload.Attributes["status"])
	require.Equal(t, "2025-01-21T14:30:00Z", s.Payload.Attributes["start"])
	require.NoError(t, connectors.ValidateSignal(Spec, s))
	require.Equal(t, key+":cancelled", fp4.SignalKey)

	// The same cancellation listed again (a full sync after the Signal TTL
	// deleted its Signal): nothing, the fingerprint stays.
	sigs, fp5 := normalize(t, cal, gone, prior{fp: &fp4}, now)
	require.Empty(t, sigs, "a cancellation remembered is not derived again")
	require.Equal(t, fp4, fp5)

	// Without a stored Signal the id-only cancellation keeps Google's
	// "(no title)".
	sigs, _ = normalize(t, cal, gone, prior{fp: &fp3}, now)
	require.Equal(t, noTitle, sigs[0].Payload.Title)

	// Restored after the deletion: the status changed back, an update.
	sigs, _ = normalize(t, cal, fixture(t, "event_updated.json"), prior{fp: &fp4}, now)
	require.Len(t, sigs, 1)
	require.Equal(t, KindUpdated, sigs[0].Kind)
}

// TestFingerprintFields: each field that matters changes the fingerprint;
// attendees, reminders, colour, etag, sequence and the time zone a time is
// written in do not.
func TestFingerprintFields(t *testing.T) {
	base := func() map[string]any {
		var m map[string]any
		require.NoError(t, json.Unmarshal(fixture(t, "event_timed.json"), &m))
		return m
	}
	hash := func(m map[string]any) string {
		b, err := json.Marshal(m)
		require.NoError(t, err)
		d, err := decodeEvent(calendarRef{ID: "c@example.com"}, b)
		require.NoError(t, err)
		return fingerprint(&d.ev)
	}
	orig := hash(base())
	for name, change := range map[string]func(m map[string]any){
		"title":       func(m map[string]any) { m["summary"] = "Launch sync (moved)" },
		"start":       func(m map[string]any) { m["start"] = map[string]any{"dateTime": "2025-01-20T10:30:00Z"} },
		"end":         func(m map[string]any) { m["end"] = map[string]any{"dateTime": "2025-01-20T11:30:00Z"} },
		"location":    func(m map[string]any) { m["location"] = "Room 101" },
		"description": func(m map[string]any) { m["description"] = "New agenda" },
		"status":      func(m map[string]any) { m["status"] = "tentative" },
		// Ending a series, or moving it to other days, changes only its rules.
		"recurrence": func(m map[string]any) { m["recurrence"] = []any{"RRULE:FREQ=WEEKLY;UNTIL=20250201T000000Z"} },
	} {
		m := base()
		change(m)
		require.NotEqual(t, orig, hash(m), name)
	}
	for name, change := range map[string]func(m map[string]any){
		"rsvp": func(m map[string]any) { m["attendees"].([]any)[1].(map[string]any)["responseStatus"] = "declined" },
		"guests": func(m map[string]any) {
			m["attendees"] = append(m["attendees"].([]any), map[string]any{"email": "x@example.com"})
		},
		"reminders": func(m map[string]any) { m["reminders"] = map[string]any{"useDefault": true} },
		"colour":    func(m map[string]any) { m["colorId"] = "3" },
		"etag":      func(m map[string]any) { m["etag"] = `"1"`; m["updated"] = "2025-02-01T00:00:00Z"; m["sequence"] = 7 },
		"time zone": func(m map[string]any) {
			m["start"] = map[string]any{"dateTime": "2025-01-20T11:00:00+01:00", "timeZone": "Europe/Paris"}
		},
	} {
		m := base()
		change(m)
		require.Equal(t, orig, hash(m), name)
	}
}

// TestFingerprintsStoredBeforeRecurrenceCounted: an event remembered by
// the earlier fingerprint (without recurrence rules) is no update while
// nothing that fingerprint covered changed: its fingerprint is rewritten
// in the new form, without a Signal. A real change is still an update.
func TestFingerprintsStoredBeforeRecurrenceCounted(t *testing.T) {
	d, err := decodeEvent(calendarRef{ID: "c@example.com"}, fixture(t, "event_timed.json"))
	require.NoError(t, err)
	d.ev.Recurrence = []string{"RRULE:FREQ=WEEKLY;BYDAY=MO"}
	cal := calendarRef{ID: "c@example.com"}
	old := connectors.Fingerprint{Hash: fingerprintV1(&d.ev), SignalKey: "event:c@example.com:x:created"}
	sigs, fp := normalizeEvent(cal, d, prior{fp: &old}, time.Now())
	require.Empty(t, sigs)
	require.Equal(t, connectors.Fingerprint{Hash: fingerprint(&d.ev), SignalKey: old.SignalKey}, fp)
	require.NotEqual(t, old.Hash, fp.Hash)

	d.ev.Summary = "Launch sync (moved)"
	sigs, _ = normalizeEvent(cal, d, prior{fp: &old}, time.Now())
	require.Len(t, sigs, 1)
	require.Equal(t, KindUpdated, sigs[0].Kind)
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
		cut  bool
	}{
		{"short", 10, "short", false},
		{"  padded  ", 10, "padded", false},
		{"abcdef", 3, "abc", true},
		{"aé", 2, "a", true}, // é is 2 bytes: never split
		{"🎙️x", 3, "", true},
		{"🎙️x", 4, "🎙", true},
	} {
		got, cut := truncate(tc.in, tc.n)
		require.Equal(t, tc.want, got, tc.in)
		require.Equal(t, tc.cut, cut, tc.in)
		require.True(t, utf8.ValidString(got))
	}
}

// TestAllDayEndIsExclusive: Google's end is "the (exclusive) end time": an
// all-day event's end date is the day after its last day. The payload
// keeps Google's date and the catalog says so (it read as the last day).
func TestAllDayEndIsExclusive(t *testing.T) {
	sigs, _ := normalize(t, calendarRef{ID: "ada@example.com"}, fixture(t, "event_all_day.json"), prior{}, time.Now())
	require.Len(t, sigs, 1)
	attrs := sigs[0].Payload.Attributes
	require.Equal(t, true, attrs["all_day"])
	require.Equal(t, "2025-03-11", attrs["start"], "the trade show's first day")
	require.Equal(t, "2025-03-13", attrs["end"], "the day after its last day (12 March), as Google sends it")
	for _, kind := range []string{KindCreated, KindUpdated, KindCancelled} {
		var end string
		for _, a := range connectors.Catalog[kind].Attributes {
			if a.Name == "end" {
				end = a.Description
			}
		}
		require.Contains(t, end, "exclusive", kind)
		require.Contains(t, end, "the date after its last day", kind)
	}
}

// TestNewExceptionOfRememberedSeries: an occurrence edited on its own is
// listed as a new event (<series>_<original start>, created as its series
// was). Never seen, of a series remembered before the pass, it is an edit
// of that occurrence, unless what counts is the series' at its original
// start (an RSVP to that occurrence alone).
func TestNewExceptionOfRememberedSeries(t *testing.T) {
	team := calendarRef{ID: "c_press.team@group.calendar.google.com", Name: "Press team"}
	now := time.Date(2025, 2, 1, 12, 0, 0, 0, time.UTC)
	created, seriesFP := normalize(t, team, fixture(t, "event_recurring_series.json"), prior{}, now)
	series := created[0].Payload
	// The series' stored Signal, as the store hands it back (JSON).
	b, err := json.Marshal(series)
	require.NoError(t, err)
	var stored connectors.Payload
	require.NoError(t, json.Unmarshal(b, &stored))

	// The instance fixture: moved to Tuesday and retitled.
	edit := func(f func(m map[string]any)) json.RawMessage {
		var m map[string]any
		require.NoError(t, json.Unmarshal(fixture(t, "event_recurring_instance.json"), &m))
		f(m)
		out, err := json.Marshal(m)
		require.NoError(t, err)
		return out
	}
	// rsvp is the occurrence as the series has it, with only an answer changed.
	rsvp := func(m map[string]any) {
		m["summary"] = "Weekly media monitoring review"
		m["start"] = map[string]any{"dateTime": "2025-01-20T09:30:00-05:00", "timeZone": "America/New_York"}
		m["end"] = map[string]any{"dateTime": "2025-01-20T10:00:00-05:00", "timeZone": "America/New_York"}
	}
	const key = "event:c_press.team@group.calendar.google.com:7tq2mcl3f0dohbb6o5tsp4a5hk_20250120T143000Z"
	updated := key + ":updated:" + strconv.FormatInt(mustTime(t, "2025-01-16T18:38:11.044Z").UnixMilli(), 10)
	remembered := prior{series: &seriesFP, seriesLast: &stored}
	for _, tc := range []struct {
		name string
		raw  json.RawMessage
		p    prior
		kind string // "" for no Signal
		key  string
		at   string
	}{
		{"moved and retitled", fixture(t, "event_recurring_instance.json"), remembered, KindUpdated, updated, "2025-01-16T18:38:11.044Z"},
		{"an RSVP to that occurrence", edit(rsvp), remembered, "", seriesFP.SignalKey, ""},
		{"an RSVP, the series on the page", edit(rsvp), prior{series: &seriesFP, seriesLast: &series}, "", seriesFP.SignalKey, ""},
		{"only moved", edit(func(m map[string]any) { m["summary"] = "Weekly media monitoring review" }), remembered, KindUpdated, updated, "2025-01-16T18:38:11.044Z"},
		{"longer", edit(func(m map[string]any) {
			rsvp(m)
			m["end"] = map[string]any{"dateTime": "2025-01-20T10:30:00-05:00"}
		}), remembered, KindUpdated, updated, "2025-01-16T18:38:11.044Z"},
		{"a location of its own", edit(func(m map[string]any) { rsvp(m); m["location"] = "Studio 2" }), remembered, KindUpdated, updated, "2025-01-16T18:38:11.044Z"},
		{"tentative", edit(func(m map[string]any) { rsvp(m); m["status"] = "tentative" }), remembered, KindUpdated, updated, "2025-01-16T18:38:11.044Z"},
		{"the series' Signal pruned", edit(rsvp), prior{series: &seriesFP}, KindUpdated, updated, "2025-01-16T18:38:11.044Z"},
		{"series not remembered", fixture(t, "event_recurring_instance.json"), prior{}, KindCreated, key + ":created", "2025-01-09T11:00:00Z"},
		// Judged by the earlier rule, as any event seen then: its created
		// Signal is stored, and the edit follows it.
		{"seen before fingerprints", fixture(t, "event_recurring_instance.json"), prior{series: &seriesFP, seriesLast: &stored, legacy: true, last: &series},
			KindCreated, key + ":created", "2025-01-09T11:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sigs, fp := normalize(t, team, tc.raw, tc.p, now)
			if tc.kind == "" {
				require.Empty(t, sigs)
				require.Equal(t, tc.key, fp.SignalKey, "remembered with the Signal that carries its state")
				return
			}
			require.NotEmpty(t, sigs)
			s := sigs[0]
			require.Equal(t, tc.kind, s.Kind)
			require.Equal(t, tc.key, s.DedupeKey)
			require.Equal(t, mustTime(t, tc.at), s.OccurredAt)
			require.Equal(t, sigs[len(sigs)-1].DedupeKey, fp.SignalKey)
			require.Equal(t, "7tq2mcl3f0dohbb6o5tsp4a5hk", s.Payload.Attributes["recurring_event_id"])
			require.NoError(t, connectors.ValidateSignal(Spec, s))
		})
	}
}

// TestSawCancelledMarkKept: a connection that saw an event cancelled keeps
// saying so in the fingerprint's hash through a restore and the edits
// after it (sawCancelledMark), and the mark is no change: the same event
// read again is no Signal and leaves the fingerprint as it is.
func TestSawCancelledMarkKept(t *testing.T) {
	cal := calendarRef{ID: "c@example.com"}
	d, err := decodeEvent(cal, fixture(t, "event_timed.json"))
	require.NoError(t, err)
	key := eventKey(cal.ID, d.ev.Id)
	cancelled := connectors.Fingerprint{Hash: "2:before", SignalKey: key + ":cancelled"} // as stored before the mark

	sigs, fp := normalizeEvent(cal, d, prior{fp: &cancelled}, time.Now())
	require.Len(t, sigs, 1)
	require.Equal(t, KindUpdated, sigs[0].Kind, "restored")
	require.Equal(t, fingerprint(&d.ev)+sawCancelledMark, fp.Hash)

	sigs, again := normalizeEvent(cal, d, prior{fp: &fp}, time.Now())
	require.Empty(t, sigs, "the same state read again")
	require.Equal(t, fp, again)

	d.ev.Summary = "Launch sync (moved)"
	sigs, edited := normalizeEvent(cal, d, prior{fp: &fp}, time.Now())
	require.Len(t, sigs, 1)
	require.True(t, sawCancelled(&edited, key), "an edit after the restore keeps the mark")

	live := connectors.Fingerprint{Hash: "2:before", SignalKey: key + ":created"}
	_, fp = normalizeEvent(cal, d, prior{fp: &live}, time.Now())
	require.False(t, sawCancelled(&fp, key), "never seen cancelled")
}
