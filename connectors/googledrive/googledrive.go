// Package googledrive is the Google Drive connector: OAuth with offline
// access (shared with the other Google connectors), one change feed per
// tracked corpus (the user's own, and one per shared drive) read with
// changes.list page tokens, folders tracked to any depth through an
// ancestry cache kept in the stream cursor, changes.watch channels whose
// notifications nudge incremental syncs, and document.* Signals.
//
// It registers itself as "google-drive"; import it for its side effect.
package googledrive

import (
	"strconv"
	"time"

	"golang.org/x/time/rate"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/google"
)

// Provider is the registered provider name (path segment and Signal source).
const Provider = "google-drive"

// Signal kinds this connector produces.
const (
	KindCreated = "document.created"
	KindUpdated = "document.updated"
	KindTrashed = "document.trashed"
	KindShared  = "document.shared"
)

// ScopeMetadata is the only Drive scope asked: file metadata, never contents.
const ScopeMetadata = "https://www.googleapis.com/auth/drive.metadata.readonly"

// Scopes requested at authorization: identity from the OpenID id_token and
// Drive metadata. drive.metadata.readonly is the narrowest scope that
// allows changes.list, changes.watch, files.list and files.get (Drive
// discovery document); file contents are never read.
var Scopes = []string{"openid", "email", ScopeMetadata}

// requiredScopes are what a grant must carry; the wider Drive scopes
// include metadata reads.
var requiredScopes = []google.Requirement{
	google.EmailRequirement,
	{Name: ScopeMetadata, Any: []string{
		ScopeMetadata,
		"https://www.googleapis.com/auth/drive.metadata",
		"https://www.googleapis.com/auth/drive.readonly",
		"https://www.googleapis.com/auth/drive",
	}},
}

// Defaults for the settings read through Config.Setting.
const (
	// DefaultPageSize is changes.list and files.list pageSize (Google's own
	// default); MaxPageSize is the largest Google accepts.
	DefaultPageSize = 100
	MaxPageSize     = 1000
	// DefaultChannelTTL is the changes.watch lifetime requested: Google caps
	// changes channels at a week (604800 s). The engine stores the expiry
	// requested, or the returned expiration when that is earlier.
	DefaultChannelTTL = 7 * 24 * time.Hour
	// DefaultBackfillDays bounds the first backfill to files modified within
	// this many days (config backfill_days overrides it).
	DefaultBackfillDays = 30
)

// Spec is the Google Drive provider spec.
var Spec = &connectors.Spec{
	GrantPerClient: true,
	Name:           Provider,
	DisplayName:    "Google Drive",
	Description:    "Documents created, edited, trashed and shared in tracked folders and shared drives, from the Drive change feed, pushed through changes.watch channels.",
	Kinds:          []string{KindCreated, KindUpdated, KindTrashed, KindShared},
	Capabilities: []connectors.Capability{
		connectors.CapWebhook, connectors.CapPoll, connectors.CapBackfill,
	},
	EnvFallback: google.EnvFallback,
	Defaults:    google.Endpoints("https://www.googleapis.com/drive/v3/"),
	Scopes:      Scopes,
	PKCE:        true,
	Policy: connectors.Policy{
		// Drive allows 12,000 queries per minute per user (older projects);
		// 10 per second leaves room for the watch and stop calls of other
		// workers.
		Rate:              rate.Limit(10),
		Burst:             10,
		PollInterval:      5 * time.Minute,
		ReconcileInterval: 6 * time.Hour,
		MinPollInterval:   time.Minute,
		Token:             google.TokenPolicy,
	},
	ConfigHelp: `{"folders": ["<folderId>", …], "shared_drives": ["<driveId>", …], "backfill_days": 30}: folders are tracked ` +
		`with all their subfolders; none (and no shared drives) means the whole My Drive ("root"); a shared drive is ` +
		`tracked whole. At most 50 of each; backfill_days (1 to 365, default 30) bounds the first backfill (and that of a folder added later).`,
	ConfigFields: []connectors.ConfigField{
		{Name: "folders", Type: "array of strings", Description: "Folder ids (from the folder's URL), each tracked with its subfolders to any depth; " +
			"`root` is the whole My Drive. At most 50; trimmed and deduplicated. The connection's token must read each one as a folder. " +
			"A folder on a shared drive the user is a member of is refused: put the drive in `shared_drives`. " +
			"No folders and no shared drives: `[\"root\"]`."},
		{Name: "shared_drives", Type: "array of strings", Description: "Shared drive ids, each tracked whole (its own change feed). At most 50. " +
			"The connection's token must be a member."},
		{Name: "backfill_days", Type: "integer", Description: "The first backfill's window (and that of a folder added later): files modified within it, 1–365 days. " +
			"Absent: `POBLYSH_GOOGLE_DRIVE_BACKFILL_DAYS`."},
	},
	Settings: []connectors.Setting{
		{Suffix: "CLIENT_ID", Description: "the Google OAuth client (Web application); one client can serve every Google provider through `POBLYSH_GOOGLE_CLIENT_ID`"},
		{Suffix: "WEBHOOK_SECRET", Description: "secret the changes.watch channel tokens are derived from (32+ random bytes); " +
			"unset, no channel is registered (connections poll) and every notification is rejected"},
		{Suffix: "WEBHOOK_SECRET_RETIRED", Description: "the secret rotated out of `WEBHOOK_SECRET`, still accepted on notifications " +
			"until the renewal sweep has replaced the channels made under it (the first sweep after the restart); refused at start when `WEBHOOK_SECRET` is unset or equal to it"},
		{Suffix: "USERINFO_URL", Default: "`" + google.UserinfoURL + "`", Description: "OpenID userinfo endpoint, read only when a token answer lacks an id_token"},
		{Suffix: "PAGE_SIZE", Default: strconv.Itoa(DefaultPageSize), Description: "`pageSize` of changes.list and files.list, 1–" + strconv.Itoa(MaxPageSize)},
		{Suffix: "CHANNEL_TTL", Default: "168h", Description: "requested changes.watch channel lifetime, seconds or a Go duration, at least 1m and 3 × POBLYSH_RENEWAL_INTERVAL (90m under the default 30m); Google caps it at a week"},
		{Suffix: "BACKFILL_DAYS", Default: strconv.Itoa(DefaultBackfillDays), Description: "default backfill window in days, 1–365; a connection's `backfill_days` overrides it"},
	},
	New: New,
}

func init() { connectors.MustRegister(Spec) }

// Connector implements the Google Drive provider. Build it with New.
type Connector struct {
	google.Auth
	pageSize     int
	channelTTL   time.Duration
	backfillDays int
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
	_ connectors.Watcher         = (*Connector)(nil)
	_ connectors.ChannelLifer    = (*Connector)(nil)
	_ connectors.SecretBound     = (*Connector)(nil)
	_ connectors.WebhookReceiver = (*Connector)(nil)
	_ connectors.Classifier      = (*Connector)(nil)
	_ connectors.AccessProver    = (*Connector)(nil)
	_ connectors.ResourceStreams = (*Connector)(nil)
)

// New builds the connector. Missing client credentials are not an error (the
// provider is then listed as not configured); malformed settings
// (POBLYSH_GOOGLE_DRIVE_PAGE_SIZE, _CHANNEL_TTL, _BACKFILL_DAYS,
// _USERINFO_URL) are.
func New(cfg connectors.Config) (connectors.Connector, error) {
	c := &Connector{Auth: google.Auth{
		Provider: Provider, Config: cfg, Scopes: Scopes, Required: requiredScopes, UserinfoURL: google.UserinfoURL,
	}}
	var err error
	if c.pageSize, err = google.IntSetting(cfg, "PAGE_SIZE", DefaultPageSize, 1, MaxPageSize); err != nil {
		return nil, err
	}
	if c.backfillDays, err = google.IntSetting(cfg, "BACKFILL_DAYS", DefaultBackfillDays, 1, maxBackfillDays); err != nil {
		return nil, err
	}
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
