// Package githubsandbox is a stateful in-memory fake of github.com and
// api.github.com on one http.Handler: the OAuth web flow under /login/oauth/
// (JSON or form-encoded token answers, PKCE S256, rotating ghr_ refresh
// tokens for GitHub App user tokens), token revocation under /applications/,
// the REST endpoints the github connector reads (user, repository, pulls,
// releases, commits, hooks and their delivery logs with redelivery) with
// real Link pagination, ETags and rate-limit headers, and signed webhook
// deliveries for activity created through the /_sandbox/github control API.
package githubsandbox

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/poblysh/poblysh/sandbox"
)

// Options configure a sandbox.
type Options struct {
	// ClientID and ClientSecret are the OAuth app's credentials
	// (defaults "sandbox-client-id" / "sandbox-client-secret").
	ClientID, ClientSecret string
	// WebhookSecret signs app-level deliveries, sent to the Deliverer target
	// when a repository has no hook (default "sandbox-webhook-secret").
	WebhookSecret string
	// AccessTTL is 0 for OAuth App tokens (gho_, never expire, no refresh
	// token); > 0 for GitHub App user tokens (ghu_, 8 h in reality) with
	// rotating ghr_ refresh tokens.
	AccessTTL time.Duration
	// DefaultPerPage is the page size when a request gives no per_page (GitHub: 30).
	DefaultPerPage int
	// Seed creates SeedRepo and its history.
	Seed bool
	// Clock stamps new activity (nil: time.Now); tests pin it to get
	// byte-identical payloads.
	Clock func() time.Time
	// RateLimit and RateWindow are the primary rate limit per user: calls
	// per window (0: RateLimit, 5,000) and the window (0: an hour). Every
	// answer carries x-ratelimit-*; a call past the limit is refused with
	// 403, as GitHub does.
	RateLimit  int
	RateWindow time.Duration
	// TokensKept is how many OAuth App tokens (AccessTTL 0) a user keeps
	// per app and scopes; the next code exchange revokes the oldest, as
	// GitHub does past 10 ("Token revoked due to excess of tokens for an
	// OAuth app with the same scope"). 0: 10.
	TokensKept int
	// CursorPagesAfter, when > 0, serves the lists of pull requests,
	// commits, releases, hooks and a GitHub App's installations and their
	// repositories as GitHub serves large lists: the pages
	// past the first CursorPagesAfter are linked by an opaque after=
	// cursor (Link rel="next"), and a page= past them is answered 422
	// "Pagination with the page parameter is not supported for large
	// datasets, please use cursor based pagination (after/before)".
	// 0: page numbers throughout. Comparisons always page by number.
	CursorPagesAfter int
}

// Server is the fake. It embeds the shared sandbox Base: OAuth server, fault
// queue and deliverer (the app-level webhook target).
type Server struct {
	*sandbox.Base
	opts    Options
	handler http.Handler

	mu      sync.Mutex
	users   map[string]*user // by lowercase login
	repos   map[string]*repo // by lowercase full name
	renamed map[string]*repo // by a former lowercase full name
	// orgOwners are the owners of each organization (lowercase logins by
	// lowercase organization login): GitHub gives them admin rights on
	// every repository the organization owns.
	orgOwners map[string]map[string]bool
	nextID    int64
	// issued lists the live OAuth App tokens per user, app and scopes,
	// oldest first (Options.TokensKept).
	issued map[string][]string
	// deliveryID numbers hook delivery attempts (apart from nextID, so
	// that logging deliveries leaves every other id as it was).
	deliveryID int64
	rate       map[string]*rateWindow
	refused    int // calls refused for the rate limit
	pending    sync.WaitGroup
}

// AppID and AppHookID identify the app-level webhook (GitHub App) deliveries
// sent to the Deliverer target.
const (
	AppID             int64 = 424242
	AppHookID         int64 = 109948940
	AppInstallationID int64 = 31415926
)

// New builds a sandbox.
func New(opts Options) *Server {
	if opts.ClientID == "" {
		opts.ClientID = "sandbox-client-id"
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = "sandbox-client-secret"
	}
	if opts.WebhookSecret == "" {
		opts.WebhookSecret = "sandbox-webhook-secret"
	}
	if opts.DefaultPerPage <= 0 {
		opts.DefaultPerPage = 30
	}
	o := &sandbox.OAuth{
		Clients:     map[string]string{opts.ClientID: opts.ClientSecret},
		AccessTTL:   opts.AccessTTL,
		TokenPrefix: "gho_",
		DefaultUser: SeedUser,
	}
	if opts.AccessTTL > 0 {
		o.Refresh, o.RotateRefresh, o.RevokeAccessOnRefresh = true, true, true
		o.TokenPrefix, o.RefreshPrefix = "ghu_", "ghr_"
	}
	s := &Server{
		Base: sandbox.NewBase(o), opts: opts,
		users: map[string]*user{}, repos: map[string]*repo{}, renamed: map[string]*repo{}, orgOwners: map[string]map[string]bool{}, rate: map[string]*rateWindow{},
		issued: map[string][]string{},
	}
	s.Faults.DefaultBody = defaultErrorBody
	s.mu.Lock()
	s.ensureUserLocked(SeedUser)
	if opts.Seed {
		s.seed()
	}
	s.mu.Unlock()
	s.handler = s.withRateHeaders(s.Faults.Middleware(s.routes()))
	return s
}

// Options returns the effective options (defaults filled in).
func (s *Server) Options() Options { return s.opts }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Held deliveries live in the app-level deliverer and in every hook's:
	// flush them all (the shared route only knows the former).
	if r.Method == http.MethodPost && r.URL.Path == "/_sandbox/flush" {
		sandbox.WriteJSON(w, http.StatusOK, map[string]any{"results": s.Flush(r.Context())})
		return
	}
	if s.redirectRenamed(w, r) {
		return
	}
	s.handler.ServeHTTP(w, r)
}

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	s.ControlRoutes(mux)
	s.controlRoutes(mux)
	s.accessControlRoutes(mux)
	mux.HandleFunc("GET /login/oauth/authorize", s.OAuth.Authorize)
	mux.HandleFunc("POST /login/oauth/access_token", s.token)
	mux.HandleFunc("DELETE /applications/{client_id}/token", s.revokeToken)
	mux.HandleFunc("DELETE /applications/{client_id}/grant", s.revokeGrant)
	api := func(pattern string, h apiHandler) { mux.Handle(pattern, s.api(h)) }
	api("GET /user", s.getUser)
	api("GET /rate_limit", s.getRateLimit)
	api("GET /user/installations", s.listUserInstallations)
	api("GET /user/installations/{id}/repositories", s.listInstallationRepos)
	api("GET /repos/{owner}/{repo}", s.getRepo)
	api("PATCH /repos/{owner}/{repo}", s.editRepo)
	api("POST /repos/{owner}/{repo}/branches/{branch}/rename", s.renameBranch)
	api("GET /repos/{owner}/{repo}/pulls", s.listPulls)
	api("GET /repos/{owner}/{repo}/pulls/{number}", s.getPull)
	api("GET /repos/{owner}/{repo}/releases", s.listReleases)
	api("GET /repos/{owner}/{repo}/releases/{id}", s.getRelease)
	api("GET /repos/{owner}/{repo}/commits", s.listCommits)
	api("GET /repos/{owner}/{repo}/git/ref/{ref...}", s.getRef)
	api("GET /repos/{owner}/{repo}/compare/{basehead...}", s.compare)
	api("GET /repos/{owner}/{repo}/hooks", s.listHooks)
	api("POST /repos/{owner}/{repo}/hooks", s.createHook)
	api("GET /repos/{owner}/{repo}/hooks/{id}", s.getHook)
	api("PATCH /repos/{owner}/{repo}/hooks/{id}", s.editHook)
	api("DELETE /repos/{owner}/{repo}/hooks/{id}", s.deleteHook)
	api("POST /repos/{owner}/{repo}/hooks/{id}/pings", s.pingHook)
	api("GET /repos/{owner}/{repo}/hooks/{id}/deliveries", s.listHookDeliveries)
	api("POST /repos/{owner}/{repo}/hooks/{id}/deliveries/{delivery_id}/attempts", s.redeliverHookDelivery)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeGitHubError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest")
	})
	return mux
}

// Env returns the POBLYSH_GITHUB_* variables that point the service at this
// sandbox served at baseURL (e.g. an httptest server URL).
func (s *Server) Env(baseURL string) map[string]string {
	base := strings.TrimRight(baseURL, "/")
	return map[string]string{
		"POBLYSH_GITHUB_CLIENT_ID":      s.opts.ClientID,
		"POBLYSH_GITHUB_CLIENT_SECRET":  s.opts.ClientSecret,
		"POBLYSH_GITHUB_AUTH_URL":       base + "/login/oauth/authorize",
		"POBLYSH_GITHUB_TOKEN_URL":      base + "/login/oauth/access_token",
		"POBLYSH_GITHUB_API_URL":        base + "/",
		"POBLYSH_GITHUB_REVOKE_URL":     base + "/applications/{client_id}/token",
		"POBLYSH_GITHUB_WEBHOOK_SECRET": s.opts.WebhookSecret,
	}
}

// Flush sends every held delivery (app-level and per hook), newest first.
func (s *Server) Flush(ctx context.Context) []sandbox.Result {
	out := s.Deliverer.Flush(ctx)
	for _, h := range s.allHooks() {
		out = append(out, h.deliverer.Flush(ctx)...)
	}
	return out
}

// Wait blocks until asynchronous deliveries (pings on hook creation) are done.
func (s *Server) Wait() { s.pending.Wait() }

func (s *Server) allHooks() []*hook {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*hook
	for _, r := range s.repos {
		out = append(out, r.hooks...)
	}
	return out
}

// now is the sandbox clock, at GitHub's one-second precision.
func (s *Server) now() time.Time {
	if s.opts.Clock != nil {
		return s.opts.Clock().UTC().Truncate(time.Second)
	}
	return time.Now().UTC().Truncate(time.Second)
}

// id hands out a fresh numeric id. Called with s.mu held.
func (s *Server) id(base int64) int64 {
	s.nextID++
	return base + s.nextID
}

// repoLocked finds a repository by path values. Called with s.mu held.
func (s *Server) repoLocked(owner, name string) *repo { return s.repos[key(owner, name)] }

// pathInt reads a numeric path value.
func pathInt(r *http.Request, name string) (int64, bool) {
	v, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	return v, err == nil
}
