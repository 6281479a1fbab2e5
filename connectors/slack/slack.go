// Package slack is the Slack connector: OAuth v2 bot installs (with optional
// token rotation), channel history backfill and incremental sync through
// the Web API, and Events API webhooks. Messages become message.posted
// Signals and reactions reaction.added. docs/providers/slack.md explains
// the decisions taken here.
package slack

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/poblysh/poblysh/connectors"
)

// Name is the provider name: path segment, Signal source, env prefix SLACK.
const Name = "slack"

// Settings read through connectors.Config.Setting (POBLYSH_SLACK_<suffix>).
const (
	// SettingPageSize is the conversations.history/replies limit (default 200).
	SettingPageSize = "PAGE_SIZE"
	// SettingBackfillDays bounds the first backfill to this many days.
	SettingBackfillDays = "BACKFILL_DAYS"
	// SettingNonMarketplace ("true") applies the limit Slack imposes on
	// commercially distributed apps not in the Marketplace: history and
	// replies at 1 request per minute with at most 15 messages.
	SettingNonMarketplace = "NON_MARKETPLACE"
)

const (
	defaultPageSize        = 200
	maxPageSize            = 999
	nonMarketplacePageSize = 15
)

// Spec registers Slack.
var Spec = &connectors.Spec{
	Name:        Name,
	DisplayName: "Slack",
	Description: "Messages and reactions in the Slack channels a workspace selects, through a bot install, the Events API and channel history.",
	Kinds:       []string{"message.posted", "reaction.added"},
	Capabilities: []connectors.Capability{
		connectors.CapWebhook, connectors.CapPoll, connectors.CapBackfill,
	},
	Defaults: connectors.Endpoints{
		AuthURL:   "https://slack.com/oauth/v2/authorize",
		TokenURL:  "https://slack.com/api/oauth.v2.access",
		APIURL:    "https://slack.com/api/",
		RevokeURL: "https://slack.com/api/auth.revoke",
	},
	// Bot scopes, the narrowest that read public and private channel
	// history, list the bot's channels, receive reactions and (reserved for
	// display names) read users.
	Scopes: []string{"channels:history", "groups:history", "channels:read", "groups:read", "reactions:read", "users:read"},
	// Slack supports PKCE since 2026-03, but turning it on makes the app a
	// public client for good and caps refresh tokens at 30 days; a
	// server-side confidential client gains nothing from it.
	PKCE: false,
	Policy: connectors.Policy{
		// Tier 3 methods (conversations.history/replies/list) allow ~50
		// requests per minute per workspace and app, with short bursts.
		Rate:              rate.Limit(50.0 / 60.0),
		Burst:             5,
		PollInterval:      15 * time.Minute,
		ReconcileInterval: 6 * time.Hour,
		MinPollInterval:   5 * time.Minute,
		Token: connectors.TokenPolicy{
			// Only apps with token rotation get expiring tokens (12 h, with
			// rotating xoxe-1- refresh tokens). Without rotation Slack sends
			// no expires_in, the token has no expiry and is never refreshed.
			Expires:             true,
			RotatesRefreshToken: true,
			RefreshBefore:       time.Hour,
		},
	},
	ConfigHelp: `{"channels": ["C0123ABCD", ...]}: channel ids to sync (public or private; the bot must be invited). ` +
		`Empty or absent: every channel the bot is a member of, discovered with conversations.list on each sync.`,
	New: New,
}

func init() { connectors.MustRegister(Spec) }

// Connector is the Slack connector. One instance serves the whole process,
// so its per-workspace limiters are shared by every caller.
type Connector struct {
	cfg            connectors.Config
	pageSize       int
	backfillDays   int
	nonMarketplace bool
	// slowEvery paces conversations.history/replies per workspace when
	// nonMarketplace is set (1 request per minute).
	slowEvery time.Duration

	mu   sync.Mutex
	slow map[string]*rate.Limiter
}

// Compile-time checks of the capabilities the connector offers.
var (
	_ connectors.Authorizer      = (*Connector)(nil)
	_ connectors.Exchanger       = (*Connector)(nil)
	_ connectors.Refresher       = (*Connector)(nil)
	_ connectors.Revoker         = (*Connector)(nil)
	_ connectors.ConfigValidator = (*Connector)(nil)
	_ connectors.Syncer          = (*Connector)(nil)
	_ connectors.WebhookReceiver = (*Connector)(nil)
	_ connectors.Router          = (*Connector)(nil)
	_ connectors.SignalFilter    = (*Connector)(nil)
	_ connectors.Classifier      = (*Connector)(nil)
)

// New builds the connector. Missing client credentials are fine (the
// provider is then listed as not configured); malformed settings are not.
func New(cfg connectors.Config) (connectors.Connector, error) {
	c := &Connector{cfg: cfg, pageSize: defaultPageSize, slowEvery: time.Minute, slow: map[string]*rate.Limiter{}}
	if v := cfg.Setting(SettingPageSize); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			return nil, fmt.Errorf("slack: POBLYSH_SLACK_%s must be an integer from 1 to %d", SettingPageSize, maxPageSize)
		}
		c.pageSize = n
	}
	if v := cfg.Setting(SettingBackfillDays); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("slack: POBLYSH_SLACK_%s must be a positive number of days", SettingBackfillDays)
		}
		c.backfillDays = n
	}
	switch v := cfg.Setting(SettingNonMarketplace); v {
	case "", "false", "0":
	case "true", "1":
		c.nonMarketplace = true
		c.pageSize = min(c.pageSize, nonMarketplacePageSize)
	default:
		return nil, fmt.Errorf("slack: POBLYSH_SLACK_%s must be true or false, got %q", SettingNonMarketplace, v)
	}
	return c, nil
}

// Spec implements connectors.Connector.
func (c *Connector) Spec() *connectors.Spec { return Spec }

// slowLimiter returns the workspace's limiter for history and replies
// calls, or nil when the non-Marketplace limit does not apply.
func (c *Connector) slowLimiter(team string) *rate.Limiter {
	if !c.nonMarketplace {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.slow[team]
	if !ok {
		l = rate.NewLimiter(rate.Every(c.slowEvery), 1)
		c.slow[team] = l
	}
	return l
}
