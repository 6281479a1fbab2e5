package gcalsandbox

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/poblysh/poblysh/sandbox"
)

// maxResultsCap is the largest page Google returns.
const maxResultsCap = 2500

// forbiddenWithSyncToken are the events.list parameters Google rejects
// together with syncToken.
var forbiddenWithSyncToken = []string{"iCalUID", "orderBy", "privateExtendedProperty", "q", "sharedExtendedProperty", "timeMin", "timeMax", "updatedMin"}

// grant authenticates an API call and checks its scopes, answering 401/403
// like Google when it fails.
func (s *Server) grant(w http.ResponseWriter, r *http.Request, scopes []string) (sandbox.Grant, bool) {
	return s.OAuth.Grant(w, r, scopes)
}

// calendarResource is a Calendar resource (calendars.get).
type calendarResource struct {
	Kind                 string         `json:"kind"`
	Etag                 string         `json:"etag"`
	ID                   string         `json:"id"`
	Summary              string         `json:"summary"`
	Description          string         `json:"description,omitempty"`
	TimeZone             string         `json:"timeZone"`
	ConferenceProperties map[string]any `json:"conferenceProperties"`
}

func (s *Server) getCalendar(w http.ResponseWriter, r *http.Request) {
	g, ok := s.grant(w, r, CalendarScopes)
	if !ok {
		return
	}
	s.mu.Lock()
	c := s.readableLocked(g.UserID, r.PathValue("calendarId"))
	var res calendarResource
	if c != nil {
		res = calendarResource{
			Kind: "calendar#calendar", Etag: etagOf(c.updated), ID: c.id, Summary: c.summary,
			Description: c.description, TimeZone: c.timeZone,
			ConferenceProperties: map[string]any{"allowedConferenceSolutionTypes": []string{"hangoutsMeet"}},
		}
	}
	s.mu.Unlock()
	if c == nil {
		writeError(w, http.StatusNotFound, "notFound", "Not Found")
		return
	}
	sandbox.WriteJSON(w, http.StatusOK, res)
}

func (s *Server) getEvent(w http.ResponseWriter, r *http.Request) {
	g, ok := s.grant(w, r, EventScopes)
	if !ok {
		return
	}
	s.mu.Lock()
	var body any
	if c := s.readableLocked(g.UserID, r.PathValue("calendarId")); c != nil {
		if e, ok := c.events[r.PathValue("eventId")]; ok {
			body = e.wire()
		}
	}
	s.mu.Unlock()
	if body == nil {
		writeError(w, http.StatusNotFound, "notFound", "Not Found")
		return
	}
	sandbox.WriteJSON(w, http.StatusOK, body)
}

// eventsPage is the events.list response.
type eventsPage struct {
	Kind             string     `json:"kind"`
	Etag             string     `json:"etag"`
	Summary          string     `json:"summary"`
	Description      string     `json:"description,omitempty"`
	Updated          string     `json:"updated"`
	TimeZone         string     `json:"timeZone"`
	AccessRole       string     `json:"accessRole"`
	DefaultReminders []Reminder `json:"defaultReminders"`
	NextPageToken    string     `json:"nextPageToken,omitempty"`
	NextSyncToken    string     `json:"nextSyncToken,omitempty"`
	Items            []any      `json:"items"`
}

// listQuery is a validated events.list request.
type listQuery struct {
	max              int
	showDeleted      bool
	syncToken        string
	pageToken        string
	iCalUID, q       string
	timeMin, timeMax time.Time
	updatedMin       time.Time
	hasUpdatedMin    bool
}

// parseList validates events.list parameters; it returns a message for 400.
func (s *Server) parseList(r *http.Request) (listQuery, string) {
	v := r.URL.Query()
	lq := listQuery{max: 250, syncToken: v.Get("syncToken"), pageToken: v.Get("pageToken"), iCalUID: v.Get("iCalUID"), q: v.Get("q")}
	if m := v.Get("maxResults"); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil || n < 1 {
			return lq, "Invalid value '" + m + "'. Values must be within the range: [1, 2500]"
		}
		lq.max = min(n, maxResultsCap)
	}
	if s.opts.PageSize > 0 {
		lq.max = min(lq.max, s.opts.PageSize)
	}
	lq.showDeleted = v.Get("showDeleted") == "true"
	if v.Get("singleEvents") == "true" {
		return lq, "singleEvents=true (expanded instances) is not supported by the sandbox"
	}
	if ob := v.Get("orderBy"); ob != "" && lq.syncToken == "" {
		if ob == "startTime" {
			return lq, "The requested ordering is not available for the particular query."
		}
		return lq, "orderBy=" + ob + " is not supported by the sandbox"
	}
	if lq.syncToken != "" {
		for _, p := range forbiddenWithSyncToken {
			if v.Has(p) {
				return lq, "Sync token cannot be used with the " + p + " parameter."
			}
		}
	}
	for name, dst := range map[string]*time.Time{"timeMin": &lq.timeMin, "timeMax": &lq.timeMax, "updatedMin": &lq.updatedMin} {
		if raw := v.Get(name); raw != "" {
			t, err := time.Parse(time.RFC3339, raw)
			if err != nil {
				return lq, "Bad Request: " + name + " must be an RFC3339 timestamp with a time zone offset"
			}
			*dst = t
		}
	}
	lq.hasUpdatedMin = v.Has("updatedMin")
	return lq, ""
}

// matches applies the filters of a full listing.
func (lq listQuery) matches(e *event) bool {
	if e.Status == "cancelled" && !lq.showDeleted && !lq.hasUpdatedMin && e.RecurringEventID == "" {
		// Cancelled instances of a series are listed even without showDeleted.
		return false
	}
	switch {
	case lq.iCalUID != "" && e.ICalUID != lq.iCalUID && e.ID+"@google.com" != lq.iCalUID:
		return false
	case lq.hasUpdatedMin && e.updated.Before(lq.updatedMin):
		return false
	case !lq.timeMin.IsZero() && !e.lastEnd().IsZero() && !e.lastEnd().After(lq.timeMin):
		return false
	case !lq.timeMax.IsZero() && !e.startTime().Before(lq.timeMax):
		return false
	case lq.q != "" && !containsFold(e.Summary+" "+e.Description+" "+e.Location, lq.q):
		return false
	}
	return true
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
