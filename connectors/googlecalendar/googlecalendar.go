// Package googlecalendar is the Google Calendar connector: OAuth with
// offline access, one events stream per configured calendar read with
// events.list sync tokens, watch channels whose push notifications trigger
// incremental syncs, and normalization of events into calendar_event.*
// Signals.
//
// It registers itself as "google-calendar"; import it for its side effect.
package googlecalendar

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/poblysh/poblysh/connectors"
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
	// grant less and the returned expiration is what the engine stores.
	DefaultChannelTTL = 7 * 24 * time.Hour
	// DefaultUserinfoURL is the OpenID Connect userinfo endpoint, used only
	// when a token response carries no id_token.
	DefaultUserinfoURL = "https://openidconnect.googleapis.com/v1/userinfo"
)

// Spec is the Google Calendar provider spec.
var Spec = &connectors.Spec{
	Name:        Provider,
	DisplayName: "Google Calendar",
	Description: "Events created, updated and cancelled on the connected user's calendars, pushed through watch channels and synced with sync tokens.",
	Kinds:       []string{KindCreated, KindUpdated, KindCancelled},
	Capabilities: []connectors.Capability{
		connectors.CapWebhook, connectors.CapPoll, connectors.CapBackfill,
	},
	EnvFallback: "GOOGLE",
	Defaults: connectors.Endpoints{
		AuthURL:   "https://accounts.google.com/o/oauth2/v2/auth",
		TokenURL:  "https://oauth2.googleapis.com/token",
		APIURL:    "https://www.googleapis.com/calendar/v3/",
		RevokeURL: "https://oauth2.googleapis.com/revoke",
	},
	Scopes: Scopes,
	PKCE:   true,
	Policy: connectors.Policy{
		// Google allows 600 requests per minute per user per project; keep
		// 20% headroom for watch/stop calls made by other workers.
		Rate:              rate.Limit(8),
		Burst:             5,
		PollInterval:      5 * time.Minute,
		ReconcileInterval: 6 * time.Hour,
		MinPollInterval:   time.Minute,
		Token: connectors.TokenPolicy{
			Expires:             true, // expires_in 3599
			RotatesRefreshToken: false,
			RefreshBefore:       10 * time.Minute,
			// Google drops refresh tokens unused for six months.
			KeepAliveAfter: 30 * 24 * time.Hour,
		},
	},
	ConfigHelp: `{"calendars": ["primary", "team@group.calendar.google.com"]}: calendar ids to sync ` +
		`(default ["primary"], at most 50). "primary" is the connected user's own calendar.`,
	New: New,
}

func init() { connectors.MustRegister(Spec) }

// Connector implements the Google Calendar provider. Build it with New.
type Connector struct {
	cfg         connectors.Config
	pageSize    int64
	channelTTL  time.Duration
	userinfoURL string
}

// Compile-time checks of the capabilities the engine discovers.
var (
	_ connectors.Authorizer      = (*Connector)(nil)
	_ connectors.Revoker         = (*Connector)(nil)
	_ connectors.ConfigValidator = (*Connector)(nil)
	_ connectors.Syncer          = (*Connector)(nil)
	_ connectors.Router          = (*Connector)(nil)
	_ connectors.Watcher         = (*Connector)(nil)
	_ connectors.WebhookReceiver = (*Connector)(nil)
	_ connectors.Classifier      = (*Connector)(nil)
)

// New builds the connector. Missing client credentials are not an error (the
// provider is then listed as not configured); malformed settings
// (POBLYSH_GOOGLE_CALENDAR_PAGE_SIZE, _CHANNEL_TTL) are.
func New(cfg connectors.Config) (connectors.Connector, error) {
	c := &Connector{cfg: cfg, pageSize: DefaultPageSize, channelTTL: DefaultChannelTTL, userinfoURL: DefaultUserinfoURL}
	if v := strings.TrimSpace(cfg.Setting("PAGE_SIZE")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			return nil, fmt.Errorf("%w: PAGE_SIZE must be an integer from 1 to %d", connectors.ErrInvalidConfig, MaxPageSize)
		}
		c.pageSize = int64(n)
	}
	if v := strings.TrimSpace(cfg.Setting("CHANNEL_TTL")); v != "" {
		d, err := parseTTL(v)
		if err != nil {
			return nil, fmt.Errorf("%w: CHANNEL_TTL: %v", connectors.ErrInvalidConfig, err)
		}
		c.channelTTL = d
	}
	if v := strings.TrimSpace(cfg.Setting("USERINFO_URL")); v != "" {
		c.userinfoURL = v
	}
	return c, nil
}

// parseTTL reads seconds ("604800") or a Go duration ("168h"), at least a minute.
func parseTTL(v string) (time.Duration, error) {
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		d = time.Duration(secs) * time.Second
	} else if d, err = time.ParseDuration(v); err != nil {
		return 0, fmt.Errorf("must be seconds or a duration like 168h")
	}
	if d < time.Minute {
		return 0, fmt.Errorf("must be at least one minute")
	}
	return d, nil
}

// Spec returns the registered spec.
func (c *Connector) Spec() *connectors.Spec { return Spec }

// RouteKeys returns no static keys: deliveries are routed by watch channel
// ("channel:<id>"), which the engine learns from Watch.
func (c *Connector) RouteKeys(connectors.Connection) ([]string, error) { return nil, nil }
