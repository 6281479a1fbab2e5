// Command poblysh is the Poblysh Connectors service: one binary with
// subcommands for the API, the Temporal worker, both together, database
// migrations, token key rotation, and the local provider sandbox.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr); err != nil {
		if err != errUsage {
			fmt.Fprintln(os.Stderr, "poblysh:", err)
		}
		os.Exit(1)
	}
}
