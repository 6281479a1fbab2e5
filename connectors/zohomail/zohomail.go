// Package zohomail is the Zoho Mail connector: Zoho OAuth in the user's
// data centre (shared with Zoho Cliq in connectors/zoho), and polling of
// the Inbox and Sent folders with GET /api/accounts/{id}/messages/view,
// newest first, into email.received, email.sent, email.thread_started and
// (with the shared detector of connectors/press) email.press_thread. A
// mailbox's outgoing webhook, set up by hand, only nudges an immediate
// poll. docs/providers/zoho-mail.md explains the decisions taken here.
package zohomail

import (
	"fmt"
	"strconv"
	"time"

	"golang.org/x/time/rate"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/press"
	"github.com/poblysh/poblysh/connectors/zoho"
)

// Name is the provider name: path segment, Signal source, env prefix ZOHO_MAIL.
const Name = "zoho-mail"

// Settings read through connectors.Config.Setting (POBLYSH_ZOHO_MAIL_<suffix>,
// falling back to POBLYSH_ZOHO_<suffix>), besides those of connectors/zoho.
const (
	// SettingPageSize is the limit of messages/view calls (1–200, default 200).
	SettingPageSize = "PAGE_SIZE"
	// SettingOverlap is how far below the last pass's newest receivedTime
	// the next pass reads again (Go duration, default 10m): mail indexed
	// late is still found; ids already read are skipped.
	SettingOverlap = "OVERLAP"
	// SettingBackfillDays bounds the first read of a folder (default 30).
	SettingBackfillDays = "BACKFILL_DAYS"
	// SettingPace is the calls per minute per account (default 25, under
	// the 30 a minute reported for Zoho Mail).
	SettingPace = "PACE"
)

const (
	defaultPageSize = 200
	defaultOverlap  = 10 * time.Minute
	defaultBackfill = 30
	defaultPace     = 25
)

// scopes read the accounts (the account id), the folders (Inbox and Sent
// ids) and the messages (https://www.zoho.com/mail/help/api/ OAuth scopes).
var scopes = []string{"ZohoMail.accounts.READ", "ZohoMail.folders.READ", "ZohoMail.messages.READ"}

// Spec registers Zoho Mail.
var Spec = &connectors.Spec{
	RevokeUnusedGrant:   true,
	RevokeReplacedToken: true,
	Name:                Name,
	DisplayName:         "Zoho Mail",
	Description: "Inbound and outbound email, new threads and threads with journalists in a Zoho Mail mailbox, " +
		"in any Zoho data centre, by polling the Inbox and Sent folders.",
	Kinds: []string{"email.received", "email.sent", "email.thread_started", "email.press_thread"},
	// Polling is the source of every Signal. A mailbox's outgoing webhook
	// (configured by hand, incoming mail only) can nudge an immediate poll,
	// but is not a push source, so "webhook" is not advertised.
	Capabilities: []connectors.Capability{connectors.CapPoll, connectors.CapBackfill},
	EnvFallback:  "ZOHO",
	Defaults: connectors.Endpoints{
		AuthURL:   "https://accounts.zoho.com/oauth/v2/auth",
		TokenURL:  "https://accounts.zoho.com/oauth/v2/token",
		APIURL:    "https://mail.zoho.com/",
		RevokeURL: "https://accounts.zoho.com/oauth/v2/token/revoke",
	},
	Scopes: scopes,
	// PKCE binds a code to its connect; see zohocliq.
	PKCE: true,
	Policy: connectors.Policy{
		// Zoho publishes no Mail numbers; 30 requests a minute per user is
		// the figure reported, with a lock when exceeded. The connector
		// paces itself under it (PACE); this is the cap over everything.
		Rate:  rate.Limit(1),
		Burst: 10,
		// The freshness SLA of a polling provider is its interval; tenants
		// may shorten it per connection down to a minute.
		PollInterval:    5 * time.Minute,
		MinPollInterval: time.Minute,
		Token: connectors.TokenPolicy{
			// Refreshed only when a call needs a token; see zohocliq.
			Expires:       true,
			OnDemand:      true,
			RefreshBefore: time.Minute,
		},
	},
	ConfigHelp: `{"press": {"domains": ["nytimes.com"], "addresses": ["jane.doe@freelance.example"]}}: the tenant's own press ` +
		`contacts, on top of the curated media list, for email.press_thread. Empty or absent: the curated list only.`,
	ConfigFields: []connectors.ConfigField{
		{Name: "press", Type: "object `{domains, addresses}`", Description: "The tenant's own press contacts (`press.Config`): " +
			"domains (subdomains match too) and addresses, lowercased, deduplicated and sorted; an entry the detector would ignore, " +
			"a freemail domain, or a public suffix (`co.uk`, `*.com.au`), is refused."},
	},
	Settings: []connectors.Setting{
		{Suffix: "WEBHOOK_SECRET", Description: "keys the per-connection URL tokens of the optional outgoing-webhook nudge " +
			"(`webhook_url`); unset, there is no URL and every delivery is refused (the connection polls)"},
		{Suffix: "TOKEN_URL", Description: "code exchange for callbacks without `accounts-server` (clients without Multi-DC); otherwise " +
			"the exchange, refresh and revocation go to the accounts server the callback named"},
		{Suffix: "API_URL", Description: "not used: calls go to the Mail host of the account's data centre (`API_URLS`)"},
		{Suffix: "REVOKE_URL", Description: "not used: revocation goes to the account's own accounts server"},
		{Suffix: zoho.SettingClientSecretPrefix + "<DC>", Default: "`CLIENT_SECRET`", Description: "a data centre's own client secret " +
			"(`_EU`, `_IN`, `_AU`…) when the client's Multi-DC settings give each DC its own"},
		{Suffix: zoho.SettingAccountsServers, Default: "Zoho's list", Description: "allowlist of accounts servers a callback may name, " +
			"`us=https://accounts.zoho.com,eu=…` (the sandbox and tests only)"},
		{Suffix: zoho.SettingAPIURLs, Default: "Zoho's list", Own: true, Description: "Mail host per data centre, same form " +
			"(Cliq and Mail live on different hosts)"},
		{Suffix: SettingPageSize, Default: strconv.Itoa(defaultPageSize), Description: "`limit` of `messages/view` calls, 1–200 " +
			"(Zoho Cliq's stops at 100: a shared `POBLYSH_ZOHO_PAGE_SIZE` must be at most 100)"},
		{Suffix: SettingOverlap, Default: defaultOverlap.String(), Description: "how far below the last pass's newest `receivedTime` " +
			"a pass reads again (late-indexed mail; ids already read are skipped)"},
		{Suffix: SettingBackfillDays, Default: strconv.Itoa(defaultBackfill), Description: "how far back a folder's first read goes"},
		{Suffix: SettingPace, Default: strconv.Itoa(defaultPace), Own: true, Description: "calls per minute per account (30 a minute is the " +
			"figure reported for Zoho Mail; Zoho Cliq's `PACE` is one figure per API)"},
	},
	New: New,
}

func init() { connectors.MustRegister(Spec) }

// Connector is the Zoho Mail connector. It embeds the shared Zoho OAuth.
type Connector struct {
	*zoho.Auth
	cfg       connectors.Config
	pageSize  int
	overlap   time.Duration
	backfill  time.Duration
	perMinute int
	pacer     *zoho.Pacer
	press     *press.Detector
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
	_ connectors.Classifier      = (*Connector)(nil)
	_ connectors.WebhookURLer    = (*Connector)(nil)
	_ connectors.PacerUser       = (*Connector)(nil)
)

// UsePacer implements connectors.PacerUser: the per-user thresholds of
// the Mail API are then paced across every process of the service.
func (c *Connector) UsePacer(p connectors.Pacer) { c.pacer.Use(p) }

// New builds the connector.
func New(cfg connectors.Config) (connectors.Connector, error) {
	auth, err := zoho.NewAuth(Name, cfg, scopes, zoho.DefaultMailHosts)
	if err != nil {
		return nil, err
	}
	c := &Connector{Auth: auth, cfg: cfg, pageSize: defaultPageSize, overlap: defaultOverlap,
		backfill: defaultBackfill * 24 * time.Hour, perMinute: defaultPace, pacer: zoho.NewPacer("zoho-mail:"), press: press.New()}
	if v := cfg.Setting(SettingPace); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("zoho-mail: %s must be a positive number of calls per minute", cfg.SettingVar(SettingPace))
		}
		c.perMinute = n
	}
	if v := cfg.Setting(SettingPageSize); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			return nil, fmt.Errorf("zoho-mail: %s must be an integer from 1 to 200", cfg.SettingVar(SettingPageSize))
		}
		c.pageSize = n
	}
	if v := cfg.Setting(SettingOverlap); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("zoho-mail: %s must be a Go duration such as 10m", cfg.SettingVar(SettingOverlap))
		}
		c.overlap = d
	}
	if v := cfg.Setting(SettingBackfillDays); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 36500 {
			return nil, fmt.Errorf("zoho-mail: %s must be a number of days from 1 to 36500", cfg.SettingVar(SettingBackfillDays))
		}
		c.backfill = time.Duration(n) * 24 * time.Hour
	}
	return c, nil
}

// Spec implements connectors.Connector.
func (c *Connector) Spec() *connectors.Spec { return Spec }
