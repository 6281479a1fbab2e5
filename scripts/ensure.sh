#!/usr/bin/env bash
# ensure.sh: the set-up steps the make targets share, one at a time.
#
#	scripts/ensure.sh postgres [URL]   start the local Postgres if it is down
#	scripts/ensure.sh database URL     create the database of URL if missing
#	scripts/ensure.sh temporal-cli     install the Temporal CLI if missing
#	scripts/ensure.sh chromium         install Chromium (Debian's package) if missing
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case ${1:-} in
postgres)
	ensure_postgres "${2:-${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}}"
	log "Postgres is up"
	;;
database)
	[[ -n ${2:-} ]] || die "usage: scripts/ensure.sh database postgres://user@host:port/name"
	ensure_postgres "$2"
	ensure_database "$2"
	log "database $(url_dbname "$2") exists"
	;;
temporal-cli)
	ensure_temporal_cli
	log "Temporal CLI: $TEMPORAL_BIN ($("$TEMPORAL_BIN" --version))"
	;;
chromium)
	ensure_chromium
	log "Chromium: $CHROMIUM_BIN"
	;;
*)
	die "usage: scripts/ensure.sh postgres [URL] | database URL | temporal-cli | chromium"
	;;
esac
