#!/usr/bin/env bash
# bench.sh (make bench): run the benchmarks under bench/ once each, with
# Postgres and the Temporal CLI prepared exactly as for make test (the
# benchmarks start their own dev servers through testenv).
#
#	go test -run '^$' -bench . -benchtime 1x ./bench/...
#
# Extra arguments go to go test (e.g. scripts/bench.sh -benchtime 10x).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$POBLYSH_ROOT"
require_cmd go "Install Go 1.26 (https://go.dev/dl/)."

if ! compgen -G 'bench/*.go' >/dev/null && ! find bench -name '*.go' -print -quit 2>/dev/null | grep -q .; then
	log "no bench/ package yet: nothing to run"
	exit 0
fi

export TEST_DATABASE_URL=${TEST_DATABASE_URL:-$DEFAULT_TEST_DATABASE_URL}
ensure_postgres "$TEST_DATABASE_URL"
ensure_database "$TEST_DATABASE_URL"
ensure_temporal_cli
export TEMPORAL_CLI=$TEMPORAL_BIN

log "go test -run '^\$' -bench . -benchtime 1x ./bench/... $*"
go test -run '^$' -bench . -benchtime 1x "$@" ./bench/...
