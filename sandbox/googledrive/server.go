// Package drivesandbox is a stateful in-memory fake of Google OAuth and the
// Google Drive API v3 (the parts the google-drive connector reads), on one
// http.Handler:
//
//	GET  /o/oauth2/v2/auth, POST /token, POST /revoke, GET /v1/userinfo   Google OAuth (googlesandbox)
//	GET  /drive/v3/changes/startPageToken   changes.getStartPageToken (driveId)
//	GET  /drive/v3/changes                  changes.list (page tokens, latest state per file)
//	POST /drive/v3/changes/watch            changes.watch (then a "sync" push)
//	POST /drive/v3/channels/stop            channels.stop
//	GET  /drive/v3/files                    files.list (q: 'id' in parents, trashed, modifiedTime, mimeType; orderBy)
//	GET  /drive/v3/files/{fileId}           files.get ("root" is My Drive)
//
// plus the shared /_sandbox control routes and the Drive ones in
// control.go. Every change is appended to a change log (page tokens are
// positions in it) and pushes a bodiless "change" notification, with
// Google's headers, to the live channels of the feeds that see it.
package drivesandbox

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/poblysh/poblysh/sandbox"
	googlesandbox "github.com/poblysh/poblysh/sandbox/google"
)

// Channel lifetimes: changes.watch channels last at most a week; without
// an expiration Google gives an hour.
const (
	DefaultChannelTTL = time.Hour
	MaxChannelTTL     = 7 * 24 * time.Hour
)

// Scopes that allow the metadata reads (Drive discovery document).
var ReadScopes = []string{
	"https://www.googleapis.com/auth/drive",
	"https://www.googleapis.com/auth/drive.readonly",
	"https://www.googleapis.com/auth/drive.metadata",
	"https://www.googleapis.com/auth/drive.metadata.readonly",
}

// DefaultScopes are what AccessToken grants: the connector's scopes.
var DefaultScopes = []string{"openid", "email", "https://www.googleapis.com/auth/drive.metadata.readonly"}

// Options configure a Server.
type Options struct {
	ClientID, ClientSecret string
	// AccessTTL is the access token lifetime (default 3599 s, like Google).
	AccessTTL time.Duration
	// User is the email of the user an authorization grants.
	User string
	// Seed creates the seeded folders, files and shared drive (seed.go).
	Seed bool
	// PageSize caps the items of one page whatever pageSize asks; 0
	// applies Google's limits only.
	PageSize int
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// WebhookSecret is the service's own channel-token secret
	// (POBLYSH_GOOGLE_DRIVE_WEBHOOK_SECRET): the fake learns channel tokens
	// from watch requests and never checks it, but Env hands it to the
	// service so that it opens channels. Empty: Env leaves it out.
	WebhookSecret string
	// IncompleteAllDrives makes a files.list search with corpora=allDrives
	// leave out the shared drives' files and say incompleteSearch: true, as
	// Drive may for a user of many shared drives (FileList).
	IncompleteAllDrives bool
}

// Server is the fake. Safe for concurrent use.
type Server struct {
	// Product is the accounts server, fault queue and deliverer, and the
	// accessors (User, ClientID, AccessToken, DeclineNext, IssuedTokens).
	*googlesandbox.Product

	opts    Options
	chans   *googlesandbox.Channels
	handler http.Handler

	mu      sync.Mutex
	files   map[string]*dfile
	drives  map[string]*sharedDrive
	log     []entry
	seq     int64 // last change log position
	version int64 // file versions
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
	s := &Server{Product: product, opts: opts, files: map[string]*dfile{}, drives: map[string]*sharedDrive{}, seq: 1000}
	s.chans = &googlesandbox.Channels{Deliverer: s.Base.Deliverer, Now: opts.Now, DefaultTTL: DefaultChannelTTL, MaxTTL: MaxChannelTTL}
	s.mu.Lock()
	s.ensureRootLocked(opts.User)
	s.mu.Unlock()
	if opts.Seed {
		s.seed()
	}
	s.handler = s.routes()
	return s
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	api := http.NewServeMux()
	api.HandleFunc("GET /drive/v3/changes/startPageToken", s.startPageToken)
	api.HandleFunc("GET /drive/v3/changes", s.listChanges)
	api.HandleFunc("POST /drive/v3/changes/watch", s.watch)
	api.HandleFunc("POST /drive/v3/channels/stop", s.stopChannel)
	api.HandleFunc("GET /drive/v3/files", s.listFiles)
	api.HandleFunc("GET /drive/v3/files/{fileId}", s.getFile)
	s.Mount(mux, "/drive/v3/", api, "/_sandbox/drive/consent")
	s.controlRoutes(mux)
	return mux
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Env returns the POBLYSH_GOOGLE_DRIVE_* variables that point the service
// at this sandbox served at baseURL. The webhook secret is the service's
// own (the sandbox learns channel tokens from watch requests): it is
// included only when Options.WebhookSecret sets one.
func (s *Server) Env(baseURL string) map[string]string {
	env := s.OAuth.Env("POBLYSH_GOOGLE_DRIVE_", baseURL)
	env["POBLYSH_GOOGLE_DRIVE_API_URL"] = strings.TrimRight(baseURL, "/") + "/drive/v3/"
	if s.opts.WebhookSecret != "" {
		env["POBLYSH_GOOGLE_DRIVE_WEBHOOK_SECRET"] = s.opts.WebhookSecret
	}
	return env
}

// RateLimitFault is Google's 403 rate-limit answer (rateLimitExceeded or
// userRateLimitExceeded) for the next count Drive API requests.
func RateLimitFault(reason string, count int) sandbox.Fault {
	return googlesandbox.RateLimitFault(reason, count, "/drive/v3/")
}

// Close waits for the "sync" notifications still being sent.
func (s *Server) Close() { s.chans.Wait() }

func (s *Server) now() time.Time { return s.opts.Now().UTC() }
