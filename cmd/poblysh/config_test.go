package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/config"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/testenv"
	"github.com/poblysh/poblysh/vault"
)

// configEnv is a complete, valid environment for serve whose Temporal
// address answers nothing: each case breaks one variable, so run must stop
// at that variable before dialing anything or listening.
func configEnv(t *testing.T, dbURL string) map[string]string {
	return map[string]string{
		"DATABASE_URL":         dbURL,
		"POBLYSH_ADMIN_KEY":    strings.Repeat("a", 32),
		"POBLYSH_CRYPTO_KEY":   vault.GenerateKey(),
		"POBLYSH_ENV_FILE":     "none",
		"POBLYSH_HTTP_ADDR":    fmt.Sprintf("127.0.0.1:%d", testenv.FreePort()),
		"POBLYSH_METRICS_ADDR": "127.0.0.1:0",
		"TEMPORAL_ADDRESS":     "127.0.0.1:1",
	}
}

// TestConfigBadEnvironment: bad configuration makes run fail (main then
// exits 1) with one line naming the variable, and no server starts.
func TestConfigBadEnvironment(t *testing.T) {
	t.Parallel()
	// Provider settings are checked after connecting, so those cases need
	// a real database.
	dbURL := dbtest.NewSchema(t).OwnerURL
	cases := []struct {
		cmd, name, value string // value "-" unsets name
		want             string // the whole message
	}{
		{"serve", "DATABASE_URL", "-", "config: DATABASE_URL: is required but not set"},
		{"serve", "DATABASE_URL", "mysql://root:hunter2@localhost/app", "config: DATABASE_URL: must be a postgres:// URL"},
		{"serve", "DATABASE_URL", "postgres://u:hunter2@127.0.0.1:1/db?connect_timeout=2", "db: connect: could not connect to Postgres (check DATABASE_URL and that the server is running)"},
		{"serve", "POBLYSH_CRYPTO_KEY", "-", "config: POBLYSH_CRYPTO_KEY: is required but not set"},
		{"serve", "POBLYSH_CRYPTO_KEY", "hunter2 is not base64!", "config: POBLYSH_CRYPTO_KEY: must be base64 of 32 random bytes (generate with: openssl rand -base64 32)"},
		{"serve", "POBLYSH_CRYPTO_KEY", "aHVudGVyMg==", "config: POBLYSH_CRYPTO_KEY: must be base64 of 32 random bytes (generate with: openssl rand -base64 32)"},
		{"serve", "POBLYSH_ADMIN_KEY", "hunter2", "config: POBLYSH_ADMIN_KEY: must be at least 24 characters"},
		{"api", "POBLYSH_ADMIN_KEY", "-", "config: POBLYSH_ADMIN_KEY: is required but not set"},
		{"serve", "POBLYSH_HTTP_ADDR", "8080", "config: POBLYSH_HTTP_ADDR: must be host:port with a numeric port"},
		{"serve", "POBLYSH_PUBLIC_URL", "connectors.example.com", "config: POBLYSH_PUBLIC_URL: must be an absolute http(s) URL"},
		{"serve", "POBLYSH_LOG_LEVEL", "loud", `config: POBLYSH_LOG_LEVEL: not a valid logrus Level: "loud"`},
		{"worker", "POBLYSH_RAW_RETENTION", "a month", "config: POBLYSH_RAW_RETENTION: must be a duration like 30m, 12h or 30d"},
		{"reencrypt", "POBLYSH_CRYPTO_RETIRED_KEYS", "hunter2", "config: POBLYSH_CRYPTO_RETIRED_KEYS: must be a comma-separated list of base64 32-byte keys"},
		{"serve", "POBLYSH_GITHUB_API_URL", "not-a-url", "config: POBLYSH_GITHUB_API_URL: must be an absolute http(s) URL"},
		{"serve", "POBLYSH_GOOGLE_TOKEN_URL", "ftp://oauth2.example.com/token", "config: POBLYSH_GOOGLE_TOKEN_URL: must be an absolute http(s) URL"},
		// Google's free-text settings are checked at start: a malformed one
		// failed only later, at each watch, push or identify that used it.
		{"serve", "POBLYSH_GMAIL_PUBSUB_TOPIC", "gmail-push", `config: gmail: invalid configuration: POBLYSH_GMAIL_PUBSUB_TOPIC ("gmail-push") ` +
			"must be a Pub/Sub topic name, projects/<project>/topics/<topic>"},
		{"serve", "POBLYSH_GOOGLE_PUBSUB_TOPIC", "projects/poblysh-prod/topics/google-push", `config: gmail: invalid configuration: POBLYSH_GOOGLE_PUBSUB_TOPIC ` +
			`("projects/poblysh-prod/topics/google-push") must be a Pub/Sub topic name, projects/<project>/topics/<topic>: a topic id may not start with "goog"`},
		{"serve", "POBLYSH_GMAIL_PUSH_SERVICE_ACCOUNT", "gmail push", "config: gmail: invalid configuration: POBLYSH_GMAIL_PUSH_SERVICE_ACCOUNT " +
			"must be the push subscription's service account, an email address such as push@my-project.iam.gserviceaccount.com"},
		{"serve", "POBLYSH_GMAIL_PUSH_ISSUER", "accounts.google.com", "config: gmail: invalid configuration: POBLYSH_GMAIL_PUSH_ISSUER " +
			"must be an absolute http(s) URL (Google's: https://accounts.google.com)"},
		{"serve", "POBLYSH_GMAIL_PUSH_JWKS_URL", "/oauth2/v3/certs", "config: gmail: invalid configuration: POBLYSH_GMAIL_PUSH_JWKS_URL must be an absolute http(s) URL"},
		{"serve", "POBLYSH_GOOGLE_CALENDAR_USERINFO_URL", "openidconnect.googleapis.com/v1/userinfo",
			"config: google-calendar: invalid configuration: POBLYSH_GOOGLE_CALENDAR_USERINFO_URL must be an absolute http(s) URL"},
		{"serve", "POBLYSH_GOOGLE_DRIVE_USERINFO_URL", "ftp://openidconnect.googleapis.com/v1/userinfo",
			"config: google-drive: invalid configuration: POBLYSH_GOOGLE_DRIVE_USERINFO_URL must be an absolute http(s) URL"},
		// The renewal sweep (every 30 m) could not see an hour-long channel
		// twice before it expires.
		{"worker", "POBLYSH_GOOGLE_CALENDAR_CHANNEL_TTL", "1h", "config: POBLYSH_GOOGLE_CALENDAR_CHANNEL_TTL (1h) must be at least 3 × POBLYSH_RENEWAL_INTERVAL (30m), 1h30m, " +
			"for two renewal sweeps to see each channel before it expires; raise it, or shorten POBLYSH_RENEWAL_INTERVAL"},
	}
	for _, tc := range cases {
		t.Run(tc.cmd+" "+tc.name+"="+tc.value, func(t *testing.T) {
			t.Parallel()
			env := configEnv(t, dbURL)
			if tc.value == "-" {
				delete(env, tc.name)
			} else {
				env[tc.name] = tc.value
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var out, errOut bytes.Buffer
			start := time.Now()
			err := run(ctx, []string{tc.cmd}, envOf(env), &out, &errOut)
			require.Error(t, err)
			require.Less(t, time.Since(start), 20*time.Second, "run must fail at once, not serve until cancelled")
			require.NoError(t, ctx.Err())
			require.Equal(t, tc.want, err.Error())
			require.NotContains(t, err.Error(), "\n", "one line")
			require.NotContains(t, err.Error(), "hunter2", "secrets are never echoed")
			require.Empty(t, errOut.String())
			require.NotContains(t, out.String(), "listening")
			c, derr := net.DialTimeout("tcp", env["POBLYSH_HTTP_ADDR"], time.Second)
			if derr == nil {
				c.Close()
				t.Fatalf("something listens on %s: no server may start with a bad configuration", env["POBLYSH_HTTP_ADDR"])
			}
		})
	}
}

// TestConfigSharedSecretNotGmails: with the shared
// POBLYSH_GOOGLE_WEBHOOK_SECRET set (Calendar's and Drive's), the start
// says once, in one log line naming the variables and not the value, that
// Gmail does not read it; it refuses nothing for it. (The worker stops
// here at a channel life it refuses, after the line, before any database.)
func TestConfigSharedSecretNotGmails(t *testing.T) {
	t.Parallel()
	env := configEnv(t, "postgres://poblysh@127.0.0.1:1/poblysh")
	env["POBLYSH_GOOGLE_WEBHOOK_SECRET"] = "hunter2-shared-channel-secret"
	env["POBLYSH_GOOGLE_CALENDAR_CHANNEL_TTL"] = "1h"
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"worker"}, envOf(env), &out, &errOut)
	require.ErrorContains(t, err, "POBLYSH_GOOGLE_CALENDAR_CHANNEL_TTL (1h)", "only the channel life stops it")
	const line = "config: POBLYSH_GOOGLE_WEBHOOK_SECRET is not read by gmail: it reads WEBHOOK_SECRET from POBLYSH_GMAIL_WEBHOOK_SECRET only"
	require.Equal(t, 1, strings.Count(out.String(), line), out.String())
	require.Equal(t, 1, strings.Count(out.String(), "is not read by"), "Calendar and Drive read it")
	require.NotContains(t, out.String(), "hunter2")

	// The help lists it under Calendar and Drive, not under Gmail.
	out.Reset()
	errOut.Reset()
	require.NoError(t, run(context.Background(), []string{"worker", "--help"}, envOf(map[string]string{"POBLYSH_ENV_FILE": "none"}), &out, &errOut))
	help := out.String() + errOut.String()
	part := func(provider string) []string {
		i := strings.Index(help, "\n"+provider+" (")
		require.GreaterOrEqual(t, i, 0, provider)
		p, _, _ := strings.Cut(help[i+1:], "\n\n")
		return strings.Fields(p)
	}
	require.NotContains(t, part("gmail"), "POBLYSH_GOOGLE_WEBHOOK_SECRET")
	require.Contains(t, part("gmail"), "POBLYSH_GMAIL_WEBHOOK_SECRET")
	require.Contains(t, part("google-calendar"), "POBLYSH_GOOGLE_WEBHOOK_SECRET")
}

func TestConfigUsage(t *testing.T) {
	t.Parallel()
	env := envOf(map[string]string{"POBLYSH_ENV_FILE": "none"})
	ctx := context.Background()

	var out, errOut bytes.Buffer
	require.NoError(t, run(ctx, []string{"--help"}, env, &out, &errOut))
	require.Contains(t, out.String(), "Usage: poblysh <command> [flags]")
	for _, c := range []string{"serve", "api", "worker", "migrate", "reencrypt", "sandbox"} {
		require.Regexp(t, `(?m)^  `+c+` +\S`, out.String(), "the root usage lists %s", c)
	}
	require.Contains(t, out.String(), "DATABASE_URL")

	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"migrate", "--help"}, []string{"Usage: poblysh migrate [status]\n", "forward-only SQL migrations"}},
		{[]string{"migrate", "-h"}, []string{"Usage: poblysh migrate [status]\n"}},
		{[]string{"reencrypt", "--help"}, []string{"Usage: poblysh reencrypt [flags]", "Flags:", "-batch", "rows per transaction"}},
		{[]string{"serve", "--help"}, []string{"Usage: poblysh serve\n", "POBLYSH_HTTP_ADDR"}},
	} {
		out.Reset()
		errOut.Reset()
		require.NoError(t, run(ctx, tc.args, env, &out, &errOut), "%v", tc.args)
		for _, w := range tc.want {
			require.Contains(t, errOut.String()+out.String(), w, "%v", tc.args)
		}
	}

	// No command, or an unknown one, prints usage and fails (exit 1) without
	// another message.
	out.Reset()
	require.ErrorIs(t, run(ctx, nil, env, &out, &errOut), errUsage)
	require.Contains(t, out.String(), "Usage: poblysh")
	errOut.Reset()
	require.ErrorIs(t, run(ctx, []string{"srve"}, env, &out, &errOut), errUsage)
	require.Contains(t, errOut.String(), `poblysh: unknown command "srve"`)
	errOut.Reset()
	err := run(ctx, []string{"migrate", "--no-such-flag"}, env, &out, &errOut)
	require.Error(t, err)
	require.Contains(t, errOut.String(), "flag provided but not defined: -no-such-flag")
}

// TestConfigMainExitCode runs main in a child process: a bad configuration
// exits 1 and prints exactly one line naming the variable.
func TestConfigMainExitCode(t *testing.T) {
	if args := os.Getenv("POBLYSH_CONFIG_TEST_MAIN_ARGS"); args != "" {
		os.Args = append([]string{"poblysh"}, strings.Fields(args)...)
		main()
		os.Exit(0)
	}
	t.Parallel()
	child := func(args string, env ...string) (int, string, string) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestConfigMainExitCode$")
		cmd.Env = append([]string{"POBLYSH_CONFIG_TEST_MAIN_ARGS=" + args, "POBLYSH_ENV_FILE=none", "PATH=" + os.Getenv("PATH")}, env...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
		return code, out.String(), errOut.String()
	}

	code, _, stderr := child("serve")
	require.Equal(t, 1, code)
	require.Equal(t, "poblysh: config: DATABASE_URL: is required but not set\n", stderr)

	code, _, stderr = child("api", "DATABASE_URL=postgres://localhost/x", "POBLYSH_CRYPTO_KEY="+vault.GenerateKey(), "POBLYSH_ADMIN_KEY=short")
	require.Equal(t, 1, code)
	require.Equal(t, "poblysh: config: POBLYSH_ADMIN_KEY: must be at least 24 characters\n", stderr)

	code, _, stderr = child("nonsense")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "unknown command")

	code, stdout, _ := child("--help")
	require.Equal(t, 0, code)
	require.Contains(t, stdout, "Usage: poblysh")
}

// TestDotEnvSetEmptyVariableWins: a variable set in the real environment
// wins over .env even when set empty, as README.md and .env.example say.
// docs/key-rotation.md's last step deploys POBLYSH_CRYPTO_RETIRED_KEYS=
// (empty): the old key stayed in the ring while a .env still held it.
func TestDotEnvSetEmptyVariableWins(t *testing.T) {
	t.Parallel()
	f := filepath.Join(t.TempDir(), ".env")
	require.NoError(t, os.WriteFile(f, []byte("POBLYSH_REDIRECT_ALLOWLIST=https://old.example/\nPOBLYSH_LOG_LEVEL=warn\n"), 0o600))
	real := map[string]string{"POBLYSH_ENV_FILE": f, "POBLYSH_REDIRECT_ALLOWLIST": "", "DATABASE_URL": "postgres://x/y"}
	env, err := dotenv(envOf(real))
	require.NoError(t, err)
	cfg, err := config.Load(env, config.Needs{})
	require.NoError(t, err)
	require.Empty(t, cfg.RedirectAllowlist, "the real (empty) variable wins over .env")
	require.Equal(t, "warn", cfg.LogLevel, ".env fills a variable the environment does not set")
}
