package gcalsandbox

import (
	"encoding/json"
	"time"
)

// Seeded calendars and what a full backfill of them yields. The counts
// assume showDeleted=true (as the connector lists) and a backfill window
// reaching back to January 2025 (the seed's fixed dates; the connector's
// default window is 30 days): every non-cancelled event is one
// calendar_event.created (an edit made before the connection first saw an
// event is not an update), every cancelled event is one
// calendar_event.cancelled.
const (
	// TeamCalendarID is a shared (group) calendar the default user reads.
	TeamCalendarID = "c_press.team@group.calendar.google.com"
	// HolidayCalendarID is a calendar Google generates: readable, but
	// events.watch on it answers 400 pushNotSupportedForRequestedResource.
	// Not seeded: AddCalendar makes it the default user's.
	HolidayCalendarID = "en.usa#holiday" + generatedDomain

	// PrimaryEvents are the events seeded on the user's primary calendar:
	// timed, all-day, a weekly series with a moved and a cancelled instance,
	// a deleted event, a tentative invitation and a focus-time block.
	PrimaryEvents = 10
	// PrimarySignals is what a full backfill of the primary calendar yields:
	// 8 created and 2 cancelled.
	PrimarySignals = 10
	// TeamEvents are the events seeded on TeamCalendarID.
	TeamEvents = 4
	// TeamSignals is what a full backfill of TeamCalendarID yields.
	TeamSignals = 4

	// StandupSeriesID is the seeded weekly series on the primary calendar.
	StandupSeriesID = "standup4f6h8j0l2n4p6r8t0v"
)

// SignalCounts maps each seeded calendar id (the primary one under the
// user's email) to the Signals a full backfill yields; empty without Seed.
func (s *Server) SignalCounts() map[string]int {
	if !s.opts.Seed {
		return map[string]int{}
	}
	return map[string]int{s.opts.User: PrimarySignals, TeamCalendarID: TeamSignals}
}

// ts parses a fixed seed timestamp.
func ts(v string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		panic("gcalsandbox: bad seed time " + v)
	}
	return t
}

func at(dt, tz string) *DateTime { return &DateTime{DateTime: dt, TimeZone: tz} }
func day(d string) *DateTime     { return &DateTime{Date: d} }
func boolp(b bool) *bool         { return &b }

// meet is a full-shape Google Meet conferenceData block.
func meet(code string) json.RawMessage {
	return json.RawMessage(`{"entryPoints":[{"entryPointType":"video","uri":"https://meet.google.com/` + code +
		`","label":"meet.google.com/` + code + `"},{"entryPointType":"more","uri":"https://tel.meet/` + code +
		`?pin=1234567890123","pin":"1234567890123"},{"regionCode":"GB","entryPointType":"phone","uri":"tel:+44-20-3873-7654","label":"+44 20 3873 7654","pin":"123456789"}],` +
		`"conferenceSolution":{"key":{"type":"hangoutsMeet"},"name":"Google Meet","iconUri":"https://fonts.gstatic.com/s/i/productlogos/meet_2020q4/v6/web-512dp/logo_meet_2020q4_color_2x_web_512dp.png"},` +
		`"conferenceId":"` + code + `"}`)
}

// seed creates the seeded calendars. Timestamps are fixed so every run,
// and every dedupe key, is the same.
func (s *Server) seed() {
	s.mu.Lock()
	defer s.mu.Unlock()
	user := s.opts.User
	me := &Person{Email: user, Self: true}
	const london = "Europe/London"

	primary := s.addCalendarLocked(user, user, "", london)
	for _, e := range []*event{
		{created: ts("2025-01-06T09:12:05Z"), updated: ts("2025-01-06T09:12:05.731Z"), Event: Event{
			ID: "q3roadmapreview0a1b2c3d4e", Status: "confirmed", Summary: "Quarterly roadmap review",
			Description: "Agenda: launches, hiring, budget.", Location: "Board room, 3rd floor",
			Creator: me, Organizer: me, Start: at("2025-01-20T14:00:00Z", london), End: at("2025-01-20T15:00:00Z", london),
			Transparency: "opaque", Visibility: "default", Sequence: 0,
			Attendees: []Attendee{
				{Email: user, Organizer: true, Self: true, ResponseStatus: "accepted"},
				{Email: "grace@example.com", DisplayName: "Grace Hopper", ResponseStatus: "needsAction"},
				{Email: "board-room-3@resource.calendar.google.com", DisplayName: "Board room", Resource: true, ResponseStatus: "accepted"},
			},
			HangoutLink: "https://meet.google.com/abc-defg-hij", ConferenceData: meet("abc-defg-hij"),
			GuestsCanModify: false, Reminders: &Reminders{UseDefault: true},
		}},
		{created: ts("2025-01-07T10:00:00Z"), updated: ts("2025-01-10T16:45:12.345Z"), Event: Event{
			ID: "pressbrief7k2m4n6p8r0t2v4", Status: "confirmed", Summary: "Press briefing: TechDaily",
			Description: "Embargoed briefing ahead of the launch.", Location: "https://meet.google.com/kln-opqr-stu",
			Creator: me, Organizer: me, Start: at("2025-01-22T11:00:00Z", london), End: at("2025-01-22T11:45:00Z", london),
			Sequence: 2, Attendees: []Attendee{
				{Email: user, Organizer: true, Self: true, ResponseStatus: "accepted"},
				{Email: "reporter@techdaily.example", DisplayName: "Sam Reporter", ResponseStatus: "accepted", Comment: "Looking forward to it"},
			},
			HangoutLink: "https://meet.google.com/kln-opqr-stu", ConferenceData: meet("kln-opqr-stu"),
			GuestsCanSeeOtherGuests: boolp(false), ExtendedProperties: json.RawMessage(`{"private":{"crm":"lead-42"}}`),
			Reminders: &Reminders{UseDefault: false, Overrides: []Reminder{{Method: "email", Minutes: 1440}, {Method: "popup", Minutes: 15}}},
			Attachments: []Attachment{{FileURL: "https://drive.google.com/open?id=1aBcD", Title: "Briefing notes", MimeType: "application/vnd.google-apps.document",
				IconLink: "https://drive-thirdparty.googleusercontent.com/16/type/application/vnd.google-apps.document", FileID: "1aBcD"}},
		}},
		{created: ts("2025-01-08T08:30:00Z"), updated: ts("2025-01-08T08:30:00.200Z"), Event: Event{
			ID: "offsite2025a1c3e5g7i9k1m3", Status: "confirmed", Summary: "Company offsite",
			Location: "Lake District", Creator: me, Organizer: me, Start: day("2025-02-03"), End: day("2025-02-05"),
			Transparency: "transparent", ColorID: "5", Reminders: &Reminders{UseDefault: false},
		}},
		{created: ts("2025-01-09T11:00:00Z"), updated: ts("2025-01-14T08:00:00Z"), Event: Event{
			ID: StandupSeriesID, Status: "confirmed", Summary: "Team standup",
			Creator: me, Organizer: me, Start: at("2025-01-13T09:30:00Z", london), End: at("2025-01-13T09:45:00Z", london),
			Sequence: 1, ICalUID: StandupSeriesID + "@google.com", GuestsCanModify: true,
			Recurrence:  []string{"RRULE:FREQ=WEEKLY;WKST=MO;BYDAY=MO,WE,FR", "EXDATE;TZID=Europe/London:20250203T093000"},
			HangoutLink: "https://meet.google.com/xyz-abcd-efg", ConferenceData: meet("xyz-abcd-efg"),
		}},
		{created: ts("2025-01-09T11:00:00Z"), updated: ts("2025-01-14T17:20:00.500Z"), Event: Event{
			ID: StandupSeriesID + "_20250115T093000Z", Status: "confirmed", Summary: "Team standup (moved)",
			Creator: me, Organizer: me, Start: at("2025-01-15T10:00:00Z", london), End: at("2025-01-15T10:15:00Z", london),
			RecurringEventID: StandupSeriesID, OriginalStartTime: at("2025-01-15T09:30:00Z", london),
			Sequence: 2, ICalUID: StandupSeriesID + "@google.com", GuestsCanModify: true,
		}},
		{minimal: true, created: ts("2025-01-09T11:00:00Z"), updated: ts("2025-01-14T17:25:00Z"), Event: Event{
			ID: StandupSeriesID + "_20250117T093000Z", Status: "cancelled",
			RecurringEventID: StandupSeriesID, OriginalStartTime: at("2025-01-17T09:30:00Z", london),
		}},
		{created: ts("2025-01-10T09:00:00Z"), updated: ts("2025-01-12T18:30:00Z"), Event: Event{
			ID: "dryrun9b1d3f5h7j9l1n3p5r7", Status: "cancelled", Summary: "Product launch dry run",
			Creator: me, Organizer: me, Start: at("2025-01-24T16:00:00Z", london), End: at("2025-01-24T17:00:00Z", london),
			Sequence: 1,
		}},
		{created: ts("2025-01-13T07:45:00Z"), updated: ts("2025-01-13T07:45:01.500Z"), Event: Event{
			ID: "oneonegrace2c4e6g8i0k2m4o", Status: "tentative", Summary: "1:1 Ada / Grace",
			Creator:   &Person{Email: "grace@example.com", DisplayName: "Grace Hopper"},
			Organizer: &Person{Email: "grace@example.com", DisplayName: "Grace Hopper"},
			Start:     at("2025-01-21T15:00:00Z", london), End: at("2025-01-21T15:30:00Z", london),
			Attendees: []Attendee{
				{Email: "grace@example.com", DisplayName: "Grace Hopper", Organizer: true, ResponseStatus: "accepted"},
				{Email: user, Self: true, ResponseStatus: "tentative"},
			},
			GuestsCanInviteOthers: boolp(false), PrivateCopy: false,
		}},
		{created: ts("2025-01-14T12:00:00Z"), updated: ts("2025-01-15T09:10:00Z"), Event: Event{
			ID: "vergecall3d5f7h9j1l3n5p7r9", Status: "confirmed", Summary: "Journalist call: The Verge",
			Description: "Follow-up on the launch story.", Creator: me, Organizer: me,
			Start: at("2025-01-23T17:00:00Z", london), End: at("2025-01-23T17:30:00Z", london), Sequence: 1,
			Attendees: []Attendee{
				{Email: user, Organizer: true, Self: true, ResponseStatus: "accepted"},
				{Email: "editor@verge.example", ResponseStatus: "accepted", AdditionalGuests: 1},
			},
			Source: &Source{URL: "https://mail.google.com/mail/#inbox/18c0a", Title: "Re: launch story"},
		}},
		{created: ts("2025-01-15T06:00:00Z"), updated: ts("2025-01-15T06:00:00Z"), Event: Event{
			ID: "focusblock5e7g9i1k3m5o7q9s", Status: "confirmed", Summary: "Focus time",
			Creator: me, Organizer: me, Start: at("2025-01-16T08:00:00Z", london), End: at("2025-01-16T10:00:00Z", london),
			Transparency: "opaque", Visibility: "public", EventType: "focusTime",
			FocusTimeProperties: json.RawMessage(`{"autoDeclineMode":"declineOnlyNewConflictingInvitations","declineMessage":"Declined because I am in focus time.","chatStatus":"doNotDisturb"}`),
		}},
	} {
		s.putLocked(primary, e)
	}

	const ny = "America/New_York"
	team := s.addCalendarLocked(TeamCalendarID, "Press team", "Launches, embargoes and media.", ny)
	teamOrg := &Person{Email: TeamCalendarID, DisplayName: "Press team", Self: true}
	grace := &Person{Email: "grace@example.com", DisplayName: "Grace Hopper"}
	for _, e := range []*event{
		{created: ts("2025-01-06T15:00:00Z"), updated: ts("2025-01-20T13:14:15.161Z"), Event: Event{
			ID: "embargo1a3c5e7g9i1k3m5o7q", Status: "confirmed", Summary: "Launch embargo lifts",
			Creator: me, Organizer: teamOrg, Start: day("2025-02-10"), End: day("2025-02-11"),
			Transparency: "transparent", Sequence: 3, Reminders: &Reminders{UseDefault: false},
		}},
		{created: ts("2025-01-08T14:00:00Z"), updated: ts("2025-01-08T14:00:00.400Z"), Event: Event{
			ID: "presskit2b4d6f8h0j2l4n6p8", Status: "confirmed", Summary: "Press kit review",
			Location: "Conference room 4B", Creator: grace, Organizer: teamOrg,
			Start: at("2025-01-28T10:00:00-05:00", ny), End: at("2025-01-28T11:00:00-05:00", ny),
			Attendees: []Attendee{
				{Email: user, Self: true, ResponseStatus: "accepted"},
				{Email: "grace@example.com", DisplayName: "Grace Hopper", ResponseStatus: "accepted"},
				{Email: "linus@example.com", Optional: true, ResponseStatus: "declined"},
				{Email: "room-4b@resource.calendar.google.com", DisplayName: "Conference room 4B", Resource: true, ResponseStatus: "accepted"},
			},
		}},
		{created: ts("2025-01-09T16:00:00Z"), updated: ts("2025-01-09T16:00:01.900Z"), Event: Event{
			ID: "mediatrain3c5e7g9i1k3m5o7", Status: "tentative", Summary: "Media training",
			Creator: me, Organizer: teamOrg, Start: at("2025-02-04T13:00:00-05:00", ny), End: at("2025-02-04T16:00:00-05:00", ny),
		}},
		{minimal: true, created: ts("2024-11-02T10:00:00Z"), updated: ts("2025-01-03T09:00:00Z"), Event: Event{
			ID: "webinar4d6f8h0j2l4n6p8r0", Status: "cancelled", Summary: "Q4 webinar",
			Start: at("2025-01-16T16:00:00Z", "UTC"), End: at("2025-01-16T17:00:00Z", "UTC"),
		}},
	} {
		s.putLocked(team, e)
	}
}
