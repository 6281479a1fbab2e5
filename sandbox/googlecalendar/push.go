package gcalsandbox

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/poblysh/poblysh/sandbox"
)

// Channel lifetimes. Google documents no maximum for Calendar; integrators
// observe about a week, so longer requests are capped there.
const (
	DefaultChannelTTL = time.Hour
	MaxChannelTTL     = 7 * 24 * time.Hour
)

// googleUserAgent is what Google's push notifications carry.
const googleUserAgent = "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)"

var channelIDPattern = regexp.MustCompile(`^[A-Za-z0-9\-_+/=]{1,64}$`)

// channel is a registered watch channel.
type channel struct {
	id, token, address string
	calendarID         string
	resourceID         string
	resourceURI        string
	user               string
	expiration         time.Time
	stopped            bool
	messages           int64 // last message number sent
}

func (c *channel) live(now time.Time) bool { return !c.stopped && now.Before(c.expiration) }

// ChannelInfo is a channel as GET /_sandbox/calendar/channels reports it
// (the token is the service's secret and is not shown).
type ChannelInfo struct {
	ID          string    `json:"id"`
	ResourceID  string    `json:"resource_id"`
	CalendarID  string    `json:"calendar_id"`
	Address     string    `json:"address"`
	Expiration  time.Time `json:"expiration"`
	Stopped     bool      `json:"stopped"`
	Live        bool      `json:"live"`
	LastMessage int64     `json:"last_message"`
}

// Channels lists every channel ever registered, live or not, by id.
func (s *Server) Channels() []ChannelInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := make([]ChannelInfo, 0, len(s.channels))
	for _, c := range s.channels {
		out = append(out, ChannelInfo{ID: c.id, ResourceID: c.resourceID, CalendarID: c.calendarID, Address: c.address,
			Expiration: c.expiration, Stopped: c.stopped, Live: c.live(now), LastMessage: c.messages})
	}
	slicesSortByID(out)
	return out
}

// resourceID is the stable id of a calendar's events collection.
func resourceID(calendarID string) string {
	sum := sha256.Sum256([]byte("events:" + calendarID))
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:17]))
}

// watchRequest is the Channel body of events.watch (expiration is an int64
// sent as a string by Google's clients; a number is accepted too).
type watchRequest struct {
	ID         string            `json:"id"`
	Type       string            `json:"type"`
	Address    string            `json:"address"`
	Token      string            `json:"token"`
	Expiration json.Number       `json:"expiration"`
	Params     map[string]string `json:"params"`
}

// watch is events.watch: it registers the channel, answers with its
// resourceId and expiration (params.ttl seconds, else the requested
// expiration, else one hour; capped at MaxChannelTTL), then sends the "sync"
// notification (message 1) in the background.
func (s *Server) watch(w http.ResponseWriter, r *http.Request) {
	g, ok := s.grant(w, r, EventScopes)
	if !ok {
		return
	}
	var req watchRequest
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "parseError", "Parse Error")
		return
	}
	switch {
	case !channelIDPattern.MatchString(req.ID):
		writeError(w, http.StatusBadRequest, "invalid", "Invalid channel id: 1 to 64 characters of [A-Za-z0-9-_+/=].")
		return
	case req.Type != "web_hook" && req.Type != "webhook":
		writeError(w, http.StatusBadRequest, "invalid", "Invalid value for type: "+req.Type)
		return
	case !strings.HasPrefix(req.Address, "https://") && !strings.HasPrefix(req.Address, "http://"):
		// Google requires https; the sandbox also accepts http for local runs.
		writeError(w, http.StatusBadRequest, "push.webhookUrlNotHttps", "WebHook callback must be HTTPS: "+req.Address)
		return
	}
	now := s.now()
	exp := now.Add(DefaultChannelTTL)
	if ttl, err := strconv.ParseInt(req.Params["ttl"], 10, 64); err == nil && ttl > 0 {
		exp = now.Add(time.Duration(ttl) * time.Second)
	} else if ms, err := req.Expiration.Int64(); err == nil && ms > 0 {
		exp = time.UnixMilli(ms).UTC()
	}
	exp = minTime(exp, now.Add(MaxChannelTTL)).Truncate(time.Millisecond)

	s.mu.Lock()
	c := s.resolveLocked(g.UserID, r.PathValue("calendarId"))
	if c == nil {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "notFound", "Not Found")
		return
	}
	if _, dup := s.channels[req.ID]; dup {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, "channelIdNotUnique", "Channel id "+req.ID+" not unique")
		return
	}
	ch := &channel{id: req.ID, token: req.Token, address: req.Address, calendarID: c.id, user: g.UserID,
		resourceID:  resourceID(c.id),
		resourceURI: requestBase(r) + "/calendar/v3/calendars/" + pathEscape(c.id) + "/events?alt=json",
		expiration:  exp, messages: 1}
	s.channels[ch.id] = ch
	sync := s.deliveryLocked(ch, "sync", 1)
	s.mu.Unlock()

	resp := map[string]string{"kind": "api#channel", "id": ch.id, "resourceId": ch.resourceID,
		"resourceUri": ch.resourceURI, "expiration": strconv.FormatInt(exp.UnixMilli(), 10)}
	if ch.token != "" {
		resp["token"] = ch.token
	}
	sandbox.WriteJSON(w, http.StatusOK, resp)

	s.pending.Add(1)
	go func() {
		defer s.pending.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s.send(ctx, ch.address, sync, sandbox.DeliveryOptions{})
	}()
}

// stopChannel is channels.stop: 204, or 404 for a channel that is unknown,
// someone else's, already stopped or expired, or whose resourceId differs.
func (s *Server) stopChannel(w http.ResponseWriter, r *http.Request) {
	g, ok := s.grant(w, r, EventScopes)
	if !ok {
		return
	}
	var req struct {
		ID         string `json:"id"`
		ResourceID string `json:"resourceId"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.ID == "" {
		writeError(w, http.StatusBadRequest, "required", "Required parameter: id")
		return
	}
	s.mu.Lock()
	ch, ok := s.channels[req.ID]
	found := ok && ch.user == g.UserID && ch.resourceID == req.ResourceID && ch.live(s.now())
	if found {
		ch.stopped = true
	}
	s.mu.Unlock()
	if !found {
		writeError(w, http.StatusNotFound, "notFound", "Channel '"+req.ID+"' not found for project '1093712342424'")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// deliveryLocked builds a push notification: headers only, no body.
func (s *Server) deliveryLocked(ch *channel, state string, number int64) sandbox.Delivery {
	h := http.Header{}
	h.Set("User-Agent", googleUserAgent)
	h.Set("X-Goog-Channel-ID", ch.id)
	if ch.token != "" {
		h.Set("X-Goog-Channel-Token", ch.token)
	}
	h.Set("X-Goog-Channel-Expiration", ch.expiration.UTC().Format(http.TimeFormat))
	h.Set("X-Goog-Resource-ID", ch.resourceID)
	h.Set("X-Goog-Resource-URI", ch.resourceURI)
	h.Set("X-Goog-Resource-State", state)
	h.Set("X-Goog-Message-Number", strconv.FormatInt(number, 10))
	return sandbox.Delivery{Header: h}
}
