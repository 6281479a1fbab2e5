# Poblysh Connectors: developer entry points. `make` lists the targets.
#
# From a fresh clone, two commands do all set-up:
#   make dev    run the service (Postgres, Temporal dev server, sandbox, API + worker)
#   make test   lint, check generated code, run every test (what CI runs)
#
# Tools are pinned in go.mod (`go tool swagger`, `go tool staticcheck`); the
# Temporal CLI is pinned in scripts/lib.sh and installed into
# ~/.cache/poblysh/bin on first use.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

GO ?= go
# Extra arguments for `make sandbox` (e.g. ARGS='--only github,slack --base-port 9201').
ARGS ?=
# Packages for `make test` (default ./...; e.g. PKG=./db/...).
PKG ?=
# How long `make fuzz` runs each fuzz target.
FUZZTIME ?= 30s
# How long `make soak` loads the stack, in minutes.
SOAK_MINUTES ?= 10

.PHONY: help dev test fuzz soak bench bench-scale demo build temporal postgres migrate generate check-generated lint sandbox clean

help: ## list the targets
	@printf 'Usage: make <target>\n\n'
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z-]*:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@printf '\nSee README.md for details.\n'

dev: ## run everything locally: Postgres, Temporal dev server, provider sandbox, poblysh serve (Ctrl-C stops)
	@scripts/dev.sh

test: ## start Postgres, install the Temporal CLI if missing, then lint + check-generated + go test -race
	@scripts/test.sh $(PKG)

fuzz: ## run every fuzz target for FUZZTIME each (default 30s; `make test` runs each for 10000 executions)
	@FUZZTIME=$(FUZZTIME) scripts/fuzz.sh $(PKG)

bench: ## run the benchmarks once, each beside its raw Postgres baseline (POBLYSH_BENCH_SCALE=0.05 for a quick look)
	@scripts/bench.sh

bench-scale: ## idle cost of BENCH_SCALE_TENANTS × BENCH_SCALE_CONNECTIONS connections (default 1000 × 10) over BENCH_SCALE_WINDOW (default 5m); not in make test
	@scripts/bench-scale.sh

demo: ## end-to-end demo on its own ports: connect every sandboxed provider with a demo hook and print Signals
	@scripts/demo.sh

build: ## build bin/poblysh
	@mkdir -p bin
	$(GO) build -o bin/poblysh ./cmd/poblysh

temporal: ## install the pinned Temporal CLI into ~/.cache/poblysh/bin if it is missing
	@scripts/ensure.sh temporal-cli

postgres: ## start the local Postgres if it is down
	@scripts/ensure.sh postgres

migrate: ## create .env and the database if missing, then apply migrations (poblysh migrate)
	@scripts/dev.sh migrate

generate: ## validate swagger.yml, regenerate gen/ (models, client), docs/api.md, docs/signal-kinds.md and the provider tables
	$(GO) generate ./gen
	$(GO) test ./connectors -run '^TestSignalKindsDoc$$' -count=1 -update
	$(GO) test ./connectors/all -run '^TestProviderDocs$$' -count=1 -update

check-generated: generate ## fail if gen/, docs/api.md, docs/signal-kinds.md or the provider tables differ from what generate produces
	@scripts/check-generated.sh

lint: ## gofmt check (except generated code), go vet, staticcheck
	@scripts/lint.sh

sandbox: build ## run the provider sandbox alone (a fake of every provider, on consecutive ports from 9101)
	bin/poblysh sandbox $(ARGS)

clean: ## remove bin/ (keeps .env and the Temporal data in .dev/)
	rm -rf bin

soak: ## steady mixed load on a whole stack for SOAK_MINUTES (default 10), then check nothing was lost, duplicated or reordered (not in make test)
	@SOAK_MINUTES=$(SOAK_MINUTES) scripts/soak.sh
