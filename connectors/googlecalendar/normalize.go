package googlecalendar

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	calendar "google.golang.org/api/calendar/v3"

	"github.com/poblysh/poblysh/connectors"
)

// updateThreshold is how much later than created an event's updated time
// must be for the event to count as edited. Google stamps updated a moment
// after created while it finishes creating an event (conference links,
// invitations), so a difference of a second or two is not an edit.
const updateThreshold = 2 * time.Second

// noTitle is the title of an event without a summary (Google's own wording).
const noTitle = "(no title)"

// calendarRef names the calendar a page of events belongs to.
type calendarRef struct {
	// ID is the canonical calendar id ("primary" resolved to the account email).
	ID string
	// Name is the calendar title from the events.list response.
	Name string
}

// normalizeEvent turns one Calendar event, as the API sent it, into Signals:
//
//   - status "cancelled": calendar_event.cancelled, keyed
//     event:<calendarId>:<eventId>:cancelled, at updated (cancelled events
//     may carry only id, status and, for instances, recurringEventId and
//     originalStartTime; without updated the sync time now is used);
//   - otherwise calendar_event.created, keyed event:<calendarId>:<eventId>:created,
//     at created, plus calendar_event.updated keyed
//     event:<calendarId>:<eventId>:updated:<updated unix ms>, at updated, when
//     updated is more than updateThreshold after created.
//
// Keys depend only on the event, so a full resync re-derives the keys of
// everything already stored. Attendee emails and descriptions are left out
// of the payload (Raw keeps the event while raw retention allows).
func normalizeEvent(cal calendarRef, raw json.RawMessage, now time.Time) ([]connectors.Signal, error) {
	var ev calendar.Event
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, fmt.Errorf("google-calendar: decode event: %w", err)
	}
	if ev.Id == "" {
		return nil, fmt.Errorf("google-calendar: event without id in calendar %s", cal.ID)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return nil, fmt.Errorf("google-calendar: event %s: %w", ev.Id, err)
	}
	raw = compact.Bytes()
	var probe struct {
		Sequence *int64 `json:"sequence"`
	}
	_ = json.Unmarshal(raw, &probe)

	created, err := parseTime(ev.Created)
	if err != nil {
		return nil, fmt.Errorf("google-calendar: event %s: created: %w", ev.Id, err)
	}
	updated, err := parseTime(ev.Updated)
	if err != nil {
		return nil, fmt.Errorf("google-calendar: event %s: updated: %w", ev.Id, err)
	}
	p := eventPayload(cal, &ev, probe.Sequence != nil)
	key := "event:" + cal.ID + ":" + ev.Id

	if ev.Status == "cancelled" {
		return []connectors.Signal{{
			Kind: KindCancelled, OccurredAt: firstTime(updated, now),
			DedupeKey: key + ":cancelled", Payload: p, Raw: raw,
		}}, nil
	}
	out := []connectors.Signal{{
		Kind: KindCreated, OccurredAt: firstTime(created, updated, now),
		DedupeKey: key + ":created", Payload: p, Raw: raw,
	}}
	if !created.IsZero() && updated.Sub(created) > updateThreshold {
		out = append(out, connectors.Signal{
			Kind: KindUpdated, OccurredAt: updated,
			DedupeKey: key + ":updated:" + strconv.FormatInt(updated.UnixMilli(), 10),
			Payload:   p, Raw: raw,
		})
	}
	return out, nil
}

// eventPayload builds the provider-agnostic payload of an event.
func eventPayload(cal calendarRef, ev *calendar.Event, hasSequence bool) connectors.Payload {
	title := strings.TrimSpace(ev.Summary)
	if title == "" {
		title = noTitle
	}
	status := ev.Status
	if status == "" {
		status = "confirmed" // Google's default
	}
	start := ev.Start
	if start == nil {
		start = ev.OriginalStartTime // cancelled instances carry only this
	}
	attrs := map[string]any{
		"calendar_id": cal.ID,
		"status":      status,
		"all_day":     start != nil && start.Date != "",
	}
	if s := when(start); s != "" {
		attrs["start"] = s
	}
	if e := when(ev.End); e != "" {
		attrs["end"] = e
	}
	if ev.RecurringEventId != "" {
		attrs["recurring_event_id"] = ev.RecurringEventId
	}
	if len(ev.Recurrence) > 0 {
		attrs["recurrence"] = append([]string(nil), ev.Recurrence...)
	}
	if len(ev.Attendees) > 0 {
		attrs["attendee_count"] = len(ev.Attendees)
	}
	if ev.Location != "" {
		attrs["location"] = ev.Location
	}
	if hasSequence {
		attrs["sequence"] = ev.Sequence
	}
	return connectors.Payload{
		Title:      title,
		URL:        ev.HtmlLink,
		Actor:      actorOf(ev),
		Subject:    connectors.Ref{Type: "calendar_event", ID: ev.Id, Name: strings.TrimSpace(ev.Summary)},
		Context:    connectors.Ref{Type: "calendar", ID: cal.ID, Name: cal.Name},
		Attributes: attrs,
	}
}

// actorOf is the organizer, or the creator when the organizer is a calendar
// rather than a person (events on group calendars are organized by the
// calendar itself) or unknown.
func actorOf(ev *calendar.Event) connectors.Actor {
	if o := ev.Organizer; o != nil && o.Email != "" && !isCalendarAddress(o.Email) {
		return person(o.Email, o.DisplayName)
	}
	if c := ev.Creator; c != nil && c.Email != "" {
		return person(c.Email, c.DisplayName)
	}
	if o := ev.Organizer; o != nil && o.Email != "" {
		return person(o.Email, o.DisplayName)
	}
	return connectors.Actor{}
}

func person(email, name string) connectors.Actor {
	if name == "" {
		name = email
	}
	return connectors.Actor{ID: email, Name: name, Email: email}
}

// isCalendarAddress reports whether email is a calendar's id rather than a
// person (x@group.calendar.google.com, x@resource.calendar.google.com...).
func isCalendarAddress(email string) bool {
	return strings.HasSuffix(strings.ToLower(email), "calendar.google.com")
}

// when is the date of an all-day start/end, the RFC 3339 time otherwise.
func when(t *calendar.EventDateTime) string {
	if t == nil {
		return ""
	}
	if t.Date != "" {
		return t.Date
	}
	return t.DateTime
}

// parseTime parses an RFC 3339 timestamp; "" is the zero time.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("not an RFC 3339 time: %q", s)
	}
	return t.UTC(), nil
}

// firstTime returns the first non-zero time.
func firstTime(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}
