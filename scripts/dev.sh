#!/usr/bin/env bash
# dev.sh (make dev): run the whole service locally from a fresh clone.
#
#  - Postgres started if down; the database of DATABASE_URL created if missing
#  - .env written with fresh random secrets and a task queue unique to the
#    checkout if it does not exist (never overwritten; an existing .env
#    without POBLYSH_TASK_QUEUE gets one appended; POBLYSH_TASK_QUEUE
#    exported but empty is unset, with a line saying so, as if not exported)
#  - bin/poblysh built; migrations applied
#  - the Temporal CLI installed if missing; `temporal server start-dev` on
#    127.0.0.1:7233 (Web UI 8233, SQLite file .dev/temporal.db), or the
#    server already listening there reused; for a local TEMPORAL_ADDRESS
#    the Web UI is on its port + 1000, exported as POBLYSH_TEMPORAL_UI_URL
#    (the jobs' links) unless that is set
#  - the provider sandbox (`poblysh sandbox`: a fake of every registered
#    provider, on consecutive ports from 9101, or POBLYSH_SANDBOX_BASE_PORT)
#    unless POBLYSH_SANDBOX=off
#    (environment or .env); its POBLYSH_* variables (endpoints, clients,
#    webhook secrets) are exported to the service, overriding .env
#  - `poblysh serve` (API + worker), then the URLs are printed
#
# Ctrl-C (or SIGTERM, in a terminal too) stops everything this script
# started (not a Temporal server it reused) and exits 0. Logs of Temporal and the sandbox go to .dev/*.log; the service
# logs to the terminal.
#
# Usage: scripts/dev.sh          run (make dev)
#        scripts/dev.sh migrate  only prepare the database and apply migrations (make migrate)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$POBLYSH_ROOT"

mode=${1:-run}
[[ $mode == run || $mode == migrate ]] || die "usage: scripts/dev.sh [run|migrate]"

# Ctrl-C in a terminal signals the whole foreground process group, make
# included, and GNU make then dies of it (status 130, and the shell around
# it too) whatever its recipe does. So in a terminal the rest runs in a
# shell of its own that owns the terminal (own_terminal): only it sees
# Ctrl-C, stops what it started and exits 0, and so do make and this
# wrapper. A SIGTERM to this wrapper is passed on to that shell, and the
# wrapper exits when it has stopped everything, with its status.
if [[ $mode == run && -t 0 && -z ${POBLYSH_DEV_FOREGROUND:-} ]]; then
	set +e
	POBLYSH_DEV_FOREGROUND=1 own_terminal "$POBLYSH_ROOT/scripts/dev.sh" "$@"
	exit $?
fi
# own_terminal started this shell with job control (bash -m), to take the
# terminal; nothing below wants it.
set +m

require_cmd go "Install Go 1.26 (https://go.dev/dl/)."
require_cmd curl "apt-get install -y curl"
mkdir -p .dev

# write_dotenv FILE: a development .env with fresh secrets and comments.
write_dotenv() {
	local file=$1 tmp
	tmp=$(mktemp "$file.XXXXXX")
	chmod 600 "$tmp"
	cat >"$tmp" <<EOF
# Local development settings, written by \`make dev\` on $(date -u +%Y-%m-%d).
# Never committed (.gitignore). \`poblysh\` reads this file from its working
# directory; variables set in the real environment, even empty, win over it. Every
# variable is described in .env.example.

# Postgres the service connects to (as the schema owner; it switches to the
# row-level-security role poblysh_app itself). make dev creates the database.
DATABASE_URL=postgres://postgres@127.0.0.1:5432/poblysh?sslmode=disable

# Base URL providers call back (OAuth callback, webhooks, watch channels).
# Set explicitly so the sandbox delivers webhooks here and Google Calendar
# watch channels are registered. For real providers this must be a public
# https URL (for example a tunnel to 127.0.0.1:8080).
POBLYSH_PUBLIC_URL=http://127.0.0.1:8080

# Where the API listens.
POBLYSH_HTTP_ADDR=127.0.0.1:8080

# Prometheus /metrics and Go profiles (/debug/pprof/): internal only.
POBLYSH_METRICS_ADDR=127.0.0.1:9090

# Temporal frontend; make dev starts a dev server here unless one answers.
TEMPORAL_ADDRESS=127.0.0.1:7233

# Task queue of this checkout. Unique, so that two checkouts sharing one
# Temporal server never run each other's work (the worker refuses to start
# when another database already polls it; see temporal-dev.md).
POBLYSH_TASK_QUEUE=connectors-$(rand_hex 4)

# Bearer key of the admin API (creating tenants). At least 24 characters.
POBLYSH_ADMIN_KEY=adm_$(rand_hex 24)

# AES-256-GCM key for OAuth tokens at rest: base64 of 32 random bytes
# (openssl rand -base64 32). Losing it makes stored tokens unreadable; to
# change it follow docs/key-rotation.md.
POBLYSH_CRYPTO_KEY=$(rand_b64 32)

# The provider sandbox (a fake of every provider) supplies client ids and
# secrets, endpoint URLs and fresh webhook secrets while it runs. To use real
# providers set POBLYSH_SANDBOX=off and add POBLYSH_<PROVIDER>_CLIENT_ID,
# _CLIENT_SECRET and _WEBHOOK_SECRET (see README.md, "Connecting real
# providers", and docs/providers/<provider>.md).
# POBLYSH_SANDBOX=off

# Log level: debug, info, warn, error.
POBLYSH_LOG_LEVEL=info
EOF
	mv "$tmp" "$file"
}

if [[ -f .env ]]; then
	log "using the existing .env (never overwritten; delete it to get fresh secrets)"
else
	write_dotenv .env
	log "wrote .env with fresh random secrets (admin key: POBLYSH_ADMIN_KEY in .env)"
fi
ensure_task_queue .env

# --- pre-flight: refuse to start half a stack (before building anything) -----
preflight() {
	http_addr=$(env_get POBLYSH_HTTP_ADDR)
	http_addr=${http_addr:-127.0.0.1:8080}
	http_host=${http_addr%:*}
	http_port=${http_addr##*:}
	[[ -z $http_host || $http_host == 0.0.0.0 || $http_host == "[::]" ]] && http_host=127.0.0.1
	if port_busy "$http_host" "$http_port"; then
		die "something already listens on $http_host:$http_port (another make dev?). Stop it, or set POBLYSH_HTTP_ADDR and POBLYSH_PUBLIC_URL in .env"
	fi
	metrics_addr=$(env_get POBLYSH_METRICS_ADDR)
	metrics_addr=${metrics_addr:-127.0.0.1:9090}
	if [[ $metrics_addr != off ]]; then
		metrics_host=${metrics_addr%:*}
		metrics_port=${metrics_addr##*:}
		[[ -z $metrics_host || $metrics_host == 0.0.0.0 || $metrics_host == "[::]" ]] && metrics_host=127.0.0.1
		if port_busy "$metrics_host" "$metrics_port"; then
			die "something already listens on $metrics_host:$metrics_port (another make dev?). Stop it, or set POBLYSH_METRICS_ADDR in .env (off: no metrics)"
		fi
	fi

	sandbox=$(env_get POBLYSH_SANDBOX)
	sandbox=${sandbox:-on}
	sandbox_base_port=$(env_get POBLYSH_SANDBOX_BASE_PORT)
	sandbox_base_port=${sandbox_base_port:-9101}
	case $sandbox in
	off | false | 0 | no) sandbox=off ;;
	*) sandbox=on ;;
	esac
}
if [[ $mode == run ]]; then
	preflight
fi

DATABASE_URL_VALUE=$(env_get DATABASE_URL)
[[ -n $DATABASE_URL_VALUE ]] || die "DATABASE_URL is not set in the environment or .env"
db_hostport=$(url_hostport "$DATABASE_URL_VALUE")
ensure_postgres "$DATABASE_URL_VALUE"
if is_local_host "${db_hostport%:*}"; then
	ensure_database "$DATABASE_URL_VALUE"
fi

log "building bin/poblysh"
build_cmds ./cmd/poblysh
if [[ $mode == run && $sandbox == on ]]; then
	# The sandbox's ports, one per registered fake, before starting anything.
	while read -r fake addr; do
		if port_busy "${addr%:*}" "${addr##*:}"; then
			die "port $addr (the $fake fake of the provider sandbox) is in use (another make dev or make sandbox?). Stop it, or set POBLYSH_SANDBOX=off"
		fi
	done < <(bin/poblysh sandbox --list --base-port "$sandbox_base_port")
fi
log "applying migrations to $(url_dbname "$DATABASE_URL_VALUE") on $db_hostport"
bin/poblysh migrate || die "migrations failed (see above)"
if [[ $mode == migrate ]]; then
	exit 0
fi

# --- processes ----------------------------------------------------------------
# Processes started here (lib.sh's started) are stopped on exit, newest first.
temporal_started=""

cleanup() {
	local status=$?
	trap - EXIT INT TERM
	if ((${#STARTED_PIDS[@]})); then
		printf '\n' >&2
		log "stopping what make dev started"
		stop_started stopped
	fi
	if [[ -z $temporal_started && -n ${temporal_addr:-} ]]; then
		log "the Temporal server at $temporal_addr was already running and keeps running"
	fi
	exit "$status"
}
trap cleanup EXIT
# Ctrl-C and SIGTERM are the way to stop make dev: after the cleanup it
# exits 0, so make prints no error line.
trap 'exit 0' INT TERM

# Temporal.
temporal_addr=$(env_get TEMPORAL_ADDRESS)
temporal_addr=${temporal_addr:-127.0.0.1:7233}
t_host=${temporal_addr%:*}
t_port=${temporal_addr##*:}
temporal_ui=$(env_get POBLYSH_TEMPORAL_UI_URL)
if is_local_host "$t_host" && [[ -z $(env_get TEMPORAL_API_KEY) ]]; then
	t_host=127.0.0.1
	ui_port=$((t_port + 1000))
	if [[ -z $temporal_ui ]]; then
		# The dev server's Web UI, for the jobs' temporal_ui_url too (the
		# service's default, 8233, is only right for port 7233).
		temporal_ui=http://127.0.0.1:$ui_port
		export POBLYSH_TEMPORAL_UI_URL=$temporal_ui
	fi
	if port_busy "$t_host" "$t_port"; then
		log "reusing the Temporal server already listening on $t_host:$t_port"
	else
		ensure_temporal_cli
		log "starting the Temporal dev server on $t_host:$t_port (UI $ui_port, DB .dev/temporal.db, log .dev/temporal.log)"
		start_temporal "$t_port" "$ui_port" .dev/temporal.db .dev/temporal.log
		started "$TEMPORAL_PID" "Temporal dev server"
		temporal_started=1
	fi
else
	log "TEMPORAL_ADDRESS=$temporal_addr is not local: using it, not starting a dev server"
	temporal_ui=${temporal_ui:-http://127.0.0.1:8233}
fi

# Provider sandbox.
if [[ $sandbox == on ]]; then
	log "starting the provider sandbox (log .dev/sandbox.log)"
	start_sandbox .dev/sandbox.env .dev/sandbox.log --base-port "$sandbox_base_port" ||
		die "the provider sandbox did not start (log: .dev/sandbox.log)"
else
	log "POBLYSH_SANDBOX=off: using the provider settings from .env and the environment"
fi

# The service.
log "starting poblysh serve on $http_host:$http_port"
"${SPAWN[@]}" bin/poblysh serve &
started "$!" "poblysh serve"
serve_pid=$!
if ! wait_http "http://$http_host:$http_port/readyz" 60 "$serve_pid"; then
	curl -sS "http://$http_host:$http_port/readyz" >&2 || true
	die "poblysh serve is not ready after 60s (its log is above)"
fi

public_url=$(env_get POBLYSH_PUBLIC_URL)
api="http://$http_host:$http_port"
metrics_url="off (POBLYSH_METRICS_ADDR=off)"
[[ $metrics_addr != off ]] && metrics_url="http://$metrics_host:$metrics_port/metrics"
cat <<EOF

Poblysh is running. Ctrl-C stops it.

  API            $api/api/v1
  Swagger UI     $api/docs
  OpenAPI spec   $api/swagger.json
  Health         $api/healthz  $api/readyz
  Metrics        ${metrics_url}  (profiles under /debug/pprof/)
  Temporal UI    $temporal_ui
  Public URL     ${public_url:-$api} (OAuth callbacks and webhooks)
  Admin key      POBLYSH_ADMIN_KEY in .env
EOF
if [[ $sandbox == on ]]; then
	label="Sandbox"
	IFS=, read -ra fakes <<<"${POBLYSH_SANDBOX_URLS:-}"
	for f in "${fakes[@]}"; do
		printf '  %-14s %-16s %s\n' "$label" "${f%%=*}" "${f#*=}"
		label=""
	done
	cat <<EOF
                 (settings exported from .dev/sandbox.env; POBLYSH_SANDBOX=off for real providers)
EOF
fi
cat <<EOF

Create a tenant (prints its API key once):

  curl -s -X POST $api/api/v1/tenants \\
    -H "Authorization: Bearer \$(sed -n 's/^POBLYSH_ADMIN_KEY=//p' .env)" \\
    -H 'Content-Type: application/json' -d '{"name": "Acme"}'

Then see README.md, "Connect a provider".

EOF

# Run until a process exits (then stop the rest) or Ctrl-C.
set +e
wait -n -p exited "${STARTED_PIDS[@]}"
status=$?
set -e
for i in "${!STARTED_PIDS[@]}"; do
	[[ ${STARTED_PIDS[i]} == "${exited:-}" ]] || continue
	if ((status == 0)); then
		log "${STARTED_NAMES[i]} stopped; stopping the rest"
		exit 0
	fi
	case ${STARTED_NAMES[i]} in
	"Temporal dev server") show_log .dev/temporal.log ;;
	"provider sandbox") show_log .dev/sandbox.log ;;
	esac
	die "${STARTED_NAMES[i]} exited with status $status; stopping the rest"
done
