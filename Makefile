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
# Extra arguments for `make sandbox` (e.g. ARGS='--fake-addr 127.0.0.1:9104').
ARGS ?=
# Packages for `make test` (default ./...; e.g. PKG=./db/...).
PKG ?=

.PHONY: help dev test bench demo build temporal postgres migrate generate check-generated lint sandbox clean

help: ## list the targets
	@printf 'Usage: make <target>\n\n'
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z-]*:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@printf '\nSee README.md for details.\n'

dev: ## run everything locally: Postgres, Temporal dev server, provider sandbox, poblysh serve (Ctrl-C stops)
	@scripts/dev.sh

test: ## start Postgres, install the Temporal CLI if missing, then lint + check-generated + go test -race
	@scripts/test.sh $(PKG)

bench: ## run the benchmarks once: 100k backfill throughput vs raw inserts, feed latency at 1M Signals
	@scripts/bench.sh

demo: ## end-to-end demo on its own ports: connect GitHub, Slack, Google Calendar (sandboxed) and print Signals
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

generate: ## validate swagger.yml, regenerate gen/ (models, client), docs/api.md and docs/signal-kinds.md
	$(GO) generate ./gen
	$(GO) test ./connectors -run '^TestSignalKindsDoc$$' -count=1 -update

check-generated: generate ## fail if gen/, docs/api.md or docs/signal-kinds.md differ from what generate produces
	@scripts/check-generated.sh

lint: ## gofmt check (except generated code), go vet, staticcheck
	@scripts/lint.sh

sandbox: build ## run the provider sandbox alone (fake GitHub, Slack, Google Calendar on 9101-9103)
	bin/poblysh sandbox $(ARGS)

clean: ## remove bin/ (keeps .env and the Temporal data in .dev/)
	rm -rf bin
