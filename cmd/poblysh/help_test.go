package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestServeHelpListsEnvironment: --help of serve, api and worker lists the
// environment variables each reads (recorded from the configuration code)
// instead of [flags] they do not take, and exits 0.
func TestServeHelpListsEnvironment(t *testing.T) {
	t.Parallel()
	for cmd, admin := range map[string]bool{"serve": true, "api": true, "worker": false} {
		var out, errOut bytes.Buffer
		require.NoError(t, run(context.Background(), []string{cmd, "--help"}, func(string) string { return "" }, &out, &errOut))
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
	require.NoError(t, run(context.Background(), []string{"sandbox", "--help"}, func(string) string { return "" }, &bytes.Buffer{}, &errOut))
	require.Contains(t, errOut.String(), "[flags]")
}
