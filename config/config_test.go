package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/vault"
)

var (
	testKey     = vault.GenerateKey()
	testRetired = vault.GenerateKey()
)

// valid is a complete configuration for the API and worker.
func valid() map[string]string {
	return map[string]string{
		"DATABASE_URL":       "postgres://app:s3cret@db.internal:5432/poblysh?sslmode=disable",
		"POBLYSH_ADMIN_KEY":  strings.Repeat("a", 24),
		"POBLYSH_CRYPTO_KEY": testKey,
	}
}

func getenv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

var all = Needs{Admin: true, Crypto: true}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load(getenv(valid()), all)
	require.NoError(t, err)
	require.Equal(t, "poblysh_app", c.DBRole)
	require.Equal(t, "127.0.0.1:7233", c.TemporalAddress)
	require.Equal(t, "default", c.TemporalNamespace)
	require.False(t, c.TemporalTLS)
	require.Equal(t, "connectors", c.TaskQueue)
	require.Equal(t, "http://127.0.0.1:8233", c.TemporalUIURL)
	require.Equal(t, "127.0.0.1:8080", c.HTTPAddr)
	require.Equal(t, "http://127.0.0.1:8080", c.PublicURL)
	require.False(t, c.PublicURLSet)
	require.Equal(t, "127.0.0.1:9090", c.MetricsAddr, "metrics on loopback, apart from the API")
	require.Equal(t, "info", c.LogLevel)
	require.Equal(t, int64(1<<20), c.MaxBodyBytes)
	require.Equal(t, int64(5<<20), c.WebhookMaxBytes)
	require.Equal(t, 4, c.TenantSyncConcurrency)
	require.Equal(t, 30*24*time.Hour, c.RawRetention)
	require.Zero(t, c.SignalTTL)
	require.Equal(t, 30*24*time.Hour, c.JobRetention)
	require.Equal(t, time.Hour, c.RefreshInterval)
	require.Equal(t, 30*time.Minute, c.RenewalInterval)
	require.Equal(t, 10*time.Minute, c.StateTTL)
	require.Equal(t, 30*time.Second, c.ShutdownTimeout)
	require.Empty(t, c.RedirectAllowlist)
	require.Equal(t, strings.Repeat("a", 24), c.AdminKey)
	k, err := vault.ParseKey(testKey)
	require.NoError(t, err)
	require.Equal(t, k.ID, c.KeyRing.CurrentKeyID())
}

func TestLoadValues(t *testing.T) {
	t.Parallel()
	env := valid()
	for k, v := range map[string]string{
		"POBLYSH_HTTP_ADDR":               "0.0.0.0:9090",
		"POBLYSH_REDIRECT_ALLOWLIST":      " https://app.example.com/done , http://localhost:3000 ,",
		"POBLYSH_TENANT_SYNC_CONCURRENCY": "16",
		"POBLYSH_RAW_RETENTION":           "7d",
		"POBLYSH_SIGNAL_TTL":              "90d",
		"POBLYSH_JOB_RETENTION":           "24h",
		"POBLYSH_OAUTH_STATE_TTL":         "90s",
		"POBLYSH_MAX_BODY_BYTES":          "2048",
		"POBLYSH_TEMPORAL_UI_URL":         "https://temporal.example.com/",
		"TEMPORAL_TLS":                    "true",
		"POBLYSH_CRYPTO_RETIRED_KEYS":     testRetired + ", ",
		"POBLYSH_METRICS_ADDR":            "127.0.0.1:0",
		"POBLYSH_SHUTDOWN_TIMEOUT":        "2m",
		"POBLYSH_REFRESH_INTERVAL":        "1s",
		"POBLYSH_RENEWAL_INTERVAL":        "12h",
	} {
		env[k] = v
	}
	c, err := Load(getenv(env), all)
	require.NoError(t, err)
	require.Equal(t, "http://127.0.0.1:9090", c.PublicURL, "a wildcard listen address becomes loopback")
	require.Equal(t, []string{"https://app.example.com/done", "http://localhost:3000"}, c.RedirectAllowlist)
	require.Equal(t, 16, c.TenantSyncConcurrency)
	require.Equal(t, 7*24*time.Hour, c.RawRetention)
	require.Equal(t, 90*24*time.Hour, c.SignalTTL)
	require.Equal(t, 24*time.Hour, c.JobRetention, "the least")
	require.Equal(t, 90*time.Second, c.StateTTL)
	require.Equal(t, 2*time.Minute, c.ShutdownTimeout)
	require.Equal(t, time.Second, c.RefreshInterval)
	require.Equal(t, 12*time.Hour, c.RenewalInterval)
	require.Equal(t, int64(2048), c.MaxBodyBytes)
	require.Equal(t, "https://temporal.example.com", c.TemporalUIURL)
	require.True(t, c.TemporalTLS)
	require.Equal(t, "127.0.0.1:0", c.MetricsAddr, "tests pick a free port")

	// A retired key decrypts what it encrypted; the current key encrypts.
	old, err := vault.ParseKey(testRetired)
	require.NoError(t, err)
	aad := vault.AAD("t", "c", "access_token")
	ct, err := vault.NewKeyRing(old).Encrypt([]byte("tok"), aad)
	require.NoError(t, err)
	pt, err := c.KeyRing.Decrypt(ct, aad)
	require.NoError(t, err)
	require.Equal(t, "tok", string(pt))
	require.True(t, c.KeyRing.NeedsRotation(ct))

	env["POBLYSH_PUBLIC_URL"] = "https://connectors.example.com/"
	env["POBLYSH_HTTP_ADDR"] = "[::]:8080"
	c, err = Load(getenv(env), all)
	require.NoError(t, err)
	require.Equal(t, "https://connectors.example.com", c.PublicURL)
	require.True(t, c.PublicURLSet)
	// A scheme and host in capitals are valid and kept as written: the
	// callback URL registered at a provider is compared byte for byte
	// (the start page's cookie reads the parsed scheme for Secure).
	env["POBLYSH_PUBLIC_URL"] = "HTTPS://Connectors.Example.com/base/"
	c, err = Load(getenv(env), all)
	require.NoError(t, err)
	require.Equal(t, "HTTPS://Connectors.Example.com/base", c.PublicURL)

	env["POBLYSH_METRICS_ADDR"] = "off"
	c, err = Load(getenv(env), all)
	require.NoError(t, err)
	require.Empty(t, c.MetricsAddr, "off serves no metrics")
}

func TestLoadNeeds(t *testing.T) {
	t.Parallel()
	// migrate needs neither the admin key nor the crypto key.
	c, err := Load(getenv(map[string]string{"DATABASE_URL": "postgresql://localhost/poblysh"}), Needs{})
	require.NoError(t, err)
	require.Nil(t, c.KeyRing)
	require.Empty(t, c.AdminKey)
	// reencrypt needs the crypto key only.
	env := valid()
	delete(env, "POBLYSH_ADMIN_KEY")
	_, err = Load(getenv(env), Needs{Crypto: true})
	require.NoError(t, err)
	_, err = Load(getenv(env), all)
	require.EqualError(t, err, "config: POBLYSH_ADMIN_KEY: is required but not set")
}

// TestLoadRejectsBadValues: every bad value fails with one line naming the
// variable and never echoing the value (it may be a secret).
func TestLoadRejectsBadValues(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, value string // value "-" unsets the variable
	}{
		{"DATABASE_URL", "-"},
		{"DATABASE_URL", "   "},
		{"DATABASE_URL", "mysql://u:hunter2@localhost/db"},
		{"DATABASE_URL", "host=localhost user=app password=hunter2"},
		{"DATABASE_URL", "postgres://u:hunter2@[::1:5432/db"},
		{"POBLYSH_ADMIN_KEY", "-"},
		{"POBLYSH_ADMIN_KEY", "hunter2-too-short"},
		{"POBLYSH_ADMIN_KEY", strings.Repeat("a", 257)},
		{"POBLYSH_CRYPTO_KEY", "-"},
		{"POBLYSH_CRYPTO_KEY", "not base64 at all!"},
		{"POBLYSH_CRYPTO_KEY", "aHVudGVyMg=="}, // base64 of 7 bytes
		{"POBLYSH_CRYPTO_KEY", testKey[:20]},
		{"POBLYSH_CRYPTO_RETIRED_KEYS", testRetired + ",hunter2"},
		{"POBLYSH_HTTP_ADDR", "8080"},
		{"POBLYSH_HTTP_ADDR", "localhost"},
		{"POBLYSH_HTTP_ADDR", "127.0.0.1:http-alt"},
		{"POBLYSH_HTTP_ADDR", "127.0.0.1:70000"},
		{"POBLYSH_METRICS_ADDR", "9100"},
		{"POBLYSH_SHUTDOWN_TIMEOUT", "soon"},
		{"POBLYSH_SHUTDOWN_TIMEOUT", "-5s"},
		{"POBLYSH_METRICS_ADDR", "false"},
		{"POBLYSH_PUBLIC_URL", "connectors.example.com"},
		{"POBLYSH_PUBLIC_URL", "ftp://connectors.example.com"},
		{"POBLYSH_PUBLIC_URL", "https://"},
		{"POBLYSH_PUBLIC_URL", "http://[::1"},
		{"TEMPORAL_ADDRESS", "temporal"},
		{"TEMPORAL_ADDRESS", "temporal:port"},
		{"TEMPORAL_TLS", "yes please"},
		{"POBLYSH_REDIRECT_ALLOWLIST", "app.example.com"},
		{"POBLYSH_TENANT_SYNC_CONCURRENCY", "0"},
		{"POBLYSH_TENANT_SYNC_CONCURRENCY", "many"},
		{"POBLYSH_DB_MAX_CONNS", "1"},
		{"POBLYSH_DB_MAX_CONNS", "lots"},
		{"POBLYSH_MAX_BODY_BYTES", "10"},
		{"POBLYSH_WEBHOOK_MAX_BYTES", "5MB"},
		{"POBLYSH_RAW_RETENTION", "a month"},
		{"POBLYSH_RAW_RETENTION", "-1h"},
		{"POBLYSH_SIGNAL_TTL", "30x"},
		// A job must outlive its pass long enough to be read.
		{"POBLYSH_JOB_RETENTION", "0"},
		{"POBLYSH_JOB_RETENTION", "23h"},
		{"POBLYSH_JOB_RETENTION", "a month"},
		{"POBLYSH_JOB_RETENTION", "106752d"},
		{"POBLYSH_OAUTH_STATE_TTL", "ten minutes"},
		{"POBLYSH_REFRESH_INTERVAL", "1y"},
		{"POBLYSH_RENEWAL_INTERVAL", "d"},
		// Temporal refuses a schedule interval under a second, at the
		// worker's start, without naming the variable.
		{"POBLYSH_REFRESH_INTERVAL", "0"},
		{"POBLYSH_REFRESH_INTERVAL", "500ms"},
		{"POBLYSH_REFRESH_INTERVAL", "999ms"},
		{"POBLYSH_RENEWAL_INTERVAL", "0"},
		{"POBLYSH_RENEWAL_INTERVAL", "1ns"},
		// Sweeps further apart than their windows let tokens and channels lapse.
		{"POBLYSH_REFRESH_INTERVAL", "61m"},
		{"POBLYSH_RENEWAL_INTERVAL", "13h"},
		{"POBLYSH_RENEWAL_INTERVAL", "2d"},
		{"POBLYSH_OAUTH_STATE_TTL", "0"},
		{"POBLYSH_OAUTH_STATE_TTL", "5s"},
		// Days past time.Duration's range used to wrap around silently.
		{"POBLYSH_RAW_RETENTION", "213504d"},
		{"POBLYSH_SIGNAL_TTL", "106752d"},
		{"POBLYSH_RAW_RETENTION", "9223372036854775807d"},
		{"POBLYSH_PUBLIC_URL", "https://x.example/?a=1"},
		{"POBLYSH_PUBLIC_URL", "https://x.example/?"},
		{"POBLYSH_PUBLIC_URL", "https://x.example/#f"},
		{"POBLYSH_PUBLIC_URL", "https://x.example/base#"},
		{"POBLYSH_TEMPORAL_UI_URL", "not a url"},
		{"POBLYSH_TEMPORAL_UI_URL", "temporal.example.com"},
		{"POBLYSH_TEMPORAL_UI_URL", "ftp://temporal.example.com"},
		{"POBLYSH_TEMPORAL_UI_URL", "https://"},
		{"POBLYSH_TEMPORAL_UI_URL", "https://temporal.example.com/?ns=a"},
	}
	for _, tc := range cases {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			t.Parallel()
			env := valid()
			if tc.value == "-" {
				delete(env, tc.name)
			} else {
				env[tc.name] = tc.value
			}
			c, err := Load(getenv(env), all)
			require.Error(t, err)
			require.Nil(t, c)
			msg := err.Error()
			require.True(t, strings.HasPrefix(msg, "config: "+tc.name+": "), msg)
			require.NotContains(t, msg, "\n")
			require.NotContains(t, msg, "hunter2", "the value is never echoed")
			if len(tc.value) > 8 {
				require.NotContains(t, msg, tc.value)
			}
		})
	}
}

// TestLoadSaysTheBound: a value out of range gets the range, in the
// settings' own notation.
func TestLoadSaysTheBound(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"POBLYSH_REFRESH_INTERVAL=0":      "config: POBLYSH_REFRESH_INTERVAL: must be from 1s to 1h",
		"POBLYSH_RENEWAL_INTERVAL=24h":    "config: POBLYSH_RENEWAL_INTERVAL: must be from 1s to 12h",
		"POBLYSH_OAUTH_STATE_TTL=1s":      "config: POBLYSH_OAUTH_STATE_TTL: must be at least 1m",
		"POBLYSH_JOB_RETENTION=12h":       "config: POBLYSH_JOB_RETENTION: must be at least 24h",
		"POBLYSH_RAW_RETENTION=213504d":   "config: POBLYSH_RAW_RETENTION: must be at most 106751d",
		"POBLYSH_PUBLIC_URL=https://x/?a": "config: POBLYSH_PUBLIC_URL: must have no query or fragment (paths are appended to it)",
	} {
		env := valid()
		k, v, _ := strings.Cut(name, "=")
		env[k] = v
		_, err := Load(getenv(env), all)
		require.EqualError(t, err, want)
	}
}

// TestLoadReportsTheFirstProblem: with several bad variables the message
// still names one, deterministically.
func TestLoadReportsTheFirstProblem(t *testing.T) {
	t.Parallel()
	env := map[string]string{"POBLYSH_HTTP_ADDR": "nope", "POBLYSH_CRYPTO_KEY": "nope"}
	_, err := Load(getenv(env), all)
	require.EqualError(t, err, "config: DATABASE_URL: is required but not set")
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30m", 30 * time.Minute, true},
		{"12h", 12 * time.Hour, true},
		{"30d", 30 * 24 * time.Hour, true},
		{"0", 0, true},
		{"1h30m", 90 * time.Minute, true},
		{"d", 0, false},
		{"1.5d", 0, false},
		{"106751d", 106751 * 24 * time.Hour, true},
		{"106752d", 0, false},
		{"213504d", 0, false},
		{"-213504d", 0, false},
		{"9223372036854775807d", 0, false},
		{"30", 0, false},
		{"", 0, false},
	} {
		got, err := parseDuration(tc.in)
		if !tc.ok {
			require.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got, tc.in)
	}
}

func TestReadDotEnv(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, ".env")
	require.NoError(t, os.WriteFile(path, []byte(`# local development
DATABASE_URL=postgres://localhost/poblysh
export POBLYSH_ADMIN_KEY="quoted value with = sign"
  POBLYSH_LOG_LEVEL = 'debug'

EMPTY=
HASH=abc#not-a-comment
`), 0o600))
	got, err := ReadDotEnv(path)
	require.NoError(t, err)
	require.Equal(t, map[string]string{
		"DATABASE_URL":      "postgres://localhost/poblysh",
		"POBLYSH_ADMIN_KEY": "quoted value with = sign",
		"POBLYSH_LOG_LEVEL": "debug",
		"EMPTY":             "",
		"HASH":              "abc#not-a-comment",
	}, got)

	missing, err := ReadDotEnv(filepath.Join(dir, "absent.env"))
	require.NoError(t, err)
	require.Empty(t, missing)

	bad := filepath.Join(dir, "bad.env")
	require.NoError(t, os.WriteFile(bad, []byte("A=1\nthis line has no equals sign\n"), 0o600))
	_, err = ReadDotEnv(bad)
	require.EqualError(t, err, bad+":2: expected KEY=VALUE")

	// A variable set in the real environment wins over the file, even set
	// empty; the file fills only the variables not set.
	real := map[string]string{"POBLYSH_LOG_LEVEL": "warn", "POBLYSH_ADMIN_KEY": ""}
	get := Overlay(func(k string) (string, bool) { v, ok := real[k]; return v, ok }, got)
	require.Equal(t, "warn", get("POBLYSH_LOG_LEVEL"))
	require.Empty(t, get("POBLYSH_ADMIN_KEY"), "set empty: not the file's value")
	require.Equal(t, "postgres://localhost/poblysh", get("DATABASE_URL"))
	require.Empty(t, get("UNSET"))
}

func TestDurText(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		time.Second: "1s", 10 * time.Second: "10s", time.Minute: "1m", 10 * time.Minute: "10m",
		time.Hour: "1h", 12 * time.Hour: "12h", 90 * time.Minute: "1h30m", 90 * time.Second: "1m30s",
	} {
		require.Equal(t, want, durText(d))
	}
}

// TestLoadRefusesExamplePlaceholders: a secret still holding the
// placeholder .env.example ships (a .env copied from it and never edited)
// is refused, naming the variable and how to generate a value, never the
// value: REPLACE_WITH_A_LONG_RANDOM_STRING passed the admin key's length
// check, so such a deployment ran with a publicly known admin key. Every
// placeholder in .env.example is covered, each alone in a configuration
// otherwise valid.
func TestLoadRefusesExamplePlaceholders(t *testing.T) {
	t.Parallel()
	example, err := ReadDotEnv(filepath.Join("..", ".env.example"))
	require.NoError(t, err)
	want := map[string]string{
		"POBLYSH_ADMIN_KEY":  "config: POBLYSH_ADMIN_KEY: is the placeholder of .env.example; set a random value (generate one with: openssl rand -hex 24)",
		"POBLYSH_CRYPTO_KEY": "config: POBLYSH_CRYPTO_KEY: is the placeholder of .env.example; set a random key (generate one with: openssl rand -base64 32)",
	}
	found := map[string]bool{}
	for name, value := range example {
		if !strings.HasPrefix(value, "REPLACE_WITH") {
			continue
		}
		found[name] = true
		require.Contains(t, want, name, "a placeholder Load does not refuse")
		env := valid()
		env[name] = value
		c, err := Load(getenv(env), all)
		require.Nil(t, c)
		require.EqualError(t, err, want[name])
		require.NotContains(t, err.Error(), value)
	}
	require.Len(t, found, len(want), "placeholders in .env.example: %v", found)

	// Any value of the placeholder's form, not only the one shipped.
	env := valid()
	env["POBLYSH_ADMIN_KEY"] = "REPLACE_WITH_SOMETHING_AT_LEAST_24_CHARS"
	_, err = Load(getenv(env), all)
	require.EqualError(t, err, want["POBLYSH_ADMIN_KEY"])
}
