package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/poblysh/poblysh/config"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/vault"
)

func runMigrate(ctx context.Context, fs *flag.FlagSet, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	status := false
	switch rest := fs.Args(); {
	case len(rest) == 1 && rest[0] == "status":
		status = true
	case len(rest) > 0:
		fmt.Fprintf(stderr, "poblysh migrate: unexpected argument %q\n\n", strings.Join(rest, " "))
		fs.Usage()
		return errUsage
	}
	cfg, err := config.Load(getenv, config.Needs{})
	if err != nil {
		return err
	}
	if status {
		return printMigrationStatus(ctx, cfg.DatabaseURL, stdout)
	}
	applied, err := db.Migrate(ctx, cfg.DatabaseURL, "")
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "migrate: schema is up to date")
		return nil
	}
	fmt.Fprintf(stdout, "migrate: applied %v\n", applied)
	return nil
}

// printMigrationStatus writes one line per embedded migration: its file,
// and "applied <time>" or "pending".
func printMigrationStatus(ctx context.Context, url string, stdout io.Writer) error {
	states, err := db.MigrationStatus(ctx, url, "")
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	pending := 0
	for _, s := range states {
		if s.Applied {
			fmt.Fprintf(tw, "%s\tapplied\t%s\n", s.Name, s.AppliedAt.Format("2006-01-02 15:04:05"))
		} else {
			pending++
			fmt.Fprintf(tw, "%s\tpending\n", s.Name)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "migrate: %d applied, %d pending\n", len(states)-pending, pending)
	return nil
}

func runReencrypt(ctx context.Context, fs *flag.FlagSet, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	batch := fs.Int("batch", 200, "rows per transaction (at least 1)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *batch < 1 {
		// 0 moved nothing per batch and never ended; a negative one
		// reached Postgres as a LIMIT it refuses.
		return errors.New("reencrypt: --batch must be at least 1")
	}
	cfg, err := config.Load(getenv, config.Needs{Crypto: true})
	if err != nil {
		return err
	}
	database, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer database.Close()
	res, err := database.Reencrypt(ctx, cfg.KeyRing, *batch)
	if uk := (*vault.UnknownKeyError)(nil); errors.As(err, &uk) {
		// Running it again as it is fails on the same row: the key that
		// sealed it was dropped from the ring too early.
		return fmt.Errorf("reencrypt: %w (already converted rows stay converted; put the key with id %s back in POBLYSH_CRYPTO_RETIRED_KEYS, then run it again)", err, uk.KeyID)
	}
	if err != nil {
		return fmt.Errorf("reencrypt: %w (already converted rows stay converted; run it again)", err)
	}
	fmt.Fprintf(stdout, "reencrypt: %d connections, %d pending authorizations and %d hook secrets moved to key %s; nothing left under older keys\n",
		res.Connections, res.States, res.Channels, cfg.KeyRing.CurrentKeyID())
	return nil
}

// openDB opens the configured database for a command that runs statements
// on it (serve, reencrypt): as the restricted role, with a pool of at most
// POBLYSH_DB_MAX_CONNS connections (TestOpenDBSizesThePool).
func openDB(ctx context.Context, cfg *config.Config) (*db.DB, error) {
	return db.Open(ctx, cfg.DatabaseURL, db.Options{Role: cfg.DBRole, MaxConns: int32(cfg.DBMaxConns)})
}
