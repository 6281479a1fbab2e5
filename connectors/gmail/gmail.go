// Package gmail is the Gmail connector: OAuth with offline access (shared
// with the other Google connectors) and the narrow gmail.metadata scope
// (headers and labels, never bodies), one stream per configured label read
// with messages.list (backfill) and history.list (incremental), Cloud
// Pub/Sub push notifications whose OIDC tokens are verified with go-oidc,
// and email.* Signals with the shared press detector deciding
// email.press_thread.
//
// It registers itself as "gmail"; import it for its side effect.
package gmail

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/time/rate"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/google"
	"github.com/poblysh/poblysh/connectors/press"
)

// Provider is the registered provider name (path segment and Signal source).
const Provider = "gmail"

// Signal kinds this connector produces.
const (
	KindThreadStarted = "email.thread_started"
	KindReceived      = "email.received"
	KindSent          = "email.sent"
	KindPressThread   = "email.press_thread"
)

// ScopeMetadata is the only Gmail scope asked: message ids, labels and
// headers. It allows no q search and no message bodies.
const ScopeMetadata = "https://www.googleapis.com/auth/gmail.metadata"

// Scopes requested at authorization: identity from the OpenID id_token and
// Gmail metadata (enough for getProfile, labels.get, messages.list,
// messages.get and threads.get with format=metadata, history.list, watch
// and stop: Gmail discovery document).
var Scopes = []string{"openid", "email", ScopeMetadata}

// requiredScopes are what a grant must carry; the wider Gmail scopes include
// metadata reads.
var requiredScopes = []google.Requirement{
	google.EmailRequirement,
	{Name: ScopeMetadata, Any: []string{
		ScopeMetadata,
		"https://www.googleapis.com/auth/gmail.readonly",
		"https://www.googleapis.com/auth/gmail.modify",
		"https://mail.google.com/",
	}},
}

// Defaults for the settings read through Config.Setting.
const (
	// DefaultPageSize is messages.list and history.list maxResults (Gmail's
	// own default); MaxPageSize is the largest Gmail accepts.
	DefaultPageSize = 100
	MaxPageSize     = 500
	// DefaultBackfillDays bounds the first backfill by internalDate (config
	// backfill_days overrides it).
	DefaultBackfillDays = 30
	// DefaultPushIssuer and DefaultPushJWKSURL are Google's: Pub/Sub signs
	// push tokens with Google's OAuth keys.
	DefaultPushIssuer  = "https://accounts.google.com"
	DefaultPushJWKSURL = "https://www.googleapis.com/oauth2/v3/certs"
)

// Spec is the Gmail provider spec.
var Spec = &connectors.Spec{
	GrantPerClient: true,
	Name:           Provider,
	DisplayName:    "Gmail",
	Description:    "New threads, received and sent mail, and correspondence with journalists, from headers and labels only, pushed through Cloud Pub/Sub.",
	Kinds:          []string{KindThreadStarted, KindReceived, KindSent, KindPressThread},
	Capabilities: []connectors.Capability{
		connectors.CapWebhook, connectors.CapPoll, connectors.CapBackfill,
	},
	EnvFallback: google.EnvFallback,
	Defaults:    google.Endpoints("https://gmail.googleapis.com/"),
	Scopes:      Scopes,
	PKCE:        true,
	Policy: connectors.Policy{
		// Gmail allows 15,000 quota units per minute per user; messages.get
		// costs 5, so 25 calls a second stays under it with history.list
		// and watch calls of other workers.
		Rate:              rate.Limit(25),
		Burst:             25,
		PollInterval:      5 * time.Minute,
		ReconcileInterval: 6 * time.Hour,
		MinPollInterval:   time.Minute,
		Token:             google.TokenPolicy,
	},
	ConfigHelp: `{"labels": ["INBOX", "SENT"], "press_domains": ["nytimes.com"], "press_addresses": ["jane@freelance.example"], ` +
		`"backfill_days": 30}: label ids to follow (default INBOX and SENT; a message labelled SENT is email.sent in any stream, the others email.received), ` +
		`the tenant's own press contacts for email.press_thread, and the first backfill's window (1 to 365 days).`,
	ConfigFields: []connectors.ConfigField{
		{Name: "labels", Type: "array of strings", Description: "Label ids to follow, one stream each: system labels in any case (`INBOX`, `SENT`, `IMPORTANT`…) " +
			"or user labels by id (`Label_12`); a message labelled `SENT` is `email.sent` whichever stream reads it, the others `email.received`. At most 20; `DRAFT`, `SPAM` and `TRASH` are refused. " +
			"The connection's token must read each one. Absent: `[\"INBOX\", \"SENT\"]`."},
		{Name: "press_domains", Type: "array of strings", Description: "The tenant's own press domains (`nytimes.com` also matches subdomains), on top of the curated media list; " +
			"a freemail domain, or a public suffix (`co.uk`, `*.com.au`), is refused."},
		{Name: "press_addresses", Type: "array of strings", Description: "The tenant's own press contacts by address (`jane@freelance.example`)."},
		{Name: "backfill_days", Type: "integer", Description: "The first backfill's window by `internalDate`, 1–365 days. Absent: `POBLYSH_GMAIL_BACKFILL_DAYS`."},
	},
	Settings: []connectors.Setting{
		{Suffix: "CLIENT_ID", Description: "the Google OAuth client (Web application); one client can serve every Google provider through `POBLYSH_GOOGLE_CLIENT_ID`"},
		// Not the shared POBLYSH_GOOGLE_WEBHOOK_SECRET: Calendar and Drive
		// derive their channel tokens from that one, which an operator
		// never writes into the Pub/Sub endpoint, so read here it would
		// refuse every genuine push (401).
		{Suffix: "WEBHOOK_SECRET", NoFallback: true, Description: "a token the push subscription's endpoint URL may carry (`/api/v1/webhooks/gmail?token=<secret>`), " +
			"checked besides the OIDC token; the default audience then includes it. Unset: the OIDC token alone, whatever `POBLYSH_GOOGLE_WEBHOOK_SECRET` " +
			"(Calendar's and Drive's channel secret) holds"},
		{Suffix: "PUBSUB_TOPIC", Description: "the Cloud Pub/Sub topic users.watch publishes to (`projects/<project>/topics/<topic>`, Publisher granted to " +
			"`gmail-api-push@system.gserviceaccount.com`); unset, no watch is made and connections poll"},
		{Suffix: "PUSH_SERVICE_ACCOUNT", Description: "the service account the authenticated push subscription signs its OIDC tokens as; " +
			"unset, every push is refused (401) and no watch is made"},
		{Suffix: "PUSH_AUDIENCE", Default: "the push URL", Description: "the `aud` push tokens must carry (Pub/Sub's default is the push endpoint URL)"},
		{Suffix: "PUSH_ISSUER", Default: "`" + DefaultPushIssuer + "`", Description: "the `iss` of push tokens (`accounts.google.com` is accepted for Google's)"},
		{Suffix: "PUSH_JWKS_URL", Default: "`" + DefaultPushJWKSURL + "`", Description: "the keys push tokens are verified against (cached; the sandbox serves its own)"},
		{Suffix: "USERINFO_URL", Default: "`" + google.UserinfoURL + "`", Description: "OpenID userinfo endpoint, read only when a token answer lacks an id_token"},
		{Suffix: "PAGE_SIZE", Default: strconv.Itoa(DefaultPageSize), Description: "`maxResults` of messages.list and history.list, 1–" + strconv.Itoa(MaxPageSize)},
		{Suffix: "BACKFILL_DAYS", Default: strconv.Itoa(DefaultBackfillDays), Description: "default backfill window in days, 1–365; a connection's `backfill_days` overrides it"},
	},
	New: New,
}

func init() { connectors.MustRegister(Spec) }

// Connector implements the Gmail provider. Build it with New.
type Connector struct {
	google.Auth
	pageSize     int
	backfillDays int
	detector     *press.Detector
	// Pub/Sub: the topic users.watch publishes to, and what a push's OIDC
	// token must carry.
	topic, audience, serviceAccount, issuer string
	// rawAudience is the default audience with the secret unescaped, also
	// accepted ("" when the same or not the default).
	rawAudience string
	keys        oidc.KeySet
}

// Compile-time checks of the capabilities the engine discovers.
var (
	_ connectors.Authorizer      = (*Connector)(nil)
	_ connectors.ScopeChecker    = (*Connector)(nil)
	_ connectors.Revoker         = (*Connector)(nil)
	_ connectors.ConfigValidator = (*Connector)(nil)
	_ connectors.Syncer          = (*Connector)(nil)
	_ connectors.Watcher         = (*Connector)(nil)
	_ connectors.WebhookReceiver = (*Connector)(nil)
	_ connectors.Classifier      = (*Connector)(nil)
	_ connectors.AccessProver    = (*Connector)(nil)
	_ connectors.ResourceStreams = (*Connector)(nil)
	_ connectors.AccountKeeper   = (*Connector)(nil)
)

// New builds the connector. Missing client credentials are not an error (the
// provider is then listed as not configured); malformed settings are.
// POBLYSH_GMAIL_PUBSUB_TOPIC is the topic users.watch publishes to;
// POBLYSH_GMAIL_PUSH_SERVICE_ACCOUNT the service account the push
// subscription authenticates as (no pushes are accepted without it);
// POBLYSH_GMAIL_PUSH_AUDIENCE the token audience (default: the push URL);
// POBLYSH_GMAIL_PUSH_ISSUER and _PUSH_JWKS_URL Google's by default (the
// sandbox serves its own keys). Each is checked here, at start: the topic
// as a Pub/Sub topic name, the service account as an address, the URLs as
// absolute http(s) URLs (the audience is any string Pub/Sub was given).
func New(cfg connectors.Config) (connectors.Connector, error) {
	c := &Connector{
		Auth:     google.Auth{Provider: Provider, Config: cfg, Scopes: Scopes, Required: requiredScopes, UserinfoURL: google.UserinfoURL},
		detector: press.New(),
		audience: strings.TrimSpace(cfg.Setting("PUSH_AUDIENCE")),
	}
	var err error
	if c.topic, err = topicSetting(cfg); err != nil {
		return nil, err
	}
	if c.serviceAccount, err = serviceAccountSetting(cfg); err != nil {
		return nil, err
	}
	if c.issuer, err = google.URLSetting(cfg, "PUSH_ISSUER", DefaultPushIssuer); err != nil {
		// "accounts.google.com" alone is how some of Google's tokens name
		// the issuer, accepted when the issuer is Google's URL; as the
		// setting it refused every push.
		return nil, fmt.Errorf("%w (Google's: %s)", err, DefaultPushIssuer)
	}
	if c.pageSize, err = google.IntSetting(cfg, "PAGE_SIZE", DefaultPageSize, 1, MaxPageSize); err != nil {
		return nil, err
	}
	if c.backfillDays, err = google.IntSetting(cfg, "BACKFILL_DAYS", DefaultBackfillDays, 1, maxBackfillDays); err != nil {
		return nil, err
	}
	if c.UserinfoURL, err = google.URLSetting(cfg, "USERINFO_URL", c.UserinfoURL); err != nil {
		return nil, err
	}
	if c.audience == "" && cfg.PublicURL != "" {
		c.audience = c.pushURL()
		if raw := c.Config.WebhookURL(Provider) + "?token=" + c.Config.WebhookSecret; c.Config.WebhookSecret != "" && raw != c.audience {
			// The endpoint as an operator pastes it, the secret unescaped
			// (base64's '+', '/', '='): Pub/Sub's audience is the URL as
			// configured, byte for byte.
			c.rawAudience = raw
		}
	}
	jwks, err := google.URLSetting(cfg, "PUSH_JWKS_URL", DefaultPushJWKSURL)
	if err != nil {
		return nil, err
	}
	// One key set for the process: it caches Google's keys and fetches them
	// again, at most once a minute, when no cached key verifies a token.
	c.keys = newPushKeys(jwks, time.Now)
	return c, nil
}

// Spec returns the registered spec.
func (c *Connector) Spec() *connectors.Spec { return Spec }

// pushURL is the endpoint the push subscription posts to:
// <public URL>/api/v1/webhooks/gmail, with ?token=<webhook secret> when one
// is set. Pub/Sub's default token audience is this URL.
func (c *Connector) pushURL() string {
	u := c.Config.WebhookURL(Provider)
	if c.Config.WebhookSecret != "" {
		u += "?token=" + url.QueryEscape(c.Config.WebhookSecret)
	}
	return u
}
