package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/sandbox"
)

// TestSandboxCommand runs `poblysh sandbox` with free ports: every
// registered fake serves, and the env file points the service at each one,
// with the OAuth clients and webhook secrets read from the service's own
// variables (fallback prefix included), a fresh secret where none is set,
// and POBLYSH_SANDBOX_URLS for the scripts.
func TestSandboxCommand(t *testing.T) {
	t.Parallel()
	envFile := filepath.Join(t.TempDir(), "sandbox.env")
	getenv := envOf(map[string]string{
		"POBLYSH_ENV_FILE":                      "none",
		"POBLYSH_PUBLIC_URL":                    "http://127.0.0.1:1",
		"POBLYSH_GITHUB_WEBHOOK_SECRET":         "github-hook-secret-from-env",
		"POBLYSH_GOOGLE_CLIENT_ID":              "shared-google-client",
		"POBLYSH_GOOGLE_CALENDAR_CLIENT_SECRET": "calendar-secret-from-env",
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	out := &syncBuffer{}
	go func() {
		done <- run(ctx, []string{"sandbox", "--base-port", "0", "--env-out", envFile, "--fault", "slack:token-rotation"}, getenv, out, out)
	}()
	eventually(t, 10*time.Second, "the env file", func() bool {
		_, err := os.Stat(envFile)
		return err == nil
	})
	info, err := os.Stat(envFile)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "the file holds secrets")
	raw, err := os.ReadFile(envFile)
	require.NoError(t, err)
	env := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		require.True(t, ok, line)
		env[k] = v
	}

	var started []string
	for _, pair := range strings.Split(env[sandboxURLsVar], ",") {
		name, u, ok := strings.Cut(pair, "=")
		require.True(t, ok, pair)
		started = append(started, name)
		prefix := "POBLYSH_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_"
		require.True(t, strings.HasPrefix(env[prefix+"API_URL"], u+"/"), "%s: the service's API URL is the fake's", name)
		require.True(t, strings.HasPrefix(env[prefix+"TOKEN_URL"], u+"/"), "%s", name)
		resp, err := http.Get(env[prefix+"API_URL"])
		require.NoError(t, err, "%s serves", name)
		resp.Body.Close()
	}
	require.Equal(t, sandbox.Registered(), started, "every registered fake, in name order")
	require.Equal(t, "github-hook-secret-from-env", env["POBLYSH_GITHUB_WEBHOOK_SECRET"])
	require.Equal(t, "shared-google-client", env["POBLYSH_GOOGLE_CALENDAR_CLIENT_ID"], "the connector's fallback prefix is read")
	require.Equal(t, "calendar-secret-from-env", env["POBLYSH_GOOGLE_CALENDAR_CLIENT_SECRET"])
	require.Regexp(t, `^[0-9a-f]{32}$`, env["POBLYSH_SLACK_WEBHOOK_SECRET"], "a fresh secret when none is set")
	require.Regexp(t, `^[0-9a-f]{32}$`, env["POBLYSH_GOOGLE_CALENDAR_WEBHOOK_SECRET"])
	require.NotEqual(t, env["POBLYSH_SLACK_WEBHOOK_SECRET"], env["POBLYSH_GOOGLE_CALENDAR_WEBHOOK_SECRET"])
	require.Contains(t, out.String(), "sandbox: deliveries go to http://127.0.0.1:1/api/v1/webhooks/<provider>")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("poblysh sandbox did not stop")
	}
}

func TestSandboxCommandFlags(t *testing.T) {
	t.Parallel()
	getenv := envOf(map[string]string{"POBLYSH_ENV_FILE": "none"})
	var out, errOut bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"sandbox", "--list", "--base-port", "9300", "--only", "slack, github,slack"}, getenv, &out, &errOut))
	require.Equal(t, "github 127.0.0.1:9300\nslack 127.0.0.1:9301\n", out.String(), "consecutive ports in name order")

	out.Reset()
	require.NoError(t, run(context.Background(), []string{"sandbox", "--list"}, getenv, &out, &errOut))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, len(sandbox.Registered()))
	require.Equal(t, sandbox.Registered()[0]+" 127.0.0.1:9101", lines[0], "from 9101 by default")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--only", "gitlab"}, `--only "gitlab": no fake registered (known: `},
		{[]string{"--only", ","}, "--only names no provider"},
		{[]string{"--fault", "github"}, "want provider:name"},
		{[]string{"--only", "github", "--fault", "slack:token-rotation"}, `--fault "slack:token-rotation": slack is not started`},
		{[]string{"--base-port", "0", "--only", "github", "--fault", "github:no-such-fault"}, `sandbox github: unknown fault "no-such-fault" (known: github-app, small-budget, cursor-pages)`},
		{[]string{"--base-port", "65535", "--list"}, "--base-port 65535: the"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		err := run(context.Background(), append([]string{"sandbox"}, tc.args...), getenv, &out, &errOut)
		require.ErrorContains(t, err, tc.want, "%v", tc.args)
	}
}
