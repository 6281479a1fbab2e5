// Package googlecalendar is the Google Calendar connector: OAuth with
// offline access, one events stream per configured calendar read with
// events.list sync tokens, watch channels whose push notifications trigger
// incremental syncs, and normalization of events into calendar_event.*
// Signals.
//
// It registers itself as "google-calendar"; import it for its side effect.
package googlecalendar

import (
	"strconv"
	"time"

	"golang.org/x/time/rate"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/google"
)

// Provider is the registered provider name (path segment and Signal source).
const Provider = "google-calendar"

// Signal kinds this connector produces.
const (
	KindCreated   = "calendar_event.created"
	KindUpdated   = "calendar_event.updated"
	KindCancelled = "calendar_event.cancelled"
)

// Scopes requested at authorization: identity from the OpenID id_token and
// read-only access to events. calendar.events.readonly is the narrowest scope
// that allows events.list and events.watch.
var Scopes = []string{
	"openid",
	"email",
	"https://www.googleapis.com/auth/calendar.events.readonly",
}

// Defaults for the settings read through Config.Setting.
const (
	// DefaultPageSize is events.list maxResults (Google's own default).
	DefaultPageSize = 250
	// MaxPageSize is the largest maxResults Google accepts.
	MaxPageSize = 2500
	// DefaultChannelTTL is the watch channel lifetime requested; Google may
	// grant less. The engine stores the expiry requested, or the returned
	// expiration when that is earlier.
	DefaultChannelTTL = 7 * 24 * time.Hour
	// DefaultUserinfoURL is the OpenID Connect userinfo endpoint, used only
	// when a token response carries no id_token.
	DefaultUserinfoURL = google.UserinfoURL
)

// Spec is the Google Calendar provider spec.
var Spec = &connectors.Spec{
	GrantPerClient: true,
	Name:           Provider,
	DisplayName:    "Google Calendar",
	Description:    "Events created, updated and cancelled on the connected user's calendars, pushed through watch channels and synced with sync tokens.",
	Kinds:          []string{KindCreated, KindUpdated, KindCancelled},
	Capabilities: []connectors.Capability{
		connectors.CapWebhook, connectors.CapPoll, connectors.CapBackfill,
	},
	EnvFallback: google.EnvFallback,
	Defaults:    google.Endpoints("https://www.googleapis.com/calendar/v3/"),
	Scopes:      Scopes,
	PKCE:        true,
	Policy: connectors.Policy{
		// Google allows 600 requests per minute per user per project; keep
		// 20% headroom for watch/stop calls made by other workers.
		Rate:              rate.Limit(8),
		Burst:             5,
		PollInterval:      5 * time.Minute,
		ReconcileInterval: 6 * time.Hour,
		MinPollInterval:   time.Minute,
		Token:             google.TokenPolicy,
	},
	ConfigHelp: `{"calendars": ["primary", "team@group.calendar.google.com"], "backfill_days": 30}: calendar ids to sync ` +
		`(default ["primary"], at most 50; "primary" is the connected user's own calendar), and how far back the first ` +
		`sync reads (events that ended within the last backfill_days, 1-3650, default 30; future events always).`,
	ConfigFields: []connectors.ConfigField{{
		Name: "calendars", Type: "array of strings",
		Description: "Calendar ids to sync, at most 50: `primary` (the connected user's own calendar) or an email-like id; " +
			"trimmed and deduplicated. The connection's token must read each one. Empty or absent: `[\"primary\"]`.",
	}, {
		Name: "backfill_days", Type: "integer",
		Description: "How far back a full sync (the first one, or after Google expired the sync token) reads: events " +
			"that ended within the last `backfill_days` days, 1–3650, and every future event. Absent: " + strconv.Itoa(DefaultBackfillDays) + ".",
	}},
	Settings: []connectors.Setting{
		{Suffix: "CLIENT_ID", Description: "the Google OAuth client (Web application); one client can serve every Google provider through `POBLYSH_GOOGLE_CLIENT_ID`"},
		{Suffix: "WEBHOOK_SECRET", Description: "secret the watch-channel tokens are derived from (32+ random bytes); " +
			"unset, no channel is registered (connections poll) and every notification is rejected"},
		{Suffix: "WEBHOOK_SECRET_RETIRED", Description: "the secret rotated out of `WEBHOOK_SECRET`, still accepted on notifications " +
			"until the renewal sweep has replaced the channels made under it (the first sweep after the restart); refused at start when `WEBHOOK_SECRET` is unset or equal to it"},
		{Suffix: "USERINFO_URL", Default: "`" + DefaultUserinfoURL + "`", Description: "OpenID userinfo endpoint, read only when a token answer lacks an id_token"},
		{Suffix: "PAGE_SIZE", Default: strconv.Itoa(DefaultPageSize), Description: "`maxResults` of events.list, 1–" + strconv.Itoa(MaxPageSize)},
		{Suffix: "CHANNEL_TTL", Default: "168h", Description: "requested watch-channel lifetime, seconds or a Go duration, at least 1m and 3 × POBLYSH_RENEWAL_INTERVAL (90m under the default 30m); Google may grant less"},
	},
	New: New,
}

func init() { connectors.MustRegister(Spec) }

// Connector implements the Google Calendar provider. Build it with New.
// OAuth, identity, the scope check and revocation come from google.Auth.
type Connector struct {
	google.Auth
	pageSize   int64
	channelTTL time.Duration
	// retiredSecret is the webhook secret rotated out, still accepted on
	// notifications (WEBHOOK_SECRET_RETIRED); "" when unset.
	retiredSecret string
}

// Compile-time checks of the capabilities the engine discovers.
var (
	_ connectors.Authorizer      = (*Connector)(nil)
	_ connectors.ScopeChecker    = (*Connector)(nil)
	_ connectors.Revoker         = (*Connector)(nil)
	_ connectors.ConfigValidator = (*Connector)(nil)
	_ connectors.Syncer          = (*Connector)(nil)
	_ connectors.Router          = (*Connector)(nil)
	_ connectors.Watcher         = (*Connector)(nil)
	_ connectors.ChannelLifer    = (*Connector)(nil)
	_ connectors.SecretBound     = (*Connector)(nil)
	_ connectors.WebhookReceiver = (*Connector)(nil)
	_ connectors.Classifier      = (*Connector)(nil)
)

// New builds the connector. Missing client credentials are not an error (the
// provider is then listed as not configured); malformed settings
// (POBLYSH_GOOGLE_CALENDAR_PAGE_SIZE, _CHANNEL_TTL, _USERINFO_URL) are.
func New(cfg connectors.Config) (connectors.Connector, error) {
	c := &Connector{Auth: google.Auth{
		Provider: Provider, Config: cfg, Scopes: Scopes, Required: requiredScopes, UserinfoURL: DefaultUserinfoURL,
	}}
	size, err := google.IntSetting(cfg, "PAGE_SIZE", DefaultPageSize, 1, MaxPageSize)
	if err != nil {
		return nil, err
	}
	c.pageSize = int64(size)
	if c.channelTTL, err = google.TTLSetting(cfg, "CHANNEL_TTL", DefaultChannelTTL); err != nil {
		return nil, err
	}
	if c.UserinfoURL, err = google.URLSetting(cfg, "USERINFO_URL", c.UserinfoURL); err != nil {
		return nil, err
	}
	if c.retiredSecret, err = google.RetiredSecret(cfg); err != nil {
		return nil, err
	}
	return c, nil
}

// Spec returns the registered spec.
func (c *Connector) Spec() *connectors.Spec { return Spec }

// ChannelTTL is the channel life asked for (CHANNEL_TTL): the service
// refuses to start with one its renewal sweep cannot keep.
func (c *Connector) ChannelTTL() (time.Duration, string) { return c.channelTTL, "CHANNEL_TTL" }

// SecretID names the webhook secret channels are made under now
// (google.SecretID): the engine replaces channels made under another.
func (c *Connector) SecretID() string { return google.SecretID(c.Config.WebhookSecret) }

// RouteKeys returns no static keys: deliveries are routed by watch channel
// ("channel:<id>"), which the engine learns from Watch.
func (c *Connector) RouteKeys(connectors.Connection) ([]string, error) { return nil, nil }
