package gcalsandbox

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/poblysh/poblysh/sandbox"
)

// Calendars belong to users. A user reads their own calendars (a primary
// calendar's id is its owner's email) and the ones shared with them;
// anyone else's calendar answers 404 notFound, as Google does for a
// calendar the caller cannot see
// (https://developers.google.com/workspace/calendar/api/guides/errors#404_not_found).
// Calendars created without an owner (the seeded ones, AddCalendar) belong
// to the default user, so a single-user sandbox behaves as it always did.

// canReadLocked reports whether user may read c through the API.
func (s *Server) canReadLocked(user string, c *calendarState) bool {
	switch {
	case user == "":
		return false
	case user == c.id, user == c.owner, c.readers[user]:
		return true
	}
	return c.owner == "" && user == s.opts.User
}

// readableLocked resolves a calendar id ("primary" included) for an API
// call made by user: nil when it does not exist or user may not read it.
func (s *Server) readableLocked(user, id string) *calendarState {
	c := s.resolveLocked(user, id)
	if c == nil || !s.canReadLocked(user, c) {
		return nil
	}
	return c
}

// AddCalendarOwned creates (or renames) a calendar owned by owner, who
// alone reads it until it is shared.
func (s *Server) AddCalendarOwned(id, summary, timeZone, owner string) {
	s.AddCalendar(id, summary, timeZone)
	s.mu.Lock()
	s.calendars[id].owner = owner
	s.mu.Unlock()
}

// Share gives user read access to a calendar (read false takes it away).
func (s *Server) Share(calendarID, user string, read bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.calendars[calendarID]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNoCalendar, calendarID)
	}
	if c.readers == nil {
		c.readers = map[string]bool{}
	}
	if read {
		c.readers[user] = true
	} else {
		delete(c.readers, user)
	}
	return nil
}

// aclRoutes mounts the sharing control routes:
//
//	POST /_sandbox/calendar/calendars/{calendarId}/owner  {"owner": "mallory@example.com"}
//	POST /_sandbox/calendar/calendars/{calendarId}/acl    {"user": "bob@example.com", "role": "reader" | "none"}
func (s *Server) aclRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /_sandbox/calendar/calendars/{calendarId}/owner", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Owner string `json:"owner"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Owner == "" {
			sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": `body must be {"owner": "<email>"}`})
			return
		}
		s.mu.Lock()
		c, ok := s.calendars[r.PathValue("calendarId")]
		if ok {
			c.owner = body.Owner
		}
		s.mu.Unlock()
		if !ok {
			sandbox.WriteJSON(w, http.StatusNotFound, map[string]string{"error": ErrNoCalendar.Error()})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_sandbox/calendar/calendars/{calendarId}/acl", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			User string `json:"user"`
			Role string `json:"role"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.User == "" || (body.Role != "reader" && body.Role != "none") {
			sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": `body must be {"user": "<email>", "role": "reader" | "none"}`})
			return
		}
		if err := s.Share(r.PathValue("calendarId"), body.User, body.Role == "reader"); err != nil {
			sandbox.WriteJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
