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
	// SettingNameTTL is how long a resolved user or channel name is used
	// before a sync looks it up again (a Go duration, default 6h).
	SettingNameTTL = "NAME_TTL"
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
	// history, list the bot's channels and read their names, receive
	// reactions and read users' display names.
	Scopes: []string{"channels:history", "groups:history", "channels:read", "groups:read", "reactions:read", "users:read"},
	// Slack supports PKCE since 2026-03, but turning it on makes the app a
	// public client for good and caps refresh tokens at 30 days; a
	// server-side confidential client gains nothing from it.
	PKCE: false,
	// A workspace (or Grid org) has one bot for the app and one stream of
	// events: connections of two tenants to it would share both.
	ExclusiveAccount: true,
	// message_deleted (and a thread parent's tombstone) retracts the
	// message's Signal (webhook.go).
	Retracts: true,
	Policy: connectors.Policy{
		// Tier 3 methods (conversations.history/replies/list) allow ~50
		// requests per minute per workspace and app, with short bursts: the
		// engine's per-process ceiling. Each method's tier budget, shared by
		// every process, is booked in pace.go.
		Rate:              rate.Limit(50.0 / 60.0),
		Burst:             5,
		PollInterval:      15 * time.Minute,
		ReconcileInterval: 6 * time.Hour,
		MinPollInterval:   5 * time.Minute,
		Token: connectors.TokenPolicy{
			// Only apps with token rotation get expiring tokens (12 h, with
			// rotating xoxe-1- refresh tokens). Without rotation Slack sends
			// no expires_in, the token has no expiry and is never refreshed.
			// Refreshed when a call needs a token, not ahead by the sweep.
			Expires:             true,
			OnDemand:            true,
			RotatesRefreshToken: true,
			RefreshBefore:       time.Hour,
		},
	},
	ConfigHelp: `{"channels": ["C0123ABCD", ...]}: channel ids to sync (public or private); the bot must be a member of each ` +
		`(checked with users.conversations at connect and on every change). ` +
		`Empty or absent: every channel the bot is a member of, listed with users.conversations on each sync. ` +
		`Optional "thread_lookback" ("7d" by default, "0" off): how far back incremental syncs look for older threads with new replies.`,
	ConfigFields: []connectors.ConfigField{{
		Name: "channels", Type: "array of strings",
		Description: "Channel ids (`C…`, legacy `G…`), not `#names`; trimmed, deduplicated and sorted. The bot must be a member of each " +
			"(checked at connect and on every change). Empty or absent: every channel the bot is a member of. " +
			"A legacy `G…` channel shared through Slack Connect gets a new `C…` id: the service then puts it in place of the old one.",
	}, {
		Name: "thread_lookback", Type: "string",
		Description: "How far back an incremental sync looks for threads that got new replies: whole days (`7d`) or a duration (`36h`), " +
			"up to `90d`; `0` turns it off. Default `7d`. A reply to a thread older than the last sync is otherwise seen only by event.",
	}},
	Settings: []connectors.Setting{
		{Suffix: "WEBHOOK_SECRET", Description: "the app's Signing Secret: verifies Events API deliveries; unset, every delivery is rejected"},
		{Suffix: "API_URL", Description: "Web API root"},
		{Suffix: SettingPageSize, Default: strconv.Itoa(defaultPageSize), Description: "`limit` of conversations.history and replies calls, 1–999"},
		{Suffix: SettingBackfillDays, Default: "— (whole history)", Description: "bound a channel's first backfill to the messages and thread " +
			"parents of the last N days: a reply posted within them to an older thread is not read"},
		{Suffix: SettingNonMarketplace, Default: "false", Description: "`true` for apps distributed outside the Slack Marketplace: " +
			"history and replies at 1 request per minute per workspace, at most 15 messages each"},
		{Suffix: SettingNameTTL, Default: "6h", Description: "how long a user's display name (users.info) or a channel's name " +
			"(conversations.info) is used before a sync looks it up again; cached per account in each process"},
	},
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

	mu sync.Mutex
	// pacer books the workspace budgets of method tiers (pace.go): in
	// this process until the service hands it Postgres's (UsePacer).
	pacer connectors.Pacer

	// names caches user and channel names per account (names.go).
	names *nameCache
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
	_ connectors.AccessProver    = (*Connector)(nil)
	_ connectors.ResourceStreams = (*Connector)(nil)
	_ connectors.Classifier      = (*Connector)(nil)
	_ connectors.ResourceMover   = (*Connector)(nil)
)

// New builds the connector. Missing client credentials are fine (the
// provider is then listed as not configured); malformed settings are not.
func New(cfg connectors.Config) (connectors.Connector, error) {
	c := &Connector{cfg: cfg, pageSize: defaultPageSize, slowEvery: time.Minute, pacer: newLocalPacer(), names: newNameCache(defaultNameTTL)}
	if v := cfg.Setting(SettingNameTTL); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("slack: POBLYSH_SLACK_%s must be a positive duration such as 6h, got %q", SettingNameTTL, v)
		}
		c.names = newNameCache(d)
	}
	if v := cfg.Setting(SettingPageSize); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			return nil, fmt.Errorf("slack: POBLYSH_SLACK_%s must be an integer from 1 to %d", SettingPageSize, maxPageSize)
		}
		c.pageSize = n
	}
	if v := cfg.Setting(SettingBackfillDays); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 36500 {
			// Bounded: a larger count wraps the backfill window around.
			return nil, fmt.Errorf("slack: POBLYSH_SLACK_%s must be a number of days from 1 to 36500", SettingBackfillDays)
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
