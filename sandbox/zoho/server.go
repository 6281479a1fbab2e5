// Package zohosandbox is a stateful in-memory fake of Zoho across data
// centres: one Zoho Accounts server per DC (authorization at the US server
// redirects back with location and accounts-server; token errors answered
// with HTTP 200 and an "error" field; 10 access tokens per 10 minutes per
// refresh token; 20 refresh tokens per user per client), Zoho Cliq
// (channels, messages with reactions, mentions, per-API thresholds with
// lock periods, signed bot handler calls) and Zoho Mail (accounts, folders,
// messages with Zoho's string-typed fields, HTML-escaped addresses and ids
// beyond 2^53, headers, outgoing-webhook nudges).
//
// Every DC is served under a path prefix of one base URL:
//
//	/{dc}/accounts/oauth/v2/{auth,token,token/revoke}, /{dc}/accounts/oauth/user/info
//	/{dc}/cliq/api/v2/…, /{dc}/cliq/api/v3/…
//	/{dc}/mail/api/…
//	/_sandbox/…                                       control routes (control.go)
//
// The fake registers as "zoho-cliq" and "zoho-mail" (one fake type; each
// instance's Env points its own product at itself).
package zohosandbox

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/poblysh/poblysh/sandbox"
)

// Products the fake serves.
const (
	ProductCliq = "zoho-cliq"
	ProductMail = "zoho-mail"
)

// Defaults used when Options leave a field empty.
const (
	DefaultClientID      = "1000.SANDBOXZOHOCLIENT0000000000000"
	DefaultClientSecret  = "sandbox-zoho-client-secret"
	DefaultWebhookSecret = "sandbox-zoho-webhook-secret"
	// DefaultLockPeriod is Zoho's lock after a throttled call (Cliq messages
	// and mentions: 10 minutes).
	DefaultLockPeriod = 10 * time.Minute
)

// Options configure a Server.
type Options struct {
	ClientID, ClientSecret string
	// WebhookSecret keys the per-connection URL tokens of the service
	// (Env hands it over as POBLYSH_ZOHO_*_WEBHOOK_SECRET).
	WebhookSecret string
	// User is the zuid an authorization signs in as (default UserAda, in
	// the EU data centre); the authorize URL's login parameter overrides it.
	User string
	// AccessTTL is the access token lifetime (default 1 h, Zoho's).
	AccessTTL time.Duration
	// LockPeriod is how long a throttled API stays locked (default 10 min).
	LockPeriod time.Duration
	// Thresholds overrides the calls per minute per user and API before a
	// lock ("messages": 15, "mentions": 30, "channels": 30, "users": 30,
	// "mail": 0 = unlimited).
	Thresholds map[string]int
	// Seed fills Cliq and Mail with their deterministic history.
	Seed bool
	// Now is the fake's clock (nil: time.Now).
	Now func() time.Time
	// Key signs bot handler calls (nil: a key shared by every fake of the
	// process, generated once).
	Key *rsa.PrivateKey
	// RefreshTokensKept is how many live refresh tokens a user keeps per
	// client before a new one removes the oldest (default 20, Zoho's).
	RefreshTokensKept int
}

// Server is the fake.
type Server struct {
	opts    Options
	product string
	// Faults answer API requests (never /_sandbox/) with injected failures.
	Faults *sandbox.Faults
	// Deliverer posts bot calls and mail webhooks.
	Deliverer *sandbox.Deliverer
	handler   http.Handler

	mu       sync.Mutex
	accounts map[string]*accountsServer // by DC location
	users    map[string]*User           // by zuid
	cliq     *cliqStore
	mail     *mailStore
	limits   *throttle
}

var (
	sharedKeyOnce sync.Once
	sharedKey     *rsa.PrivateKey
)

// key returns the process-wide bot signing key (RSA 2048, generated once).
func key() *rsa.PrivateKey {
	sharedKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic("zohosandbox: generating the bot key: " + err.Error())
		}
		sharedKey = k
	})
	return sharedKey
}

// New returns a Server ready to mount with ServeHTTP.
func New(o Options) *Server {
	if o.ClientID == "" {
		o.ClientID = DefaultClientID
	}
	if o.ClientSecret == "" {
		o.ClientSecret = DefaultClientSecret
	}
	if o.WebhookSecret == "" {
		o.WebhookSecret = DefaultWebhookSecret
	}
	if o.User == "" {
		o.User = UserAda
	}
	if o.AccessTTL <= 0 {
		o.AccessTTL = time.Hour
	}
	if o.LockPeriod <= 0 {
		o.LockPeriod = DefaultLockPeriod
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Key == nil {
		o.Key = key()
	}
	s := &Server{opts: o, product: ProductCliq, Faults: &sandbox.Faults{}, Deliverer: &sandbox.Deliverer{},
		accounts: map[string]*accountsServer{}, users: map[string]*User{}}
	s.Faults.DefaultBody = defaultFaultBody
	for _, dc := range Locations {
		s.accounts[dc] = newAccountsServer(s, dc)
	}
	for _, u := range defaultUsers() {
		s.users[u.ZUID] = u
	}
	s.cliq = newCliqStore(s)
	s.mail = newMailStore(s)
	s.limits = newThrottle(o.Now, o.LockPeriod, o.Thresholds)
	if o.Seed {
		s.cliq.seed()
		s.mail.seed()
	}
	mux := http.NewServeMux()
	s.controlRoutes(mux)
	s.accountRoutes(mux)
	s.cliqRoutes(mux)
	s.mailRoutes(mux)
	s.handler = s.Faults.Middleware(mux)
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Options returns the effective options.
func (s *Server) Options() Options { return s.opts }

// PublicKeyPEM is the PEM of the key bot calls are signed with (the
// extension's public key, POBLYSH_ZOHO_CLIQ_PUBLIC_KEY).
func (s *Server) PublicKeyPEM() string {
	der, err := x509.MarshalPKIXPublicKey(&s.opts.Key.PublicKey)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// PublicKeyBase64 is the same key as one line of base64 (DER), the form
// Cliq shows for an extension; it fits an env file line.
func (s *Server) PublicKeyBase64() string {
	der, err := x509.MarshalPKIXPublicKey(&s.opts.Key.PublicKey)
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

// hostList renders "us=<base>/us/<part>,eu=…" for every DC.
func hostList(base, part string) string {
	var out []string
	for _, dc := range Locations {
		out = append(out, dc+"="+base+"/"+dc+"/"+part)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// Env returns the POBLYSH_ZOHO_CLIQ_* (or POBLYSH_ZOHO_MAIL_*) variables
// that point the service's product at this fake served at baseURL. They are
// product-specific, never the shared POBLYSH_ZOHO_* fallbacks, so a Cliq
// fake and a Mail fake can run side by side.
func (s *Server) Env(baseURL string) map[string]string {
	base := strings.TrimRight(baseURL, "/")
	prefix, part := "POBLYSH_ZOHO_CLIQ_", "cliq"
	if s.product == ProductMail {
		prefix, part = "POBLYSH_ZOHO_MAIL_", "mail"
	}
	env := map[string]string{
		prefix + "CLIENT_ID":        s.opts.ClientID,
		prefix + "CLIENT_SECRET":    s.opts.ClientSecret,
		prefix + "WEBHOOK_SECRET":   s.opts.WebhookSecret,
		prefix + "AUTH_URL":         base + "/us/accounts/oauth/v2/auth",
		prefix + "TOKEN_URL":        base + "/us/accounts/oauth/v2/token",
		prefix + "API_URL":          base + "/us/" + part + "/",
		prefix + "ACCOUNTS_SERVERS": hostList(base, "accounts"),
		prefix + "API_URLS":         hostList(base, part),
	}
	if s.product == ProductCliq {
		env[prefix+"PUBLIC_KEY"] = s.PublicKeyBase64()
		env[prefix+"LOCK_PERIOD"] = s.opts.LockPeriod.String()
	}
	return env
}

func (s *Server) now() time.Time { return s.opts.Now() }

// defaultFaultBody gives injected faults Zoho-shaped bodies.
func defaultFaultBody(status int) (string, string) {
	code := "internal_server_error"
	switch status {
	case http.StatusUnauthorized:
		code = "oauthtoken_invalid"
	case http.StatusForbidden:
		code = "access_denied"
	case http.StatusNotFound:
		code = "not_found"
	case http.StatusTooManyRequests:
		code = "too_many_requests"
	case http.StatusBadRequest:
		code = "request_limit_exceeded"
	}
	return "application/json;charset=UTF-8", `{"code":"` + code + `","message":"` + http.StatusText(status) + `"}`
}

func init() {
	for _, product := range []string{ProductCliq, ProductMail} {
		sandbox.Register(product, func(o sandbox.Options) (sandbox.Fake, error) {
			if err := sandbox.CheckFaults(product, o.Faults, "short-locks", "us-user"); err != nil {
				return nil, err
			}
			opts := Options{ClientID: o.ClientID, ClientSecret: o.ClientSecret, WebhookSecret: o.WebhookSecret,
				AccessTTL: o.AccessTTL, Seed: o.Seed, Now: o.Now}
			for _, f := range o.Faults {
				switch f {
				case "short-locks":
					opts.LockPeriod = 2 * time.Second
				case "us-user":
					opts.User = UserSam
				}
			}
			s := New(opts)
			s.product = product
			if o.DeliverTo != "" {
				s.Deliverer.SetTarget(sandbox.WebhookURL(o.DeliverTo, product))
			}
			return s, nil
		})
	}
}

// ForProduct returns a fake whose Env points product at it (ProductCliq,
// the default, or ProductMail).
func ForProduct(product string, o Options) *Server {
	s := New(o)
	s.product = product
	return s
}
