# The two commands a newcomer needs: `make up` and `make test`. See README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help deps build up test lint ci clean bench

help:
	@echo "make up     the whole system locally (emulator, registries, functions, event plane, API)"
	@echo "make test   install what is needed, run every test, stop what was started"
	@echo "make lint   rustfmt, clippy and cfn-lint, as CI runs them"

deps:
	@scripts/install-deps.sh

build:
	cargo build --workspace --bins

up: deps
	@scripts/up.sh

# The tests start moto, registries and the function binaries themselves (on free loopback
# ports) and stop them when they end, pass or fail.
test: deps build
	cargo test --workspace --no-fail-fast

lint: deps
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	.venv/bin/cfn-lint infra/template.yaml

ci:
	@bash .ci/run

clean:
	rm -rf .local target

# Figures for the README: throughput and memory of a 1 GiB copy against a curl pipe, and 200
# small artifacts against skopeo. Release build; takes a few minutes.
bench: deps
	cargo build --release -p ferry-tests --bin ferry-bench
	target/release/ferry-bench
