package connectors

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"time"

	"golang.org/x/oauth2"
)

// Connector is the core every provider implements. Everything else is an
// optional capability discovered with a type assertion, the way database/sql
// discovers driver features.
type Connector interface {
	// Spec returns the provider's registered spec.
	Spec() *Spec
}

// Connection is what a connector sees of a stored connection. It never
// carries tokens: authorized calls go through the *http.Client the engine
// hands over.
type Connection struct {
	ID       string
	TenantID string
	Account  Account
	// Config is the provider config as validated by ConfigValidator.
	Config json.RawMessage
}

// Account identifies the external account a connection is bound to.
type Account struct {
	// ID is the provider's stable id for the account (Slack team id, GitHub
	// user id, Google OpenID subject, Atlassian cloud id): never something
	// the user can change or the provider can reassign, like an email.
	// Re-connecting the same ID updates the existing connection.
	ID string `json:"id"`
	// Name is a display name.
	Name string `json:"name"`
	// Metadata is non-secret provider data needed later (API domain, data
	// centre, bot user id...).
	Metadata map[string]string `json:"metadata,omitempty"`
}

// ConfigValidator checks and normalizes a connection's provider config
// (channels, repos, calendars). It returns a *ConfigError for bad input.
type ConfigValidator interface {
	ValidateConfig(raw json.RawMessage) (json.RawMessage, error)
}

// Authorizer is the OAuth capability.
type Authorizer interface {
	// OAuth2Config returns the client config for the given redirect URL.
	OAuth2Config(redirectURL string) *oauth2.Config
	// AuthCodeOptions are extra authorize parameters (access_type=offline,
	// prompt=consent, user_scope...).
	AuthCodeOptions() []oauth2.AuthCodeOption
	// Identify reads the account the token belongs to. client is authorized
	// with tok and paced like every other call.
	Identify(ctx context.Context, tok *oauth2.Token, client *http.Client) (Account, error)
}

// ScopeChecker is implemented by connectors whose provider lets the user
// grant fewer scopes than were asked (Google's granular consent), so the
// grant must be checked before a connection is created.
type ScopeChecker interface {
	// MissingScopes names the scopes the connector needs that granted (the
	// token response's scopes) lacks; empty when the grant is enough.
	MissingScopes(granted []string) []string
}

// ExchangeRequest is a code exchange after the provider redirected back.
type ExchangeRequest struct {
	Code        string
	Verifier    string // PKCE verifier, "" when not used
	RedirectURL string
	// Callback holds every query parameter of the callback (Zoho sends
	// accounts-server and location there).
	Callback url.Values
}

// Exchanger overrides the standard oauth2 code exchange for providers with
// quirks (Slack answers HTTP 200 with ok:false; Zoho has per-DC token URLs).
type Exchanger interface {
	Exchange(ctx context.Context, req ExchangeRequest) (*oauth2.Token, error)
}

// Refresher overrides the standard refresh grant. account is the stored
// account (for per-DC token URLs).
type Refresher interface {
	Refresh(ctx context.Context, account Account, refreshToken string) (*oauth2.Token, error)
}

// Revoker revokes a token at the provider when a connection is deleted,
// when a reconnect replaced it (Spec.RevokeReplacedToken) and when a
// connect failed after the code exchange (Spec.RevokeUnusedGrant). In the
// last case account is what Identify answered, empty when the identity
// lookup itself failed, and tok is Exchange's answer with its extras.
type Revoker interface {
	Revoke(ctx context.Context, account Account, tok *oauth2.Token) error
}

// Authenticator sets the Authorization header for API calls when the
// provider does not use "Bearer" (Zoho: "Zoho-oauthtoken").
type Authenticator interface {
	AuthorizationHeader(accessToken string) string
}

// Syncer is the backfill/incremental capability: named streams per
// connection, each read page by page from an opaque cursor.
type Syncer interface {
	// Streams lists the streams of a connection ("pulls:octo/hello",
	// "history:C123", "events:primary"). Stream names are stable.
	Streams(conn Connection) ([]string, error)
	// FetchPage reads one page of a stream from req.Cursor (nil: start of
	// history) and returns its Signals and the cursor to store with them.
	FetchPage(ctx context.Context, req PageRequest) (*Page, error)
}

// PageRequest asks for one page of a stream.
type PageRequest struct {
	Connection Connection
	Stream     string
	// Cursor is the stored cursor, nil at the start of a backfill.
	Cursor json.RawMessage
	// HTTP is authorized, rate limited and classifies provider errors.
	HTTP *http.Client
	// Now is the engine's clock.
	Now time.Time
	// Memory is what earlier pages of the connection left behind
	// (fingerprints, stored Signals); nil when nothing is remembered.
	Memory Memory
	// Resource is the stream's resource as the connection last proved it
	// (Ref, ID, Name; granted or since lost), nil when it holds no proof
	// of it (or the connector has no ResourceStreams). A stream that
	// follows its resource by ID reads this one, not whatever the ref's
	// name answers now.
	Resource *Resource
}

// Page is one page of a stream.
type Page struct {
	// Signals normalized from the page's items.
	Signals []Signal
	// Items is how many provider objects the page held (for progress).
	Items int
	// Next is the cursor to store in the same transaction as Signals. When
	// Done it is the resting cursor the next incremental sync starts from.
	Next json.RawMessage
	// Done is true when the stream has no more pages for now.
	Done bool
	// Fingerprints to remember, stored in the same transaction as Signals
	// and Next (a key already stored is replaced).
	Fingerprints map[string]Fingerprint
	// Resource, when set, is the resource the stream read as the provider
	// names it now (Ref as the config names it; ID, Name and RouteKeys as
	// read). The engine records a changed name (a renamed or transferred
	// repository, same ID) for a resource the connection already holds,
	// never another ID under the ref: that is another resource.
	Resource *Resource
	// Account, when set, is the connection's account as the provider
	// names it now: the same ID, another Name or Metadata (a Jira site
	// whose URL an admin renamed, read by its cloud id). The engine stores
	// it before the page, over the account it read (one stored since, by
	// a re-authorization, is kept), and starts a watch pass: channels'
	// route keys may name the account (ChannelRekeyer).
	Account *Account
	// Moved, when set, is the ref the stream's resource has now, for good,
	// the old one being unknown to the provider (a Slack legacy private
	// channel shared through Slack Connect gets a new id): the page
	// carries nothing else, and the engine moves the connection to it
	// (ResourceMover) once the connection's own token proves it can read
	// it.
	Moved string
}

// WebhookRequest is an inbound delivery: raw body (read once, size-limited)
// and headers. Nothing has been parsed.
type WebhookRequest struct {
	Header http.Header
	Body   []byte
	Query  url.Values
	Now    time.Time
	// ChannelSecret is the signing secret of the channel the delivery names
	// (ChannelKeyed providers), loaded by the engine before VerifyWebhook;
	// "" when the delivery names no channel the service registered.
	ChannelSecret string
}

// ChannelKeyed is implemented by providers whose channels sign deliveries
// with a secret of their own (GitHub repository hooks, each created with a
// random secret). DeliveryChannel names, from the headers alone, the
// channel a delivery claims to come from; the engine loads that channel's
// secret into WebhookRequest.ChannelSecret before VerifyWebhook, and routes
// a delivery verified that way to that channel's connection only.
type ChannelKeyed interface {
	DeliveryChannel(req *WebhookRequest) (channelID string, ok bool)
}

// SecretBound is implemented by Watchers whose channels carry a token
// derived from the provider's webhook secret when they are made (Google
// Calendar and Drive: X-Goog-Channel-Token, which Google echoes on every
// notification), so that a channel made under one secret is refused once
// another is set (unless it is still accepted as retired). The engine
// stores the SecretID a channel was made under and takes a channel under
// any other for stale: the renewal sweep lists its connection (db
// WatchesDue) and the watch pass replaces it, as it does a channel near
// its expiry. Without a secret (SecretID "") every channel is stale: none
// verifies, and the pass, which cannot watch, stops them and polls.
type SecretBound interface {
	// SecretID names the webhook secret channels are made under now: a
	// short fingerprint, stable for a secret, that does not reveal it;
	// "" when no secret is set.
	SecretID() string
}

// WebhookReceiver is the webhook capability.
type WebhookReceiver interface {
	// VerifyWebhook authenticates a delivery from headers and raw body alone,
	// before anything is parsed, in constant time. It must fail closed
	// (ErrUnauthorized) when no secret is configured.
	VerifyWebhook(req *WebhookRequest) error
	// ParseWebhook turns a verified delivery into what the engine stores.
	ParseWebhook(req *WebhookRequest) (*WebhookDelivery, error)
}

// WebhookDelivery is a parsed, verified delivery.
type WebhookDelivery struct {
	// DeliveryID is the provider's idempotency key (X-GitHub-Hook-ID +
	// X-GitHub-Delivery, Slack event_id, channel id + message number...).
	// Unique per provider and per delivery to one of the service's
	// registrations (hook, channel, subscription): an id the provider
	// shares between the deliveries of one event to several registrations
	// (GitHub's GUID) is scoped by the registration, or all but the first
	// are recorded as duplicates and their Signals lost.
	DeliveryID string
	// Event is the provider's event name, for the intake log.
	Event string
	// Reply, when set, is answered at once and nothing is stored
	// (Slack url_verification).
	Reply *WebhookReply
	// RouteKeys find the connection(s) the delivery belongs to; they match the
	// keys a connection advertises through Router or its watch Channels.
	RouteKeys []string
	// Signals carried by the payload. Empty with Notify false: ignored event.
	Signals []Signal
	// Notify is true for "something changed" pushes: the engine triggers a
	// coalesced incremental sync of the routed connection (and stream).
	Notify bool
	// Retract names, by dedupe key, Signals the provider says are gone (a
	// deleted Slack message): the engine marks those the routed
	// connections' tenants stored retracted (payload.attributes.retracted
	// = true), which hides them from the feed unless asked for.
	Retract []string
	// ChannelGone says the channel the delivery came from no longer
	// exists at the provider (GitHub's meta deleted, which a repository
	// hook sends when it is deleted, signed with its own secret): the
	// engine marks that channel (ChannelKeyed: the one whose secret
	// verified the delivery; no other) due for its connection's watch pass
	// and starts the pass, which registers it again. Channels that never
	// expire would otherwise count as delivering until a pass happened to
	// check them.
	ChannelGone bool
}

// WebhookReply is a direct answer to a delivery.
type WebhookReply struct {
	Status      int
	ContentType string
	Body        []byte
}

// Router lists the webhook route keys a connection receives deliveries for
// ("team:T123", "repo:octo/hello"). Channels from Watcher add their own.
type Router interface {
	RouteKeys(conn Connection) ([]string, error)
}

// Watcher registers push channels (Google watch channels, GitHub repo hooks)
// and stops them.
type Watcher interface {
	// WatchTargets lists what the connection's config asks to watch
	// (calendar ids, repositories); channels carry the same values as Target.
	WatchTargets(conn Connection) ([]string, error)
	// Watch registers channels for the connection's targets (all of them when
	// req.Targets is empty) and returns what must be stored. Channels
	// returned with an error are stored too: with ErrForbidden or
	// ErrInvalidConfig (targets that refused a channel, which should not
	// keep the others from theirs) the pass carries on and those targets
	// are polled; with any other kind the pass is retried.
	Watch(ctx context.Context, req WatchRequest) ([]Channel, error)
	// StopWatch stops one channel; a channel already gone is not an error.
	StopWatch(ctx context.Context, req StopWatchRequest) error
}

// WatchRequest asks a Watcher for channels.
type WatchRequest struct {
	Connection  Connection
	HTTP        *http.Client
	CallbackURL string
	Targets     []string
	Now         time.Time
	// Secrets are the stored secrets of the connection's channels on
	// Targets that are registered again (stale: gone, disabled, changed at
	// the provider), by channel id (ChannelKeyed providers). A provider
	// that finds such a channel and edits it in place (a GitHub hook) sets
	// it back to its stored secret, so that what it signs from then on
	// verifies at once; a new secret would be refused until the engine
	// stored it. Never logged.
	Secrets map[string]string
}

// StopWatchRequest stops one channel.
type StopWatchRequest struct {
	Connection Connection
	HTTP       *http.Client
	Channel    Channel
}

// Channel is a registered push channel or webhook.
type Channel struct {
	// ID is the provider's channel or hook id (what deliveries carry).
	ID string `json:"id"`
	// ResourceID is the provider's id of the watched resource (Google).
	ResourceID string `json:"resource_id,omitempty"`
	// Target is what is watched (calendar id, repository full name).
	Target string `json:"target"`
	// Stream is nudged by notify-only deliveries; "" nudges every stream.
	Stream string `json:"stream,omitempty"`
	// RouteKey is the key deliveries on this channel carry.
	RouteKey string `json:"route_key"`
	// Expires is when the provider stops delivering; zero means never.
	Expires time.Time `json:"expires,omitempty"`
	// Secret is the channel's own signing secret (a repository hook's),
	// stored encrypted by the engine; never serialized.
	Secret string `json:"-"`
}

// IdentifyRequest is what the service knows when an authorization comes
// back: the new token and, for a token that can reach several accounts,
// what picks one.
type IdentifyRequest struct {
	Token *oauth2.Token
	// HTTP is authorized with Token and paced like every other call.
	HTTP *http.Client
	// Config is the connection config given at connect (validated), or,
	// for a re-authorization without one, the stored connection's; nil when
	// there is neither.
	Config json.RawMessage
	// AccountID is the account of the connection being re-authorized; ""
	// for a new connection.
	AccountID string
	// AccountMetadata is that account's stored metadata (nil for a new
	// connection): what the connector recorded at its last authorization,
	// such as the Jira site URL the connection was bound under, which a
	// rename of the site changes while its id stays.
	AccountMetadata map[string]string
}

// AccountChooser is implemented by connectors whose token can reach several
// accounts, so that which one a connection is bound to depends on its
// config (an Atlassian token reaches every Jira site the user granted; the
// config's site picks one). The OAuth callback calls IdentifyFor instead
// of Identify. A *ConfigError means the config must name the account (the
// callback answers 422 invalid_config with its fields).
type AccountChooser interface {
	IdentifyFor(ctx context.Context, req IdentifyRequest) (Account, error)
}

// AccountKeeper is implemented by connectors whose stored account holds
// what Identify cannot read again under the same account id (Google
// Calendar and Gmail name the primary calendar and the mailbox in their
// keys by the address first connected, which a Workspace rename changes,
// not the subject; Jira keeps the URLs a renamed site had, which a config
// may still name it by).
// When an authorization lands on an account already stored (a
// re-authorization, a plain connect of the same account, a deleted
// connection revived), the callback stores KeepAccount(stored, fresh) in
// place of fresh, the account Identify read.
type AccountKeeper interface {
	KeepAccount(stored, fresh Account) Account
}

// KeepAccount is what the OAuth callback stores when an authorization of c
// lands on the account stored: what c keeps of it with fresh, the account
// Identify read (AccountKeeper), else fresh.
func KeepAccount(c Connector, stored, fresh Account) Account {
	if k, ok := c.(AccountKeeper); ok {
		return k.KeepAccount(stored, fresh)
	}
	return fresh
}

// AccountClaim is what a connection to an exclusive account
// (Spec.ExclusiveAccount) holds against every other tenant. Two tenants'
// claims conflict when one's Keys meet the other's Keys or Within; two
// claims Within the same account do not.
type AccountClaim struct {
	// Keys are the accounts the connection's token and events reach as a
	// whole: its own account id, always.
	Keys []string
	// Within are wider accounts this one is part of, whose own install
	// would reach it too (the Enterprise Grid org of a Slack workspace): no
	// other tenant may hold one of them, while other tenants' accounts may
	// be within them as well (two workspaces of one org are two accounts).
	Within []string
}

// AccountClaimer is implemented by connectors of exclusive accounts that
// nest: a Slack workspace install inside an Enterprise Grid org reaches
// the workspace, the org-wide install reaches every workspace the org
// granted (and grants later), under another account id. A claim keyed on
// the account id alone would let one tenant hold the org and another a
// workspace of it, both receiving that workspace's events.
type AccountClaimer interface {
	ClaimAccount(acct Account) AccountClaim
}

// ClaimOf is the claim a connection of c to acct holds: what c says
// (AccountClaimer), its account id always among the keys; else the account
// id alone.
func ClaimOf(c Connector, acct Account) AccountClaim {
	var out AccountClaim
	if cl, ok := c.(AccountClaimer); ok {
		out = cl.ClaimAccount(acct)
	}
	if !slices.Contains(out.Keys, acct.ID) {
		out.Keys = append([]string{acct.ID}, out.Keys...)
	}
	out.Within = slices.DeleteFunc(slices.Clone(out.Within), func(w string) bool { return w == "" || slices.Contains(out.Keys, w) })
	return out
}

// ChannelChecker is implemented by Watchers whose channels never expire
// (GitHub repository hooks), so that no renewal ever looks at one again:
// one deleted or disabled at the provider by someone else, no longer
// subscribed to what Watch subscribes it to, or no longer signing with its
// secret, would count as delivering for good. The watch pass asks
// CheckWatch about every stored channel it would keep (one provider call
// each); one reported stale is registered again through Watch (with its
// stored secret in WatchRequest.Secrets), as a channel due for renewal
// is, and the old one stopped unless Watch answers with it again. An error leaves the channel
// as it is (an ErrUnauthorized fails the pass, which refreshes the token
// once, as for any watch call).
type ChannelChecker interface {
	CheckWatch(ctx context.Context, req CheckWatchRequest) (stale bool, err error)
}

// CheckWatchRequest names one stored channel to a ChannelChecker.
type CheckWatchRequest struct {
	Connection Connection
	HTTP       *http.Client
	Channel    Channel
}

// ChannelLifer is implemented by Watchers whose channels live as long as
// a setting asks (Google's CHANNEL_TTL). The service refuses to start with
// a life its renewal sweep cannot keep (Registry.CheckChannelLives).
type ChannelLifer interface {
	// ChannelTTL is the life channels are asked for, and the suffix of the
	// setting that asks it (POBLYSH_<NAME>_<suffix>).
	ChannelTTL() (ttl time.Duration, suffix string)
}

// ChannelRenewer is implemented by providers whose channels are extended in
// place before they expire (Jira's dynamic webhooks: PUT
// /rest/api/3/webhook/refresh) rather than replaced by new ones. The
// engine calls RenewWatch for channels due for renewal (and rekeyed ones:
// ChannelRekeyer); a channel it does not return is gone at the provider
// and is registered again through Watch. A returned channel's Expires and
// RouteKey (when not empty) are stored. Work a renewal does beside the
// extension (Jira: deleting the webhooks left at a former public URL)
// fails without failing the renewal: RenewWatch then answers the channels
// it extended with a *RenewCleanupError.
type ChannelRenewer interface {
	RenewWatch(ctx context.Context, req RenewWatchRequest) ([]Channel, error)
}

// RenewCleanupError is what a ChannelRenewer returns, beside the channels
// it extended, when the extension was done but work beside it failed
// (Jira: the DELETE of the site's webhooks at a former public URL). Such
// a failure must not cost the other channels their renewal: they would
// expire while the cleanup kept failing. The engine stores the channels
// answered, logs the error and leaves the channels named in Held as they
// are for this pass: neither extended, nor stopped, nor replaced (a
// replacement is what the cleanup was clearing the way for), so the next
// pass, which finds them due again, retries the cleanup.
type RenewCleanupError struct {
	Held []string // ids of the channels the failed work was about
	Err  error
}

func (e *RenewCleanupError) Error() string { return e.Err.Error() }

// Unwrap returns the cleanup's own error.
func (e *RenewCleanupError) Unwrap() error { return e.Err }

// ChannelRekeyer is implemented by ChannelRenewers whose channels' route
// keys name something of the account that can change while a channel
// lives (Jira: the site's host, which an admin's rename of the site's URL
// changes, and which its deliveries then name). ChannelRouteKey is the
// route key ch would carry now, without calling the provider. The watch
// pass renews at once, due or not, every channel whose stored route key
// differs, and stores and routes the route key the renewal answers with.
type ChannelRekeyer interface {
	ChannelRouteKey(conn Connection, ch Channel) (string, error)
}

// WatchConfirmer is implemented by Watchers whose provider delivers to a
// new channel the moment it exists, before the engine can have stored the
// channel's secret (GitHub pings a new repository hook, and sends its
// events from then on): those deliveries are refused, the provider shows
// the channel as failing, and a provider that does not retry (GitHub)
// loses the events to push. The engine calls ConfirmWatch for each channel
// Watch returned, once the channel is stored and routed, so the provider
// delivers again what was refused and records the channel as working. Its
// failure is logged only: the next sync reads what push missed.
type WatchConfirmer interface {
	ConfirmWatch(ctx context.Context, req ConfirmWatchRequest) error
}

// ConfirmWatchRequest names one stored channel to a WatchConfirmer.
type ConfirmWatchRequest struct {
	Connection Connection
	HTTP       *http.Client
	Channel    Channel
	Now        time.Time
}

// RenewWatchRequest asks a ChannelRenewer to extend channels.
type RenewWatchRequest struct {
	Connection Connection
	HTTP       *http.Client
	Channels   []Channel
	Now        time.Time
}

// GrantExpirer is implemented by connectors whose authorization ends at a
// time known in advance however it is used (Atlassian: 365 days after
// consent). The engine names the date in health_reason from
// TokenPolicy.ExpiryWarning before it, and asks for re-authorization once
// it has passed.
type GrantExpirer interface {
	// GrantExpiry is when conn's authorization stops working; zero when
	// unknown.
	GrantExpiry(conn Connection) time.Time
}
