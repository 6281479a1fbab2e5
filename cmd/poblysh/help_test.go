package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/vault"
)

// TestServeHelpListsEnvironment: --help of serve, api and worker lists the
// environment variables each reads (recorded from the configuration code)
// instead of [flags] they do not take, and exits 0.
func TestServeHelpListsEnvironment(t *testing.T) {
	t.Parallel()
	for cmd, admin := range map[string]bool{"serve": true, "api": true, "worker": false} {
		var out, errOut bytes.Buffer
		require.NoError(t, run(context.Background(), []string{cmd, "--help"}, envOf(nil), &out, &errOut))
		help := errOut.String()
		require.Contains(t, help, "Usage: poblysh "+cmd+"\n", cmd)
		require.NotContains(t, help, "[flags]", cmd)
		for _, v := range []string{"DATABASE_URL", "POBLYSH_CRYPTO_KEY", "POBLYSH_TASK_QUEUE", "TEMPORAL_ADDRESS", "POBLYSH_METRICS_ADDR",
			"POBLYSH_ENV_FILE", "POBLYSH_GITHUB_CLIENT_ID", "POBLYSH_ZOHO_MAIL_WEBHOOK_SECRET"} {
			require.Contains(t, help, v, "%s --help lists %s", cmd, v)
		}
		if admin {
			require.Contains(t, help, "POBLYSH_ADMIN_KEY", cmd)
		} else {
			require.NotContains(t, help, "POBLYSH_ADMIN_KEY", "the worker does not read the admin key")
		}
	}
	// A command with flags still shows them.
	var errOut bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"sandbox", "--help"}, envOf(nil), &bytes.Buffer{}, &errOut))
	require.Contains(t, errOut.String(), "[flags]")
}

// TestHelpListsEveryVariableTheCommandReads runs each command that loads
// the configuration for real, up to its first connection (a database
// nothing listens on), recording every variable it asks for, and checks
// its --help lists each one. The values are the least that gets past the
// configuration: a valid crypto key (the retired keys are read only after
// it parses) and admin key. serve read POBLYSH_CRYPTO_RETIRED_KEYS and the
// providers' own settings (POBLYSH_GITHUB_SCOPES, read by the connector's
// New) without --help naming them.
func TestHelpListsEveryVariableTheCommandReads(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"serve", "api", "worker", "reencrypt", "migrate"} {
		var out, help bytes.Buffer
		require.NoError(t, run(context.Background(), []string{cmd, "--help"}, envOf(nil), &out, &help))
		env := map[string]string{
			"POBLYSH_ENV_FILE":   "none",
			"DATABASE_URL":       "postgres://postgres@127.0.0.1:1/poblysh?connect_timeout=2",
			"POBLYSH_CRYPTO_KEY": vault.GenerateKey(),
			"POBLYSH_ADMIN_KEY":  strings.Repeat("a", 32),
		}
		read := map[string]bool{}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := run(ctx, []string{cmd}, func(k string) (string, bool) { read[k] = true; v, ok := env[k]; return v, ok }, &out, &out)
		cancel()
		require.ErrorContains(t, err, "could not connect to Postgres", "%s got past its configuration", cmd)
		for k := range read {
			require.Regexp(t, `\b`+regexp.QuoteMeta(k)+`\b`, help.String(), "%s reads %s: its --help lists it", cmd, k)
		}
		if cmd == "serve" {
			for _, k := range []string{"POBLYSH_CRYPTO_RETIRED_KEYS", "POBLYSH_GITHUB_SCOPES", "POBLYSH_GMAIL_PUBSUB_TOPIC"} {
				require.True(t, read[k], "serve reads %s", k)
			}
		}
	}
}
