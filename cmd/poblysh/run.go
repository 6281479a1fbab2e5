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
	args    string // positional arguments, for the usage line
	usage   string
	// env, when set, makes --help list the environment variables the
	// command reads (config.Load with these needs), and with providers
	// the providers' too (the command builds every connector).
	env       *config.Needs
	providers bool
	run       func(ctx context.Context, fs *flag.FlagSet, args []string, getenv func(string) string, stdout, stderr io.Writer) error
}

var commands = map[string]command{
	"serve": {
		summary: "run the API and the Temporal worker in one process (the local default)",
		usage: `Runs the REST API on POBLYSH_HTTP_ADDR and a Temporal worker on the task
queue POBLYSH_TASK_QUEUE, and creates the sweeper schedules (token refresh,
watch renewal, retention, activation of connections stored while Temporal
was unreachable) idempotently. Serves Prometheus /metrics and Go
profiles (/debug/pprof/) on POBLYSH_METRICS_ADDR only (default 127.0.0.1:9090,
"off" for none). Stops gracefully on SIGINT/SIGTERM: requests in flight drain
and running activities finish within POBLYSH_SHUTDOWN_TIMEOUT (default 30s),
after the API served on for POBLYSH_SHUTDOWN_DELAY (default 0) with /readyz
answering 503. Refuses to start while a migration is pending, and on a
database restored by a logical copy into a new cluster (its transaction
counter behind the stored Signals: docs/reliability.md, "Restoring a
backup").`,
		env:       &config.Needs{Admin: true, Crypto: true},
		providers: true,
		run:       runServe(true, true),
	},
	"api": {
		summary: "run only the REST API",
		usage: `Runs the REST API on POBLYSH_HTTP_ADDR. Scale it horizontally; it is stateless.
Metrics and profiles: POBLYSH_METRICS_ADDR, as for serve.`,
		env:       &config.Needs{Admin: true, Crypto: true},
		providers: true,
		run:       runServe(true, false),
	},
	"worker": {
		summary: "run only the Temporal worker",
		usage: `Runs a Temporal worker for the workflows and activities. Scale it horizontally.
Metrics and profiles: POBLYSH_METRICS_ADDR, as for serve.`,
		env:       &config.Needs{Crypto: true},
		providers: true,
		run:       runServe(false, true),
	},
	"migrate": {
		summary: "apply pending database migrations and exit (status: list them)",
		args:    "[status]",
		usage: `Applies the embedded, forward-only SQL migrations to DATABASE_URL, each in
its own transaction (goose, under an advisory lock). Safe to run concurrently
and repeatedly. Connect as the schema owner (a superuser, or a role with
CREATEROLE); the app role poblysh_app is created and granted here, and an
owner that may not SET ROLE to it yet is made a member of it. A database
migrated by an earlier poblysh is
adopted on first use: nothing is applied twice. Refuses, as serve does, a
database restored by a logical copy into a new cluster.

"poblysh migrate status" prints each migration and whether it is applied,
and applies nothing (on a database never migrated it creates nothing
either).`,
		env: &config.Needs{},
		run: runMigrate,
	},
	"reencrypt": {
		summary: "re-encrypt every stored secret (tokens, hook secrets) under the current key",
		usage: `Moves every ciphertext (OAuth tokens, pending PKCE verifiers and states, and
the secrets of watch channels that have their own: GitHub repository hooks)
to the key in POBLYSH_CRYPTO_KEY, decrypting with the keys in
POBLYSH_CRYPTO_RETIRED_KEYS. Idempotent and resumable (batches commit as
they go); safe while the service runs. See docs/key-rotation.md.`,
		env: &config.Needs{Crypto: true},
		run: runReencrypt,
	},
	"sandbox": {
		summary: "run the local provider sandbox (a fake of every provider)",
		usage: `Runs every registered provider fake (sandbox.Register; sandbox/all) on
loopback, on consecutive ports from --base-port in name order, speaking the
providers' real wire formats, and prints (or writes with --env-out) the
POBLYSH_* variables that point the service at them, plus
POBLYSH_SANDBOX_URLS (name=url,...) for scripts. OAuth clients and webhook
secrets are read from the service's own variables; a missing webhook secret
is generated. Stops on SIGINT/SIGTERM.`,
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
file in the working directory (a variable set in the real environment, even
empty, wins over the file). Required: DATABASE_URL, POBLYSH_CRYPTO_KEY, and
POBLYSH_ADMIN_KEY for the API. See .env.example and README.md.

Run "poblysh <command> --help" for details.`)
}

// run is the whole program; tests call it with their own environment.
// lookupenv is os.LookupEnv's shape: it tells a variable set empty, which
// wins over .env, from one not set.
func run(ctx context.Context, args []string, lookupenv func(string) (string, bool), stdout, stderr io.Writer) error {
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
		var hasFlags bool
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		line := args[0] + " " + cmd.args
		if hasFlags {
			line = args[0] + " [flags] " + cmd.args
		}
		fmt.Fprintf(fs.Output(), "Usage: poblysh %s\n\n%s\n", strings.TrimSpace(line), strings.TrimSpace(cmd.usage))
		if hasFlags {
			fmt.Fprintln(fs.Output(), "\nFlags:")
			fs.PrintDefaults()
		}
		if cmd.env != nil {
			printEnv(fs.Output(), *cmd.env, cmd.providers)
		}
	}
	env, err := dotenv(lookupenv)
	if err != nil {
		return err
	}
	err = cmd.run(ctx, fs, args[1:], env, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

// parseFlags parses the flags of a command that takes no positional
// argument, and refuses one: flag parsing stops at the first, so the flags
// after it would be dropped without a word (`poblysh reencrypt dry-run
// --batch 0` re-encrypted for real, `poblysh api migrate` served).
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", strings.TrimPrefix(fs.Name(), "poblysh "), fs.Arg(0))
	}
	return nil
}

// dotenv overlays a ./.env file (if any) under the real environment: a
// variable set there, even empty, wins over the file.
func dotenv(lookupenv func(string) (string, bool)) (func(string) string, error) {
	getenv := func(k string) string { v, _ := lookupenv(k); return v }
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
	return config.Overlay(lookupenv, file), nil
}
