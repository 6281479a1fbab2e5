#!/usr/bin/env bash
# check-generated.sh (make check-generated): after make generate regenerated
# gen/ and docs/api.md from swagger.yml, docs/signal-kinds.md from the kind
# catalog, and the provider tables (docs/providers/*.md, README.md) from the
# connectors' Specs, fail when the result differs from what is committed, or
# left files git does not track.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$POBLYSH_ROOT"

git rev-parse --is-inside-work-tree >/dev/null 2>&1 ||
	die "check-generated needs a git checkout (it compares gen/ with the committed version)"

generated=(gen docs/api.md docs/signal-kinds.md docs/providers README.md)
status=0
if ! git diff --quiet -- "${generated[@]}"; then
	git diff --stat -- "${generated[@]}" >&2
	git diff -- "${generated[@]}" | sed -n 1,80p >&2
	status=1
fi
untracked=$(git ls-files --others --exclude-standard -- "${generated[@]}")
if [[ -n $untracked ]]; then
	printf 'untracked generated files:\n%s\n' "$untracked" >&2
	status=1
fi
if ((status)); then
	die "generated files are stale (gen/, docs/api.md from swagger.yml; docs/signal-kinds.md from connectors/kinds*.go; docs/providers/*.md and README.md tables from the connectors' Specs). Run  make generate  and commit them"
fi
log "check-generated: gen/, docs/api.md, docs/signal-kinds.md and the provider tables are up to date"
