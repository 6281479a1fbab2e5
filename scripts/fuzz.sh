#!/usr/bin/env bash
# fuzz.sh (make fuzz): runs every Go fuzz target in the module for FUZZTIME
# each (default 30s). `go test` runs only their seed
# corpus; this explores further. A failing input is written under the
# package's testdata/fuzz/<target>/ by go test: commit it with the fix so it
# stays a regression seed.
#
# make test runs this too, with FUZZTIME=10000x (executions, not seconds),
# after the seed corpus (see scripts/test.sh). FUZZMINIMIZETIME (default 5s)
# caps the time spent shrinking a new input; FUZZ_NONE_OK=1 accepts packages
# without targets.
#
# A duration FUZZTIME meets a race in Go 1.26's fuzz coordinator
# (go.dev/issue/75804, fixed in Go 1.27): when the deadline passes while a
# busy worker is mid-call, the target fails with a bare "context deadline
# exceeded" and writes no failing input. A count (Nx) has no deadline and
# cannot meet it; a duration run that fails with exactly that signature is
# run once more, and fails for real if it fails again.
#
# Usage: FUZZTIME=2m scripts/fuzz.sh [packages]   (default ./...)
#        scripts/fuzz.sh --list [packages]        print "<package> <target>" per
#                                                 target, run nothing (README.md's
#                                                 count is checked against it)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$POBLYSH_ROOT"
require_cmd go "Install Go 1.26 (https://go.dev/dl/)."

list=""
if [[ ${1:-} == --list ]]; then
	list=1
	shift
fi

packages=("$@")
((${#packages[@]})) || packages=(./...)
# A fuzz target is a `func FuzzXxx(f *testing.F)` in a package's test files;
# -fuzz takes one target of one package at a time.
targets=()
while read -r pkg dir; do
	while read -r target; do
		targets+=("$pkg $target")
	done < <(cat "$dir"/*_test.go 2>/dev/null | sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p')
done < <(go list -f '{{.ImportPath}} {{.Dir}}' "${packages[@]}")
if [[ -n $list ]]; then
	((${#targets[@]})) && printf '%s\n' "${targets[@]}"
	exit 0
fi

fuzztime=${FUZZTIME:-30s}
minimizetime=${FUZZMINIMIZETIME:-5s}
export TEST_DATABASE_URL=${TEST_DATABASE_URL:-$DEFAULT_TEST_DATABASE_URL}
ensure_postgres "$TEST_DATABASE_URL"
ensure_database "$TEST_DATABASE_URL"

out=$(mktemp)
trap 'rm -f "$out"' EXIT

# fuzz_one runs one target; see above for the one failure it retries.
fuzz_one() {
	local pkg=$1 target=$2 try
	for try in 1 2; do
		# pipefail: the pipeline fails when go test does.
		if go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" -fuzzminimizetime="$minimizetime" "$pkg" 2>&1 | tee "$out"; then
			return 0
		fi
		if ((try == 1)) && [[ $fuzztime != *x ]] && ! grep -q 'Failing input written' "$out" &&
			grep -qx $'    context deadline exceeded' "$out"; then
			log "fuzz $pkg $target: a bare 'context deadline exceeded' at the deadline is Go's coordinator race (go.dev/issue/75804); running it once more"
			continue
		fi
		return 1
	done
}

n=0
for t in "${targets[@]}"; do
	log "fuzz ${t% *} ${t#* } for $fuzztime"
	fuzz_one "${t% *}" "${t#* }"
	n=$((n + 1))
done
((n)) || [[ ${FUZZ_NONE_OK:-} == 1 ]] || die "no fuzz targets in ${packages[*]}"
log "make fuzz: $n target(s) ran $fuzztime each without a failure"
