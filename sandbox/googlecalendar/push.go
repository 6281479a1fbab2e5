package gcalsandbox

import (
	"crypto/sha256"
	"encoding/base32"
	"net/http"
	"strings"
	"time"

	googlesandbox "github.com/poblysh/poblysh/sandbox/google"
)

// Channel lifetimes. Google documents no maximum for Calendar; integrators
// observe about a week, so longer requests are capped there.
const (
	DefaultChannelTTL = time.Hour
	MaxChannelTTL     = 7 * 24 * time.Hour
)

// ChannelInfo is a channel as GET /_sandbox/calendar/channels reports it
// (the token is the service's secret and is not shown).
type ChannelInfo struct {
	ID          string    `json:"id"`
	ResourceID  string    `json:"resource_id"`
	CalendarID  string    `json:"calendar_id"`
	User        string    `json:"user"` // whose token opened it
	Address     string    `json:"address"`
	Expiration  time.Time `json:"expiration"`
	Stopped     bool      `json:"stopped"`
	Live        bool      `json:"live"`
	LastMessage int64     `json:"last_message"`
}

// Channels lists every channel ever registered, live or not, by id.
func (s *Server) Channels() []ChannelInfo {
	now := s.now()
	var out []ChannelInfo
	for _, c := range s.chans.List() {
		out = append(out, ChannelInfo{ID: c.ID, ResourceID: c.ResourceID, CalendarID: c.Key, User: c.User, Address: c.Address,
			Expiration: c.Expiration, Stopped: c.Stopped, Live: c.Live(now), LastMessage: c.Messages})
	}
	return out
}

// resourceID is the stable id of a calendar's events collection.
func resourceID(calendarID string) string {
	sum := sha256.Sum256([]byte("events:" + calendarID))
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:17]))
}

// generatedDomain ends the ids of the calendars Google generates (holidays
// "en.usa#holiday@group.v.calendar.google.com", birthdays
// "addressbook#contacts@group.v.calendar.google.com"): they can be read,
// not watched.
const generatedDomain = "@group.v.calendar.google.com"

// ReasonPushNotSupported is Google's reason for an events.watch on a
// calendar it cannot watch (400, "Push notifications are not supported by
// this resource.").
const ReasonPushNotSupported = "pushNotSupportedForRequestedResource"

// watch is events.watch on a calendar the token's user may read (404
// otherwise; a generated calendar answers 400 pushNotSupportedForRequestedResource,
// as Google's do): the shared channel registry registers the channel,
// answers with its resourceId and expiration (params.ttl seconds, else the
// requested expiration, else one hour; capped at MaxChannelTTL), then sends
// the "sync" notification.
func (s *Server) watch(w http.ResponseWriter, r *http.Request) {
	g, ok := s.grant(w, r, EventScopes)
	if !ok {
		return
	}
	s.mu.Lock()
	c := s.readableLocked(g.UserID, r.PathValue("calendarId"))
	var id string
	if c != nil {
		id = c.id
	}
	s.mu.Unlock()
	if c == nil {
		writeError(w, http.StatusNotFound, "notFound", "Not Found")
		return
	}
	if strings.HasSuffix(id, generatedDomain) {
		writeError(w, http.StatusBadRequest, ReasonPushNotSupported, "Push notifications are not supported by this resource.")
		return
	}
	uri := googlesandbox.RequestBase(r) + "/calendar/v3/calendars/" + pathEscape(id) + "/events?alt=json"
	s.chans.Watch(w, r, g, id, resourceID(id), uri)
}

// stopChannel is channels.stop: 204, or 404 for a channel that is unknown,
// someone else's, already stopped or expired, or whose resourceId differs.
func (s *Server) stopChannel(w http.ResponseWriter, r *http.Request) {
	g, ok := s.grant(w, r, EventScopes)
	if !ok {
		return
	}
	s.chans.Stop(w, r, g)
}
