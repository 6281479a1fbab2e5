package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/poblysh/poblysh/config"
)

// errUsage is returned after usage was printed; main exits 1 silently.
var errUsage = errors.New("usage")

type command struct {
	summary string
	usage   string
	run     func(ctx context.Context, fs *flag.FlagSet, args []string, getenv func(string) string, stdout, stderr io.Writer) error
}

var commands = map[string]command{
	"serve": {
		summary: "run the API and the Temporal worker in one process (the local default)",
		usage: `Runs the REST API on POBLYSH_HTTP_ADDR and a Temporal worker on the task
queue POBLYSH_TASK_QUEUE, and creates the sweeper schedules (token refresh,
watch renewal, retention) idempotently. Stops gracefully on SIGINT/SIGTERM.`,
		run: runServe(true, true),
	},
	"api": {
		summary: "run only the REST API",
		usage:   `Runs the REST API on POBLYSH_HTTP_ADDR. Scale it horizontally; it is stateless.`,
		run:     runServe(true, false),
	},
	"worker": {
		summary: "run only the Temporal worker",
		usage:   `Runs a Temporal worker for the workflows and activities. Scale it horizontally.`,
		run:     runServe(false, true),
	},
	"migrate": {
		summary: "apply pending database migrations and exit",
		usage: `Applies the embedded, forward-only SQL migrations to DATABASE_URL, each in
its own transaction. Safe to run concurrently and repeatedly. Connect as the
schema owner; the app role poblysh_app is created and granted here.`,
		run: runMigrate,
	},
	"reencrypt": {
		summary: "re-encrypt every stored token under the current key",
		usage: `Moves every ciphertext (OAuth tokens, pending PKCE verifiers) to the key in
POBLYSH_CRYPTO_KEY, decrypting with the keys in POBLYSH_CRYPTO_RETIRED_KEYS.
Idempotent and resumable (batches commit as they go); safe while the service
runs. See docs/key-rotation.md.`,
		run: runReencrypt,
	},
	"sandbox": {
		summary: "run the local provider sandbox (fake GitHub, Slack, Google Calendar)",
		usage: `Runs stateful fakes of the providers on loopback, speaking their real wire
formats, and prints the POBLYSH_* variables that point the service at them.`,
		run: runSandbox,
	},
}

func rootUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: poblysh <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, `
Configuration comes from the environment and, for local development, a .env
file in the working directory (real environment variables win). Required:
DATABASE_URL, POBLYSH_CRYPTO_KEY, and POBLYSH_ADMIN_KEY for the API. See
.env.example and README.md.

Run "poblysh <command> --help" for details.`)
}

// run is the whole program; tests call it with their own environment.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		rootUsage(stdout)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "poblysh: unknown command %q\n\n", args[0])
		rootUsage(stderr)
		return errUsage
	}
	fs := flag.NewFlagSet("poblysh "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: poblysh %s [flags]\n\n%s\n", args[0], strings.TrimSpace(cmd.usage))
		var hasFlags bool
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(fs.Output(), "\nFlags:")
			fs.PrintDefaults()
		}
	}
	env, err := dotenv(getenv)
	if err != nil {
		return err
	}
	err = cmd.run(ctx, fs, args[1:], env, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

// dotenv overlays a ./.env file (if any) under the real environment.
func dotenv(getenv func(string) string) (func(string) string, error) {
	path := getenv("POBLYSH_ENV_FILE")
	if path == "" {
		path = ".env"
	}
	if path == "none" {
		return getenv, nil
	}
	file, err := config.ReadDotEnv(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return config.Overlay(getenv, file), nil
}
