// Package gmailsandbox is a stateful in-memory fake of Google OAuth, the
// Gmail API v1 (the parts the gmail connector reads) and the Cloud Pub/Sub
// push subscription Gmail publishes to, on one http.Handler:
//
//	GET  /o/oauth2/v2/auth, POST /token, POST /revoke, GET /v1/userinfo   Google OAuth (googlesandbox)
//	GET  /gmail/v1/users/{userId}/profile           users.getProfile
//	GET  /gmail/v1/users/{userId}/labels/{id}       labels.get
//	GET  /gmail/v1/users/{userId}/messages          messages.list (labelIds; q refused with gmail.metadata)
//	GET  /gmail/v1/users/{userId}/messages/{id}     messages.get (format=metadata, metadataHeaders)
//	GET  /gmail/v1/users/{userId}/threads/{id}      threads.get
//	GET  /gmail/v1/users/{userId}/history           history.list (404 for a start id too old)
//	POST /gmail/v1/users/{userId}/watch             users.watch (7 days)
//	POST /gmail/v1/users/{userId}/stop              users.stop
//	GET  /oauth2/v3/certs                           the JWKS push tokens are signed with
//
// plus the shared /_sandbox control routes and the Gmail ones in
// control.go. A change to a watched mailbox is published as a Pub/Sub push
// (envelope, base64 data {emailAddress, historyId}) with an RS256 OIDC
// token in Authorization, signed the way Google signs them, to the push
// endpoint (the deliverer's target).
package gmailsandbox

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/poblysh/poblysh/sandbox"
	googlesandbox "github.com/poblysh/poblysh/sandbox/google"
)

// Defaults of the push side.
const (
	// DefaultTopic is the Pub/Sub topic the sandbox accepts in users.watch.
	DefaultTopic = "projects/poblysh-sandbox/topics/gmail-push"
	// DefaultServiceAccount is the push subscription's service account.
	DefaultServiceAccount = "gmail-push@poblysh-sandbox.iam.gserviceaccount.com"
	// DefaultSubscription names the push subscription in envelopes.
	DefaultSubscription = "projects/poblysh-sandbox/subscriptions/gmail-push-poblysh"
	// WatchTTL is how long users.watch lasts.
	WatchTTL = 7 * 24 * time.Hour
)

// Scopes that allow the reads (Gmail discovery document).
var ReadScopes = []string{
	"https://mail.google.com/",
	"https://www.googleapis.com/auth/gmail.modify",
	"https://www.googleapis.com/auth/gmail.readonly",
	"https://www.googleapis.com/auth/gmail.metadata",
}

// DefaultScopes are what AccessToken grants: the connector's scopes.
var DefaultScopes = []string{"openid", "email", "https://www.googleapis.com/auth/gmail.metadata"}

// Options configure a Server.
type Options struct {
	ClientID, ClientSecret string
	// AccessTTL is the access token lifetime (default 3599 s, like Google).
	AccessTTL time.Duration
	// User is the email of the user an authorization grants.
	User string
	// Seed creates the seeded mailbox (seed.go).
	Seed bool
	// PageSize caps list and history pages whatever maxResults asks.
	PageSize int
	// ServiceAccount signs pushes as (DefaultServiceAccount when empty).
	ServiceAccount string
	// PushAudience is the aud of push tokens; empty: the push endpoint's URL
	// (Pub/Sub's default).
	PushAudience string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// WebhookSecret is the token the push endpoint's URL carries
	// (?token=, POBLYSH_GMAIL_WEBHOOK_SECRET): Env hands it to the service;
	// the push target must include it. Empty: Env leaves it out.
	WebhookSecret string
}

// Server is the fake. Safe for concurrent use.
type Server struct {
	// Product is the accounts server, fault queue and deliverer (the push
	// endpoint is its target), and the accessors (User, ClientID,
	// AccessToken, DeclineNext, IssuedTokens).
	*googlesandbox.Product

	opts    Options
	handler http.Handler
	key     *rsa.PrivateKey // signs push tokens; its public half is served as JWKS
	foreign *rsa.PrivateKey // a key nobody publishes, for forged pushes

	mu      sync.Mutex
	boxes   map[string]*mailbox
	pushSeq int64
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
	if opts.ServiceAccount == "" {
		opts.ServiceAccount = DefaultServiceAccount
	}
	keysOnce.Do(func() { signingKey, foreignKey = mustKey(), mustKey() })
	s := &Server{Product: product, opts: opts, boxes: map[string]*mailbox{},
		key: signingKey, foreign: foreignKey, pushSeq: 2070443601311540}
	if opts.Seed {
		s.seed()
	}
	s.handler = s.routes()
	return s
}

// The signing keys are the process's, like Google's are everyone's: every
// fake signs with the same key and serves it, so a token signed by one fake
// verifies against another's JWKS.
var (
	keysOnce               sync.Once
	signingKey, foreignKey *rsa.PrivateKey
)

func mustKey() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic("gmailsandbox: " + err.Error())
	}
	return k
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /oauth2/v3/certs", s.jwks)
	api := http.NewServeMux()
	const u = "/gmail/v1/users/{userId}/"
	api.HandleFunc("GET "+u+"profile", s.profile)
	api.HandleFunc("GET "+u+"labels/{id}", s.getLabel)
	api.HandleFunc("GET "+u+"messages", s.listMessages)
	api.HandleFunc("GET "+u+"messages/{id}", s.getMessage)
	api.HandleFunc("GET "+u+"threads/{id}", s.getThread)
	api.HandleFunc("GET "+u+"history", s.listHistory)
	api.HandleFunc("POST "+u+"watch", s.watch)
	api.HandleFunc("POST "+u+"stop", s.stop)
	s.Mount(mux, "/gmail/v1/", api, "/_sandbox/gmail/consent")
	s.controlRoutes(mux)
	return mux
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Env returns the POBLYSH_GMAIL_* variables that point the service at this
// sandbox served at baseURL: OAuth and API endpoints, the Pub/Sub topic,
// and how pushes authenticate (the service account and the sandbox's
// JWKS; the issuer stays Google's, as the sandbox signs with it).
func (s *Server) Env(baseURL string) map[string]string {
	base := strings.TrimRight(baseURL, "/")
	env := s.OAuth.Env("POBLYSH_GMAIL_", base)
	env["POBLYSH_GMAIL_API_URL"] = base + "/"
	env["POBLYSH_GMAIL_PUBSUB_TOPIC"] = DefaultTopic
	env["POBLYSH_GMAIL_PUSH_SERVICE_ACCOUNT"] = s.opts.ServiceAccount
	env["POBLYSH_GMAIL_PUSH_JWKS_URL"] = base + "/oauth2/v3/certs"
	if s.opts.WebhookSecret != "" {
		env["POBLYSH_GMAIL_WEBHOOK_SECRET"] = s.opts.WebhookSecret
	}
	return env
}

// RateLimitFault is Google's 403 rate-limit answer for the next count Gmail
// API requests.
func RateLimitFault(reason string, count int) sandbox.Fault {
	return googlesandbox.RateLimitFault(reason, count, "/gmail/v1/")
}

func (s *Server) now() time.Time { return s.opts.Now().UTC() }
