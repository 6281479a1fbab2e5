#!/usr/bin/env bash
# check-generated.sh (make check-generated): regenerate gen/ and docs/api.md
# from swagger.yml (make generate ran just before) and fail when the result
# differs from what is committed, or left files git does not track.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$POBLYSH_ROOT"

git rev-parse --is-inside-work-tree >/dev/null 2>&1 ||
	die "check-generated needs a git checkout (it compares gen/ with the committed version)"

status=0
if ! git diff --quiet -- gen docs/api.md; then
	git diff --stat -- gen docs/api.md >&2
	git diff -- gen docs/api.md | head -n 80 >&2
	status=1
fi
untracked=$(git ls-files --others --exclude-standard -- gen docs/api.md)
if [[ -n $untracked ]]; then
	printf 'untracked generated files:\n%s\n' "$untracked" >&2
	status=1
fi
if ((status)); then
	die "gen/ or docs/api.md is stale: swagger.yml generates something else. Run  make generate  and commit gen/ and docs/api.md"
fi
log "check-generated: gen/ and docs/api.md match swagger.yml"
