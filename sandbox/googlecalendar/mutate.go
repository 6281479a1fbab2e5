package gcalsandbox

import (
	"context"
	"crypto/rand"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/poblysh/poblysh/sandbox"
)

// EventInput is the body of the control API's create and update calls: the
// writable Event fields, in the API's own names. On update, empty fields are
// left unchanged.
type EventInput struct {
	ID                string     `json:"id,omitempty"`
	Summary           string     `json:"summary,omitempty"`
	Description       string     `json:"description,omitempty"`
	Location          string     `json:"location,omitempty"`
	Status            string     `json:"status,omitempty"` // confirmed or tentative
	Start             *DateTime  `json:"start,omitempty"`
	End               *DateTime  `json:"end,omitempty"`
	Recurrence        []string   `json:"recurrence,omitempty"`
	RecurringEventID  string     `json:"recurringEventId,omitempty"`
	OriginalStartTime *DateTime  `json:"originalStartTime,omitempty"`
	Attendees         []Attendee `json:"attendees,omitempty"`
	// Organizer, on create, makes the event an invitation from someone
	// else (organizer.self false); the default is the calendar's user.
	Organizer    *Person `json:"organizer,omitempty"`
	Visibility   string  `json:"visibility,omitempty"`
	Transparency string  `json:"transparency,omitempty"`
}

// eventIDPattern is Google's rule for client-chosen ids: base32hex, 5 to
// 1024 characters (instances add _<original start>).
var eventIDPattern = regexp.MustCompile(`^[a-v0-9]{5,}(_[0-9TZ]+)?$`)

// AddCalendar creates (or renames) a calendar the default user can read.
func (s *Server) AddCalendar(id, summary, timeZone string) {
	if summary == "" {
		summary = id
	}
	if timeZone == "" {
		timeZone = "UTC"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.calendars[id]; ok {
		c.summary, c.timeZone = summary, timeZone
		return
	}
	s.addCalendarLocked(id, summary, "", timeZone)
}

// CreateEvent adds an event (now as created and updated) and notifies the
// calendar's channels. Start defaults to the next hour, end to 30 minutes
// later (the next day for all-day events).
func (s *Server) CreateEvent(ctx context.Context, calendarID string, in EventInput, opt sandbox.DeliveryOptions) (Event, []Notification, error) {
	s.mu.Lock()
	c := s.resolveLocked(s.opts.User, calendarID)
	if c == nil {
		s.mu.Unlock()
		return Event{}, nil, fmt.Errorf("%w: %s", ErrNoCalendar, calendarID)
	}
	now := s.now()
	e := &event{created: now, updated: now, Event: Event{
		Status: "confirmed", Summary: in.Summary, Description: in.Description, Location: in.Location,
		Start: in.Start, End: in.End, Recurrence: in.Recurrence, Attendees: in.Attendees,
		Visibility: in.Visibility, Transparency: in.Transparency,
		Creator: &Person{Email: s.opts.User, Self: true}, Organizer: organizerOf(c, s.opts.User),
	}}
	if in.Organizer != nil && in.Organizer.Email != "" {
		e.Organizer = &Person{Email: in.Organizer.Email, DisplayName: in.Organizer.DisplayName}
		e.Creator = e.Organizer
	}
	if err := s.fillNewLocked(c, e, in); err != nil {
		s.mu.Unlock()
		return Event{}, nil, err
	}
	s.putLocked(c, e)
	out := e.full()
	s.mu.Unlock()
	return out, s.Notify(ctx, c.id, "exists", opt), nil
}

// fillNewLocked sets the id, status, instance fields and default times of a
// new event.
func (s *Server) fillNewLocked(c *calendarState, e *event, in EventInput) error {
	switch in.Status {
	case "", "confirmed", "tentative":
		if in.Status != "" {
			e.Status = in.Status
		}
	default:
		return fmt.Errorf("%w: status must be confirmed or tentative (use /cancel)", ErrInvalidEvent)
	}
	if in.RecurringEventID != "" {
		series, ok := c.events[in.RecurringEventID]
		if !ok || in.OriginalStartTime == nil {
			return fmt.Errorf("%w: an instance needs an existing recurringEventId and originalStartTime", ErrInvalidEvent)
		}
		e.RecurringEventID, e.OriginalStartTime, e.ICalUID = series.ID, in.OriginalStartTime, series.ICalUID
		e.created = series.created
		if in.ID == "" {
			in.ID = series.ID + "_" + compactStart(in.OriginalStartTime)
		}
	}
	e.ID = in.ID
	if e.ID == "" {
		e.ID = randomEventID()
	}
	if !eventIDPattern.MatchString(e.ID) || len(e.ID) > 1024 {
		return fmt.Errorf("%w: id must be 5-1024 characters of base32hex (a-v, 0-9)", ErrInvalidEvent)
	}
	if _, dup := c.events[e.ID]; dup {
		return fmt.Errorf("%w: %s", ErrDuplicate, e.ID)
	}
	if e.Start == nil {
		start := s.now().Truncate(time.Hour).Add(time.Hour)
		e.Start = &DateTime{DateTime: start.Format(time.RFC3339), TimeZone: c.timeZone}
	}
	if e.End == nil {
		if e.Start.Date != "" {
			d, err := time.Parse("2006-01-02", e.Start.Date)
			if err != nil {
				return fmt.Errorf("%w: start.date must be YYYY-MM-DD", ErrInvalidEvent)
			}
			e.End = &DateTime{Date: d.AddDate(0, 0, 1).Format("2006-01-02")}
		} else {
			e.End = &DateTime{DateTime: e.startTime().Add(30 * time.Minute).Format(time.RFC3339), TimeZone: e.Start.TimeZone}
		}
	}
	return nil
}

// UpdateEvent applies the non-empty fields of in, bumps sequence and
// updated, and notifies the calendar's channels.
func (s *Server) UpdateEvent(ctx context.Context, calendarID, eventID string, in EventInput, opt sandbox.DeliveryOptions) (Event, []Notification, error) {
	return s.change(ctx, calendarID, eventID, opt, true, func(e *event) error {
		if in.Status != "" && in.Status != "confirmed" && in.Status != "tentative" {
			return fmt.Errorf("%w: status must be confirmed or tentative (use /cancel)", ErrInvalidEvent)
		}
		setIf(&e.Summary, in.Summary)
		setIf(&e.Description, in.Description)
		setIf(&e.Location, in.Location)
		setIf(&e.Status, in.Status)
		setIf(&e.Visibility, in.Visibility)
		setIf(&e.Transparency, in.Transparency)
		if in.Start != nil {
			e.Start = in.Start
		}
		if in.End != nil {
			e.End = in.End
		}
		if in.Recurrence != nil {
			e.Recurrence = in.Recurrence
		}
		if in.Attendees != nil {
			e.Attendees = in.Attendees
		}
		return nil
	})
}

// CancelEvent cancels (deletes) an event: status cancelled, sequence and
// updated bumped, channels notified. The organizer's calendar keeps the
// event's details, so it is listed in full; an invitation from someone else
// (organizer.self false) is then listed with its id and status only, as
// Google guarantees nothing more for deleted events.
func (s *Server) CancelEvent(ctx context.Context, calendarID, eventID string, opt sandbox.DeliveryOptions) (Event, []Notification, error) {
	return s.change(ctx, calendarID, eventID, opt, true, func(e *event) error {
		if e.Status == "cancelled" {
			return fmt.Errorf("%w: %s", ErrDeleted, e.ID)
		}
		e.Status = "cancelled"
		e.minimal = e.Organizer == nil || !e.Organizer.Self
		return nil
	})
}

// Responses an attendee may give (Google's responseStatus values).
var responses = []string{"needsAction", "declined", "tentative", "accepted"}

// RespondEvent records an attendee's answer to an invitation (an RSVP):
// Google bumps updated and the etag, not sequence, and nothing else of the
// event changes. email "" is the sandbox user. Channels are notified.
func (s *Server) RespondEvent(ctx context.Context, calendarID, eventID, email, response string, opt sandbox.DeliveryOptions) (Event, []Notification, error) {
	if email == "" {
		email = s.opts.User
	}
	return s.change(ctx, calendarID, eventID, opt, false, func(e *event) error {
		if !slices.Contains(responses, response) {
			return fmt.Errorf("%w: response must be one of %v", ErrInvalidEvent, responses)
		}
		e.Attendees = slices.Clone(e.Attendees)
		for i := range e.Attendees {
			if strings.EqualFold(e.Attendees[i].Email, email) {
				e.Attendees[i].ResponseStatus = response
				return nil
			}
		}
		return fmt.Errorf("%w: %s is not an attendee of %s", ErrInvalidEvent, email, e.ID)
	})
}

// change applies f to a copy of the event, bumps updated (and sequence
// when the organizer changed the event) and stores it as a new version.
func (s *Server) change(ctx context.Context, calendarID, eventID string, opt sandbox.DeliveryOptions, bumpSequence bool, f func(*event) error) (Event, []Notification, error) {
	s.mu.Lock()
	c := s.resolveLocked(s.opts.User, calendarID)
	if c == nil {
		s.mu.Unlock()
		return Event{}, nil, fmt.Errorf("%w: %s", ErrNoCalendar, calendarID)
	}
	old, ok := c.events[eventID]
	if !ok {
		s.mu.Unlock()
		return Event{}, nil, fmt.Errorf("%w: %s", ErrNoEvent, eventID)
	}
	e := *old
	if err := f(&e); err != nil {
		s.mu.Unlock()
		return Event{}, nil, err
	}
	if bumpSequence {
		e.Sequence++
	}
	// updated is shown in milliseconds: every change shows a later one.
	e.updated = s.now().Truncate(time.Millisecond)
	if !e.updated.After(old.updated) {
		e.updated = old.updated.Truncate(time.Millisecond).Add(time.Millisecond)
	}
	s.putLocked(c, &e)
	out := e.full()
	s.mu.Unlock()
	return out, s.Notify(ctx, c.id, "exists", opt), nil
}

func setIf(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

// organizerOf is the organizer of new events: the user on their own
// calendar, the calendar itself on a shared one (as Google does).
func organizerOf(c *calendarState, user string) *Person {
	if c.id == user {
		return &Person{Email: user, Self: true}
	}
	return &Person{Email: c.id, DisplayName: c.summary, Self: true}
}

// compactStart is the instance id suffix of an original start: 20250115T093000Z.
func compactStart(d *DateTime) string {
	if t := parseWhen(d); !t.IsZero() {
		if d.Date != "" {
			return t.Format("20060102")
		}
		return t.UTC().Format("20060102T150405Z")
	}
	return strings.NewReplacer("-", "", ":", "").Replace(d.DateTime)
}

// randomEventID is a 26-character base32hex id, like Google's.
func randomEventID() string {
	const alphabet = "0123456789abcdefghijklmnopqrstuv"
	b := make([]byte, 26)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
