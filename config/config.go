// Package config reads the service configuration from the environment (and a
// local .env file in development). A missing or malformed required value is
// reported as one line naming the variable; the process never starts
// half-configured.
package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/poblysh/poblysh/vault"
)

// Config is the whole service configuration. It holds secrets: never log it.
type Config struct {
	DatabaseURL string
	// DBMaxConns caps the Postgres pool of one process.
	DBMaxConns int
	// DBRole is the role the app switches to after connecting (SET ROLE), so
	// row-level security applies even when DATABASE_URL names an owner.
	DBRole string

	TemporalAddress   string
	TemporalNamespace string
	TemporalAPIKey    string
	TemporalTLS       bool
	TaskQueue         string
	// JoinTaskQueue lets the worker start although a worker on another
	// database polls its task queue (POBLYSH_JOIN_TASK_QUEUE).
	JoinTaskQueue bool
	// TemporalUIURL is the Web UI base for job deep links.
	TemporalUIURL string

	HTTPAddr string
	// PublicURL is the base URL providers call back; PublicURLSet is false
	// when it was derived from HTTPAddr (watch channels then fall back to polling).
	PublicURL    string
	PublicURLSet bool
	// MetricsAddr serves /metrics and /debug/pprof/ (never the API port:
	// metrics name every tenant's connections). "" when set to "off".
	MetricsAddr string

	AdminKey string
	KeyRing  *vault.KeyRing

	LogLevel          string
	MaxBodyBytes      int64
	WebhookMaxBytes   int64
	RedirectAllowlist []string

	TenantSyncConcurrency int
	RawRetention          time.Duration
	SignalTTL             time.Duration
	// JobRetention is how long a tenant's finished job is kept (the daily
	// retention run deletes older ones): at least a day, so a job a
	// client was answered can still be read when it ends.
	JobRetention    time.Duration
	RefreshInterval time.Duration
	RenewalInterval time.Duration
	StateTTL        time.Duration
	// ShutdownTimeout bounds a graceful stop (SIGTERM): HTTP requests in
	// flight drain and running activities finish for at most this long.
	ShutdownTimeout time.Duration
	// ShutdownDelay is how long the API keeps serving after SIGTERM, with
	// /readyz answering 503, before it stops accepting connections: a load
	// balancer sends new connections until it has seen the instance go.
	ShutdownDelay time.Duration
}

// Needs says which optional groups a subcommand requires.
type Needs struct {
	Admin  bool // POBLYSH_ADMIN_KEY (API)
	Crypto bool // POBLYSH_CRYPTO_KEY (API, worker, reencrypt)
}

// Bounds of the sweep intervals. Both are at least minInterval, Temporal's
// least schedule interval: a shorter one passed here and failed the
// worker's start ("interval is too small"), without naming the variable.
// (Tests sweep every second; a deployment has no use for it.)
const (
	minInterval = time.Second
	// maxRefreshInterval: the token-refresh sweep refreshes the tokens that
	// expire before the next sweep an hour later (activities.ListDueTokens);
	// further apart, a token would be refreshed only when a call finds it
	// expiring, with no time left to retry.
	maxRefreshInterval = time.Hour
	// maxRenewalInterval: the renewal sweep renews a channel from a third
	// of its life before it expires, at most a day, but from at least two
	// intervals before (db.RenewWithin): two sweeps see every channel that
	// lives three intervals or more before it expires, one to try and one
	// to retry; a Google CHANNEL_TTL shorter than that is refused at start
	// (connectors.Registry.CheckChannelLives), and a shorter life Google
	// grants is seen by one sweep while it lives at least one interval.
	// 12 h apart, a channel of a week (Google's) or a month (Jira's) is
	// still renewed within its last day.
	maxRenewalInterval = 12 * time.Hour
	// MaxAdminKey is the longest admin key: the API refuses a longer
	// bearer key before it compares it with anything.
	MaxAdminKey = 256
)

// Load reads the configuration. The error names the offending variable.
func Load(getenv func(string) string, need Needs) (*Config, error) {
	e := &env{getenv: getenv}
	c := &Config{
		DatabaseURL:           e.required("DATABASE_URL"),
		DBRole:                e.str("POBLYSH_DB_ROLE", "poblysh_app"),
		DBMaxConns:            int(e.integer("POBLYSH_DB_MAX_CONNS", 16, 2, 1000)),
		TemporalAddress:       e.str("TEMPORAL_ADDRESS", "127.0.0.1:7233"),
		TemporalNamespace:     e.str("TEMPORAL_NAMESPACE", "default"),
		TemporalAPIKey:        getenv("TEMPORAL_API_KEY"),
		TemporalTLS:           e.boolean("TEMPORAL_TLS", false),
		TaskQueue:             e.str("POBLYSH_TASK_QUEUE", "connectors"),
		JoinTaskQueue:         e.boolean("POBLYSH_JOIN_TASK_QUEUE", false),
		TemporalUIURL:         strings.TrimRight(e.str("POBLYSH_TEMPORAL_UI_URL", "http://127.0.0.1:8233"), "/"),
		HTTPAddr:              e.str("POBLYSH_HTTP_ADDR", "127.0.0.1:8080"),
		MetricsAddr:           e.str("POBLYSH_METRICS_ADDR", "127.0.0.1:9090"),
		LogLevel:              e.str("POBLYSH_LOG_LEVEL", "info"),
		MaxBodyBytes:          e.size("POBLYSH_MAX_BODY_BYTES", 1<<20),
		WebhookMaxBytes:       e.size("POBLYSH_WEBHOOK_MAX_BYTES", 5<<20),
		TenantSyncConcurrency: int(e.integer("POBLYSH_TENANT_SYNC_CONCURRENCY", 4, 1, 1000)),
		RawRetention:          e.duration("POBLYSH_RAW_RETENTION", 30*24*time.Hour),
		SignalTTL:             e.duration("POBLYSH_SIGNAL_TTL", 0),
		JobRetention:          e.interval("POBLYSH_JOB_RETENTION", 30*24*time.Hour, 24*time.Hour, 0),
		RefreshInterval:       e.interval("POBLYSH_REFRESH_INTERVAL", time.Hour, minInterval, maxRefreshInterval),
		RenewalInterval:       e.interval("POBLYSH_RENEWAL_INTERVAL", 30*time.Minute, minInterval, maxRenewalInterval),
		StateTTL:              e.interval("POBLYSH_OAUTH_STATE_TTL", 10*time.Minute, time.Minute, 0),
		ShutdownTimeout:       e.duration("POBLYSH_SHUTDOWN_TIMEOUT", 30*time.Second),
		ShutdownDelay:         e.duration("POBLYSH_SHUTDOWN_DELAY", 0),
	}
	if c.DatabaseURL != "" {
		if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			e.fail("DATABASE_URL", "must be a postgres:// URL")
		}
	}
	e.hostPort("TEMPORAL_ADDRESS", c.TemporalAddress)
	host, port := e.hostPort("POBLYSH_HTTP_ADDR", c.HTTPAddr)
	if c.MetricsAddr == "off" {
		c.MetricsAddr = ""
	} else {
		e.hostPort("POBLYSH_METRICS_ADDR", c.MetricsAddr)
	}
	// Paths are appended to both base URLs (/api/v1/connect/…/callback,
	// /api/v1/webhooks/…, /namespaces/…): after a query or fragment they
	// would end up inside it. The public URL is kept as written, capitals
	// included: providers compare the callback URL (and Pub/Sub the push
	// audience) byte for byte with what the operator registered, so its
	// users compare the parsed scheme (connectors.Config.PublicHTTPS).
	e.baseURL("POBLYSH_TEMPORAL_UI_URL", c.TemporalUIURL)
	if pub := getenv("POBLYSH_PUBLIC_URL"); pub != "" {
		e.baseURL("POBLYSH_PUBLIC_URL", pub)
		c.PublicURL, c.PublicURLSet = strings.TrimRight(pub, "/"), true
	} else {
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		c.PublicURL = "http://" + net.JoinHostPort(host, port)
	}
	for _, s := range strings.Split(getenv("POBLYSH_REDIRECT_ALLOWLIST"), ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if u, err := url.Parse(s); err != nil || u.Scheme == "" || u.Host == "" {
			e.fail("POBLYSH_REDIRECT_ALLOWLIST", "entries must be absolute URLs (origins or path prefixes)")
			break
		}
		c.RedirectAllowlist = append(c.RedirectAllowlist, s)
	}
	if need.Admin {
		c.AdminKey = e.required("POBLYSH_ADMIN_KEY")
		if e.placeholder("POBLYSH_ADMIN_KEY", c.AdminKey, "value (generate one with: openssl rand -hex 24)") {
			c.AdminKey = ""
		} else if c.AdminKey != "" && len(c.AdminKey) < 24 {
			e.fail("POBLYSH_ADMIN_KEY", "must be at least 24 characters")
		} else if len(c.AdminKey) > MaxAdminKey {
			// The API refuses a longer bearer key unread (api/middleware.go).
			e.fail("POBLYSH_ADMIN_KEY", fmt.Sprintf("must be at most %d characters", MaxAdminKey))
		}
	}
	if need.Crypto {
		c.KeyRing = e.keyRing()
	}
	if e.err != nil {
		return nil, e.err
	}
	return c, nil
}

type env struct {
	getenv func(string) string
	err    error
}

func (e *env) fail(name, msg string) {
	if e.err == nil {
		e.err = errors.New("config: " + name + ": " + msg)
	}
}

func (e *env) required(name string) string {
	v := strings.TrimSpace(e.getenv(name))
	if v == "" {
		e.fail(name, "is required but not set")
	}
	return v
}

// placeholder refuses a secret still holding the placeholder .env.example
// ships (REPLACE_WITH_…), as a .env copied from it and never edited has:
// the admin key's placeholder is long enough to pass as a key, and known
// to anyone who read the repository. The value is never echoed.
func (e *env) placeholder(name, value, what string) bool {
	if !strings.HasPrefix(value, "REPLACE_WITH") {
		return false
	}
	e.fail(name, "is the placeholder of .env.example; set a random "+what)
	return true
}

func (e *env) str(name, def string) string {
	if v := strings.TrimSpace(e.getenv(name)); v != "" {
		return v
	}
	return def
}

// hostPort checks a listen or dial address: host:port with a numeric port.
func (e *env) hostPort(name, v string) (host, port string) {
	host, port, err := net.SplitHostPort(v)
	if err == nil {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	if err != nil {
		e.fail(name, "must be host:port with a numeric port")
	}
	return host, port
}

// baseURL checks a base URL paths are appended to: absolute http(s), with
// no query or fragment.
func (e *env) baseURL(name, v string) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		e.fail(name, "must be an absolute http(s) URL")
	} else if strings.ContainsAny(v, "?#") {
		e.fail(name, "must have no query or fragment (paths are appended to it)")
	}
}

func (e *env) boolean(name string, def bool) bool {
	v := e.getenv(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.fail(name, "must be true or false")
	}
	return b
}

func (e *env) integer(name string, def, lo, hi int64) int64 {
	v := e.getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		e.fail(name, fmt.Sprintf("must be an integer between %d and %d", lo, hi))
	}
	return n
}

func (e *env) size(name string, def int64) int64 {
	return e.integer(name, def, 1024, 1<<30)
}

func (e *env) duration(name string, def time.Duration) time.Duration {
	v := e.getenv(name)
	if v == "" {
		return def
	}
	d, err := parseDuration(v)
	if errors.Is(err, errDurationRange) {
		e.fail(name, "must be at most "+strconv.FormatInt(maxDays, 10)+"d")
	} else if err != nil || d < 0 {
		e.fail(name, "must be a duration like 30m, 12h or 30d")
	}
	return d
}

// interval is duration for a setting that must lie from lo to hi (no upper
// bound when hi is 0).
func (e *env) interval(name string, def, lo, hi time.Duration) time.Duration {
	d := e.duration(name, def)
	if e.err == nil && (d < lo || (hi > 0 && d > hi)) {
		if hi > 0 {
			e.fail(name, "must be from "+durText(lo)+" to "+durText(hi))
		} else {
			e.fail(name, "must be at least "+durText(lo))
		}
	}
	return d
}

// durText writes a bound the way the settings are written (1m, 12h).
func durText(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// maxDays is the largest day count a time.Duration holds.
const maxDays = int64(math.MaxInt64 / (24 * time.Hour))

// errDurationRange reports a day count past maxDays.
var errDurationRange = errors.New("duration out of range")

// parseDuration accepts Go durations plus a "d" (days) suffix. Days past
// maxDays are an error: multiplied out, they would wrap around to a small
// or negative duration (213504d to 25m26s).
func parseDuration(s string) (time.Duration, error) {
	if strings.HasSuffix(s, "d") {
		n, err := strconv.ParseInt(strings.TrimSuffix(s, "d"), 10, 64)
		if errors.Is(err, strconv.ErrRange) || n > maxDays || n < -maxDays {
			return 0, errDurationRange
		}
		if err != nil {
			return 0, err
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

func (e *env) keyRing() *vault.KeyRing {
	raw := e.required("POBLYSH_CRYPTO_KEY")
	if raw == "" || e.placeholder("POBLYSH_CRYPTO_KEY", raw, "key (generate one with: openssl rand -base64 32)") {
		return nil
	}
	cur, err := vault.ParseKey(raw)
	if err != nil {
		e.fail("POBLYSH_CRYPTO_KEY", "must be base64 of 32 random bytes (generate with: openssl rand -base64 32)")
		return nil
	}
	var retired []vault.Key
	for _, s := range strings.Split(e.getenv("POBLYSH_CRYPTO_RETIRED_KEYS"), ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		k, err := vault.ParseKey(s)
		if err != nil {
			e.fail("POBLYSH_CRYPTO_RETIRED_KEYS", "must be a comma-separated list of base64 32-byte keys")
			return nil
		}
		retired = append(retired, k)
	}
	return vault.NewKeyRing(cur, retired...)
}
