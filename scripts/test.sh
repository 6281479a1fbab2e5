#!/usr/bin/env bash
# test.sh (make test): everything CI checks, from a fresh clone.
#
#  1. Postgres: started if down; the test database (TEST_DATABASE_URL,
#     default poblysh_test on 127.0.0.1:5432) created if missing. Each test
#     migrates its own schema in it.
#  2. The Temporal CLI: installed into ~/.cache/poblysh/bin if missing. The
#     tests start their own dev servers on free ports (package testenv), so
#     no server is started here.
#  3. Chromium: installed from Debian's packages if missing (the OAuth start
#     page is tested in a real headless browser).
#  4. make lint, make check-generated, then
#     go test -race -count=1 -timeout 40m ./...
#     and a short fuzz pass: every Go fuzz target for TEST_FUZZTIME
#     (10000x: executions, a few seconds each; a count, not a duration, so
#     that Go's fuzz deadline race cannot fail it; see scripts/fuzz.sh)
#     (scripts/fuzz.sh; make fuzz runs them longer)
#
# All four steps of 4. run even when one fails, so one CI run shows every
# problem; the script exits non-zero if any failed.
#
# Usage: scripts/test.sh [packages]   (default ./...; e.g. scripts/test.sh ./db/...)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$POBLYSH_ROOT"
require_cmd go "Install Go 1.26 (https://go.dev/dl/)."
MAKE=${MAKE:-make}

start=$SECONDS
export TEST_DATABASE_URL=${TEST_DATABASE_URL:-$DEFAULT_TEST_DATABASE_URL}
ensure_postgres "$TEST_DATABASE_URL"
ensure_database "$TEST_DATABASE_URL"
log "test database: $(url_dbname "$TEST_DATABASE_URL") on $(url_hostport "$TEST_DATABASE_URL")"
ensure_temporal_cli
export TEMPORAL_CLI=$TEMPORAL_BIN
log "Temporal CLI: $TEMPORAL_CLI"
ensure_chromium
export CHROMIUM=$CHROMIUM_BIN
log "Chromium: $CHROMIUM"

failed=()
step() {
	local name=$1 t0=$SECONDS
	shift
	log "$name"
	if "$@"; then
		log "$name: ok ($((SECONDS - t0))s)"
	else
		printf '\nFAILED: %s (%ss)\n\n' "$name" "$((SECONDS - t0))" >&2
		failed+=("$name")
	fi
}

packages=("$@")
((${#packages[@]})) || packages=(./...)

step "make lint" "$MAKE" --no-print-directory lint
step "make check-generated" "$MAKE" --no-print-directory check-generated
step "go test -race ${packages[*]}" go test -race -count=1 -timeout 40m "${packages[@]}"
# go test ran every fuzz target's seeds and committed regression cases;
# this explores each target for a few seconds more (make fuzz: longer).
step "fuzz each target for ${TEST_FUZZTIME:-10000x}" env FUZZTIME="${TEST_FUZZTIME:-10000x}" FUZZ_NONE_OK=1 scripts/fuzz.sh "${packages[@]}"

elapsed=$((SECONDS - start))
if ((${#failed[@]})); then
	printf '\n' >&2
	for f in "${failed[@]}"; do
		printf 'FAILED: %s\n' "$f" >&2
	done
	die "make test failed after ${elapsed}s (${#failed[@]} step(s) above)"
fi
log "make test: all passed in ${elapsed}s"
