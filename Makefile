# One entry point for humans and CI. Settings come from the typed config (pipeline/config.py), optionally
# a YAML file: `make run-local CONFIG=configs/fma_small.yaml`, or single overrides: `SET="audio.segment_seconds=3"`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The newest supported interpreter found on PATH (3.11, else 3.10); override with PYTHON=...
PYTHON ?= $(shell for p in python3.11 python3.10 python3; do \
	if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(not (3,10) <= sys.version_info[:2] <= (3,11))' 2>/dev/null; \
	then echo $$p; break; fi; done)
VENV ?= .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
UV := .tools/uv/bin/uv
LOCK := requirements/requirements.lock
STAMP := $(VENV)/.installed-from-lock
CONFIG ?=
SET ?=
CLI := $(BIN)/python -m pipeline.cli
CONFIG_ARGS := $(if $(CONFIG),--config $(CONFIG)) $(foreach s,$(SET),--set $(s))
PYTEST_ARGS ?=

export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL ?= 1

.PHONY: help venv lock demo-data run-local outputs test test-fast bench bench-ingest download-fma clean clean-runs

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(UV):
	@test -n "$(PYTHON)" || { echo "error: Python 3.10 or 3.11 is required (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --target .tools/uv uv==$(UV_VERSION)

# The environment is rebuilt only when the lock (or what installs the project) changes.
$(STAMP): $(LOCK) uv.toml pyproject.toml | $(UV)
	@test -n "$(PYTHON)" || { echo "error: Python 3.10 or 3.11 is required (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	PYTHONPATH=.tools/uv $(UV) pip sync --python $(BIN)/python $(LOCK)
	PYTHONPATH=.tools/uv $(UV) pip install --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

venv: $(STAMP) ## create .venv from the pinned lock (only when the lock changed)

lock: | $(UV) ## re-resolve requirements/requirements.lock from requirements.in and constraints.txt
	PYTHONPATH=.tools/uv $(UV) pip compile --universal --python-version 3.10 requirements/requirements.in \
		-c requirements/constraints.txt -o $(LOCK)

demo-data: $(STAMP) ## write the synthetic demo dataset in FMA's layout (data/demo)
	$(CLI) demo-data $(CONFIG_ARGS)

run-local: $(STAMP) ## run the whole pipeline locally (makes demo data when no dataset is configured)
	$(CLI) run-local $(CONFIG_ARGS)

outputs: $(STAMP) ## print where the newest local run's outputs and reports are
	$(CLI) outputs $(CONFIG_ARGS)

download-fma: $(STAMP) ## download, verify and unpack fma_metadata.zip and fma_small.zip into data/fma
	$(BIN)/python -m pipeline.download $(if $(FMA_DIR),--data-dir $(FMA_DIR)) $(if $(SUBSET),--subset $(SUBSET))

test: $(STAMP) ## all tests, end-to-end pipeline runs included
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP) ## unit tests only (skips the slow end-to-end runs)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

bench: bench-ingest ## all benchmarks

bench-ingest: $(STAMP) ## AudioExampleGen against a bare decode+resample loop, 1 and 2 workers
	$(BIN)/python -m benchmarks.bench_ingest $(CONFIG_ARGS)

clean-runs: ## delete local pipeline outputs and MLMD (runs/)
	rm -rf runs

clean: clean-runs ## delete the environment, outputs and generated demo data
	rm -rf $(VENV) .tools data/demo build .pytest_cache
