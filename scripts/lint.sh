#!/usr/bin/env bash
# lint.sh (make lint): gofmt on every Go file except the generated client
# and models, go vet, and staticcheck (pinned by the tool directive in
# go.mod). Runs all three and fails if any of them did.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$POBLYSH_ROOT"
require_cmd go "Install Go 1.26 (https://go.dev/dl/)."

failed=()

# Tracked and new (not ignored) Go files; testdata holds fixtures, not code.
go_files() {
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git ls-files -co --exclude-standard -- '*.go'
	else
		find . -name '*.go' -not -path './.git/*' | sed 's|^\./||'
	fi | grep -Ev '^gen/(client|models)/|(^|/)testdata/' | while IFS= read -r f; do
		[[ -f $f ]] && printf '%s\n' "$f"
	done
}

log "gofmt -l (all Go files except gen/client and gen/models)"
mapfile -t files < <(go_files)
unformatted=$(gofmt -l "${files[@]}")
if [[ -n $unformatted ]]; then
	printf '%s\n' "$unformatted" >&2
	printf 'these files are not gofmt-formatted: run  gofmt -w <file>\n' >&2
	failed+=(gofmt)
fi

log "go vet ./..."
go vet ./... || failed+=("go vet")

log "go tool staticcheck ./..."
go tool staticcheck ./... || failed+=(staticcheck)

if ((${#failed[@]})); then
	die "lint failed: ${failed[*]} (details above)"
fi
log "lint: ok"
