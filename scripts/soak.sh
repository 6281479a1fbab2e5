#!/usr/bin/env bash
# soak.sh (make soak): steady mixed load on a whole stack for SOAK_MINUTES
# (default 10), then checks that nothing was lost, duplicated or reordered.
# Not part of make test. On its own ports and database, like make demo:
#
#  - Postgres database poblysh_soak, dropped and created again, migrated
#  - a Temporal dev server with a throw-away SQLite file
#  - the provider sandbox, delivering to the soak driver's recording proxy
#  - `poblysh api` and `poblysh worker` as two processes (metrics on their
#    own ports), the public URL pointing at the proxy
#
# then cmd/soak connects every provider through its OAuth flow, follows the
# feed, runs live activity in every fake each SOAK_INTERVAL (default 5s),
# a manual sync every 30 s, and expires one fake's access tokens every
# minute (POST /_sandbox/tokens/expire, one provider in turn; why not
# --access-ttl 1m: docs/reliability-soak.md). Halfway through the load
# this script restarts the worker (SIGTERM, then a new one). cmd/soak prints the
# goroutine and heap samples, its checks and one summary line, and exits
# non-zero on any violation. Logs of a failed run are kept.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$POBLYSH_ROOT"
require_cmd go "Install Go 1.26 (https://go.dev/dl/)."

minutes=${SOAK_MINUTES:-10}
[[ $minutes =~ ^[0-9]+$ ]] && ((minutes > 0)) || die "SOAK_MINUTES must be a whole number of minutes, got '$minutes'"
work=$(mktemp -d "${TMPDIR:-/tmp}/poblysh-soak.XXXXXX")
worker_pid=""

cleanup() {
	local status=$?
	trap - EXIT INT TERM
	[[ -n $worker_pid ]] && stop_pid "$worker_pid" "poblysh worker"
	stop_started
	if ((status != 0)); then
		log "logs kept in $work (api.log, worker*.log, sandbox.log, temporal.log, soak.log)"
	else
		rm -rf "$work"
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
fail() {
	show_log "$work/api.log" 20
	show_log "$work/worker.log" 20
	die "$1"
}

http_port=$(free_port 28080)
proxy_port=$(free_port $((http_port + 1)))
temporal_port=$(free_port 27233)
ui_port=$(free_port 28233)
api_metrics=$(free_port 29090)
worker_metrics=$(free_port $((api_metrics + 1)))
api=http://127.0.0.1:$http_port
public=http://127.0.0.1:$proxy_port

db_url='postgres://postgres@127.0.0.1:5432/poblysh_soak?sslmode=disable'
ensure_postgres "$db_url"
log "recreating database poblysh_soak"
recreate_database "$db_url"
ensure_temporal_cli
log "building bin/poblysh and bin/soak"
build_cmds ./cmd/poblysh ./cmd/soak

stack_env "$db_url" "$temporal_port" "$ui_port" "$http_port" "$public" soak

bin/poblysh migrate >"$work/migrate.log" 2>&1 || {
	show_log "$work/migrate.log"
	die "migrating poblysh_soak failed"
}
log "starting Temporal on 127.0.0.1:$temporal_port"
start_temporal "$temporal_port" "$ui_port" "$work/temporal.db" "$work/temporal.log"
started "$TEMPORAL_PID" "Temporal dev server"

log "starting the provider sandbox"
start_sandbox "$work/sandbox.env" "$work/sandbox.log" --base-port 0 --service-url "$public" ||
	die "the provider sandbox did not start"

log "starting poblysh api on $api (public URL $public: the soak's recording proxy)"
POBLYSH_METRICS_ADDR=127.0.0.1:$api_metrics "${SPAWN[@]}" bin/poblysh api >"$work/api.log" 2>&1 &
started "$!" "poblysh api"
start_worker() {
	POBLYSH_METRICS_ADDR=127.0.0.1:$worker_metrics "${SPAWN[@]}" bin/poblysh worker >>"$work/worker.log" 2>&1 &
	worker_pid=$!
}
start_worker
wait_http "$api/readyz" 60 "${STARTED_PIDS[-1]}" || fail "poblysh api is not ready after 60s"

log "running the soak for ${minutes}m (cmd/soak)"
bin/soak -api "$api" -listen "127.0.0.1:$proxy_port" -sandbox "$POBLYSH_SANDBOX_URLS" \
	-metrics "api=http://127.0.0.1:$api_metrics,worker=http://127.0.0.1:$worker_metrics" \
	-duration "${minutes}m" -interval "${SOAK_INTERVAL:-5s}" >>"$work/soak.log" 2>&1 &
soak_pid=$!
tail -n +1 -f "$work/soak.log" --pid "$soak_pid" &
tail_pid=$!

# The worker restart, halfway through the load.
for ((i = 0; i < 3000; i++)); do
	grep -q 'load started' "$work/soak.log" 2>/dev/null && break
	kill -0 "$soak_pid" 2>/dev/null || break
	sleep 0.2
done
if kill -0 "$soak_pid" 2>/dev/null; then
	sleep $((minutes * 30))
	if kill -0 "$soak_pid" 2>/dev/null; then
		printf '   %s  restarting the worker (SIGTERM, then a new process)\n' "$(date +%H:%M:%S)" >>"$work/soak.log"
		stop_pid "$worker_pid" "poblysh worker"
		start_worker
	fi
fi
set +e
wait "$soak_pid"
status=$?
set -e
sleep 0.5
kill "$tail_pid" 2>/dev/null || true
wait "$tail_pid" 2>/dev/null || true
((status == 0)) || fail "the soak found violations or failed (exit $status); logs in $work"
log "make soak: passed"
