// Package jira is the Jira Cloud connector: OAuth 2.0 (3LO) with Atlassian,
// one Jira site per connection (the account is the site's cloud id), issues
// of the configured projects read with the enhanced JQL search (backfill
// and incremental) and pushed by dynamic webhooks, normalized into
// issue.created, issue.updated and issue.status_changed Signals.
//
// It registers itself as "jira"; import it for its side effect.
package jira

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/poblysh/poblysh/connectors"
)

// Provider is the registered provider name (path segment and Signal source).
const Provider = "jira"

// Signal kinds this connector produces.
const (
	KindCreated       = "issue.created"
	KindUpdated       = "issue.updated"
	KindStatusChanged = "issue.status_changed"
)

// Scopes requested at authorization (classic scopes): read issues and
// projects, read users (assignees, actors, the token user's time zone),
// register dynamic webhooks, and a refresh token.
var Scopes = []string{"read:jira-work", "read:jira-user", "manage:jira-webhook", "offline_access"}

// Defaults and bounds of the settings read through Config.Setting.
const (
	// DefaultPageSize is search/jql maxResults: issues come with their
	// changelogs, so pages stay small.
	DefaultPageSize = 50
	// MaxPageSize is the largest page asked for.
	MaxPageSize = 100
	// DefaultBackfillDays is the backfill window when the config has none.
	DefaultBackfillDays = 90
	// grantLifetime is how long an Atlassian authorization lasts after
	// consent, whatever its use (rotating refresh tokens' absolute expiry).
	grantLifetime = 365 * 24 * time.Hour
)

// defaults are the real Atlassian URLs. APIURL is the API gateway: Jira's
// REST API hangs from ex/jira/{cloudId}/, the sites a token reaches from
// oauth/token/accessible-resources.
var defaults = connectors.Endpoints{
	AuthURL:  "https://auth.atlassian.com/authorize",
	TokenURL: "https://auth.atlassian.com/oauth/token",
	APIURL:   "https://api.atlassian.com/",
}

// Spec is the Jira Cloud provider, registered in init.
var Spec = &connectors.Spec{
	Name:        Provider,
	DisplayName: "Jira Cloud",
	Description: "Issues created, updated and moved between statuses in selected projects of one Jira Cloud site, " +
		"from dynamic webhooks and the JQL search API.",
	Kinds:        []string{KindCreated, KindUpdated, KindStatusChanged},
	Capabilities: []connectors.Capability{connectors.CapWebhook, connectors.CapPoll, connectors.CapBackfill},
	Defaults:     defaults,
	Scopes:       Scopes,
	// Atlassian documents no PKCE for 3LO apps: the client secret
	// authenticates the exchange.
	PKCE: false,
	// Dynamic webhooks of OAuth 2.0 apps carry a JWT signed with the
	// app's client secret (webhook.go): there is no separate webhook secret.
	WebhooksSignedWithClientSecret: true,
	// A route key names a webhook id on a site's host: ids are numbered
	// per site, and Atlassian gives a site's former URL to another site
	// (after a deletion, or on request), so a connection not yet aware of
	// its site's new URL shares keys with the site that has the old one.
	// A delivery reaching connections of two sites is stored for neither.
	RouteKeysNameOneAccount: true,
	Policy: connectors.Policy{
		// OAuth apps share a per-user, per-site limiter and, since March
		// 2026, a points-based hourly quota; 5 requests/s stays well
		// inside the burst limit.
		Rate:              5,
		Burst:             10,
		PollInterval:      15 * time.Minute,
		ReconcileInterval: 6 * time.Hour,
		MinPollInterval:   5 * time.Minute,
		Token: connectors.TokenPolicy{
			// Access tokens last 1 h; every refresh rotates the refresh
			// token, which lapses after 90 days unused and 365 days after
			// consent in any case. Refreshed when a call needs a token, as
			// Google's (an hour-long token refreshed ahead by the sweep cost
			// an idle connection 24 refresh workflows a day).
			Expires:             true,
			OnDemand:            true,
			RotatesRefreshToken: true,
			RefreshBefore:       10 * time.Minute,
			KeepAliveAfter:      30 * 24 * time.Hour,
			ExpiryWarning:       14 * 24 * time.Hour,
		},
	},
	ConfigHelp: `{"site": "https://acme.atlassian.net", "projects": ["ABC", ...], "backfill_days": 90}: ` +
		`projects are project keys (at least one); site (a site URL or cloud id) picks the site when the ` +
		`authorization reaches several; backfill_days (1-3650, default 90) bounds the first backfill.`,
	ConfigFields: []connectors.ConfigField{
		{Name: "site", Type: "string", Description: "the site, as its URL (`https://acme.atlassian.net`) or cloud id; required when " +
			"the authorization reaches several sites (the 422 lists them), optional otherwise"},
		{Name: "projects", Type: "array of project keys", Required: true, Description: "at least one; each is read with the connection's token " +
			"(`GET /project/{key}`) before it routes, and refused with 422 `invalid_config` otherwise"},
		{Name: "backfill_days", Type: "integer", Description: "1–3650, default 90: how far back the first backfill reads (issues updated since)"},
	},
	Settings: []connectors.Setting{
		{Suffix: "PAGE_SIZE", Default: strconv.Itoa(DefaultPageSize), Description: "`maxResults` of the JQL search (1–100); issues come with their changelogs, so pages stay small"},
		{Suffix: "APP_OWNER_ACCOUNT_ID", Description: "for an app that is not distributed publicly: the Atlassian " +
			"account id of its owner. Jira delivers such an app's dynamic webhooks only when the owner registered them, so " +
			"connections of other users poll instead of registering webhooks that would never fire"},
	},
	New: New,
}

func init() { connectors.MustRegister(Spec) }

// Connector is the Jira connector built from a provider configuration.
type Connector struct {
	cfg      connectors.Config
	apiURL   string
	pageSize int
	// owner is the Atlassian account id of the app's owner, for apps that
	// are not distributed publicly (POBLYSH_JIRA_APP_OWNER_ACCOUNT_ID):
	// Jira delivers their dynamic webhooks only when the owner registered
	// them, so connections of other users poll instead.
	owner string
	now   func() time.Time
}

// New builds the connector. It succeeds without client credentials (the
// provider is then listed as not configured); it fails on an API URL that
// does not parse or a PAGE_SIZE outside 1..100.
func New(cfg connectors.Config) (connectors.Connector, error) {
	c := &Connector{cfg: cfg, pageSize: DefaultPageSize, now: time.Now}
	c.apiURL = cmpOr(cfg.Endpoints.APIURL, defaults.APIURL)
	if !strings.HasSuffix(c.apiURL, "/") {
		c.apiURL += "/"
	}
	if u, err := url.Parse(c.apiURL); err != nil || u.Host == "" {
		return nil, fmt.Errorf("jira: API URL %q is not an absolute URL", c.apiURL)
	}
	if v := cfg.Setting("PAGE_SIZE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			return nil, fmt.Errorf("jira: POBLYSH_JIRA_PAGE_SIZE must be an integer from 1 to %d, got %q", MaxPageSize, v)
		}
		c.pageSize = n
	}
	c.owner = strings.TrimSpace(cfg.Setting("APP_OWNER_ACCOUNT_ID"))
	return c, nil
}

// Spec returns the registered spec.
func (c *Connector) Spec() *connectors.Spec { return Spec }

// siteAPI is the root of a site's REST API v3 on the gateway.
func (c *Connector) siteAPI(cloudID string) string {
	return c.apiURL + "ex/jira/" + url.PathEscape(cloudID) + "/rest/api/3/"
}

// call sends one API request with a JSON body (nil: none) and decodes a
// JSON answer into out (nil: discarded). Provider errors arrive neutral
// from the engine's transport.
func call(ctx context.Context, hc *http.Client, method, target string, body, out any) error {
	if hc == nil {
		return errors.New("jira: no HTTP client")
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("jira: encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return fmt.Errorf("jira: %s %s: %w", method, target, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return ue.Err // the transport's neutral error, without the URL
		}
		return err
	}
	defer resp.Body.Close()
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(out); err != nil {
		return fmt.Errorf("%w: %s %s: undecodable answer: %v", connectors.ErrTransient, method, req.URL.Path, err)
	}
	return nil
}

// ClassifyResponse refines the default status mapping for Jira's rate
// limits: a 429 waits for Retry-After when Jira sends one, else for the
// later of the resets its headers name (X-RateLimit-Reset, documented as
// "yyyy-MM-ddTHH:mmZ", a minute; the t= of the hourly quota's
// Beta-RateLimit, in seconds); the reason (RateLimit-Reason: burst,
// per-issue write or the points-based quota) is kept. A quota exhausted
// for the hour pauses the stream until it resets; it never fails a job.
// X-RateLimit-Remaining is not read: quota 429s were seen carrying the
// burst bucket's count, not 0, which connectors.RateLimitDelay reads as no
// limit reached, and the stream then waited for the top of the hour
// instead of the reset named.
func (c *Connector) ClassifyResponse(resp *http.Response) error {
	if resp.StatusCode != http.StatusTooManyRequests {
		return connectors.ClassifyResponse(resp)
	}
	now := time.Now()
	reason := cmpOr(resp.Header.Get("RateLimit-Reason"), resp.Header.Get("X-Beta-RateLimit-Reason"))
	if reason == "" {
		reason = "HTTP 429"
	}
	if d, ok := connectors.RateLimitDelay(http.Header{"Retry-After": resp.Header.Values("Retry-After")}, now); ok {
		return &connectors.RateLimited{RetryAfter: d, Reason: reason}
	}
	resets := resp.Header.Clone()
	resets.Del("Retry-After")
	resets.Del("X-RateLimit-Remaining") // absent reads as spent
	d, ok := connectors.RateLimitDelay(resets, now)
	if t, found := quotaReset(resp.Header.Get("Beta-RateLimit")); found && (!ok || t > d) {
		d, ok = t, true
	}
	if !ok && strings.Contains(reason, "quota") {
		// An hourly quota with no reset header: wait for the next hour.
		d = now.Truncate(time.Hour).Add(time.Hour).Sub(now)
	}
	return &connectors.RateLimited{RetryAfter: d, Reason: reason}
}

// quotaReset reads the seconds to reset from a Beta-RateLimit header such
// as `"tenant-app-quota";r=0;t=1800`.
func quotaReset(h string) (time.Duration, bool) {
	for _, part := range strings.Split(h, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k != "t" {
			continue
		}
		if secs, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && secs >= 0 {
			return time.Duration(secs) * time.Second, true
		}
	}
	return 0, false
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
