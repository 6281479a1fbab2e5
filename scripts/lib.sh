# shellcheck shell=bash
# Helpers shared by the scripts in this directory. Source it, do not run it:
#
#	source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Every function either succeeds or stops the script with a message that
# says what to do. Nothing here prints a secret.

POBLYSH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export POBLYSH_ROOT

# The Temporal CLI version the project pins, and where `make temporal`
# installs it (testenv.CLIPath looks there too: os.UserCacheDir()).
TEMPORAL_CLI_VERSION=v1.5.1
TEMPORAL_CLI_MODULE=github.com/temporalio/cli/cmd/temporal
POBLYSH_CACHE_BIN=${XDG_CACHE_HOME:-$HOME/.cache}/poblysh/bin

# Search attributes registered on every dev server (engine/engine.go).
SEARCH_ATTRIBUTES=(TenantId ConnectionId Provider SyncKind)

# The test database when TEST_DATABASE_URL is unset (db/dbtest.DefaultURL).
# shellcheck disable=SC2034 # used by the scripts that source this file
DEFAULT_TEST_DATABASE_URL='postgres://postgres@127.0.0.1:5432/poblysh_test?sslmode=disable'

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
	printf '\nerror: %s\n' "$*" >&2
	exit 1
}

# require_cmd NAME HINT: stop unless NAME is on PATH.
require_cmd() {
	command -v "$1" >/dev/null 2>&1 || die "$1 is not installed. $2"
}

# port_busy HOST PORT: true when something accepts TCP connections there.
port_busy() {
	(: <"/dev/tcp/$1/$2") 2>/dev/null
}

# free_port START: the first free loopback port at or after START.
free_port() {
	local p=$1
	while port_busy 127.0.0.1 "$p"; do
		p=$((p + 1))
	done
	printf '%s\n' "$p"
}

# wait_port HOST PORT SECONDS [PID]: wait until HOST:PORT accepts connections;
# fails early when PID (the process that should open it) has exited.
wait_port() {
	local host=$1 port=$2 secs=$3 pid=${4:-} i
	for ((i = 0; i < secs * 10; i++)); do
		port_busy "$host" "$port" && return 0
		if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
			return 1
		fi
		sleep 0.1
	done
	return 1
}

# wait_http URL SECONDS [PID]: wait until URL answers 200.
wait_http() {
	local url=$1 secs=$2 pid=${3:-} i
	for ((i = 0; i < secs * 5; i++)); do
		curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null && return 0
		if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
			return 1
		fi
		sleep 0.2
	done
	return 1
}

# stop_pid PID NAME: stop a process this script started (SIGTERM, then
# SIGKILL after 20 s) and reap it.
stop_pid() {
	local pid=$1 name=$2 i
	kill -0 "$pid" 2>/dev/null || {
		wait "$pid" 2>/dev/null || true
		return 0
	}
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 200; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		warn "$name (pid $pid) did not stop within 20s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

# own_terminal SCRIPT [ARG...]: run `bash SCRIPT ARG...` as the terminal's
# foreground process group, wait for it, and return its status. Ctrl-C
# then reaches that shell alone, not the processes around this one (make,
# which dies of a Ctrl-C whatever its recipe does). SCRIPT starts as
# `bash -m`, which puts it in a process group of its own, takes the
# terminal and gives it back when the shell exits; it should `set +m`
# first (job control is not wanted beyond that). A SIGTERM or SIGINT sent
# to this shell (make dev's pid, a supervisor's) is passed on to SCRIPT's
# group, and the wait goes on until SCRIPT has stopped what it started.
# (Started as a foreground job instead, SCRIPT took the terminal as well,
# but bash runs no trap while a foreground job runs: the wrapper died of
# the SIGTERM and SCRIPT, and all it started, ran on.)
own_terminal() {
	local pid status sig=""
	# An asynchronous command starts with SIGINT ignored, which its shell
	# could then not trap: restore it. Its stdin stays the terminal.
	(
		trap - INT QUIT
		exec "$BASH" -m "$@"
	) <&0 &
	pid=$!
	# The first signal only: a second one would cut SCRIPT's cleanup short.
	# SCRIPT's group exists once its shell has started; until then, its pid.
	trap 'sig=TERM; trap "" TERM INT; kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true' TERM
	trap 'sig=INT; trap "" TERM INT; kill -INT -- "-$pid" 2>/dev/null || kill -INT "$pid" 2>/dev/null || true' INT
	while :; do
		sig="" status=0
		# wait returns early (status > 128) when a trapped signal arrives.
		wait "$pid" || status=$?
		[[ -n $sig ]] || break
	done
	trap - TERM INT
	return "$status"
}

# show_log FILE [LINES]: print the end of a log file (for failure reports).
show_log() {
	local file=$1 lines=${2:-30}
	[[ -s $file ]] || return 0
	printf -- '--- last %s lines of %s ---\n' "$lines" "$file" >&2
	tail -n "$lines" "$file" >&2
	printf -- '---\n' >&2
}

# Long-running children are started with "${SPAWN[@]}", normally `setsid`,
# in their own session: a Ctrl-C (SIGINT to the terminal's process group)
# reaches only the script, whose trap then stops them in order (service
# first, Temporal last) instead of every process racing to exit at once.
# A shell started with SIGINT ignored (a background job of a non-interactive
# shell) cannot trap SIGINT; it then keeps its children in its own process
# group, so an INT sent to the group still stops them (they re-enable it).
if [[ $(trap -p INT) == *"''"* ]]; then
	SPAWN=()
else
	SPAWN=(setsid)
fi

# --- .env ------------------------------------------------------------------

# env_get KEY [FILE]: the value `poblysh` would see for KEY: the process
# environment's when KEY is set there (exported), even empty, as
# config.Overlay does; otherwise the last KEY=VALUE line of FILE (default
# .env), with "export " prefixes, quotes and, after an unquoted value, a
# " # comment" removed, as config.ReadDotEnv (godotenv) reads it. Not
# mirrored: ${VAR} expansion and escapes in double quotes, which the keys
# read here never need.
env_get() {
	local key=$1 file=${2:-$POBLYSH_ROOT/.env} line v
	if v=$(printenv "$key"); then
		printf '%s\n' "$v"
		return 0
	fi
	[[ -f $file ]] || return 0
	line=$(grep -E "^[[:space:]]*(export[[:space:]]+)?${key}[[:space:]]*=" "$file" | tail -n 1 || true)
	[[ -n $line ]] || return 0
	v=${line#*=}
	v=$(printf '%s' "$v" | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//')
	case ${v:0:1} in
	\"|\') # up to the closing quote; anything after it is ignored
		local q=${v:0:1}
		v=${v:1}
		v=${v%%"$q"*}
		;;
	*) v=$(printf '%s' "$v" | sed -e 's/[[:space:]]#.*$//' -e 's/[[:space:]]*$//') ;;
	esac
	printf '%s\n' "$v"
}

# ensure_task_queue [FILE]: make dev's task queue for an existing .env
# (default $POBLYSH_ROOT/.env): one from before task queues were per
# checkout gets one appended, or it would share the queue "connectors"
# with every other checkout. POBLYSH_TASK_QUEUE exported but empty (or
# blank) is unset first, with a line saying so: `poblysh` would take it as
# set, read no queue from FILE and use "connectors", and FILE would get
# another queue appended on every run.
ensure_task_queue() {
	local file=${1:-$POBLYSH_ROOT/.env} queue v
	if v=$(printenv POBLYSH_TASK_QUEUE) && [[ -z ${v//[[:space:]]/} ]]; then
		unset POBLYSH_TASK_QUEUE
		log "POBLYSH_TASK_QUEUE is exported but empty: unset for this run, which takes the task queue from .env (the empty value would be the shared default, connectors)"
	fi
	if [[ -z $(env_get POBLYSH_TASK_QUEUE "$file") ]]; then
		queue=connectors-$(rand_hex 4)
		printf '\n# Task queue of this checkout (added by make dev; see temporal-dev.md).\nPOBLYSH_TASK_QUEUE=%s\n' "$queue" >>"$file"
		log "added POBLYSH_TASK_QUEUE=$queue to .env (unique to this checkout)"
	fi
}

# rand_hex BYTES and rand_b64 BYTES: random secrets.
rand_hex() {
	if command -v openssl >/dev/null 2>&1; then
		openssl rand -hex "$1"
	else
		head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'
		echo
	fi
}
rand_b64() {
	if command -v openssl >/dev/null 2>&1; then
		openssl rand -base64 "$1"
	else
		head -c "$1" /dev/urandom | base64 -w0
		echo
	fi
}

# --- Postgres ---------------------------------------------------------------

# url_hostport URL: "host:port" of a postgres:// URL (port 5432 by default).
url_hostport() {
	local u=${1#*://}
	u=${u##*@}
	u=${u%%/*}
	u=${u%%\?*}
	[[ $u == *:* ]] || u="$u:5432"
	[[ $u == :* ]] && u="127.0.0.1$u"
	printf '%s\n' "$u"
}

# url_dbname URL: the database name of a postgres:// URL.
url_dbname() {
	local u=${1%%\?*}
	printf '%s\n' "${u##*/}"
}

# url_admin URL: the same server's maintenance database (postgres).
url_admin() {
	local u=${1%%\?*} q=""
	[[ $1 == *\?* ]] && q="?${1#*\?}"
	printf '%s/postgres%s\n' "${u%/*}" "$q"
}

is_local_host() {
	[[ $1 == 127.0.0.1 || $1 == localhost || $1 == ::1 || $1 == "" ]]
}

# ensure_postgres URL: make sure the server of URL answers; start the local
# cluster (pg_ctlcluster) when it is a loopback server that is down.
ensure_postgres() {
	local url=$1 hp host port ver i
	hp=$(url_hostport "$url")
	host=${hp%:*}
	port=${hp##*:}
	require_cmd pg_isready "Install the Postgres client tools (apt-get install -y postgresql-client)."
	if pg_isready -q -h "$host" -p "$port"; then
		return 0
	fi
	is_local_host "$host" || die "Postgres at $host:$port does not answer. Start it, or point the URL at a running server."
	command -v pg_ctlcluster >/dev/null 2>&1 || die "Postgres at $host:$port is down and pg_ctlcluster is not installed. Start Postgres 15 on $host:$port (trust auth for user postgres)."
	# shellcheck disable=SC2012 # version directories are plain numbers
	ver=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
	[[ -n $ver ]] || die "no Postgres cluster under /etc/postgresql. Install postgresql (apt-get install -y postgresql) or start a server on $host:$port."
	log "starting Postgres $ver (cluster main)"
	pg_ctlcluster --skip-systemctl-redirect "$ver" main start ||
		die "could not start Postgres: see /var/log/postgresql/postgresql-$ver-main.log"
	for ((i = 0; i < 150; i++)); do
		pg_isready -q -h "$host" -p "$port" && return 0
		sleep 0.2
	done
	die "Postgres $ver started but does not answer on $host:$port after 30s: see /var/log/postgresql/postgresql-$ver-main.log"
}

# ensure_database URL: create the database of URL when it does not exist.
ensure_database() {
	local url=$1 name admin found
	name=$(url_dbname "$url")
	admin=$(url_admin "$url")
	[[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "database name '$name' in the URL: use letters, digits and underscores"
	require_cmd psql "Install the Postgres client tools (apt-get install -y postgresql-client)."
	found=$(psql "$admin" -XtAq -v ON_ERROR_STOP=1 -c "SELECT 1 FROM pg_database WHERE datname = '$name'") ||
		die "cannot query Postgres at $(url_hostport "$url") as the URL's user: check the URL and that the user may connect"
	if [[ $found != 1 ]]; then
		log "creating database $name"
		psql "$admin" -Xq -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$name\"" ||
			die "could not create database $name (does the URL's user have CREATEDB?)"
	fi
}

# recreate_database URL: drop (closing its sessions) and create it again.
recreate_database() {
	local url=$1 name admin
	name=$(url_dbname "$url")
	admin=$(url_admin "$url")
	[[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "database name '$name': use letters, digits and underscores"
	psql "$admin" -Xq -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" -c "CREATE DATABASE \"$name\"" ||
		die "could not recreate database $name"
}

# --- Temporal ---------------------------------------------------------------

# temporal_cli_path: print the Temporal CLI testenv would use ($TEMPORAL_CLI,
# the project cache bin, PATH); fail when there is none.
temporal_cli_path() {
	if [[ -n ${TEMPORAL_CLI:-} ]]; then
		[[ -x $TEMPORAL_CLI ]] || die "TEMPORAL_CLI=$TEMPORAL_CLI is not an executable file"
		printf '%s\n' "$TEMPORAL_CLI"
		return 0
	fi
	if [[ -x $POBLYSH_CACHE_BIN/temporal ]]; then
		printf '%s\n' "$POBLYSH_CACHE_BIN/temporal"
		return 0
	fi
	command -v temporal 2>/dev/null
}

# ensure_temporal_cli: set TEMPORAL_BIN, installing the pinned CLI into the
# project cache when no CLI is found.
ensure_temporal_cli() {
	TEMPORAL_BIN=$(temporal_cli_path || true)
	if [[ -z $TEMPORAL_BIN ]]; then
		require_cmd go "Install Go 1.26 (https://go.dev/dl/)."
		log "installing the Temporal CLI $TEMPORAL_CLI_VERSION into $POBLYSH_CACHE_BIN (first time only: about 6 minutes on 2 cores)"
		mkdir -p "$POBLYSH_CACHE_BIN"
		GOBIN=$POBLYSH_CACHE_BIN go install "$TEMPORAL_CLI_MODULE@$TEMPORAL_CLI_VERSION" ||
			die "installing the Temporal CLI failed (it needs the Go module proxy): GOBIN=$POBLYSH_CACHE_BIN go install $TEMPORAL_CLI_MODULE@$TEMPORAL_CLI_VERSION"
		TEMPORAL_BIN=$POBLYSH_CACHE_BIN/temporal
	fi
	export TEMPORAL_BIN
}

# start_temporal PORT UI_PORT DB_FILE LOG_FILE: start `temporal server
# start-dev` in the background with the project's search attributes; UI_PORT
# "" runs it headless. Sets TEMPORAL_PID; stops the script if the server does
# not answer within 60 s.
start_temporal() {
	local port=$1 ui_port=$2 db_file=$3 log_file=$4 a
	local args=(server start-dev --ip 127.0.0.1 --port "$port" --db-filename "$db_file" --log-level warn)
	if [[ -n $ui_port ]]; then
		args+=(--ui-port "$ui_port")
	else
		args+=(--headless)
	fi
	for a in "${SEARCH_ATTRIBUTES[@]}"; do
		args+=(--search-attribute "$a=Keyword")
	done
	"${SPAWN[@]}" "$TEMPORAL_BIN" "${args[@]}" >"$log_file" 2>&1 &
	TEMPORAL_PID=$!
	if ! wait_port 127.0.0.1 "$port" 60 "$TEMPORAL_PID"; then
		show_log "$log_file"
		die "the Temporal dev server did not start on 127.0.0.1:$port (log: $log_file)"
	fi
	if [[ -n $ui_port ]] && ! wait_port 127.0.0.1 "$ui_port" 30 "$TEMPORAL_PID"; then
		show_log "$log_file"
		die "the Temporal Web UI did not start on 127.0.0.1:$ui_port (log: $log_file)"
	fi
}

# --- stacks -------------------------------------------------------------------

# Processes a script started, stopped on exit newest first (stop_started).
STARTED_PIDS=()
STARTED_NAMES=()

# started PID NAME: remember a process to stop on exit.
started() {
	STARTED_PIDS+=("$1")
	STARTED_NAMES+=("$2")
}

# stop_started [VERB]: stop every process passed to started, newest first;
# with VERB, log "VERB NAME" after each.
stop_started() {
	local i
	for ((i = ${#STARTED_PIDS[@]} - 1; i >= 0; i--)); do
		stop_pid "${STARTED_PIDS[i]}" "${STARTED_NAMES[i]}"
		[[ -z ${1:-} ]] || log "$1 ${STARTED_NAMES[i]}"
	done
}

# start_sandbox ENV_FILE LOG_FILE [ARG...]: start `bin/poblysh sandbox ARG...`
# in the background (a started process), wait up to 15 s until it has
# written its providers' settings to ENV_FILE, and export them. Returns 1,
# with the end of its log shown, when it did not start.
start_sandbox() {
	local env_file=$1 log_file=$2 pid i
	shift 2
	rm -f "$env_file"
	"${SPAWN[@]}" bin/poblysh sandbox --env-out "$env_file" "$@" >"$log_file" 2>&1 &
	pid=$!
	started "$pid" "provider sandbox"
	for ((i = 0; i < 150; i++)); do
		[[ -s $env_file ]] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if [[ ! -s $env_file ]]; then
		show_log "$log_file"
		return 1
	fi
	set -a
	# shellcheck source=/dev/null
	source "$env_file"
	set +a
}

# stack_env DB_URL TEMPORAL_PORT UI_PORT HTTP_PORT PUBLIC_URL QUEUE_PREFIX:
# export the whole configuration of a throw-away stack (make demo, make
# soak): .env is not read; its database, Temporal server and Web UI,
# listen address and public URL; fresh admin and encryption keys; and a
# task queue of its own (QUEUE_PREFIX-<random>, see temporal-dev.md).
stack_env() {
	export POBLYSH_ENV_FILE=none
	export DATABASE_URL=$1
	export TEMPORAL_ADDRESS=127.0.0.1:$2
	export POBLYSH_TEMPORAL_UI_URL=http://127.0.0.1:$3
	export POBLYSH_HTTP_ADDR=127.0.0.1:$4
	export POBLYSH_PUBLIC_URL=$5
	POBLYSH_ADMIN_KEY=adm_$(rand_hex 24)
	POBLYSH_CRYPTO_KEY=$(rand_b64 32)
	export POBLYSH_ADMIN_KEY POBLYSH_CRYPTO_KEY
	export POBLYSH_LOG_LEVEL=info
	POBLYSH_TASK_QUEUE=$6-$(rand_hex 4)
	export POBLYSH_TASK_QUEUE
}

# --- Chromium ---------------------------------------------------------------

# chromium_path: print the Chromium the browser tests use ($CHROMIUM, then
# chromium or chromium-browser on PATH); fail when there is none.
chromium_path() {
	if [[ -n ${CHROMIUM:-} ]]; then
		[[ -x $CHROMIUM ]] || die "CHROMIUM=$CHROMIUM is not an executable file"
		printf '%s\n' "$CHROMIUM"
		return 0
	fi
	command -v chromium 2>/dev/null || command -v chromium-browser 2>/dev/null
}

# ensure_chromium: set CHROMIUM_BIN, installing Debian's chromium package
# when no Chromium is found. The OAuth start page is tested in a real
# headless browser (cmd/poblysh/browser_test.go), so `make test` needs one.
ensure_chromium() {
	local sudo=()
	CHROMIUM_BIN=$(chromium_path || true)
	if [[ -z $CHROMIUM_BIN ]]; then
		require_cmd apt-get "Install Chromium and set CHROMIUM to its path (the OAuth start page is tested in a headless browser)."
		((EUID == 0)) || sudo=(sudo)
		log "installing Chromium from Debian's packages (first time only)"
		"${sudo[@]}" apt-get update -qq ||
			die "apt-get update failed: install Chromium by hand (apt-get install -y chromium) or set CHROMIUM to its path"
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null ||
			die "apt-get install chromium failed: install Chromium by hand or set CHROMIUM to its path"
		CHROMIUM_BIN=$(chromium_path) || die "Chromium was installed but is not on PATH"
	fi
	export CHROMIUM_BIN
}

# build_cmds PKG...: build the given ./cmd/... packages into bin/.
build_cmds() {
	require_cmd go "Install Go 1.26 (https://go.dev/dl/)."
	mkdir -p "$POBLYSH_ROOT/bin"
	(cd "$POBLYSH_ROOT" && go build -o bin/ "$@") || die "go build $* failed (see above)"
}
