#!/usr/bin/env bash
# bench.sh (make bench): run the benchmarks once each, with Postgres and the
# Temporal CLI prepared exactly as for make test. The benchmarks live with
# the end-to-end tests (cmd/poblysh/bench_test.go) and run the whole service
# against the engine's test provider:
#
#   BenchmarkBackfill100k   Signals/s through the full Temporal path for
#                           100,000 items, next to the raw Postgres insert
#                           rate of the same rows in the same run
#   BenchmarkSignalsFeed1M  GET /api/v1/signals p50/p95/p99 with 1,000,000
#                           stored Signals and 32 concurrent readers
#
# Extra arguments go to go test (e.g. scripts/bench.sh -bench Feed).
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
