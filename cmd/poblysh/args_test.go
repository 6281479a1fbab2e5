package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Go's flag parsing stops at the first positional argument, so the flags
// after it were silently dropped: `poblysh api migrate` served, and
// `poblysh reencrypt dry-run --batch 0` re-encrypted for real. Every
// command that takes no positional argument refuses one, naming it,
// before it reads its configuration or touches anything.
func TestCommandsRefuseExtraArguments(t *testing.T) {
	t.Parallel()
	// A database nothing listens on: a command that went on would fail
	// connecting, not on its argument.
	env := configEnv(t, "postgres://postgres@127.0.0.1:1/poblysh?connect_timeout=2")
	getenv := envOf(env)
	for _, cmd := range []string{"serve", "api", "worker", "reencrypt", "sandbox"} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var out, errOut bytes.Buffer
		err := run(ctx, []string{cmd, "migrate", "--batch", "0"}, getenv, &out, &errOut)
		cancel()
		require.EqualError(t, err, cmd+`: unexpected argument "migrate"`)
		require.Empty(t, out.String(), cmd)
	}
}

// The refused argument of `poblysh reencrypt dry-run` changed nothing: the
// next run moves the connection it would have moved.
func TestReencryptExtraArgumentMovesNothing(t *testing.T) {
	t.Parallel()
	env := staleToken(t)
	getenv := envOf(env)
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"reencrypt", "dry-run", "--batch", "1"}, getenv, &out, &errOut)
	require.EqualError(t, err, `reencrypt: unexpected argument "dry-run"`)
	require.Empty(t, out.String())
	require.NoError(t, run(context.Background(), []string{"reencrypt"}, getenv, &out, &errOut))
	require.Contains(t, out.String(), "reencrypt: 1 connections, 0 pending authorizations and 0 hook secrets moved to key ")
}
