package gcalsandbox

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// Event is a Calendar API Event resource with every field the fake keeps,
// named and shaped as on the wire.
type Event struct {
	Kind                    string          `json:"kind"`
	Etag                    string          `json:"etag"`
	ID                      string          `json:"id"`
	Status                  string          `json:"status"`
	HTMLLink                string          `json:"htmlLink,omitempty"`
	Created                 string          `json:"created,omitempty"`
	Updated                 string          `json:"updated,omitempty"`
	Summary                 string          `json:"summary,omitempty"`
	Description             string          `json:"description,omitempty"`
	Location                string          `json:"location,omitempty"`
	ColorID                 string          `json:"colorId,omitempty"`
	Creator                 *Person         `json:"creator,omitempty"`
	Organizer               *Person         `json:"organizer,omitempty"`
	Start                   *DateTime       `json:"start,omitempty"`
	End                     *DateTime       `json:"end,omitempty"`
	EndTimeUnspecified      bool            `json:"endTimeUnspecified,omitempty"`
	Recurrence              []string        `json:"recurrence,omitempty"`
	RecurringEventID        string          `json:"recurringEventId,omitempty"`
	OriginalStartTime       *DateTime       `json:"originalStartTime,omitempty"`
	Transparency            string          `json:"transparency,omitempty"`
	Visibility              string          `json:"visibility,omitempty"`
	ICalUID                 string          `json:"iCalUID,omitempty"`
	Sequence                int64           `json:"sequence"`
	Attendees               []Attendee      `json:"attendees,omitempty"`
	ExtendedProperties      json.RawMessage `json:"extendedProperties,omitempty"`
	HangoutLink             string          `json:"hangoutLink,omitempty"`
	ConferenceData          json.RawMessage `json:"conferenceData,omitempty"`
	GuestsCanInviteOthers   *bool           `json:"guestsCanInviteOthers,omitempty"`
	GuestsCanModify         bool            `json:"guestsCanModify,omitempty"`
	GuestsCanSeeOtherGuests *bool           `json:"guestsCanSeeOtherGuests,omitempty"`
	PrivateCopy             bool            `json:"privateCopy,omitempty"`
	Locked                  bool            `json:"locked,omitempty"`
	Reminders               *Reminders      `json:"reminders,omitempty"`
	Source                  *Source         `json:"source,omitempty"`
	Attachments             []Attachment    `json:"attachments,omitempty"`
	EventType               string          `json:"eventType,omitempty"`
	FocusTimeProperties     json.RawMessage `json:"focusTimeProperties,omitempty"`
	OutOfOfficeProperties   json.RawMessage `json:"outOfOfficeProperties,omitempty"`
}

// minimalEvent is what Google guarantees for cancelled events seen by
// someone who is not the organizer: id and status, plus recurringEventId and
// originalStartTime for cancelled instances of a recurring series.
type minimalEvent struct {
	Kind              string    `json:"kind"`
	Etag              string    `json:"etag"`
	ID                string    `json:"id"`
	Status            string    `json:"status"`
	RecurringEventID  string    `json:"recurringEventId,omitempty"`
	OriginalStartTime *DateTime `json:"originalStartTime,omitempty"`
}

// Person is an event creator or organizer.
type Person struct {
	ID          string `json:"id,omitempty"`
	Email       string `json:"email,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
	Self        bool   `json:"self,omitempty"`
}

// DateTime is an event start, end or original start: Date for all-day events.
type DateTime struct {
	Date     string `json:"date,omitempty"`
	DateTime string `json:"dateTime,omitempty"`
	TimeZone string `json:"timeZone,omitempty"`
}

// Attendee is one event attendee.
type Attendee struct {
	ID               string `json:"id,omitempty"`
	Email            string `json:"email,omitempty"`
	DisplayName      string `json:"displayName,omitempty"`
	Organizer        bool   `json:"organizer,omitempty"`
	Self             bool   `json:"self,omitempty"`
	Resource         bool   `json:"resource,omitempty"`
	Optional         bool   `json:"optional,omitempty"`
	ResponseStatus   string `json:"responseStatus,omitempty"`
	Comment          string `json:"comment,omitempty"`
	AdditionalGuests int    `json:"additionalGuests,omitempty"`
}

// Reminders are an event's reminder settings.
type Reminders struct {
	UseDefault bool       `json:"useDefault"`
	Overrides  []Reminder `json:"overrides,omitempty"`
}

// Reminder is one reminder.
type Reminder struct {
	Method  string `json:"method"`
	Minutes int    `json:"minutes"`
}

// Source is where an event was created from.
type Source struct {
	URL   string `json:"url"`
	Title string `json:"title"`
}

// Attachment is a Drive file attached to an event.
type Attachment struct {
	FileURL  string `json:"fileUrl"`
	Title    string `json:"title"`
	MimeType string `json:"mimeType,omitempty"`
	IconLink string `json:"iconLink,omitempty"`
	FileID   string `json:"fileId,omitempty"`
}

// event is a stored event: its resource plus bookkeeping.
type event struct {
	Event
	calendarID string
	seq        int64 // insertion order: the listing order (see listKey)
	version    int64 // server version of its last change
	created    time.Time
	updated    time.Time
	// minimal: when cancelled, answer only the fields Google guarantees.
	minimal bool
}

// googleTime is Google's timestamp format: UTC with milliseconds.
const googleTime = "2006-01-02T15:04:05.000Z"

// wire returns the event as the API answers it.
func (e *event) wire() any {
	if e.minimal && e.Status == "cancelled" {
		return minimalEvent{
			Kind: "calendar#event", Etag: etagOf(e.updated), ID: e.ID, Status: e.Status,
			RecurringEventID: e.RecurringEventID, OriginalStartTime: e.OriginalStartTime,
		}
	}
	return e.full()
}

// full returns the event with every field, whatever its status.
func (e *event) full() Event {
	ev := e.Event
	ev.Kind = "calendar#event"
	ev.Etag = etagOf(e.updated)
	ev.Created = e.created.UTC().Format(googleTime)
	ev.Updated = e.updated.UTC().Format(googleTime)
	ev.HTMLLink = htmlLink(e.ID, e.calendarID)
	if ev.ICalUID == "" {
		ev.ICalUID = e.ID + "@google.com"
	}
	if ev.Reminders == nil {
		ev.Reminders = &Reminders{UseDefault: true}
	}
	if ev.EventType == "" {
		ev.EventType = "default"
	}
	return ev
}

// htmlLink is the Calendar web link: eid is base64 of "<eventId> <calendarId>".
func htmlLink(eventID, calendarID string) string {
	eid := base64.RawURLEncoding.EncodeToString([]byte(eventID + " " + calendarID))
	return "https://www.google.com/calendar/event?eid=" + eid
}

// startTime is when an event starts, for timeMin/timeMax filters (zero when
// unknown).
func (e *event) startTime() time.Time { return parseWhen(e.Start, e.OriginalStartTime) }

// endTime is when an event ends (its start when it has no end).
func (e *event) endTime() time.Time {
	if t := parseWhen(e.End); !t.IsZero() {
		return t
	}
	return e.startTime()
}

// lastEnd is when an event's last occurrence ends, for timeMin: a series
// without UNTIL never ends (COUNT-bounded series are treated as unbounded,
// a simplification of Google's expansion); a single event ends at its end.
func (e *event) lastEnd() time.Time {
	if len(e.Recurrence) == 0 {
		return e.endTime()
	}
	for _, line := range e.Recurrence {
		rule, ok := strings.CutPrefix(line, "RRULE:")
		if !ok {
			continue
		}
		for _, part := range strings.Split(rule, ";") {
			if v, ok := strings.CutPrefix(part, "UNTIL="); ok {
				for _, layout := range []string{"20060102T150405Z", "20060102"} {
					if t, err := time.Parse(layout, v); err == nil {
						return t.Add(e.endTime().Sub(e.startTime()))
					}
				}
			}
		}
	}
	return time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
}

func parseWhen(ds ...*DateTime) time.Time {
	for _, d := range ds {
		if d == nil {
			continue
		}
		if t, err := time.Parse(time.RFC3339, d.DateTime); err == nil {
			return t
		}
		if t, err := time.Parse("2006-01-02", d.Date); err == nil {
			return t
		}
	}
	return time.Time{}
}
