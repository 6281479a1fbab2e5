package googlecalendar

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	calendar "google.golang.org/api/calendar/v3"

	"github.com/poblysh/poblysh/connectors"
)

// updateThreshold is how much later than created an event's updated time
// must be for an event seen before fingerprints existed to count as edited
// (see prior.legacy). Google stamps updated a moment after created while
// it finishes creating an event (conference links, invitations).
const updateThreshold = 2 * time.Second

// maxDescription bounds the description kept in a Signal (bytes, cut on a
// rune boundary): enough for an agenda, not a pasted document.
const maxDescription = 2048

// noTitle is the title of an event without a summary (Google's own wording).
const noTitle = "(no title)"

// calendarRef names the calendar a page of events belongs to.
type calendarRef struct {
	// ID is the canonical calendar id ("primary" resolved to the account
	// email), as Signal payloads name it.
	ID string
	// Key names the calendar in dedupe and fingerprint keys (calendarKey):
	// the primary calendar by the address first connected. Empty: ID.
	Key string
	// Name is the calendar title from the events.list response.
	Name string
}

// key is the calendar id in dedupe and fingerprint keys.
func (c calendarRef) key() string {
	if c.Key != "" {
		return c.Key
	}
	return c.ID
}

// decoded is one event of an events.list page, as Google sent it.
type decoded struct {
	ev               calendar.Event
	raw              json.RawMessage // compacted
	created, updated time.Time
	hasSequence      bool
}

// decodeEvent reads one event of calendar cal.
func decodeEvent(cal calendarRef, raw json.RawMessage) (*decoded, error) {
	d := &decoded{}
	if err := json.Unmarshal(raw, &d.ev); err != nil {
		return nil, fmt.Errorf("google-calendar: decode event: %w", err)
	}
	if d.ev.Id == "" {
		return nil, fmt.Errorf("google-calendar: event without id in calendar %s", cal.ID)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return nil, fmt.Errorf("google-calendar: event %s: %w", d.ev.Id, err)
	}
	d.raw = compact.Bytes()
	var probe struct {
		Sequence *int64 `json:"sequence"`
	}
	_ = json.Unmarshal(d.raw, &probe)
	d.hasSequence = probe.Sequence != nil
	var err error
	if d.created, err = parseTime(d.ev.Created); err != nil {
		return nil, fmt.Errorf("google-calendar: event %s: created: %w", d.ev.Id, err)
	}
	if d.updated, err = parseTime(d.ev.Updated); err != nil {
		return nil, fmt.Errorf("google-calendar: event %s: updated: %w", d.ev.Id, err)
	}
	return d, nil
}

// eventKey names an event of a calendar: the fingerprint key, and the
// prefix of its Signals' dedupe keys.
func eventKey(calID, eventID string) string { return "event:" + calID + ":" + eventID }

// prior is what the connection remembers of an event.
type prior struct {
	// fp is the event's stored fingerprint; nil when it was never seen
	// (or seen before fingerprints existed).
	fp *connectors.Fingerprint
	// legacy: no fingerprint, but the event's created Signal is stored (it
	// was seen before fingerprints existed). Its edits are then judged as
	// they were then: updated more than updateThreshold after created.
	legacy bool
	// last is the payload of the last Signal stored for the event (of
	// fp.SignalKey, else of its created Signal); nil when none is stored.
	last *connectors.Payload
	// series, for an exception of a recurring event never seen itself
	// (nor legacy), is the fingerprint of its series when the connection
	// remembered the series before this pass; nil otherwise.
	series *connectors.Fingerprint
	// seriesLast is the series as this page lists it, else the payload of
	// its last stored Signal; nil when neither is at hand.
	seriesLast *connectors.Payload
	// cancelled, for a cancelled event remembered live by a connection
	// that saw it cancelled before (sawCancelled), is whether its first
	// cancellation (event:<cal>:<id>:cancelled) is stored: it was
	// cancelled, restored and is cancelled again (see cancelledAgain).
	cancelled bool
}

// sawCancelledMark ends the hash of a fingerprint whose connection saw the
// event cancelled: it stays through a restore and the edits after it,
// which the fingerprint's Signal key (the last Signal's) does not. It is
// no part of what the hash compares (see hashOf).
const sawCancelledMark = "+cancelled"

// sawCancelled reports a fingerprint of the event keyed key whose
// connection saw the event cancelled: it is remembered cancelled, or
// carries sawCancelledMark.
func sawCancelled(fp *connectors.Fingerprint, key string) bool {
	return fp != nil && (strings.HasSuffix(fp.Hash, sawCancelledMark) || strings.HasPrefix(fp.SignalKey, key+":cancelled"))
}

// hashOf is a fingerprint's hash without sawCancelledMark.
func hashOf(fp *connectors.Fingerprint) string { return strings.TrimSuffix(fp.Hash, sawCancelledMark) }

// remember is the fingerprint of an event's new state hash, carried by the
// Signal keyed signalKey, keeping sawCancelledMark if the connection saw
// the event cancelled before (p) or sees it cancelled now.
func (p prior) remember(key, hash, signalKey string, cancelled bool) connectors.Fingerprint {
	if cancelled || sawCancelled(p.fp, key) {
		hash += sawCancelledMark
	}
	return connectors.Fingerprint{Hash: hash, SignalKey: signalKey}
}

// cancelledAgain reports a cancellation of the event keyed key that is not
// its first: the connection remembers it live (restored since), saw it
// cancelled before, and its first cancellation is stored. The store keeps
// one Signal per key, so this one needs a key of its own. That the
// connection saw a cancellation itself matters: another connection of the
// tenant on the same calendar (they share dedupe keys) may have stored the
// first cancellation a moment before this one sees the same cancellation,
// which is then no second one and takes the first one's key.
func (p prior) cancelledAgain(key string) bool {
	return p.cancelled && sawCancelled(p.fp, key) && !strings.HasPrefix(p.fp.SignalKey, key+":cancelled")
}

// againMillis is the time (unix ms) that keys a cancellation that is not
// the event's first: Google's updated. An event deleted from a calendar
// the user does not organize may come as its id alone: then the time of
// the live state the connection remembers (the restore, or an edit since:
// the updated time its fingerprint's Signal key ends with), which a page
// read again, at another time, reads the same, and which each restore
// moves; the sync time only when that key holds none.
func againMillis(key string, d *decoded, p prior, now time.Time) int64 {
	if !d.updated.IsZero() {
		return d.updated.UnixMilli()
	}
	if ms, ok := strings.CutPrefix(p.fp.SignalKey, key+":updated:"); ok {
		if n, err := strconv.ParseInt(ms, 10, 64); err == nil {
			return n
		}
	}
	return now.UnixMilli()
}

// normalizeEvent turns one event into Signals, given what the connection
// remembers of it, and returns the fingerprint to remember:
//
//   - an event seen before whose fingerprint did not change: nothing,
//     cancelled or not.
//   - status "cancelled": calendar_event.cancelled, keyed
//     event:<calendarId>:<eventId>:cancelled, at updated (the sync time now
//     when Google sends only the id). An event deleted from a calendar the
//     user does not organize carries only its id: the title and link come
//     from the last stored Signal of the event. A cancellation that is not
//     the event's first (cancelled, restored, cancelled again: see
//     cancelledAgain) is keyed event:<calendarId>:<eventId>:cancelled:<ms>
//     (againMillis).
//   - an exception of a recurring event (an occurrence edited on its own,
//     <seriesId>_<original start>) never seen, whose series the connection
//     remembered before this pass: calendar_event.updated, keyed and dated
//     as an edit (below), unless its fields that count are the series' at
//     its original start (an RSVP, a reminder or a colour of that
//     occurrence alone): then nothing.
//   - any other event never seen: calendar_event.created, keyed
//     event:<calendarId>:<eventId>:created, at created.
//   - an event seen before: calendar_event.updated, keyed
//     event:<calendarId>:<eventId>:updated:<updated unix ms>, at updated,
//     when its fingerprint (title, start, end, location, description,
//     status) changed. An RSVP (which moves updated), a reminder, a colour
//     or a guest list change is no Signal.
//
// Keys depend only on the event (and, for a cancellation after a restore,
// on the live state remembered and on whether this connection saw the
// event cancelled before), so a full resync that lost the
// fingerprints re-derives the keys of everything already stored: without
// a fingerprint a cancellation takes the first one's key. Attendee emails
// are left out of the payload (Raw keeps the event while raw retention
// allows).
func normalizeEvent(cal calendarRef, d *decoded, p prior, now time.Time) ([]connectors.Signal, connectors.Fingerprint) {
	ev := &d.ev
	key := eventKey(cal.key(), ev.Id)
	hash := fingerprint(ev)
	payload := eventPayload(cal, d)

	switch {
	case p.fp != nil && hashOf(p.fp) == hash:
		// Nothing that matters changed. A cancelled event stays listed
		// (Google keeps a cancelled occurrence for its series' lifetime):
		// its cancellation was stored when the fingerprint was, and the
		// Signal TTL may have deleted it since, so it is not derived again.
		return nil, *p.fp
	case p.fp != nil && !strings.HasPrefix(p.fp.Hash, "2:") && p.fp.Hash == fingerprintV1(ev):
		// Remembered before recurrence counted, and nothing it covered
		// changed: remember the new form, without a Signal.
		return nil, p.remember(key, hash, p.fp.SignalKey, ev.Status == "cancelled")
	}
	if ev.Status == "cancelled" {
		if strings.TrimSpace(ev.Summary) == "" && p.last != nil {
			fillFromLast(&payload, p.last)
		}
		dedupe := key + ":cancelled"
		if p.cancelledAgain(key) {
			dedupe += ":" + strconv.FormatInt(againMillis(key, d, p, now), 10)
		}
		s := connectors.Signal{
			Kind: KindCancelled, OccurredAt: firstTime(d.updated, now),
			DedupeKey: dedupe, Payload: payload, Raw: d.raw,
		}
		return []connectors.Signal{s}, p.remember(key, hash, s.DedupeKey, true)
	}
	updated := connectors.Signal{
		Kind: KindUpdated, OccurredAt: firstTime(d.updated, d.created, now),
		DedupeKey: key + ":updated:" + strconv.FormatInt(firstTime(d.updated, d.created, now).UnixMilli(), 10),
		Payload:   payload, Raw: d.raw,
	}
	switch {
	case p.fp != nil:
		return []connectors.Signal{updated}, p.remember(key, hash, updated.DedupeKey, false)
	case p.series != nil && !p.legacy:
		// Google gives the exception its series' created time: a
		// creation would be dated when the series was made.
		if p.seriesLast != nil && unchangedOccurrence(d, payload, *p.seriesLast) {
			return nil, connectors.Fingerprint{Hash: hash, SignalKey: p.series.SignalKey}
		}
		return []connectors.Signal{updated}, connectors.Fingerprint{Hash: hash, SignalKey: updated.DedupeKey}
	}
	created := connectors.Signal{
		Kind: KindCreated, OccurredAt: firstTime(d.created, d.updated, now),
		DedupeKey: key + ":created", Payload: payload, Raw: d.raw,
	}
	if p.legacy && !d.created.IsZero() && d.updated.Sub(d.created) > updateThreshold {
		return []connectors.Signal{created, updated}, connectors.Fingerprint{Hash: hash, SignalKey: updated.DedupeKey}
	}
	return []connectors.Signal{created}, connectors.Fingerprint{Hash: hash, SignalKey: created.DedupeKey}
}

// fillFromLast completes the payload of an id-only cancellation from the
// last stored Signal of the event.
func fillFromLast(p *connectors.Payload, last *connectors.Payload) {
	if t := strings.TrimSpace(last.Title); t != "" {
		p.Title = t
	}
	if p.Subject.Name == "" {
		p.Subject.Name = last.Subject.Name
	}
	if p.URL == "" {
		p.URL = last.URL
	}
	if p.Actor.ID == "" {
		p.Actor = last.Actor
	}
	if _, ok := p.Attributes["start"]; !ok {
		for _, k := range []string{"start", "end", "all_day"} {
			if v, ok := last.Attributes[k]; ok {
				p.Attributes[k] = v
			}
		}
	}
	if v, ok := last.Attributes["location"]; ok && p.Attributes["location"] == nil {
		p.Attributes["location"] = v
	}
}

// fingerprint hashes the fields whose change is a calendar_event.updated:
// title, start, end (as instants, so a time zone shown differently is not a
// change), location, description, status and, for a recurring series, its
// recurrence rules: ending a series ("all following instances" trims its
// RRULE with UNTIL) or moving it to another day changes only those. The
// hash starts with its version ("2:"); fingerprintV1, without the rules,
// is what fingerprints stored before look like.
func fingerprint(ev *calendar.Event) string {
	fields := append(fingerprintFields(ev), ev.Recurrence...)
	return "2:" + hashFields(fields)
}

// fingerprintV1 is the fingerprint as stored before recurrence counted.
func fingerprintV1(ev *calendar.Event) string { return hashFields(fingerprintFields(ev)) }

func fingerprintFields(ev *calendar.Event) []string {
	status := ev.Status
	if status == "" {
		status = "confirmed"
	}
	start := ev.Start
	if start == nil {
		start = ev.OriginalStartTime
	}
	return []string{strings.TrimSpace(ev.Summary), instant(start), instant(ev.End), ev.Location, ev.Description, status}
}

func hashFields(fields []string) string {
	b, _ := json.Marshal(fields) // strings: cannot fail
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// instant is a start or end as a comparable string: the date of an all-day
// one, the UTC instant of a timed one.
func instant(t *calendar.EventDateTime) string {
	if t == nil {
		return ""
	}
	if t.Date != "" {
		return t.Date
	}
	if tm, err := time.Parse(time.RFC3339, t.DateTime); err == nil {
		return tm.UTC().Format(time.RFC3339)
	}
	return t.DateTime
}

// eventPayload builds the provider-agnostic payload of an event.
func eventPayload(cal calendarRef, d *decoded) connectors.Payload {
	ev := &d.ev
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
	if n := attendeeCount(ev); n > 0 {
		attrs["attendee_count"] = n
	}
	if ev.Location != "" {
		attrs["location"] = ev.Location
	}
	if desc, cut := truncate(ev.Description, maxDescription); desc != "" {
		attrs["description"] = desc
		if cut {
			attrs["description_truncated"] = true
		}
	}
	if u := conferenceURL(ev); u != "" {
		attrs["conference_url"] = u
	}
	if o := ev.Organizer; o != nil && strings.TrimSpace(o.DisplayName) != "" {
		attrs["organizer_name"] = strings.TrimSpace(o.DisplayName)
	}
	if d.hasSequence {
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

// attendeeCount counts the people invited: rooms and other resources are
// attendees at Google but not guests.
func attendeeCount(ev *calendar.Event) int {
	n := 0
	for _, a := range ev.Attendees {
		if a != nil && !a.Resource {
			n++
		}
	}
	return n
}

// conferenceURL is the link to join the event's call: the video entry point
// of conferenceData (Meet, or a conferencing add-on such as Zoom), else the
// older hangoutLink.
func conferenceURL(ev *calendar.Event) string {
	if cd := ev.ConferenceData; cd != nil {
		for _, ep := range cd.EntryPoints {
			if ep != nil && ep.EntryPointType == "video" && ep.Uri != "" {
				return ep.Uri
			}
		}
	}
	return ev.HangoutLink
}

// truncate cuts s to at most n bytes on a rune boundary and reports whether
// it cut.
func truncate(s string, n int) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s, false
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut], true
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
