package connectors

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Capability is a feature a provider offers, listed in GET /providers.
type Capability string

// Capabilities.
const (
	CapWebhook  Capability = "webhook"  // receives pushes (webhooks, watch channels)
	CapPoll     Capability = "poll"     // incremental sync from a cursor on a schedule
	CapBackfill Capability = "backfill" // reads history on first connect
)

// Endpoints are a provider's URLs. Every one is configurable so that tests and
// the sandbox can point a connector at a local fake.
type Endpoints struct {
	AuthURL   string // browser authorization endpoint
	TokenURL  string // code exchange and refresh
	APIURL    string // API root the provider's own paths hang from (ends with "/")
	RevokeURL string // token revocation, "" when the provider has none
}

// TokenPolicy describes how a provider's tokens age.
type TokenPolicy struct {
	// Expires is true when access tokens expire (Google 1 h, GitHub App 8 h).
	Expires bool
	// RotatesRefreshToken is true when each refresh returns a new refresh token
	// and invalidates the old one (GitHub App, Slack rotation, Jira).
	RotatesRefreshToken bool
	// RefreshBefore is how long before expiry the sweeper refreshes a token.
	RefreshBefore time.Duration
	// OnDemand is true when expiring access tokens are refreshed only when
	// a call needs one (within a minute of expiry, or after a 401), never
	// by the sweeper, so an idle connection spends none: for providers that
	// cap how many access tokens a refresh token may mint (Zoho: 10 in 10
	// minutes). KeepAliveAfter still applies.
	OnDemand bool
	// KeepAliveAfter refreshes idle refresh tokens older than this so they do
	// not lapse (Google: unused for 6 months; Jira: 90 days), paused
	// connections' too (db.Tx.TokensDue). 0 disables.
	KeepAliveAfter time.Duration
	// ExpiryWarning is how long before a grant's end (GrantExpirer) the
	// connection's health_reason says when it ends. 0: no warning.
	ExpiryWarning time.Duration
}

// Policy is a provider's pacing and scheduling policy.
type Policy struct {
	// Rate and Burst pace every caller of the same external account in a process.
	Rate  rate.Limit
	Burst int
	// Budget paces every caller of an account by the budget the provider's
	// answers grant (x-ratelimit-remaining and x-ratelimit-reset, see
	// Budget): calls are spaced so what remains lasts until the reset.
	Budget bool
	// PollInterval is the incremental sync interval for connections without push.
	PollInterval time.Duration
	// ReconcileInterval is the safety-net sync interval for connections that
	// receive pushes (webhooks can be lost); 0 means PollInterval.
	ReconcileInterval time.Duration
	// MinPollInterval is the floor for per-connection overrides.
	MinPollInterval time.Duration
	// Token describes token expiry and rotation.
	Token TokenPolicy
}

// Spec describes a provider and builds its Connector. It is all the engine,
// the API and the docs need to know about a provider.
type Spec struct {
	// Name is the path segment and Signal source ("github", "google-calendar").
	Name        string
	DisplayName string
	Description string
	// Kinds lists the Signal kinds the provider produces; each must be in the catalog.
	Kinds []string
	// Capabilities are listed in GET /providers.
	Capabilities []Capability
	// EnvFallback is the shared prefix consulted when POBLYSH_<NAME>_* is unset
	// ("GOOGLE" for Google connectors, "ZOHO" for Zoho ones).
	EnvFallback string
	// Defaults are the real provider's URLs.
	Defaults Endpoints
	// Scopes requested at authorization (the narrowest that work), unless
	// the connector lets a setting change them (Provider.Scopes).
	Scopes []string
	// PKCE is true when the provider supports S256 PKCE.
	PKCE bool
	// ExclusiveAccount is true when one external account may be connected
	// by one tenant only, because what it delivers is shared by every
	// connection to it (a Slack workspace's bot and events). Another
	// tenant's connect to a claimed account is refused with 409. Accounts
	// that nest (a Slack Enterprise Grid org and its workspaces) say how
	// with AccountClaimer.
	ExclusiveAccount bool
	// GrantPerClient is true when revoking one token of an account revokes
	// every token the account granted the OAuth client (Google: a user's
	// grant to a client is one, whichever token is revoked, and incremental
	// authorization makes it one across Calendar, Drive and Gmail).
	// Disconnecting then revokes only when no other connection, of any
	// tenant and of any provider with the same client id
	// (Registry.GrantSharers), holds the same account.
	GrantPerClient bool
	// RevokeUnusedGrant is true when a connect that fails after the code
	// exchange (a config the account cannot read, another organisation's
	// account...) revokes the token it received: the provider caps the
	// grants a user gives a client and evicts the oldest past the cap
	// (Zoho: 20 refresh tokens per user and client, the 21st removes the
	// first), so failed attempts would end a working connection's grant.
	// Only for providers whose revocation ends that one token.
	RevokeUnusedGrant bool
	// Retracts is true when the provider's webhook deliveries name Signals
	// that are gone (WebhookDelivery.Retract: a deleted Slack message).
	// Each store of its Signals, by webhook or by sync page, then
	// re-applies the retractions recorded for their keys once committed
	// (one statement more), so a deletion that raced the store is not
	// lost. Providers that never retract pay nothing.
	Retracts bool
	// RevokeReplacedToken is true when a successful re-authorization
	// revokes the token it replaced (after the new one is stored, unless
	// another connection holds the same token): the provider issues a new
	// token at every consent, caps how many a user keeps per client and
	// evicts the oldest past the cap, which may be another connection's
	// (another organisation's connection of the same user). Only for
	// providers whose revocation ends that one token: Zoho ("A maximum of
	// 20 refresh tokens can be stored per user", the 21st invalidates the
	// first; /oauth/v2/token/revoke ends the one named) and GitHub (10
	// tokens per user, OAuth app and scopes, the oldest revoked past them;
	// DELETE /applications/{client_id}/token revokes a single token). Never
	// with GrantPerClient (Google: revoking any token revokes the grant the
	// new one lives on); not Slack (auth.revoke of a bot token deactivates
	// the install's bot user and removes it from its channels) nor Jira
	// (no revocation endpoint).
	RevokeReplacedToken bool
	// WebhooksSignedWithClientSecret is true when the provider signs its
	// deliveries with the OAuth client secret (Jira's dynamic webhooks
	// carry a JWT signed with it), so WEBHOOK_SECRET is not read.
	WebhooksSignedWithClientSecret bool
	// RouteKeysNameOneAccount is true when each of the provider's route
	// keys names something of one account only, so that the connections
	// one delivery reaches are all of one account: Jira's name a webhook
	// id on a site's host, and Jira numbers webhooks per site while a host
	// is one site's at a time. A delivery whose route keys reach
	// connections of several accounts (a connection still keyed by a host
	// Atlassian has since given to another site) is one whose account the
	// service cannot tell: the intake stores it for none of them, and
	// nudges each active one to read its own account through the API
	// instead (docs/providers/jira.md, Routing).
	RouteKeysNameOneAccount bool
	Policy                  Policy
	// WebhookMaxBytes is the largest delivery the provider documents
	// sending, when it exceeds the service's general webhook body limit
	// (POBLYSH_WEBHOOK_MAX_BYTES): this provider's webhook route accepts
	// up to it (GitHub: 25 MB); other routes keep the general limit. 0:
	// the general limit.
	WebhookMaxBytes int64
	// ConfigHelp documents the connection config fields (shown in the docs).
	ConfigHelp string
	// ConfigFields document the connection config object field by field,
	// for the generated table of docs/providers/<name>.md.
	ConfigFields []ConfigField
	// Settings document the provider's own POBLYSH_<NAME>_<SUFFIX>
	// variables (read with Config.Setting) for the generated table. A
	// Setting with the suffix of a common variable (CLIENT_ID,
	// WEBHOOK_SECRET, API_URL...) replaces its generic description.
	Settings []Setting
	// New builds a Connector from configuration.
	New func(Config) (Connector, error)
}

// EnvName is the provider's upper-snake name: "google-calendar" → "GOOGLE_CALENDAR".
func (s *Spec) EnvName() string {
	return strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_"))
}

// Config is a provider's configuration, read from POBLYSH_<NAME>_* variables.
// It carries secrets: never log or return it.
type Config struct {
	ClientID      string
	ClientSecret  string
	WebhookSecret string
	Endpoints     Endpoints
	// PublicURL is the base URL providers call back (no trailing slash).
	PublicURL string
	// PublicURLSet is false when PublicURL was derived from the listen
	// address; watch channels are then not registered and the connection polls.
	PublicURLSet bool
	// lookup reads other POBLYSH_<NAME>_* settings; see Setting.
	lookup func(suffix string) string
	// variable names the variable a setting is read from; see SettingVar.
	variable func(suffix string) string
	// variables names every variable a setting may be read from; see
	// SettingVars.
	variables func(suffix string) []string
	// notices are what the start logs about this configuration; see
	// Registry.Notices.
	notices []string
}

// Setting returns another POBLYSH_<NAME>_<suffix> value (with the fallback
// prefix), e.g. Setting("HISTORY_LIMIT") for POBLYSH_SLACK_HISTORY_LIMIT.
func (c Config) Setting(suffix string) string {
	if c.lookup == nil {
		return ""
	}
	return c.lookup(suffix)
}

// SettingVar names the variable Setting(suffix) reads: the fallback
// prefix's when only that is set (POBLYSH_GOOGLE_CHANNEL_TTL), else
// POBLYSH_<NAME>_<suffix>; the suffix alone for a Config of WithSettings.
func (c Config) SettingVar(suffix string) string {
	if c.variable == nil {
		return suffix
	}
	return c.variable(suffix)
}

// SettingVars names every variable Setting(suffix) may be read from, in
// the order it reads them: POBLYSH_<NAME>_<suffix>, then the fallback
// prefix's unless the setting is read from the provider's own variable
// only (Setting.Own, Setting.NoFallback); the suffix alone for a Config not read by
// LoadConfig. An error that asks for a setting that is not set names each
// of them (SettingVar names one), since setting any of them satisfies it.
func (c Config) SettingVars(suffix string) []string {
	if c.variables == nil {
		return []string{suffix}
	}
	return c.variables(suffix)
}

// WithSettings returns a copy of c whose Setting reads from m (for tests).
func (c Config) WithSettings(m map[string]string) Config {
	c.lookup = func(suffix string) string { return m[suffix] }
	return c
}

// Configured reports whether OAuth client credentials are present.
func (c Config) Configured() bool { return c.ClientID != "" && c.ClientSecret != "" }

// WebhookURL is where this provider's deliveries arrive.
func (c Config) WebhookURL(provider string) string {
	return c.PublicURL + "/api/v1/webhooks/" + provider
}

// CallbackURL is the OAuth redirect URI registered with the provider.
func (c Config) CallbackURL(provider string) string {
	return c.PublicURL + "/api/v1/connect/" + provider + "/callback"
}

// PublicHTTPS reports whether the public URL is served over HTTPS (its
// parsed scheme: a scheme is case-insensitive, and the URL is kept as the
// operator wrote it, since providers compare redirect URIs and push
// audiences byte for byte).
func (c Config) PublicHTTPS() bool {
	u, err := url.Parse(c.PublicURL)
	return err == nil && u.Scheme == "https"
}

// StartURL is the service-hosted page a user opens to authorize: it names
// the tenant and the provider and continues to the provider on a click.
func (c Config) StartURL(provider string) string {
	return c.PublicURL + "/api/v1/connect/" + provider + "/start"
}

// LoadConfig reads a provider's configuration from the environment with the
// naming scheme POBLYSH_<NAME>_{CLIENT_ID,CLIENT_SECRET,AUTH_URL,TOKEN_URL,
// API_URL,REVOKE_URL,WEBHOOK_SECRET}, falling back to POBLYSH_<FALLBACK>_*,
// then to the spec's defaults. URLs must be absolute http(s) URLs.
func LoadConfig(s *Spec, getenv func(string) string, publicURL string, publicURLSet bool) (Config, error) {
	own := map[string]bool{} // read from the provider's own variable only (Setting.Own, Setting.NoFallback)
	var notices []string
	for _, st := range s.Settings {
		if (!st.Own && !st.NoFallback) || s.EnvFallback == "" {
			continue
		}
		own[st.Suffix] = true
		fb, mine := "POBLYSH_"+s.EnvFallback+"_"+st.Suffix, "POBLYSH_"+s.EnvName()+"_"+st.Suffix
		if getenv(fb) == "" {
			continue
		}
		if st.Own {
			return Config{}, fmt.Errorf("%s: is not read: %s reads %s from its own variable only (its form or value differs between the %s providers); set %s instead",
				fb, s.Name, st.Suffix, titleWord(s.EnvFallback), mine)
		}
		// The shared value is the other providers' (Setting.NoFallback):
		// said once at start, so that an operator who counted on it here
		// learns which variable this provider reads. Never the value.
		notices = append(notices, fmt.Sprintf("%s is not read by %s: it reads %s from %s only", fb, s.Name, st.Suffix, mine))
	}
	get := func(suffix string) (string, string) {
		name := "POBLYSH_" + s.EnvName() + "_" + suffix
		if v := getenv(name); v != "" {
			return v, name
		}
		if s.EnvFallback != "" && !own[suffix] {
			fb := "POBLYSH_" + s.EnvFallback + "_" + suffix
			if v := getenv(fb); v != "" {
				return v, fb
			}
		}
		return "", name
	}
	c := Config{PublicURL: strings.TrimRight(publicURL, "/"), PublicURLSet: publicURLSet, notices: notices}
	c.lookup = func(suffix string) string { v, _ := get(suffix); return v }
	c.variable = func(suffix string) string { _, name := get(suffix); return name }
	c.variables = func(suffix string) []string {
		names := []string{"POBLYSH_" + s.EnvName() + "_" + suffix}
		if s.EnvFallback != "" && !own[suffix] {
			names = append(names, "POBLYSH_"+s.EnvFallback+"_"+suffix)
		}
		return names
	}
	c.ClientID, _ = get("CLIENT_ID")
	c.ClientSecret, _ = get("CLIENT_SECRET")
	c.WebhookSecret, _ = get("WEBHOOK_SECRET")
	urls := []struct {
		suffix string
		dst    *string
		def    string
	}{
		{"AUTH_URL", &c.Endpoints.AuthURL, s.Defaults.AuthURL},
		{"TOKEN_URL", &c.Endpoints.TokenURL, s.Defaults.TokenURL},
		{"API_URL", &c.Endpoints.APIURL, s.Defaults.APIURL},
		{"REVOKE_URL", &c.Endpoints.RevokeURL, s.Defaults.RevokeURL},
	}
	for _, u := range urls {
		v, name := get(u.suffix)
		if v == "" {
			*u.dst = u.def
			continue
		}
		p, err := url.Parse(v)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return Config{}, fmt.Errorf("%s: must be an absolute http(s) URL", name)
		}
		*u.dst = v
	}
	if c.Endpoints.APIURL != "" && !strings.HasSuffix(c.Endpoints.APIURL, "/") {
		c.Endpoints.APIURL += "/"
	}
	return c, nil
}
