package zoho

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh/connectors"
)

// Settings read through connectors.Config.Setting (POBLYSH_ZOHO_CLIQ_<suffix>,
// POBLYSH_ZOHO_MAIL_<suffix>, falling back to POBLYSH_ZOHO_<suffix> but for
// API_URLS, read per product: connectors.Setting.Own).
const (
	// SettingAccountsServers overrides the allowlist of accounts servers:
	// "us=https://accounts.zoho.com,eu=https://accounts.zoho.eu,…". Only the
	// sandbox and tests need it; the default is Zoho's own list.
	SettingAccountsServers = "ACCOUNTS_SERVERS"
	// SettingAPIURLs overrides the product's API roots per DC, in the same
	// form. Read per product only (POBLYSH_ZOHO_CLIQ_API_URLS,
	// POBLYSH_ZOHO_MAIL_API_URLS): the two products live on different hosts.
	SettingAPIURLs = "API_URLS"
	// SettingClientSecretPrefix + an upper-case location ("CLIENT_SECRET_EU")
	// is the client secret of one DC, for clients whose Multi DC settings
	// give each DC its own secret; unset, CLIENT_SECRET serves every DC.
	SettingClientSecretPrefix = "CLIENT_SECRET_"
)

// Metadata keys of a Zoho account (connectors.Account.Metadata).
const (
	// MetaLocation is the DC's location code ("eu").
	MetaLocation = "dc"
	// MetaAccountsServer is the accounts server the callback named; refresh
	// and revocation go there (after the allowlist check, again).
	MetaAccountsServer = "accounts_server"
	// MetaAPIDomain is the token response's api_domain, kept for reference:
	// Cliq and Mail have product hosts of their own per DC.
	MetaAPIDomain = "api_domain"
)

// Auth is Zoho Accounts OAuth for one product connector. It implements the
// connectors capabilities Authorizer (minus Identify, which is the
// product's), Exchanger, Refresher, Revoker and Authenticator; the product
// connectors embed it.
type Auth struct {
	provider string
	cfg      connectors.Config
	scopes   []string
	accounts Hosts
	api      Hosts
	budget   *budget
	// Locks pauses calls after a throttled answer (see Locks).
	Locks *Locks
}

// NewAuth builds the OAuth side of a product connector from its config:
// scopes to ask for and the product's default API hosts per DC.
func NewAuth(provider string, cfg connectors.Config, scopes []string, apiDefaults map[string]string) (*Auth, error) {
	accounts, err := ParseHosts(cfg.SettingVar(SettingAccountsServers), cfg.Setting(SettingAccountsServers), defaultAccounts)
	if err != nil {
		return nil, err
	}
	api, err := ParseHosts(cfg.SettingVar(SettingAPIURLs), cfg.Setting(SettingAPIURLs), apiDefaults)
	if err != nil {
		return nil, err
	}
	return &Auth{provider: provider, cfg: cfg, scopes: scopes, accounts: accounts, api: api,
		budget: newBudget(time.Now), Locks: NewLocks(time.Now)}, nil
}

// Scopes are the scopes the product asks for.
func (a *Auth) Scopes() []string { return a.scopes }

// OAuth2Config implements connectors.Authorizer. The authorization always
// starts at the configured AUTH_URL (accounts.zoho.com): Zoho sends the user
// on to their own DC and names it on the callback. TokenURL is only the
// fallback for a callback that names no accounts server (a client without
// Multi DC: US only).
func (a *Auth) OAuth2Config(redirectURL string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     a.cfg.ClientID,
		ClientSecret: a.cfg.ClientSecret,
		Endpoint: oauth2.Endpoint{
			AuthURL:   a.cfg.Endpoints.AuthURL,
			TokenURL:  a.cfg.Endpoints.TokenURL,
			AuthStyle: oauth2.AuthStyleInParams,
		},
		RedirectURL: redirectURL,
		Scopes:      a.scopes,
	}
}

// AuthCodeOptions implements connectors.Authorizer: Zoho reads scopes
// comma-separated, and issues a refresh token only with
// access_type=offline; prompt=consent makes it issue one on every
// (re)connect, not only the first
// (https://www.zoho.com/accounts/protocol/oauth/web-apps/authorization.html).
func (a *Auth) AuthCodeOptions() []oauth2.AuthCodeOption {
	return []oauth2.AuthCodeOption{
		oauth2.SetAuthURLParam("scope", strings.Join(a.scopes, ",")),
		oauth2.AccessTypeOffline,
		oauth2.SetAuthURLParam("prompt", "consent"),
	}
}

// AuthorizationHeader implements connectors.Authenticator
// (https://www.zoho.com/accounts/protocol/oauth/use-access-token.html).
func (a *Auth) AuthorizationHeader(accessToken string) string {
	return "Zoho-oauthtoken " + accessToken
}

// tokenBase is the accounts server of the configured TOKEN_URL.
func (a *Auth) tokenBase() string {
	return strings.TrimRight(strings.TrimSuffix(a.cfg.Endpoints.TokenURL, "/oauth/v2/token"), "/")
}

// callbackDC decides where a code is exchanged. The callback's
// accounts-server must be on the allowlist (a forged parameter must not
// receive the client secret), and a location, when given, must be that
// server's. Without accounts-server (a client without Multi DC) the
// configured TOKEN_URL's server is used.
func (a *Auth) callbackDC(q map[string][]string) (DC, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	server, loc := get("accounts-server"), strings.ToLower(get("location"))
	if server == "" {
		base := a.tokenBase()
		if dc, ok := a.accounts.Lookup(base); ok {
			return dc, nil
		}
		return DC{Location: "us", Accounts: base}, nil
	}
	dc, ok := a.accounts.Lookup(server)
	if !ok {
		return DC{}, fmt.Errorf("%s: %w: the callback names accounts server %q, which is not a Zoho accounts server (allowed: %s)",
			a.provider, connectors.ErrInvalidConfig, trunc(server, 80), strings.Join(a.accounts.Locations(), ", "))
	}
	if loc != "" && loc != dc.Location {
		return DC{}, fmt.Errorf("%s: %w: the callback names location %q but the accounts server of %q",
			a.provider, connectors.ErrInvalidConfig, trunc(loc, 8), dc.Location)
	}
	return dc, nil
}

// AccountDC is where an account's tokens live: its stored accounts server,
// checked against the allowlist again (it may have changed since), or the
// configured TOKEN_URL's server for accounts connected without Multi DC.
func (a *Auth) AccountDC(acct connectors.Account) (DC, error) {
	server := acct.Metadata[MetaAccountsServer]
	if dc, ok := a.accounts.Lookup(server); ok {
		return dc, nil
	}
	if n, ok := normalize(server); ok {
		if base, ok2 := normalize(a.tokenBase()); ok2 && n == base {
			return DC{Location: cmpOr(acct.Metadata[MetaLocation], "us"), Accounts: a.tokenBase()}, nil
		}
	}
	if server == "" {
		if u, ok := a.accounts[acct.Metadata[MetaLocation]]; ok {
			return DC{Location: acct.Metadata[MetaLocation], Accounts: u}, nil
		}
	}
	return DC{}, fmt.Errorf("%s: %w: the account's accounts server %q is not on the allowlist; reconnect", a.provider,
		connectors.ErrInvalidConfig, trunc(server, 80))
}

// APIBase is the product's API root in an account's DC (no trailing slash).
func (a *Auth) APIBase(acct connectors.Account) (string, error) {
	loc := acct.Metadata[MetaLocation]
	if loc == "" {
		if dc, err := a.AccountDC(acct); err == nil {
			loc = dc.Location
		}
	}
	base, ok := a.api[loc]
	if !ok {
		return "", fmt.Errorf("%s: %w: no API host is known for data centre %q (set POBLYSH_%s_%s)", a.provider,
			connectors.ErrInvalidConfig, trunc(loc, 8), strings.ToUpper(strings.ReplaceAll(a.provider, "-", "_")), SettingAPIURLs)
	}
	return base, nil
}

// IsAPIHost reports whether u (no trailing slash) is the product's API
// root in one of the configured DCs.
func (a *Auth) IsAPIHost(u string) bool {
	for _, h := range a.api {
		if strings.TrimRight(h, "/") == u {
			return true
		}
	}
	return false
}

// clientSecret is the secret of one DC: CLIENT_SECRET_<LOC> when set.
func (a *Auth) clientSecret(loc string) string {
	if v := a.cfg.Setting(SettingClientSecretPrefix + strings.ToUpper(loc)); v != "" {
		return v
	}
	return a.cfg.ClientSecret
}

// Meta reads the DC facts Exchange put on a token, for Identify.
func Meta(tok *oauth2.Token) map[string]string {
	out := map[string]string{}
	for _, k := range []string{MetaLocation, MetaAccountsServer, MetaAPIDomain} {
		if v, ok := tok.Extra(k).(string); ok && v != "" {
			out[k] = v
		}
	}
	return out
}

// AccountFromToken is the account as far as the token itself tells it
// (its DC), for Identify to call the right hosts before the account exists.
func AccountFromToken(tok *oauth2.Token) connectors.Account {
	return connectors.Account{Metadata: Meta(tok)}
}

// httpClient is the client the engine put in ctx for token endpoints.
func httpClient(ctx context.Context) *http.Client {
	if hc, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); ok && hc != nil {
		return hc
	}
	return &http.Client{Timeout: 30 * time.Second}
}

func trunc(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
