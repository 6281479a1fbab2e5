// Package zohocliq is the Zoho Cliq connector: Zoho OAuth in the user's
// data centre (shared with Zoho Mail in connectors/zoho), channel messages
// and their reactions read with GET /api/v2/chats/{chat}/messages in time
// windows, the user's mentions with GET /api/v3/mentions, and live
// messages and mentions from a webhook-type bot's handlers (participation
// handler with listen_message, mention handler), verified with
// X-Cliq-Signature and the connection's URL token.
// docs/providers/zoho-cliq.md explains the decisions taken here.
package zohocliq

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/zoho"
)

// Name is the provider name: path segment, Signal source, env prefix ZOHO_CLIQ.
const Name = "zoho-cliq"

// Settings read through connectors.Config.Setting (POBLYSH_ZOHO_CLIQ_<suffix>,
// falling back to POBLYSH_ZOHO_<suffix>), besides those of connectors/zoho.
const (
	// SettingPublicKey is the bot's (extension's) RSA public key, PEM or
	// bare base64; several may be given (one PEM block each).
	SettingPublicKey = "PUBLIC_KEY"
	// SettingLockPeriod is how long an API stays locked after a throttled
	// answer (Go duration, default 10m: Cliq's lock for messages and mentions).
	SettingLockPeriod = "LOCK_PERIOD"
	// SettingPageSize is the limit of messages and mentions calls (1–100, default 100).
	SettingPageSize = "PAGE_SIZE"
	// SettingBackfillDays bounds the first read of a channel (default 30).
	SettingBackfillDays = "BACKFILL_DAYS"
	// SettingReactionWindow is how far back each incremental pass re-reads
	// messages for new reactions (Go duration, default 24h).
	SettingReactionWindow = "REACTION_WINDOW"
	// SettingPace overrides the calls per minute per account of each API
	// ("messages=14,mentions=28,channels=18,users=18", the default: one
	// under each of Cliq's thresholds per minute per user).
	SettingPace = "PACE"
)

const (
	defaultPageSize  = 100
	defaultBackfill  = 30
	defaultLock      = 10 * time.Minute
	defaultReactions = 24 * time.Hour
)

// defaultPace is the calls per minute each API is paced at: one under its
// threshold per minute per user (Cliq REST docs: get messages 15, mentions
// 30; chats and channel listings 20).
var defaultPace = map[string]int{apiMessages: 14, apiMentions: 28, apiChannels: 18, apiUsers: 18}

// scopes are the narrowest that list the user's channels, read messages,
// read mentions (Chats.READ), look up the user's organisation, and read the
// user's id (Zoho Accounts user/info).
var scopes = []string{"ZohoCliq.Channels.READ", "ZohoCliq.Messages.READ", "ZohoCliq.Chats.READ", "ZohoCliq.Users.READ",
	"AaaServer.profile.READ"}

// Spec registers Zoho Cliq.
var Spec = &connectors.Spec{
	RevokeUnusedGrant:   true,
	RevokeReplacedToken: true,
	Name:                Name,
	DisplayName:         "Zoho Cliq",
	Description: "Messages, reactions and mentions in the Zoho Cliq channels a user selects, in any Zoho data centre, " +
		"through the Cliq REST API and a webhook bot.",
	Kinds:        []string{"message.posted", "reaction.added", "mention.created"},
	Capabilities: []connectors.Capability{connectors.CapWebhook, connectors.CapPoll, connectors.CapBackfill},
	EnvFallback:  "ZOHO",
	Defaults: connectors.Endpoints{
		AuthURL:   "https://accounts.zoho.com/oauth/v2/auth",
		TokenURL:  "https://accounts.zoho.com/oauth/v2/token",
		APIURL:    "https://cliq.zoho.com/",
		RevokeURL: "https://accounts.zoho.com/oauth/v2/token/revoke",
	},
	Scopes: scopes,
	// Zoho offers PKCE to server-based clients too and recommends it
	// (https://www.zoho.com/accounts/protocol/oauth/web-server-applications.html):
	// it binds a code to the connect that asked for it, so a code leaked
	// from a refused callback cannot be redeemed under another state.
	PKCE: true,
	// A connection is one Cliq user's grant: several tenants may connect
	// users of one organisation. Each connection's bot URL carries its own
	// token and routes to it alone, so nothing an organisation's bot
	// delivers is shared between tenants.
	ExclusiveAccount: false,
	Policy: connectors.Policy{
		// Every Cliq API has its own threshold per minute and user, and is
		// paced under it by the connector (PACE); this is the cap over all.
		Rate:            rate.Limit(1),
		Burst:           10,
		PollInterval:    5 * time.Minute,
		MinPollInterval: 2 * time.Minute,
		Token: connectors.TokenPolicy{
			// Access tokens last an hour, but a connection refreshes only
			// when a call needs a token (SyncPage and access proofs refresh
			// a token within a minute of expiry, and on 401): an idle
			// connection spends none of Zoho's 10 access tokens per 10
			// minutes per refresh token. Refresh tokens never expire and are
			// not rotated, so the sweeper has nothing to keep alive.
			Expires:       true,
			OnDemand:      true,
			RefreshBefore: time.Minute,
		},
	},
	ConfigHelp: `{"channels": ["CT_1207124540483314854_20071845", "launchroom", ...], "track_mentions": true}: channels by chat id ` +
		`or unique name; the connected user must be a member of each (checked at connect and on every change). ` +
		`track_mentions (default true) reads the user's mentions in every chat.`,
	ConfigFields: []connectors.ConfigField{
		{Name: "channels", Type: "array of strings", Description: "Channels by chat id (`CT_<digits>_<digits>`) or unique name " +
			"(a leading `#` is dropped, names are lowercased); at most 50, deduplicated and sorted. The connected user must be a member of each " +
			"(checked with the channel listing at connect and on every change)."},
		{Name: "track_mentions", Type: "boolean", Description: "Read the user's mentions in every chat (`GET /api/v3/mentions`); " +
			"default `true`. A config with no channel and no mentions is refused."},
	},
	Settings: []connectors.Setting{
		{Suffix: "WEBHOOK_SECRET", Description: "keys the per-connection bot URL tokens (`webhook_url`, HMAC of tenant, user and " +
			"organisation); unset, no connection has a bot URL and every bot call is refused (connections still poll). Rotating it changes every bot URL"},
		{Suffix: "TOKEN_URL", Description: "code exchange for callbacks without `accounts-server` (clients without Multi-DC); otherwise " +
			"the exchange, refresh and revocation go to the accounts server the callback named"},
		{Suffix: "API_URL", Description: "not used: calls go to the Cliq host of the account's data centre (`API_URLS`)"},
		{Suffix: "REVOKE_URL", Description: "not used: revocation goes to the account's own accounts server"},
		{Suffix: SettingPublicKey, Description: "the bot's (extension's) RSA public key verifying `X-Cliq-Signature`: PEM, or the bare " +
			"base64 Cliq shows; several PEM blocks for several bots. Unset, every bot call is refused"},
		{Suffix: zoho.SettingClientSecretPrefix + "<DC>", Default: "`CLIENT_SECRET`", Description: "a data centre's own client secret " +
			"(`_EU`, `_IN`, `_AU`…) when the client's Multi-DC settings give each DC its own"},
		{Suffix: zoho.SettingAccountsServers, Default: "Zoho's list", Description: "allowlist of accounts servers a callback may name, " +
			"`us=https://accounts.zoho.com,eu=…` (the sandbox and tests only)"},
		{Suffix: zoho.SettingAPIURLs, Default: "Zoho's list", Own: true, Description: "Cliq host per data centre, same form " +
			"(Cliq and Mail live on different hosts)"},
		{Suffix: SettingPageSize, Default: strconv.Itoa(defaultPageSize), Description: "`limit` of messages and mentions calls, 1–100 " +
			"(Zoho Mail's goes to 200: a shared `POBLYSH_ZOHO_PAGE_SIZE` above 100 is refused here)"},
		{Suffix: SettingBackfillDays, Default: strconv.Itoa(defaultBackfill), Description: "how far back a channel's first read goes " +
			"(mentions: at most 30 days, what Cliq keeps)"},
		{Suffix: SettingReactionWindow, Default: defaultReactions.String(), Description: "how far back each poll re-reads messages for new reactions"},
		{Suffix: SettingLockPeriod, Default: defaultLock.String(), Description: "how long an API is left alone after a throttled answer " +
			"without `Retry-After` (Cliq's lock for messages and mentions)"},
		{Suffix: SettingPace, Default: "`messages=14,mentions=28,channels=18,users=18`", Own: true, Description: "calls per minute per user and API, " +
			"one under each of Cliq's thresholds (Zoho Mail's `PACE` is one number)"},
	},
	New: New,
}

func init() { connectors.MustRegister(Spec) }

// Connector is the Zoho Cliq connector. It embeds the shared Zoho OAuth.
type Connector struct {
	*zoho.Auth
	cfg            connectors.Config
	keys           []publicKey
	lock           time.Duration
	pageSize       int
	backfill       time.Duration
	reactionWindow time.Duration
	perMinute      map[string]int
	pacer          *zoho.Pacer
}

// Compile-time checks of the capabilities the connector offers.
var (
	_ connectors.Authorizer      = (*Connector)(nil)
	_ connectors.Exchanger       = (*Connector)(nil)
	_ connectors.Refresher       = (*Connector)(nil)
	_ connectors.Revoker         = (*Connector)(nil)
	_ connectors.Authenticator   = (*Connector)(nil)
	_ connectors.ConfigValidator = (*Connector)(nil)
	_ connectors.Syncer          = (*Connector)(nil)
	_ connectors.WebhookReceiver = (*Connector)(nil)
	_ connectors.Router          = (*Connector)(nil)
	_ connectors.AccessProver    = (*Connector)(nil)
	_ connectors.ResourceStreams = (*Connector)(nil)
	_ connectors.Classifier      = (*Connector)(nil)
	_ connectors.WebhookURLer    = (*Connector)(nil)
	_ connectors.PacerUser       = (*Connector)(nil)
)

// UsePacer implements connectors.PacerUser: the per-user thresholds of
// the Cliq API are then paced across every process of the service.
func (c *Connector) UsePacer(p connectors.Pacer) { c.pacer.Use(p) }

// New builds the connector. Missing credentials are fine (the provider is
// listed as not configured); malformed settings are not.
func New(cfg connectors.Config) (connectors.Connector, error) {
	auth, err := zoho.NewAuth(Name, cfg, scopes, zoho.DefaultCliqHosts)
	if err != nil {
		return nil, err
	}
	c := &Connector{Auth: auth, cfg: cfg, lock: defaultLock, pageSize: defaultPageSize, backfill: defaultBackfill * 24 * time.Hour,
		reactionWindow: defaultReactions, perMinute: map[string]int{}, pacer: zoho.NewPacer("zoho-cliq:")}
	for k, v := range defaultPace {
		c.perMinute[k] = v
	}
	if c.keys, err = parsePublicKeys(cfg.Setting(SettingPublicKey)); err != nil {
		return nil, fmt.Errorf("zoho-cliq: %s: %w", cfg.SettingVar(SettingPublicKey), err)
	}
	if c.lock, err = durationSetting(cfg, SettingLockPeriod, defaultLock); err != nil {
		return nil, err
	}
	if c.reactionWindow, err = durationSetting(cfg, SettingReactionWindow, defaultReactions); err != nil {
		return nil, err
	}
	if v := cfg.Setting(SettingPageSize); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return nil, fmt.Errorf("zoho-cliq: %s must be an integer from 1 to 100", cfg.SettingVar(SettingPageSize))
		}
		c.pageSize = n
	}
	if err := parsePace(cfg.SettingVar(SettingPace), cfg.Setting(SettingPace), c.perMinute); err != nil {
		return nil, err
	}
	if v := cfg.Setting(SettingBackfillDays); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 36500 {
			// Bounded: a larger count wraps the backfill window around.
			return nil, fmt.Errorf("zoho-cliq: %s must be a number of days from 1 to 36500", cfg.SettingVar(SettingBackfillDays))
		}
		c.backfill = time.Duration(n) * 24 * time.Hour
	}
	return c, nil
}

func durationSetting(cfg connectors.Config, suffix string, def time.Duration) (time.Duration, error) {
	v := cfg.Setting(suffix)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("zoho-cliq: %s must be a positive Go duration such as 10m", cfg.SettingVar(suffix))
	}
	return d, nil
}

// Spec implements connectors.Connector.
func (c *Connector) Spec() *connectors.Spec { return Spec }

// parsePace reads "messages=14,mentions=28", the value of the variable
// name, into into.
func parsePace(name, v string, into map[string]int) error {
	for _, part := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		api, n, ok := strings.Cut(part, "=")
		per, err := strconv.Atoi(n)
		if _, known := defaultPace[api]; !ok || !known || err != nil || per < 1 {
			return fmt.Errorf("zoho-cliq: %s: %q must be <api>=<calls per minute> with api one of messages, mentions, channels, users",
				name, part)
		}
		into[api] = per
	}
	return nil
}

// pace returns the limiter of one API for one account.
func (c *Connector) pace(account, api string) *rate.Limiter {
	return c.pacer.Limiter(account+"|"+api, c.perMinute[api])
}
