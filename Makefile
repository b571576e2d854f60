# Cairn developer entry points. `make up` runs the local stack, `make test` runs every test.
# Everything installs from the package registries (PyPI, Maven Central, Debian) on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
# Quiet installs: no progress bars, no "a new pip is available", no build-backend chatter.
PIP := PIP_DISABLE_PIP_VERSION_CHECK=1 $(BIN)/pip install -q -c constraints.txt
PROTOS := $(wildcard proto/cairn/v1/*.proto)

.PHONY: help venv dev-venv up up-cluster down status demo test test-unit test-cluster test-integration test-e2e lint fmt proto proto-check \
        browser bench bench-ingest bench-sdk bench-store bench-e2e bench-footprint bench-replay bench-query bench-api bench-portal clean

help:
	@echo "make up      start the local stack (Kafka, ClickHouse endpoint, ingest, processors, portal)"
	@echo "make down    stop it"
	@echo "make test    lint, then every test against real Kafka and the real ClickHouse engine"

# `make up` needs only the services and the SDK: no ML frameworks, no browser, no test tools.
$(STAMP): pyproject.toml sdk/pyproject.toml contract/pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) -e ./contract -e ./sdk -e .
	touch $@

# Tests and lint add the `dev` extra on top: test tools, Playwright, every framework integration.
$(DEV_STAMP): $(STAMP)
	$(PIP) -e ./contract -e ./sdk -e '.[dev]'
	touch $@

venv: $(STAMP)

dev-venv: $(DEV_STAMP)

# `make up PROFILE=cluster` (or `make up-cluster`): 3 Kafka nodes, 2 ingest, 3 processors workers.
up: venv
	$(BIN)/cairn up $(if $(PROFILE),--profile $(PROFILE),)

up-cluster: venv
	$(BIN)/cairn up --profile cluster

down:
	@if [ -x $(BIN)/cairn ]; then $(BIN)/cairn down; else echo "nothing to stop (no .venv)"; fi

status: venv
	$(BIN)/cairn status

lint: dev-venv proto-check
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

fmt: dev-venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Regenerate the checked-in protobuf/gRPC code from proto/ (one command, see docs/events.md).
proto: dev-venv
	$(BIN)/python proto/generate.py

# CI fails when the checked-in generated code differs from what proto/ produces.
proto-check: dev-venv
	$(BIN)/python proto/generate.py --check

# The portal's browser tests drive Debian's Chromium (installed once, from Debian's packages).
test: dev-venv lint
	./deploy/local/install-browser.sh
	./deploy/tools/install.sh
	$(BIN)/python -m pytest tests

# The cluster profile's fault tests and `cairn up --profile cluster` from the CLI (3 Kafka nodes,
# 2 ingest, 3 processors; several minutes each).
test-cluster: dev-venv
	CAIRN_CLUSTER_TESTS=1 $(BIN)/python -m pytest tests/cluster/test_faults.py tests/cluster/test_profile.py -s

# Selected by marker, not folder: every fast test, wherever it lives; every test against real
# Kafka/ClickHouse (marked in its module, or by using a server fixture, see tests/conftest.py);
# every end-to-end test (a whole stack, a browser).
test-unit: dev-venv
	$(BIN)/python -m pytest -m "not integration and not e2e" tests

test-integration: dev-venv
	$(BIN)/python -m pytest -m integration tests

test-e2e: dev-venv
	./deploy/local/install-browser.sh
	$(BIN)/python -m pytest -m e2e tests

bench-ingest: dev-venv
	$(BIN)/python -m bench.ingest_throughput

bench-e2e: dev-venv
	$(BIN)/python -m bench.e2e_throughput

# The stack's RSS per service under load, and `cairn down` with an SDK stream open (docs/benchmarks.md).
bench-footprint: dev-venv
	$(BIN)/python -m bench.stack_footprint

# `cairn replay` on a temporary stack: points/s and points per CPU second (docs/deploy.md sizing).
bench-replay: dev-venv
	$(BIN)/python -m bench.replay_throughput

clean:
	rm -rf $(VENV) .cairn .pytest_cache .mypy_cache .ruff_cache

bench-sdk: dev-venv
	$(BIN)/python -m bench.sdk_logging

bench-query: dev-venv
	$(BIN)/python -m bench.query_scale

# The engine's cost of writing a metric point, per schema version (chdb in a temporary directory).
bench-store: dev-venv
	$(BIN)/python -m bench.store_write

# The query service through cairn.Api on a temporary stack (CAIRN_BENCH_RUNS, CAIRN_BENCH_STEPS).
bench-api: dev-venv
	$(BIN)/python -m bench.query_api

# Every portal page in Chromium at 10,000 runs: first render and warm p50/p95 (CAIRN_BENCH_RUNS,
# CAIRN_BENCH_STEPS, CAIRN_BENCH_RELOADS, CAIRN_BENCH_REPEAT, CAIRN_BENCH_PAGES; docs/benchmarks.md).
bench-portal: dev-venv
	./deploy/local/install-browser.sh
	$(BIN)/python -m bench.portal_render

# A fork's copy against reading by reference (CAIRN_BENCH_STEPS; figures in docs/benchmarks.md).
bench-fork: dev-venv
	$(BIN)/python -m bench.fork_copy

bench: dev-venv
	$(BIN)/python -m bench.compare $(if $(QUICK),--quick,)

# The demo (two teams, a sweep, a model in production with lineage, comments, a handover),
# seeded through ingest into the running local stack once; sign in as alice / cairn-demo.
demo: up
	$(BIN)/python -m localstack.demo

# Every portal page with the demo's data, as docs/screenshots/<page>.png (throwaway stack, Chromium).
.PHONY: screenshots
screenshots: dev-venv
	./deploy/local/install-browser.sh
	$(BIN)/python -m tests.ui.screenshots --out docs/screenshots
