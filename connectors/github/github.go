// Package github is the GitHub connector: pushes, pull requests and releases
// of the repositories a connection selects, read from repository webhooks and
// from the REST API (backfill and incremental polling), normalized into the
// provider-agnostic Signal kinds code.pushed, pull_request.opened/merged/
// closed and release.published.
package github

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	gh "github.com/google/go-github/v89/github"
	"golang.org/x/time/rate"

	"github.com/poblysh/poblysh/connectors"
)

// Signal kinds the connector produces.
const (
	KindCodePushed         = "code.pushed"
	KindPullRequestOpened  = "pull_request.opened"
	KindPullRequestMerged  = "pull_request.merged"
	KindPullRequestClosed  = "pull_request.closed"
	KindReleasePublished   = "release.published"
	defaultPageSize        = 100
	defaultRevokeURLSuffix = "applications/{client_id}/token"
)

// defaults are the real GitHub URLs.
var defaults = connectors.Endpoints{
	AuthURL:   "https://github.com/login/oauth/authorize",
	TokenURL:  "https://github.com/login/oauth/access_token",
	APIURL:    "https://api.github.com/",
	RevokeURL: "https://api.github.com/" + defaultRevokeURLSuffix,
}

// defaultScopes: repo reads private repositories (public_repo is enough for
// public ones, see POBLYSH_GITHUB_SCOPES); admin:repo_hook creates the
// repository webhooks. GitHub App user tokens ignore scopes and use the
// app's permissions instead.
var defaultScopes = []string{"repo", "admin:repo_hook"}

// Spec is the GitHub provider, registered in init.
var Spec = &connectors.Spec{
	// GitHub keeps 10 tokens per user, OAuth app and scopes and revokes
	// the oldest past them, and its token revocation ends the one token:
	// a reconnect's replaced token and a failed connect's are revoked.
	RevokeReplacedToken: true,
	RevokeUnusedGrant:   true,
	Name:                "github",
	DisplayName:         "GitHub",
	Description:         "Pushes, pull requests and releases of selected repositories, from repository webhooks and the REST API.",
	Kinds: []string{
		KindCodePushed, KindPullRequestOpened, KindPullRequestMerged, KindPullRequestClosed, KindReleasePublished,
	},
	Capabilities: []connectors.Capability{connectors.CapWebhook, connectors.CapPoll, connectors.CapBackfill},
	// GitHub caps webhook payloads at 25 MB and drops larger ones; a push
	// of many commits or files can exceed the general 5 MB limit.
	WebhookMaxBytes: 25 << 20,
	Defaults:        defaults,
	Scopes:          defaultScopes,
	PKCE:            true,
	Policy: connectors.Policy{
		// The primary budget (5,000 calls an hour for a user token, more
		// for Enterprise Cloud and app installations) is read from every
		// answer (Budget); the bucket keeps under the secondary limit of
		// 900 points a minute per REST endpoint (a GET costs 1).
		Rate:              rate.Limit(15),
		Burst:             20,
		Budget:            true,
		PollInterval:      15 * time.Minute,
		ReconcileInterval: 6 * time.Hour,
		MinPollInterval:   5 * time.Minute,
		Token: connectors.TokenPolicy{
			// GitHub App user tokens last 8 h with rotating refresh tokens
			// that expire six months after they are issued; OAuth App tokens
			// come back without expiry and are never refreshed. Refreshed
			// when a call needs a token, not ahead by the sweep; a refresh
			// token unused for 30 days (a paused connection's) is refreshed
			// by the sweep so it does not lapse.
			Expires:             true,
			OnDemand:            true,
			RotatesRefreshToken: true,
			RefreshBefore:       30 * time.Minute,
			KeepAliveAfter:      30 * 24 * time.Hour,
		},
	},
	ConfigHelp: `{"repos": ["owner/name", ...]}: at least one repository, as owner/name ` +
		`(a github.com URL is accepted); names are case-insensitive and stored lowercase.`,
	ConfigFields: []connectors.ConfigField{{
		Name: "repos", Type: "array of strings", Required: true,
		Description: "Repositories to follow, 1 to 100, as `owner/name` (a `https://github.com/owner/name(.git)` URL is accepted); " +
			"stored lowercase and deduplicated. The connection's token must read each one (checked at connect and on every change).",
	}},
	Settings: []connectors.Setting{
		{Suffix: "CLIENT_ID", Description: "the OAuth App's or GitHub App's client id; without it and the secret the provider is listed as not configured"},
		{Suffix: "WEBHOOK_SECRET", Description: "the GitHub App's webhook secret: verifies app-level deliveries " +
			"(`X-GitHub-Hook-Installation-Target-Type: integration`) and nothing else; unset, they are rejected. " +
			"Repository hooks never use it: the service gives each hook a random secret of its own"},
		{Suffix: "API_URL", Description: "REST API root (GitHub Enterprise Server: `https://<host>/api/v3/`)"},
		{Suffix: "REVOKE_URL", Default: "`<API_URL>" + defaultRevokeURLSuffix + "`",
			Description: "token revocation; follows `API_URL` unless set"},
		{Suffix: "PAGE_SIZE", Default: strconv.Itoa(defaultPageSize), Description: "REST page size (`per_page`), 1–100"},
		{Suffix: "SCOPES", Default: "`" + strings.Join(defaultScopes, ",") + "`",
			Description: "the scopes requested, comma or space separated (`public_repo,admin:repo_hook` for public repositories only)"},
	},
	New: New,
}

func init() { connectors.MustRegister(Spec) }

// Connector is the GitHub connector built from a provider configuration.
type Connector struct {
	cfg       connectors.Config
	apiURL    string
	revokeURL string
	pageSize  int
	scopes    []string
	// compareLimit: see defaultCompareLimit.
	compareLimit int
}

// New builds the connector. It succeeds without client credentials (the
// provider is then listed as not configured); it fails on an API URL that
// does not parse or a PAGE_SIZE outside 1..100.
func New(cfg connectors.Config) (connectors.Connector, error) {
	c := &Connector{cfg: cfg, pageSize: defaultPageSize, scopes: defaultScopes, compareLimit: defaultCompareLimit}
	c.apiURL = cmpOr(cfg.Endpoints.APIURL, defaults.APIURL)
	if !strings.HasSuffix(c.apiURL, "/") {
		c.apiURL += "/"
	}
	if u, err := url.Parse(c.apiURL); err != nil || u.Host == "" {
		return nil, fmt.Errorf("github: API URL %q is not an absolute URL", c.apiURL)
	}
	// The revocation endpoint hangs from the API root: follow a relocated
	// API (sandbox, GitHub Enterprise) unless a revoke URL was set explicitly.
	c.revokeURL = cfg.Endpoints.RevokeURL
	if c.revokeURL == "" || (c.revokeURL == defaults.RevokeURL && c.apiURL != defaults.APIURL) {
		c.revokeURL = c.apiURL + defaultRevokeURLSuffix
	}
	if v := cfg.Setting("PAGE_SIZE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return nil, fmt.Errorf("github: POBLYSH_GITHUB_PAGE_SIZE must be an integer from 1 to 100, got %q", v)
		}
		c.pageSize = n
	}
	if v := cfg.Setting("SCOPES"); v != "" {
		c.scopes = strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
	}
	return c, nil
}

// Spec returns the registered spec.
func (c *Connector) Spec() *connectors.Spec { return Spec }

// client returns a go-github client on the engine's authorized, paced and
// classifying HTTP client, rooted at the configured API URL.
func (c *Connector) client(hc *http.Client) (*gh.Client, error) {
	if hc == nil {
		return nil, errors.New("github: no HTTP client")
	}
	return gh.NewClient(gh.WithHTTPClient(hc), gh.WithURLs(&c.apiURL, nil))
}

// ClassifyResponse refines the default status mapping: a 403 or 429 whose
// body names a secondary rate limit, with no header dating it (no
// retry-after, x-ratelimit-remaining not 0), is rate limited for at least
// a minute, as GitHub advises: the minute is a floor (RateLimited.Floor)
// that grows while the refusals go on; a 409 from the commits
// list or the default branch's ref ("Git Repository is empty") passes
// through so the stream reads an empty repository as empty; so do a
// compare's 404, 406, 422 and 5xx without Retry-After, on which the
// commits pass lists the branch instead (see compareCommits); so does a list's 422 "Only the first 1000
// results are available." (a page past the results GitHub serves, as list
// releases answers), which ends the pass, and its 422 "Pagination with the
// page parameter is not supported for large datasets" (a page number on a
// list GitHub serves by cursor past a point), on which the pass follows
// the list's links from its first page instead (see list): neither is a
// configuration the connection could change. A hook refused past GitHub's
// 20 per event (errHookLimit) stays invalid configuration, named so: the
// watch pass then polls the repository and says why.
func (c *Connector) ClassifyResponse(resp *http.Response) error {
	if resp.Request != nil && resp.Request.Method == http.MethodGet && strings.Contains(resp.Request.URL.Path, "/compare/") && compareFallsBack(resp) {
		return nil
	}
	switch resp.StatusCode {
	case http.StatusConflict:
		if resp.Request != nil && (strings.HasSuffix(resp.Request.URL.Path, "/commits") || strings.Contains(resp.Request.URL.Path, "/git/ref/heads/")) {
			return nil
		}
	case http.StatusUnprocessableEntity:
		if resp.Request != nil && resp.Request.Method == http.MethodGet {
			if body := peekBody(resp); bytes.Contains(body, resultCapMessage) || bytes.Contains(body, pageParamMessage) {
				return nil
			}
		}
		if resp.Request != nil && strings.Contains(resp.Request.URL.Path, "/hooks") {
			if msgs := hookLimitMessages(peekBody(resp)); len(msgs) > 0 {
				return fmt.Errorf("%w: %w (%s)", connectors.ErrInvalidConfig, errHookLimit, strings.Join(msgs, "; "))
			}
		}
	case http.StatusForbidden, http.StatusTooManyRequests:
		if _, ok := connectors.RateLimitDelay(resp.Header, time.Now()); ok {
			break
		}
		if bytes.Contains(bytes.ToLower(peekBody(resp)), []byte("secondary rate limit")) {
			return &connectors.RateLimited{RetryAfter: time.Minute, Reason: "secondary rate limit", Floor: true}
		}
	}
	return connectors.ClassifyResponse(resp)
}

// errHookLimit is GitHub's refusal of a repository hook past its limit:
// "you can only create up to 20 webhooks that subscribe to each
// individual event type" (Types of webhooks), answered 422 Validation
// Failed with an error `The "push" event cannot have more than 20 hooks`
// for each full event (as grafana/grafana#127638 quotes it).
var errHookLimit = errors.New("GitHub takes at most 20 webhooks per event on a repository")

// hookLimitMessages returns the messages of a 422 body that refuse a hook
// past errHookLimit, none for any other body.
func hookLimitMessages(body []byte) []string {
	var v struct {
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &v) != nil {
		return nil
	}
	var out []string
	for _, e := range v.Errors {
		if strings.Contains(e.Message, "cannot have more than") && strings.HasSuffix(strings.TrimSpace(e.Message), "hooks") {
			out = append(out, e.Message)
		}
	}
	return out
}

// resultCapMessage is GitHub's answer (422) to a list page past the results
// it serves: {"message":"Only the first 1000 results are available.",
// "documentation_url":"https://docs.github.com/rest/releases/releases#list-releases"}.
var resultCapMessage = []byte("Only the first 1000 results are available")

// pageParamMessage is GitHub's answer (422) to a page number on a list it
// serves by cursor only past a point: {"message":"Pagination with the page
// parameter is not supported for large datasets, please use cursor based
// pagination (after/before)"} (seen on the issues of large repositories,
// go-github#3565).
var pageParamMessage = []byte("Pagination with the page parameter is not supported")

// peekBody reads up to 64 KiB of an answer's body and leaves the body
// readable again from its start.
func peekBody(resp *http.Response) []byte {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return body
}

// mapErr turns go-github's own errors into neutral ones. Provider error
// responses already arrive neutral from the engine's transport; go-github
// adds *RateLimitError when it refuses to call after seeing
// x-ratelimit-remaining: 0 on an earlier success, and *AbuseRateLimitError.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var rle *gh.RateLimitError
	if errors.As(err, &rle) {
		d := time.Until(rle.Rate.Reset.Time)
		return &connectors.RateLimited{RetryAfter: max(d, 0), Reason: "primary rate limit exhausted"}
	}
	var are *gh.AbuseRateLimitError
	if errors.As(err, &are) {
		if are.RetryAfter != nil {
			return &connectors.RateLimited{RetryAfter: *are.RetryAfter, Reason: "secondary rate limit"}
		}
		return &connectors.RateLimited{RetryAfter: time.Minute, Reason: "secondary rate limit", Floor: true}
	}
	var er *gh.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		if k := connectors.ClassifyResponse(er.Response); k != nil {
			return fmt.Errorf("%w (%s)", k, er.Message)
		}
		return fmt.Errorf("%w: unexpected HTTP %d", connectors.ErrTransient, er.Response.StatusCode)
	}
	// Already neutral, or unknown (connectors.Kind treats unknown as transient).
	return err
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
