package googlecalendar

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
)

// TestCalendarKey: the primary calendar, as "primary" or by the account's
// address now, is keyed by the address first connected and named in
// payloads by the address now; any other calendar is itself in both.
func TestCalendarKey(t *testing.T) {
	conn := func(md map[string]string) connectors.Connection {
		return connectors.Connection{Account: connectors.Account{ID: "42", Metadata: md}}
	}
	fresh := conn(map[string]string{"email": "ada@x.example"})
	moved := conn(map[string]string{"email": "ada.byron@x.example", metaCalendarKey: "ada@x.example"})
	legacy := connectors.Connection{Account: connectors.Account{ID: "ada@x.example"}}
	team := "c_press.team@group.calendar.google.com"
	for _, c := range []struct {
		name       string
		conn       connectors.Connection
		id         string
		key, shown string
	}{
		{"primary", fresh, PrimaryCalendar, "ada@x.example", "ada@x.example"},
		{"primary by its address", fresh, "ada@x.example", "ada@x.example", "ada@x.example"},
		{"primary after a rename", moved, PrimaryCalendar, "ada@x.example", "ada.byron@x.example"},
		{"primary by its address now", moved, "ada.byron@x.example", "ada@x.example", "ada.byron@x.example"},
		{"primary by its first address", moved, "ada@x.example", "ada@x.example", "ada@x.example"},
		{"another calendar", moved, team, team, team},
		{"an account stored before subjects", legacy, PrimaryCalendar, "ada@x.example", "ada@x.example"},
		{"no address at all", conn(nil), PrimaryCalendar, PrimaryCalendar, PrimaryCalendar},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.key, calendarKey(c.conn, c.id), "in keys")
			require.Equal(t, c.shown, canonicalCalendar(c.conn, c.id), "in payloads")
		})
	}
}
