package googlecalendar

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/google"
)

// PrimaryCalendar is Google's alias for the connected user's own calendar.
const PrimaryCalendar = "primary"

// maxCalendars bounds how many calendars one connection syncs (one stream
// and one watch channel each).
const maxCalendars = 50

// streamPrefix starts every stream name: "events:<calendarId>".
const streamPrefix = "events:"

// Backfill window bounds, in days: a full sync reads events that end after
// now minus backfill_days (and every future event).
const (
	DefaultBackfillDays = 30
	maxBackfillDays     = 3650
)

// Config is a connection's provider config.
type Config struct {
	// Calendars are the calendar ids to sync ("primary" or an email-like id).
	Calendars []string `json:"calendars"`
	// BackfillDays bounds a full sync to events ending after now minus this
	// many days (0: DefaultBackfillDays).
	BackfillDays int `json:"backfill_days,omitempty"`
}

// backfillDays is the window of a full sync, in days.
func (c Config) backfillDays() int {
	if c.BackfillDays <= 0 {
		return DefaultBackfillDays
	}
	return c.BackfillDays
}

// ValidateConfig checks and normalizes {"calendars": [...], "backfill_days":
// 30}: an empty or missing calendar list means ["primary"]; ids are trimmed
// and deduplicated; backfill_days, when set, is 1 to 3650; unknown fields
// are rejected so that typos do not silently sync the wrong thing.
func (c *Connector) ValidateConfig(raw json.RawMessage) (json.RawMessage, error) {
	cfg, err := parseConfig(raw)
	if err != nil {
		return nil, err
	}
	out, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("google-calendar: encode config: %w", err)
	}
	return out, nil
}

func parseConfig(raw json.RawMessage) (Config, error) {
	var in struct {
		Calendars    []string        `json:"calendars"`
		BackfillDays json.RawMessage `json:"backfill_days"`
	}
	if err := connectors.DecodeConfig(raw, &in, `{"calendars": ["primary", ...], "backfill_days": 30}`); err != nil {
		return Config{}, err
	}
	cfg := Config{Calendars: in.Calendars}
	if len(in.BackfillDays) > 0 && !bytes.Equal(in.BackfillDays, []byte("null")) {
		if err := json.Unmarshal(in.BackfillDays, &cfg.BackfillDays); err != nil || cfg.BackfillDays < 1 || cfg.BackfillDays > maxBackfillDays {
			return Config{}, &connectors.ConfigError{Fields: map[string]string{
				"backfill_days": fmt.Sprintf("must be an integer from 1 to %d", maxBackfillDays),
			}}
		}
	}
	if len(cfg.Calendars) == 0 {
		cfg.Calendars = []string{PrimaryCalendar}
		return cfg, nil
	}
	if len(cfg.Calendars) > maxCalendars {
		return Config{}, &connectors.ConfigError{Fields: map[string]string{
			"calendars": fmt.Sprintf("at most %d calendars", maxCalendars),
		}}
	}
	seen := map[string]bool{}
	var ids []string
	for i, id := range cfg.Calendars {
		id = strings.TrimSpace(id)
		if msg := checkCalendarID(id); msg != "" {
			return Config{}, &connectors.ConfigError{Fields: map[string]string{
				fmt.Sprintf("calendars[%d]", i): msg,
			}}
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	cfg.Calendars = ids
	return cfg, nil
}

// checkCalendarID returns why id is not a calendar id, or "". Calendar ids
// are "primary" or email-like: user@example.com, xyz@group.calendar.google.com,
// en.usa#holiday@group.v.calendar.google.com.
func checkCalendarID(id string) string {
	switch {
	case id == "":
		return "must not be empty"
	case len(id) > 255:
		return "must be at most 255 characters"
	case strings.IndexFunc(id, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == '/' }) >= 0:
		return "must not contain spaces, control characters or '/'"
	case id != PrimaryCalendar && !strings.Contains(id, "@"):
		return `must be "primary" or a calendar id like team@group.calendar.google.com`
	}
	return ""
}

// calendars returns the connection's configured calendar ids.
func calendars(conn connectors.Connection) ([]string, error) {
	cfg, err := parseConfig(conn.Config)
	if err != nil {
		return nil, fmt.Errorf("google-calendar: connection config: %w", err)
	}
	return cfg.Calendars, nil
}

// Streams lists one stream per configured calendar: "events:<calendarId>".
func (c *Connector) Streams(conn connectors.Connection) ([]string, error) {
	ids, err := calendars(conn)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		out = append(out, streamPrefix+id)
	}
	return out, nil
}

// calendarOfStream returns the calendar id a stream reads.
func calendarOfStream(stream string) (string, error) {
	id, ok := strings.CutPrefix(stream, streamPrefix)
	if !ok || checkCalendarID(id) != "" {
		return "", fmt.Errorf("google-calendar: %w: unknown stream %q", connectors.ErrInvalidConfig, stream)
	}
	return id, nil
}

// canonicalCalendar is the calendar id in Signal payloads and context:
// "primary" becomes the account's email now (the primary calendar's real
// id).
func canonicalCalendar(conn connectors.Connection, id string) string {
	if email := google.AccountEmail(conn.Account); id == PrimaryCalendar && email != "" {
		return email
	}
	return id
}

// calendarKey is the calendar id in dedupe and fingerprint keys: the
// primary calendar, as "primary" or by the account's email now, is named
// by primaryKey (the address first connected), so a connection configured
// with either spelling derives the same keys, and a rename of the account
// derives the keys it stored before; any other id is itself.
func calendarKey(conn connectors.Connection, id string) string {
	email := google.AccountEmail(conn.Account)
	if id != PrimaryCalendar && (email == "" || id != email) {
		return id
	}
	if k := primaryKey(conn.Account); k != "" {
		return k
	}
	return id
}
