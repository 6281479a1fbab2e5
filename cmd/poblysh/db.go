package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/poblysh/poblysh/config"
	"github.com/poblysh/poblysh/db"
)

func runMigrate(ctx context.Context, fs *flag.FlagSet, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(getenv, config.Needs{})
	if err != nil {
		return err
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

func runReencrypt(ctx context.Context, fs *flag.FlagSet, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	batch := fs.Int("batch", 200, "rows per transaction")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(getenv, config.Needs{Crypto: true})
	if err != nil {
		return err
	}
	database, err := db.Open(ctx, cfg.DatabaseURL, db.Options{Role: cfg.DBRole})
	if err != nil {
		return err
	}
	defer database.Close()
	res, err := database.Reencrypt(ctx, cfg.KeyRing, *batch)
	if err != nil {
		return fmt.Errorf("reencrypt: %w (already converted rows stay converted; run it again)", err)
	}
	fmt.Fprintf(stdout, "reencrypt: %d connections and %d pending authorizations moved to key %s; nothing left under older keys\n",
		res.Connections, res.States, cfg.KeyRing.CurrentKeyID())
	return nil
}
