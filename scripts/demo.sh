#!/usr/bin/env bash
# demo.sh (make demo): the whole flow end to end, on its own stack so it
# never clashes with make dev:
#
#  - Postgres database poblysh_demo, dropped and created again, migrated
#  - a Temporal dev server with a throw-away SQLite file and the project's
#    search attributes (gRPC from port 17233 up, Web UI from 18233 up)
#  - the provider sandbox (`poblysh sandbox`: a fake of every registered
#    provider, on free ports) delivering to the demo service
#  - `poblysh serve` (from port 18080 up, metrics from 19090 up) with the sandbox settings, fresh
#    random secrets and an explicit public URL; .env is not read
#
# then cmd/demo connects every provider whose fake has a demo hook
# (sandbox.Demoer) through the OAuth redirects, waits for the backfills,
# creates live activity in each fake and prints Signals from the feed with
# the time to the first one. Everything
# started here is stopped on exit, Ctrl-C included. The first free port at or
# after each default is used; logs of a failed run are kept and their
# directory printed.
#
# Environment: DEMO_TIMEOUT (default 3m), DEMO_KEEP_RUNNING=1 keeps the stack
# up after the demo until Ctrl-C (to browse the Temporal Web UI).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$POBLYSH_ROOT"
require_cmd go "Install Go 1.26 (https://go.dev/dl/)."
require_cmd curl "apt-get install -y curl"

work=$(mktemp -d "${TMPDIR:-/tmp}/poblysh-demo.XXXXXX")
keep_logs=""

cleanup() {
	local status=$?
	trap - EXIT INT TERM
	stop_started
	((${#STARTED_PIDS[@]})) && log "demo stack stopped"
	if ((status != 0)) || [[ -n $keep_logs ]]; then
		log "logs kept in $work (poblysh.log, sandbox.log, temporal.log)"
	else
		rm -rf "$work"
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# fail MESSAGE: print the ends of the logs, then stop.
fail() {
	show_log "$work/poblysh.log" 40
	show_log "$work/sandbox.log" 10
	show_log "$work/temporal.log" 10
	die "$1"
}

http_port=$(free_port 18080)
temporal_port=$(free_port 17233)
ui_port=$(free_port 18233)
metrics_port=$(free_port 19090)
api=http://127.0.0.1:$http_port

db_url='postgres://postgres@127.0.0.1:5432/poblysh_demo?sslmode=disable'
ensure_postgres "$db_url"
log "recreating database poblysh_demo"
recreate_database "$db_url"
ensure_temporal_cli
log "building bin/poblysh and bin/demo"
build_cmds ./cmd/poblysh ./cmd/demo

# The demo service's whole configuration; .env is ignored.
stack_env "$db_url" "$temporal_port" "$ui_port" "$http_port" "$api" demo
export POBLYSH_METRICS_ADDR=127.0.0.1:$metrics_port

bin/poblysh migrate >"$work/migrate.log" 2>&1 || {
	show_log "$work/migrate.log"
	die "migrating poblysh_demo failed"
}

log "starting Temporal on 127.0.0.1:$temporal_port (Web UI $POBLYSH_TEMPORAL_UI_URL)"
start_temporal "$temporal_port" "$ui_port" "$work/temporal.db" "$work/temporal.log"
started "$TEMPORAL_PID" "Temporal dev server"

# Webhook secrets: the sandbox generates one per fake and writes it to
# sandbox.env with the rest of the providers' settings.
log "starting the provider sandbox"
start_sandbox "$work/sandbox.env" "$work/sandbox.log" --base-port 0 --service-url "$api" ||
	fail "the provider sandbox did not start"
log "sandbox: ${POBLYSH_SANDBOX_URLS//,/ }"

log "starting poblysh serve on $api"
"${SPAWN[@]}" bin/poblysh serve >"$work/poblysh.log" 2>&1 &
started "$!" "poblysh serve"
wait_http "$api/readyz" 60 "${STARTED_PIDS[-1]}" || fail "poblysh serve is not ready after 60s"

log "running the demo (cmd/demo)"
set +e
bin/demo -api "$api" -sandbox "$POBLYSH_SANDBOX_URLS" -timeout "${DEMO_TIMEOUT:-3m}"
status=$?
set -e
if ((status != 0)); then
	fail "the demo failed (exit $status); the service log is above"
fi

if [[ ${DEMO_KEEP_RUNNING:-} == 1 ]]; then
	keep_logs=1
	printf '\nThe demo stack keeps running until Ctrl-C:\n  API %s/docs\n  Temporal Web UI %s\n' "$api" "$POBLYSH_TEMPORAL_UI_URL"
	wait -n "${STARTED_PIDS[@]}" || true
else
	log "stopping the demo stack (DEMO_KEEP_RUNNING=1 make demo keeps it up to follow the Temporal links above)"
fi
