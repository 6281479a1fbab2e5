#!/usr/bin/env bash
# bench.sh (make bench): run the benchmarks once each, with Postgres and the
# Temporal CLI prepared exactly as for make test. The benchmarks live with
# the end-to-end tests (cmd/poblysh/bench_test.go) and run the whole service
# against the engine's test provider:
#
#   BenchmarkBackfill100k     Signals/s through the full Temporal path for
#                             100,000 items, next to the same rows through
#                             the idempotent insert and through raw COPY
#   BenchmarkIdlePollCost     one empty poll: Temporal actions (from the dev
#                             server's metrics), Postgres rows, provider
#                             requests, CPU; per connection-day
#   BenchmarkFeedWaitLatency  webhook 200 to a long-polling reader's answer,
#                             100 waiting readers (p50/p99)
#   BenchmarkSignalsFeed1M    the feed's page query raw (pgx pool) at 4 and
#                             32 clients beside GET /api/v1/signals from a
#                             separate load process at 4 and 32 readers,
#                             over 1,000,000 Signals, with the ratio
#   BenchmarkWebhookIntake    the raw two-insert transaction at 16 clients
#                             beside signed GitHub pushes through
#                             POST /api/v1/webhooks/github at 16 senders,
#                             with the ratio and an exactly-once count
#   BenchmarkRateLimitedBackfill  a GitHub backfill against the sandbox at
#                             100 calls a minute: time against the minimum
#                             the budget allows, and responses refused (0)
#
# POBLYSH_BENCH_SCALE (default 1) multiplies every size, e.g. 0.05 for a
# quick look. Extra arguments go to go test (e.g. scripts/bench.sh -bench Feed).
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

log "go test -run '^\$' -bench . -benchtime 1x -timeout 60m ./cmd/poblysh/ $*"
go test -run '^$' -bench . -benchtime 1x -timeout 60m "$@" ./cmd/poblysh/
