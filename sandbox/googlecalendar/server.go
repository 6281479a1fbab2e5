// Package gcalsandbox is a stateful in-memory fake of Google OAuth and the
// Google Calendar API v3, speaking the real wire format on one http.Handler:
//
//	GET  /o/oauth2/v2/auth                       authorize (auto-approves what the user approves)
//	POST /token                                  code exchange and refresh
//	POST /revoke                                 token revocation
//	GET  /v1/userinfo                            OpenID userinfo
//	GET  /calendar/v3/calendars/{id}             calendars.get
//	GET  /calendar/v3/calendars/{id}/events      events.list (pages, sync tokens, 410)
//	GET  /calendar/v3/calendars/{id}/events/{e}  events.get
//	POST /calendar/v3/calendars/{id}/events/watch  events.watch (then a "sync" push)
//	POST /calendar/v3/channels/stop              channels.stop
//
// plus the shared /_sandbox control routes and the calendar ones in
// control.go. Changes made through the control API bump the event's updated
// time and sequence and push bodiless notifications, with Google's headers,
// to every live watch channel of the calendar.
package gcalsandbox

import (
	"net/http"
	"strings"
	"sync"
	"time"

	googlesandbox "github.com/poblysh/poblysh/sandbox/google"
)

// Defaults used when Options leave a field empty (Google's sandbox OAuth
// client, shared by the Google fakes).
const (
	DefaultUser         = googlesandbox.DefaultUser
	DefaultClientID     = googlesandbox.DefaultClientID
	DefaultClientSecret = googlesandbox.DefaultClientSecret
	DefaultAccessTTL    = googlesandbox.DefaultAccessTTL
)

// Scopes a token needs for each API method (from the discovery document).
var (
	// EventScopes allow events.list, events.get and events.watch.
	EventScopes = []string{
		"https://www.googleapis.com/auth/calendar",
		"https://www.googleapis.com/auth/calendar.readonly",
		"https://www.googleapis.com/auth/calendar.events",
		"https://www.googleapis.com/auth/calendar.events.readonly",
		"https://www.googleapis.com/auth/calendar.events.owned",
		"https://www.googleapis.com/auth/calendar.events.owned.readonly",
		"https://www.googleapis.com/auth/calendar.app.created",
	}
	// CalendarScopes allow calendars.get: calendar.events.readonly does not.
	CalendarScopes = []string{
		"https://www.googleapis.com/auth/calendar",
		"https://www.googleapis.com/auth/calendar.readonly",
		"https://www.googleapis.com/auth/calendar.calendars",
		"https://www.googleapis.com/auth/calendar.calendars.readonly",
		"https://www.googleapis.com/auth/calendar.app.created",
	}
	// DefaultScopes are what AccessToken grants: the connector's scopes.
	DefaultScopes = []string{"openid", "email", "https://www.googleapis.com/auth/calendar.events.readonly"}
)

// Options configure a Server.
type Options struct {
	// ClientID and ClientSecret are the only OAuth client accepted
	// (DefaultClientID/DefaultClientSecret when empty).
	ClientID, ClientSecret string
	// AccessTTL is the access token lifetime (default 3599 s, like Google).
	AccessTTL time.Duration
	// User is the email of the user an authorization grants (DefaultUser).
	User string
	// Seed creates the seeded calendars and events (see seed.go).
	Seed bool
	// PageSize caps the events on one page whatever maxResults asks (Google
	// may return fewer than maxResults too); 0 applies Google's limits only.
	PageSize int
	// SeriesLast lists recurring series (events with recurrence rules)
	// after every other event of a calendar, so a series' exceptions come
	// before it, pages earlier when pages are short. Google lists events
	// in "an unspecified, stable order"; by default the fake lists them in
	// insertion order.
	SeriesLast bool
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// WebhookSecret is the service's own channel-token secret
	// (POBLYSH_GOOGLE_CALENDAR_WEBHOOK_SECRET): the fake learns channel
	// tokens from watch requests and never checks it, but Env hands it to
	// the service so that it registers watch channels. Empty: Env leaves
	// it out.
	WebhookSecret string
}

// Server is the fake. Safe for concurrent use.
type Server struct {
	// Product is the accounts server, fault queue and deliverer, and the
	// accessors (User, ClientID, AccessToken, DeclineNext, IssuedTokens).
	*googlesandbox.Product

	opts    Options
	handler http.Handler
	chans   *googlesandbox.Channels

	mu        sync.Mutex
	calendars map[string]*calendarState
	version   int64 // bumped by every event change
	epoch     int64 // bumped by ExpireSyncTokens
	seq       int64 // insertion order of events
}

// New builds a Server.
func New(opts Options) *Server {
	product := googlesandbox.NewProduct(googlesandbox.OAuthOptions{
		ClientID: opts.ClientID, ClientSecret: opts.ClientSecret, AccessTTL: opts.AccessTTL, User: opts.User, Now: opts.Now,
	}, DefaultScopes)
	oo := product.OAuth.Options()
	opts.ClientID, opts.ClientSecret, opts.User, opts.AccessTTL = oo.ClientID, oo.ClientSecret, oo.User, oo.AccessTTL
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{Product: product, opts: opts, calendars: map[string]*calendarState{}}
	s.chans = &googlesandbox.Channels{Deliverer: s.Base.Deliverer, Now: opts.Now, DefaultTTL: DefaultChannelTTL, MaxTTL: MaxChannelTTL}
	if opts.Seed {
		s.seed()
	}
	s.handler = s.routes()
	return s
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	api := http.NewServeMux()
	api.HandleFunc("GET /calendar/v3/calendars/{calendarId}", s.getCalendar)
	api.HandleFunc("GET /calendar/v3/calendars/{calendarId}/events", s.listEvents)
	api.HandleFunc("GET /calendar/v3/calendars/{calendarId}/events/{eventId}", s.getEvent)
	api.HandleFunc("POST /calendar/v3/calendars/{calendarId}/events/watch", s.watch)
	api.HandleFunc("POST /calendar/v3/channels/stop", s.stopChannel)
	s.Mount(mux, "/calendar/v3/", api, "/_sandbox/calendar/consent")
	s.controlRoutes(mux)
	s.aclRoutes(mux)
	return mux
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Env returns the POBLYSH_GOOGLE_CALENDAR_* variables that point the service
// at this sandbox served at baseURL. The webhook secret is the service's own
// (the sandbox learns channel tokens from watch requests): it is included
// only when Options.WebhookSecret sets one.
func (s *Server) Env(baseURL string) map[string]string {
	env := s.OAuth.Env("POBLYSH_GOOGLE_CALENDAR_", baseURL)
	env["POBLYSH_GOOGLE_CALENDAR_API_URL"] = strings.TrimRight(baseURL, "/") + "/calendar/v3/"
	if s.opts.WebhookSecret != "" {
		env["POBLYSH_GOOGLE_CALENDAR_WEBHOOK_SECRET"] = s.opts.WebhookSecret
	}
	return env
}

// Close waits for push notifications still being sent in the background
// (the "sync" message that follows each watch).
func (s *Server) Close() { s.chans.Wait() }

func (s *Server) now() time.Time { return s.opts.Now().UTC() }
