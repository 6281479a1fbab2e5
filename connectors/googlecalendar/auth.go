package googlecalendar

import "github.com/poblysh/poblysh/connectors/google"

// requiredScopes are what a grant must carry: the sign-in email and event
// reads, which the wider calendar scopes include. With granular consent a
// user may untick the calendar permission and still approve; such a grant
// is refused by name (google.Auth.MissingScopes).
var requiredScopes = []google.Requirement{
	google.EmailRequirement,
	{Name: "https://www.googleapis.com/auth/calendar.events.readonly", Any: []string{
		"https://www.googleapis.com/auth/calendar.events.readonly",
		"https://www.googleapis.com/auth/calendar.events",
		"https://www.googleapis.com/auth/calendar.readonly",
		"https://www.googleapis.com/auth/calendar",
	}},
}
