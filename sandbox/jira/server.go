// Package jirasandbox is a stateful in-memory fake of Atlassian's OAuth 2.0
// (3LO) authorization server, the API gateway's accessible-resources and
// the Jira Cloud REST API v3 the connector uses, speaking their wire
// format on one http.Handler:
//
//	GET    /authorize                                    consent (auto-approved; needs audience=api.atlassian.com)
//	POST   /oauth/token                                  JSON code exchange and rotating refresh (10-minute reuse leeway)
//	GET    /oauth/token/accessible-resources             the sites the token reaches
//	GET    /ex/jira/{cloudId}/rest/api/3/myself          the token user (time zone)
//	GET    /ex/jira/{cloudId}/rest/api/3/project/{key}   a project (404 when unknown)
//	GET    /ex/jira/{cloudId}/rest/api/3/status          every status with its category
//	POST   /ex/jira/{cloudId}/rest/api/3/search/jql      enhanced search: nextPageToken pages, fields, expand=changelog
//	*      /ex/jira/{cloudId}/rest/api/{2,3}/search      410 Gone, like the removed endpoint
//	POST   /ex/jira/{cloudId}/rest/api/3/changelog/bulkfetch
//	POST   /ex/jira/{cloudId}/rest/api/3/webhook         register dynamic webhooks (200 with per-webhook errors)
//	GET    /ex/jira/{cloudId}/rest/api/3/webhook         list them (expirationDate as ISO)
//	DELETE /ex/jira/{cloudId}/rest/api/3/webhook         delete them
//	PUT    /ex/jira/{cloudId}/rest/api/3/webhook/refresh extend them by the webhook lifetime
//
// plus the shared /_sandbox control routes and the Jira ones in control.go.
// Issue changes made through the control API are delivered to matching
// dynamic webhooks as REST v2 bodies signed with a HS256 JWT (the client
// secret), retried like Jira does.
package jirasandbox

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/poblysh/poblysh/sandbox"
)

// Defaults used when Options leave a field empty.
const (
	DefaultClientID     = "sandboxJiraClientId0000000000000"
	DefaultClientSecret = "ATOAsandbox-jira-client-secret-0000000000000000000000000000"
	DefaultAccessTTL    = time.Hour
	DefaultWebhookTTL   = 30 * 24 * time.Hour
	DefaultPageSize     = 50
	// EmbeddedHistories is how many changelog entries a search embeds per
	// issue (the most recent, newest first); longer histories must be read
	// with changelog/bulkfetch.
	EmbeddedHistories = 20
	// ReuseLeeway is how long a rotated refresh token still works.
	ReuseLeeway = 10 * time.Minute
)

// FaultPrivateApp makes the fake an app that is not distributed publicly:
// dynamic webhooks deliver only when the app's owner (DefaultUser)
// registered them.
const FaultPrivateApp = "private-app"

// Options configure a Server: the uniform sandbox options plus Jira's own.
type Options struct {
	sandbox.Options
	// PageSize caps a search page whatever maxResults asks (default 50).
	PageSize int
	// WebhookTTL is a dynamic webhook's lifetime after registration or
	// refresh (default 30 days).
	WebhookTTL time.Duration
	// Retries is how often a failed delivery is retried (default 3).
	Retries int
}

// Server is the fake. Safe for concurrent use.
type Server struct {
	*sandbox.Base
	opts    Options
	handler http.Handler
	private bool

	mu        sync.Mutex
	sites     map[string]*siteState
	zones     map[string]string // users' time zones changed since the seed (SetTimeZone), by login
	pageCalls int               // varies how the last page of a search ends

	sendMu sync.Mutex
}

func init() {
	sandbox.Register("jira", func(o sandbox.Options) (sandbox.Fake, error) {
		if err := sandbox.CheckFaults("jira", o.Faults, FaultPrivateApp); err != nil {
			return nil, err
		}
		return New(Options{Options: o}), nil
	})
}

// New builds a Server.
func New(o Options) *Server {
	if o.ClientID == "" {
		o.ClientID = DefaultClientID
	}
	if o.ClientSecret == "" {
		o.ClientSecret = DefaultClientSecret
	}
	if o.AccessTTL <= 0 {
		o.AccessTTL = DefaultAccessTTL
	}
	if o.WebhookTTL <= 0 {
		o.WebhookTTL = DefaultWebhookTTL
	}
	if o.PageSize <= 0 {
		o.PageSize = DefaultPageSize
	}
	if o.Retries == 0 {
		o.Retries = 3
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	oa := &sandbox.OAuth{
		Clients:       map[string]string{o.ClientID: o.ClientSecret},
		AccessTTL:     o.AccessTTL,
		Refresh:       true,
		RotateRefresh: true,
		ReuseLeeway:   ReuseLeeway,
		TokenPrefix:   "eyJraWQiOiJzYW5kYm94In0.",
		RefreshPrefix: "eyJyZWZyZXNoIjoic2FuZGJveCJ9.",
		DefaultUser:   DefaultUser,
		Now:           o.Now,
	}
	s := &Server{Base: sandbox.NewBase(oa), opts: o, sites: newSites(), zones: map[string]string{}}
	for _, f := range o.Faults {
		s.private = s.private || f == FaultPrivateApp
	}
	s.Faults.DefaultBody = faultBody
	if o.DeliverTo != "" {
		s.Deliverer.SetTarget(sandbox.WebhookURL(o.DeliverTo, "jira"))
	}
	if o.Seed {
		s.seed(o.Now())
	}
	s.handler = s.routes()
	return s
}

func (s *Server) now() time.Time { return s.opts.Now() }

// Env returns the POBLYSH_JIRA_* variables pointing the service at this
// fake served at baseURL.
func (s *Server) Env(baseURL string) map[string]string {
	base := strings.TrimRight(baseURL, "/")
	return map[string]string{
		"POBLYSH_JIRA_CLIENT_ID":     s.opts.ClientID,
		"POBLYSH_JIRA_CLIENT_SECRET": s.opts.ClientSecret,
		"POBLYSH_JIRA_AUTH_URL":      base + "/authorize",
		"POBLYSH_JIRA_TOKEN_URL":     base + "/oauth/token",
		"POBLYSH_JIRA_API_URL":       base + "/",
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /authorize", s.authorize)
	mux.HandleFunc("POST /oauth/token", s.token)
	mux.HandleFunc("GET /oauth/token/accessible-resources", s.accessibleResources)
	api := "/ex/jira/{cloud}/rest/api/3/"
	mux.HandleFunc("GET "+api+"myself", s.api(s.myself))
	mux.HandleFunc("GET "+api+"project/{key}", s.api(s.getProject))
	mux.HandleFunc("GET "+api+"status", s.api(s.listStatuses))
	mux.HandleFunc("POST "+api+"search/jql", s.api(s.searchJQL))
	mux.HandleFunc("GET "+api+"search/jql", s.api(s.searchJQL))
	mux.HandleFunc("/ex/jira/{cloud}/rest/api/3/search", s.removedSearch)
	mux.HandleFunc("/ex/jira/{cloud}/rest/api/2/search", s.removedSearch)
	mux.HandleFunc("POST "+api+"changelog/bulkfetch", s.api(s.bulkFetch))
	mux.HandleFunc("POST "+api+"webhook", s.api(s.registerWebhooks))
	mux.HandleFunc("GET "+api+"webhook", s.api(s.listWebhooks))
	mux.HandleFunc("DELETE "+api+"webhook", s.api(s.deleteWebhooks))
	mux.HandleFunc("PUT "+api+"webhook/refresh", s.api(s.refreshWebhooks))
	s.ControlRoutes(mux)
	s.controlRoutes(mux)
	return s.Faults.Middleware(mux)
}

// faultBody is Jira's error shape for injected faults.
func faultBody(status int) (string, string) {
	msg := http.StatusText(status)
	if status == http.StatusTooManyRequests {
		msg = "Rate limit exceeded."
	}
	return "application/json;charset=UTF-8", `{"errorMessages":["` + msg + `"],"errors":{}}`
}

// jiraError writes Jira's error shape.
func jiraError(w http.ResponseWriter, status int, msgs ...string) {
	if msgs == nil {
		msgs = []string{}
	}
	sandbox.WriteJSON(w, status, map[string]any{"errorMessages": msgs, "errors": map[string]string{}})
}

// caller is an authenticated API request on one site.
type caller struct {
	site  *siteState
	user  *person
	grant sandbox.Grant
}

// api authenticates a request (a live bearer token whose user reaches the
// site in the path) and hands the handler the site, under the lock.
func (s *Server) api(h func(http.ResponseWriter, *http.Request, caller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		g, err := s.OAuth.Check(sandbox.BearerToken(r, "Bearer"))
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="api.atlassian.com"`)
			sandbox.WriteJSON(w, http.StatusUnauthorized, map[string]any{"code": 401, "message": "Unauthorized"})
			return
		}
		p := people[g.UserID]
		cloud := r.PathValue("cloud")
		s.mu.Lock()
		defer s.mu.Unlock()
		st := s.sites[cloud]
		if p == nil || st == nil || !reaches(p, cloud) {
			jiraError(w, http.StatusNotFound, "Site "+cloud+" is not available to this token.")
			return
		}
		h(w, r, caller{site: st, user: p, grant: g})
	}
}

func reaches(p *person, cloud string) bool {
	for _, id := range p.Sites {
		if id == cloud {
			return true
		}
	}
	return false
}

func (s *Server) removedSearch(w http.ResponseWriter, _ *http.Request) {
	jiraError(w, http.StatusGone, "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "+
		"A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046")
}
