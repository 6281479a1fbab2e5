package googlecalendar

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
)

func fixture(t *testing.T, name string) json.RawMessage {
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

func TestNormalizeEvent(t *testing.T) {
	now := time.Date(2025, 2, 1, 12, 0, 0, 0, time.UTC)
	primary := calendarRef{ID: "ada@example.com", Name: "ada@example.com"}
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
				"attendee_count": 3, "location": "Northwind office, 12 Market St", "sequence": int64(0),
			},
			noPrivate: []string{"jo@northwind-pr.example", "Agenda", "room-2a@"},
		},
		{
			name: "event updated days later", file: "event_updated.json", cal: primary,
			want: []want{
				{KindCreated, "event:ada@example.com:6p3k8s9q0v1m2n4b5c7d8e9f0g:created", "2025-01-13T09:15:25Z"},
				{KindUpdated, "event:ada@example.com:6p3k8s9q0v1m2n4b5c7d8e9f0g:updated:1737278251235", "2025-01-19T09:17:31.235Z"},
			},
			title: "Launch sync with Northwind PR", actor: "ada@example.com",
			attrs: map[string]any{
				"calendar_id": "ada@example.com", "status": "confirmed", "all_day": false,
				"start": "2025-01-21T14:30:00Z", "end": "2025-01-21T15:30:00Z",
				"attendee_count": 3, "location": "Northwind office, 12 Market St", "sequence": int64(2),
			},
			noPrivate: []string{"jo@northwind-pr.example", "Agenda"},
		},
		{
			name: "all-day event", file: "event_all_day.json", cal: primary,
			want:  []want{{KindCreated, "event:ada@example.com:2b9h4kq7m1r5t8v0c3e6g9j2l4:created", "2025-01-13T18:53:20Z"}},
			title: "Trade show: MediaConf 2025", actor: "grace@example.com",
			attrs: map[string]any{
				"calendar_id": "ada@example.com", "status": "confirmed", "all_day": true,
				"start": "2025-03-11", "end": "2025-03-13", "attendee_count": 2,
				"location": "ExCeL London, Royal Victoria Dock, London E16 1XL, UK", "sequence": int64(0),
			},
			noPrivate: []string{"Bring badges"},
		},
		{
			name: "recurring series on a shared calendar", file: "event_recurring_series.json", cal: team,
			want: []want{
				{KindCreated, "event:c_press.team@group.calendar.google.com:7tq2mcl3f0dohbb6o5tsp4a5hk:created", "2025-01-09T11:00:00Z"},
				{KindUpdated, "event:c_press.team@group.calendar.google.com:7tq2mcl3f0dohbb6o5tsp4a5hk:updated:1736842814861", "2025-01-14T08:20:14.861Z"},
			},
			title: "Weekly media monitoring review", actor: "ada@example.com", // creator: the organizer is the calendar
			attrs: map[string]any{
				"calendar_id": "c_press.team@group.calendar.google.com", "status": "confirmed", "all_day": false,
				"start": "2025-01-13T09:30:00-05:00", "end": "2025-01-13T10:00:00-05:00",
				"recurrence":     []string{"RRULE:FREQ=WEEKLY;WKST=SU;BYDAY=MO", "EXDATE;TZID=America/New_York:20250217T093000"},
				"attendee_count": 3, "sequence": int64(1),
			},
			noPrivate: []string{"linus@example.com", "sentiment"},
		},
		{
			name: "modified instance of a series", file: "event_recurring_instance.json", cal: team,
			want: []want{
				{KindCreated, "event:c_press.team@group.calendar.google.com:7tq2mcl3f0dohbb6o5tsp4a5hk_20250120T143000Z:created", "2025-01-09T11:00:00Z"},
				{KindUpdated, "event:c_press.team@group.calendar.google.com:7tq2mcl3f0dohbb6o5tsp4a5hk_20250120T143000Z:updated:1737052691044", "2025-01-16T18:38:11.044Z"},
			},
			title: "Weekly media monitoring review (moved for MLK Day)", actor: "ada@example.com",
			attrs: map[string]any{
				"calendar_id": "c_press.team@group.calendar.google.com", "status": "confirmed", "all_day": false,
				"start": "2025-01-21T09:30:00-05:00", "end": "2025-01-21T10:00:00-05:00",
				"recurring_event_id": "7tq2mcl3f0dohbb6o5tsp4a5hk", "attendee_count": 3, "sequence": int64(2),
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
				"attendee_count": 3, "location": "Northwind office, 12 Market St", "sequence": int64(1),
			},
			noPrivate: []string{"jo@northwind-pr.example", "Agenda"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := fixture(t, tc.file)
			sigs, err := normalizeEvent(tc.cal, raw, now)
			require.NoError(t, err)
			require.Len(t, sigs, len(tc.want))
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
					require.NotContains(t, string(p), secret, "attendee emails and descriptions stay out of the payload")
				}
			}
		})
	}
}

func TestNormalizeEventURLAndSubject(t *testing.T) {
	sigs, err := normalizeEvent(calendarRef{ID: "ada@example.com"}, fixture(t, "event_timed.json"), time.Now())
	require.NoError(t, err)
	require.Equal(t, "https://www.google.com/calendar/event?eid=NnAzazhzOXEwdjFtMm40YjVjN2Q4ZTlmMGcgYWRhQGV4YW1wbGUuY29t", sigs[0].Payload.URL)
	require.Equal(t, connectors.Ref{Type: "calendar_event", ID: "6p3k8s9q0v1m2n4b5c7d8e9f0g", Name: "Launch sync with Northwind PR"}, sigs[0].Payload.Subject)
	require.Equal(t, "Ada Lovelace", sigs[0].Payload.Actor.Name)
}

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
			sigs, err := normalizeEvent(calendarRef{ID: "ada@example.com"}, raw, time.Now())
			require.NoError(t, err)
			require.Len(t, sigs, tc.want)
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
			_, err := normalizeEvent(calendarRef{ID: "c@example.com"}, []byte(raw), time.Now())
			require.Error(t, err)
		})
	}
}
