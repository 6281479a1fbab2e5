#!/usr/bin/env bash
# bench-scale.sh (make bench-scale): the idle cost of many connections on one
# machine. Not part of make test or make bench. Runs BenchmarkScale
# (cmd/poblysh/bench_scale_test.go, build tag benchscale): the API in the
# benchmark's process, the worker as its own process, a Temporal dev server
# with its metrics endpoint, the engine's test provider's sandbox.
#
#   BENCH_SCALE_TENANTS       tenants (default 1000)
#   BENCH_SCALE_CONNECTIONS   idle connections per tenant (default 10)
#   BENCH_SCALE_WINDOW        measured window (default 5m)
#   BENCH_SCALE_INTERVAL      each connection's poll interval (default 6h:
#                             the reconcile interval of a provider with push)
#   BENCH_SCALE_WEBHOOK_EVERY one webhook delivery to the feed this often
#                             (default 2s)
#
# It prints, per connection per idle day, Temporal actions (the dev
# server's `action` counter), Postgres rows written (pg_stat_user_tables
# n_tup_ins + n_tup_upd), provider requests (counted at the sandbox) and
# worker CPU seconds (/proc/<pid>/stat), then the webhook-to-feed time
# (p50/p99) and the RSS of the worker and the Temporal dev server.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$POBLYSH_ROOT"
require_cmd go "Install Go 1.26 (https://go.dev/dl/)."

export TEST_DATABASE_URL=${TEST_DATABASE_URL:-$DEFAULT_TEST_DATABASE_URL}
ensure_postgres "$TEST_DATABASE_URL"
ensure_database "$TEST_DATABASE_URL"
ensure_temporal_cli
export TEMPORAL_CLI=$TEMPORAL_BIN

log "BenchmarkScale: ${BENCH_SCALE_TENANTS:-1000} tenants × ${BENCH_SCALE_CONNECTIONS:-10} connections, window ${BENCH_SCALE_WINDOW:-5m}, polling every ${BENCH_SCALE_INTERVAL:-6h}"
go test -tags benchscale -run '^$' -bench '^BenchmarkScale$' -benchtime 1x -timeout 30m "$@" ./cmd/poblysh/
