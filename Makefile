# The two commands a newcomer needs: `make up` and `make test`. See README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help deps build up test lint ci clean bench bench-e2e bench-list load fuzz package

help:
	@echo "make up     the whole system locally (emulator, registries, functions, event plane, API)"
	@echo "make test   install what is needed, run every test, stop what was started"
	@echo "make lint   rustfmt, clippy and cfn-lint, as CI runs them"
	@echo "make bench  the benchmarks, with figures for the README"
	@echo "make bench-e2e  a whole replication through the local system against skopeo sync"
	@echo "make bench-list  the lister over a generated source of 5,000 repositories x 20 tags"
	@echo "make load   the full-size fleet, ten times over two transfer processes"
	@echo "make fuzz   the API fuzzed from its OpenAPI description, 100 requests per route and phase"
	@echo "make package  sam validate and sam build for AWS (arm64 release), zips and their sizes"

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

# A whole replication as a user runs it (the fleet through API, lister, SQS, transfer), then a
# no-op re-sync, side by side with `skopeo sync` per repository; AWS requests per artifact and
# the transfer processes' peak RSS. Release binaries.
bench-e2e: deps
	cargo build --release --workspace --bins
	# The registries' storage in memory (tmpfs), for both tools: the disk's writeback otherwise
	# takes a core of the two.
	TMPDIR=$${FERRY_E2E_TMPDIR:-/dev/shm} target/release/ferry-e2e

# The lister over a generated source of 5,000 x 20 (in memory: the lister's own work and its
# requests per piece); the suite runs 200 x 20.
bench-list:
	FERRY_LIST_REPOSITORIES=5000 FERRY_LIST_TAGS=20 cargo test --release -p ferry --lib -- \
	  a_generated_source_lists_in_bounded_pieces --nocapture

# The full-size fleet (40 repositories x 3 tags on three shared base layers, and a 256 MiB
# image) replicated ten times onto fresh destinations over two transfer processes, and two
# overlapping policies at once: zero failed tasks, every digest right; and 3,000 tags listed
# behind 50 ms of latency; 10,000 task ends from 32 concurrent workers, each delivered twice, lose
# no count. CI runs reduced sizes. One after the other, each with its own
# emulator: run together they measure the emulator's contention, not Ferry.
load: deps build
	FERRY_FLEET_REPOSITORIES=40 FERRY_FLEET_RUNS=10 FERRY_FLEET_BIG_MIB=256 \
		cargo test -p ferry-tests --test replication -- --nocapture concurrency
	FERRY_LISTING_TAGS=3000 cargo test -p ferry-tests --test replication -- --nocapture listing
	FERRY_LOAD_TASKS=10000 FERRY_LOAD_WORKERS=32 cargo test -p ferry-tests --test store -- --nocapture load

# Every route of the API fuzzed by schemathesis from Ferry's openapi.json, authenticated and
# not, with many more requests than CI's few (reports in target/schemathesis/).
fuzz: deps build
	FERRY_FUZZ_EXAMPLES=100 cargo test -p ferry-tests --test api -- --nocapture fuzz

# For AWS: `sam validate --lint`, then `sam build` of the four functions (release, arm64, with
# cargo-lambda and zig), a zip of each and its size; `sam deploy --guided` next (README.md,
# "Deploying to AWS"). aws-sam-cli goes into .venv-sam, apart from CI's .venv. Takes minutes.
package: deps
	@scripts/package.sh
