package gcalsandbox

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// calendarState is one calendar and its events.
type calendarState struct {
	id          string
	summary     string
	description string
	timeZone    string
	updated     time.Time
	events      map[string]*event
	// owner and readers decide who may read it through the API (acl.go).
	owner   string
	readers map[string]bool
}

// seriesAfter is added to a series' insertion order to list it after every
// other event (Options.SeriesLast).
const seriesAfter = int64(1) << 40

// listKey is an event's place in the listing order (page tokens hold the
// last one listed): its insertion order, after every other event's for a
// series when Options.SeriesLast.
func (s *Server) listKey(e *event) int64 {
	if s.opts.SeriesLast && len(e.Recurrence) > 0 {
		return seriesAfter + e.seq
	}
	return e.seq
}

// sortedLocked returns a calendar's events in listing order.
func (s *Server) sortedLocked(c *calendarState) []*event {
	out := make([]*event, 0, len(c.events))
	for _, e := range c.events {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *event) int { return cmp.Compare(s.listKey(a), s.listKey(b)) })
	return out
}

// resolveLocked maps "primary" to the user's calendar, creating the user's
// empty primary calendar on first use. It returns nil for unknown calendars.
func (s *Server) resolveLocked(user, id string) *calendarState {
	if id == "primary" {
		id = user
	}
	if c, ok := s.calendars[id]; ok {
		return c
	}
	if id == user {
		return s.addCalendarLocked(id, id, "", "UTC")
	}
	return nil
}

func (s *Server) addCalendarLocked(id, summary, description, tz string) *calendarState {
	c := &calendarState{id: id, summary: summary, description: description, timeZone: tz,
		updated: s.now(), events: map[string]*event{}}
	s.calendars[id] = c
	return c
}

// putLocked stores e as a new version of itself in its calendar.
func (s *Server) putLocked(c *calendarState, e *event) {
	s.version++
	e.version = s.version
	if e.seq == 0 {
		s.seq++
		e.seq = s.seq
	}
	e.calendarID = c.id
	c.events[e.ID] = e
	if e.updated.After(c.updated) {
		c.updated = e.updated
	}
}

// tokenState is what sync and page tokens encode. They are opaque to
// clients and carry all the state of a listing pass, so the fake keeps none.
type tokenState struct {
	Kind     string `json:"k"` // "s" sync token, "p" page token
	Calendar string `json:"c"`
	Since    int64  `json:"s"` // page tokens: version the pass lists changes after; -1 for a full listing
	Snapshot int64  `json:"v"` // version at the start of the pass: the next sync token
	After    int64  `json:"a"` // page tokens: listKey of the last event returned
	Epoch    int64  `json:"e"` // ExpireSyncTokens bumps the server's epoch
	Nonce    string `json:"n"` // makes every token unique, as Google's are
}

func encodeToken(t tokenState) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	t.Nonce = base64.RawURLEncoding.EncodeToString(b)
	raw, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(raw)
}

func decodeToken(s, kind string) (tokenState, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return tokenState{}, fmt.Errorf("malformed token")
	}
	var t tokenState
	if err := json.Unmarshal(raw, &t); err != nil || t.Kind != kind {
		return tokenState{}, fmt.Errorf("malformed token")
	}
	return t, nil
}

// ExpireSyncTokens makes every sync token issued so far (and the page tokens
// of incremental passes started from them) answer 410 GONE, as Google does
// when a token is too old.
func (s *Server) ExpireSyncTokens() {
	s.mu.Lock()
	s.epoch++
	s.mu.Unlock()
}

// Events returns the stored events of a calendar in listing order, as the
// API renders them.
func (s *Server) Events(calendarID string) []any {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.resolveLocked(s.opts.User, calendarID)
	if c == nil {
		return nil
	}
	var out []any
	for _, e := range s.sortedLocked(c) {
		out = append(out, e.wire())
	}
	return out
}
