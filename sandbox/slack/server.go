// Package slacksandbox is a stateful in-memory fake of slack.com speaking
// Slack's wire format: OAuth v2 (with optional token rotation), the Web API
// methods the connector uses (HTTP 200 with "ok": false for errors, cursor
// pagination), and signed Events API deliveries triggered through the
// /_sandbox/slack control routes.
package slacksandbox

import (
	"cmp"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/poblysh/poblysh/sandbox"
)

// Options configure a Server. Empty identity fields get sandbox defaults.
type Options struct {
	ClientID, ClientSecret string
	// SigningSecret signs Events API deliveries (POBLYSH_SLACK_WEBHOOK_SECRET).
	SigningSecret string
	TeamID        string
	TeamName      string
	// Rotation enables token rotation: access tokens expire after AccessTTL
	// (default 12 h, expires_in 43200) and each refresh returns a new
	// xoxe-1- refresh token, revoking the old one.
	Rotation  bool
	AccessTTL time.Duration
	// Seed fills the member channels with a deterministic history.
	Seed bool
	// EventsURL is where Events API deliveries go; the shared
	// /_sandbox/webhook-target route can change it.
	EventsURL string
	// ReactionUsersShown is how many users a reaction object lists at most
	// in history, replies and events (count stays exact), as Slack
	// truncates long lists; 0 means DefaultReactionUsersShown.
	ReactionUsersShown int
}

// Defaults used when Options leave a field empty.
const (
	DefaultClientID      = "5550100200.5550100300"
	DefaultClientSecret  = "sandbox-slack-client-secret"
	DefaultSigningSecret = "sandbox-slack-signing-secret"
	// VerificationToken is the deprecated token field of event envelopes.
	VerificationToken = "sandboxVerificationToken0"
	// DefaultReactionUsersShown is the fake's truncation of reaction user
	// lists. Slack does not document its own limit.
	DefaultReactionUsersShown = 50
)

// BotScopes are granted when an authorization asks for no scope.
var BotScopes = []string{"channels:history", "groups:history", "channels:read", "groups:read", "reactions:read", "users:read"}

// Server is the fake. It embeds the shared sandbox pieces (OAuth server,
// fault queue, deliverer) in Base.
type Server struct {
	*sandbox.Base
	opts    Options
	store   *store
	handler http.Handler
	now     func() time.Time

	mu          sync.Mutex
	issued      map[string]bool // access tokens this server issued
	revoked     map[string]bool // access tokens revoked through auth.revoke
	orgInstalls map[string]bool // Grid orgs with an org-wide install
	requests    []Request
}

// Request is one Web API call as the fake saw it (token parameters removed).
type Request struct {
	Method string
	Params url.Values
	At     time.Time
}

// New returns a Server ready to mount with ServeHTTP.
func New(opts Options) *Server {
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = DefaultClientSecret
	}
	if opts.SigningSecret == "" {
		opts.SigningSecret = DefaultSigningSecret
	}
	if opts.TeamID == "" {
		opts.TeamID = DefaultTeamID
	}
	if opts.TeamName == "" {
		opts.TeamName = DefaultTeamName
	}
	if opts.Rotation && opts.AccessTTL <= 0 {
		opts.AccessTTL = 12 * time.Hour
	}
	o := &sandbox.OAuth{
		Clients:     map[string]string{opts.ClientID: opts.ClientSecret},
		TokenPrefix: "xoxb-" + opts.TeamID[1:] + "-",
		DefaultUser: UserAlice,
	}
	if opts.Rotation {
		o.AccessTTL = opts.AccessTTL
		o.Refresh, o.RotateRefresh = true, true
		o.TokenPrefix = "xoxe.xoxb-1-"
		o.RefreshPrefix = "xoxe-1-"
	}
	s := &Server{
		Base:        sandbox.NewBase(o),
		opts:        opts,
		store:       newStore(opts.TeamID, opts.TeamName),
		now:         time.Now,
		issued:      map[string]bool{},
		revoked:     map[string]bool{},
		orgInstalls: map[string]bool{},
	}
	s.Faults.DefaultBody = defaultFaultBody
	if opts.EventsURL != "" {
		s.Deliverer.SetTarget(opts.EventsURL)
	}
	s.store.reactionUsers = cmp.Or(opts.ReactionUsersShown, DefaultReactionUsersShown)
	if opts.Seed {
		s.store.seed()
	}
	mux := http.NewServeMux()
	s.ControlRoutes(mux)
	s.controlRoutes(mux)
	mux.HandleFunc("GET /oauth/v2/authorize", s.OAuth.Authorize)
	mux.HandleFunc("/api/{method}", s.handleAPI)
	s.handler = s.Faults.Middleware(mux)
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Options returns the effective options (defaults filled in).
func (s *Server) Options() Options { return s.opts }

// Env returns the POBLYSH_SLACK_* variables that point the service at this
// fake served at baseURL.
func (s *Server) Env(baseURL string) map[string]string {
	base := strings.TrimRight(baseURL, "/")
	return map[string]string{
		"POBLYSH_SLACK_CLIENT_ID":      s.opts.ClientID,
		"POBLYSH_SLACK_CLIENT_SECRET":  s.opts.ClientSecret,
		"POBLYSH_SLACK_AUTH_URL":       base + "/oauth/v2/authorize",
		"POBLYSH_SLACK_TOKEN_URL":      base + "/api/oauth.v2.access",
		"POBLYSH_SLACK_API_URL":        base + "/api/",
		"POBLYSH_SLACK_REVOKE_URL":     base + "/api/auth.revoke",
		"POBLYSH_SLACK_WEBHOOK_SECRET": s.opts.SigningSecret,
	}
}

// Requests returns the Web API calls received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// defaultFaultBody gives injected faults Slack-shaped bodies.
func defaultFaultBody(status int) (string, string) {
	code := "internal_error"
	switch {
	case status == http.StatusTooManyRequests:
		code = "ratelimited"
	case status == http.StatusUnauthorized:
		code = "invalid_auth"
	case status == http.StatusForbidden:
		code = "missing_scope"
	case status == http.StatusNotFound:
		code = "unknown_method"
	case status == http.StatusServiceUnavailable:
		code = "service_unavailable"
	case status < 400:
		code = "fatal_error"
	}
	return "application/json; charset=utf-8", `{"ok":false,"error":"` + code + `"}`
}

// slackError is the HTTP 200 {"ok": false} answer of the Web API.
type slackError struct {
	OK       bool   `json:"ok"`
	Error    string `json:"error"`
	Needed   string `json:"needed,omitempty"`
	Provided string `json:"provided,omitempty"`
}

func writeError(w http.ResponseWriter, code string) {
	sandbox.WriteJSON(w, http.StatusOK, slackError{Error: code})
}

// tokenOf reads the token the way Slack does: Authorization header first,
// then the token form or query parameter.
func tokenOf(r *http.Request) string {
	if t := sandbox.BearerToken(r, "Bearer"); t != "" {
		return t
	}
	return r.Form.Get("token")
}

// authorize checks an API call's token and answers invalid_auth,
// token_expired or token_revoked like Slack when it fails.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) (sandbox.Grant, string, bool) {
	tok := tokenOf(r)
	if tok == "" {
		writeError(w, "not_authed")
		return sandbox.Grant{}, "", false
	}
	g, err := s.OAuth.Check(tok)
	if err == nil {
		return g, tok, true
	}
	s.mu.Lock()
	issued, revoked := s.issued[tok], s.revoked[tok]
	s.mu.Unlock()
	switch {
	case revoked:
		writeError(w, "token_revoked")
	case issued:
		writeError(w, "token_expired")
	default:
		writeError(w, "invalid_auth")
	}
	return sandbox.Grant{}, "", false
}

// hasScope reports whether the grant carries scope; grants issued without a
// scope parameter carry BotScopes.
func hasScope(g sandbox.Grant, scope string) bool {
	scopes := g.Scopes
	if len(scopes) == 0 {
		scopes = BotScopes
	}
	for _, sc := range scopes {
		if sc == scope {
			return true
		}
	}
	return false
}

func (s *Server) handleAPI(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeError(w, "invalid_form_data")
		return
	}
	method := r.PathValue("method")
	params := url.Values{}
	for k, v := range r.Form {
		if k != "token" && k != "client_secret" && k != "refresh_token" && k != "code" {
			params[k] = v
		}
	}
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: method, Params: params, At: s.now()})
	s.mu.Unlock()
	switch method {
	case "oauth.v2.access":
		s.handleOAuthAccess(w, r)
	case "auth.test":
		s.handleAuthTest(w, r)
	case "auth.revoke":
		s.handleAuthRevoke(w, r)
	case "conversations.list":
		s.handleConversationsList(w, r)
	case "users.conversations":
		s.handleUsersConversations(w, r)
	case "auth.teams.list":
		s.handleAuthTeamsList(w, r)
	case "conversations.history":
		s.handleHistory(w, r)
	case "conversations.replies":
		s.handleReplies(w, r)
	case "users.info":
		s.handleUsersInfo(w, r)
	case "conversations.info":
		s.handleConversationsInfo(w, r)
	default:
		writeError(w, "unknown_method")
	}
}
