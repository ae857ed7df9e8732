# One target per habit. Every target sets up what it needs from nothing.
SHELL := bash
.DEFAULT_GOAL := help

VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TOOLS  := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed
CLIENTS := .venv-clients
CLIENTS_STAMP := $(CLIENTS)/.installed
MLFLOW := .venv-peer-mlflow
MLFLOW_STAMP := $(MLFLOW)/.installed
# The peers make bench-peers serves our models with, each from its own lock.
PEER_VENVS := .venv-peer-bentoml .venv-peer-flask
SAM    := $(TOOLS)/bin/sam
# sam build needs python3.13 on PATH (pyenv's shim refuses unless selected).
PYTHON313_DIR = $(dir $(shell infra/find-python.sh))

# The lock files: requirements*.in resolved by uv into every package at an exact
# version with its hashes, for Python 3.13 on Linux x86_64 (Lambda's python3.13 and
# CI), or the version a "# lock-python: X.Y" line of the .in file names. Only releases
# uploaded before LOCK_DATE count when `make lock` resolves them.
LOCK_DATE := 2026-11-23T00:00:00Z
LOCKS     := requirements requirements-batch requirements-train requirements-dev requirements-tools \
             requirements-lambda-image requirements-moto requirements-clients requirements-peer-mlflow \
             requirements-peer-bentoml requirements-peer-flask requirements-publish-py311
UV_COMPILE = $(TOOLS)/bin/uv pip compile --quiet --generate-hashes \
  --python-platform x86_64-manylinux_2_28 \
  --exclude-newer $(LOCK_DATE) --custom-compile-command "make lock"

.PHONY: help setup tools run monitor test test-slow test-large test-browser test-sam-local test-all docs proxy lint lock lock-check format build invoke bench bench-peers bench-quick clean lambda-image sam-local deploy smoke destroy

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-train.txt requirements-dev.txt pyproject.toml infra/find-python.sh
	@python=$$(infra/find-python.sh) && echo "Using $$python" && \
	  rm -rf $(VENV) && "$$python" -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

setup: $(STAMP)  ## Create .venv with Python 3.13 and every pinned dependency

$(TOOLS_STAMP): requirements-tools.txt infra/find-python.sh
	@python=$$(infra/find-python.sh) && rm -rf $(TOOLS) && "$$python" -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --require-hashes -r requirements-tools.txt
	@touch $@

tools: $(TOOLS_STAMP)  ## Create .venv-tools with the SAM CLI and cfn-lint

$(CLIENTS_STAMP): requirements-clients.txt infra/find-python.sh
	@python=$$(infra/find-python.sh) && rm -rf $(CLIENTS) && "$$python" -m venv $(CLIENTS)
	$(CLIENTS)/bin/python -m pip install --quiet --require-hashes -r requirements-clients.txt
	@touch $@

# make run's ports (both on 127.0.0.1); make monitor reads the same S3_PORT.
S3_PORT  ?= 5000
API_PORT ?= 3000

$(MLFLOW_STAMP): requirements-peer-mlflow.txt infra/find-python.sh
	@python=$$(infra/find-python.sh) && rm -rf $(MLFLOW) && "$$python" -m venv $(MLFLOW)
	$(MLFLOW)/bin/python -m pip install --quiet --require-hashes -r requirements-peer-mlflow.txt
	@touch $@

.venv-peer-%/.installed: requirements-peer-%.txt infra/find-python.sh
	@python=$$(infra/find-python.sh) && rm -rf .venv-peer-$* && "$$python" -m venv .venv-peer-$*
	.venv-peer-$*/bin/python -m pip install --quiet --require-hashes -r requirements-peer-$*.txt
	@touch $@

run: $(STAMP)  ## The product locally: moto S3 on :5000, the API on :3000 (S3_PORT=, API_PORT=)
	$(PY) -m infra.local_stack --s3-port $(S3_PORT) --api-port $(API_PORT)

# The drift monitor once, against `make run`'s stack (or AWS: python -m monitor --help).
MONITOR_ARGS ?=
monitor: $(STAMP)  ## Drift reports now, from `make run`'s profiles (MONITOR_ARGS="--json")
	AWS_ENDPOINT_URL=http://127.0.0.1:$(S3_PORT) AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \
	AWS_DEFAULT_REGION=us-east-1 $(PY) -m monitor --bucket $$($(PY) -c \
	  'from infra.local_env import DATA_BUCKET as b; print(b)') --registry $$($(PY) -c \
	  'from infra.local_env import MODEL_BUCKET as b; print(b)') --lookback-minutes 15 $(MONITOR_ARGS)

# The folder decides the tier (docs/testing.md): make test runs tests/unit and
# tests/integration (pyproject's testpaths), the others run by name, test-all every one.
test: $(STAMP)  ## The unit and integration tests (minutes; the README's test command)
	$(PY) -m pytest

test-slow: $(STAMP) $(TOOLS_STAMP) $(CLIENTS_STAMP) $(MLFLOW_STAMP)  ## Search quality, digits, every publishable kind, built functions, make run, the state machine
	$(PY) -m pytest tests/slow

test-large: $(STAMP)  ## A 2 GB CSV scored in flat memory (minutes, GBs of disk)
	$(PY) -m pytest tests/large -s

test-browser: $(STAMP)  ## The try-it page in headless Chromium (installs Debian's chromium as root)
	chromium=$$(infra/ensure-chromium.sh) && CHROMIUM=$$chromium $(PY) -m pytest tests/browser

test-sam-local:  ## The functions in Lambda containers (installs and starts Docker as root; says "skipped" and why where it cannot)
	infra/sam-local-tier.sh

test-all: test test-slow test-large test-browser test-sam-local  ## Every tier, as CI runs it

# A deployed stack (make deploy, smoke, destroy and proxy; the stack name samconfig.toml
# saves by default) and its region (default: the configured one).
STACK  ?= serverless-predictor
REGION ?=
MODEL  ?=
SAMPLE ?=
TARGET ?=
DEPLOY_ARGS = --stack $(STACK) $(if $(REGION),--region $(REGION)) $(if $(MODEL),--model $(MODEL)) \
  $(if $(SAMPLE),--sample $(SAMPLE)) $(if $(TARGET),--target $(TARGET))

deploy: $(STAMP) $(TOOLS_STAMP)  ## Build all, deploy STACK (guided the first time), put a model in (MODEL=, SAMPLE=, TARGET=)
	PATH="$(PYTHON313_DIR):$$PATH" $(PY) -m infra.deploy $(DEPLOY_ARGS)

smoke: $(STAMP)  ## Check a deployed STACK: each protocol signed, a refusal, /health, a CSV's report
	$(PY) -m infra.smoke --stack $(STACK) $(if $(REGION),--region $(REGION))

destroy: $(STAMP)  ## Delete STACK; its model and data buckets are kept (and said so)
	$(PY) -m infra.destroy --stack $(STACK) $(if $(REGION),--region $(REGION)) $(if $(PURGE),--purge)

# The try-it page of a deployed, IAM-protected API on 127.0.0.1 (every request signed).
PROXY_PORT ?= 8080
proxy: $(STAMP)  ## Serve a deployed stack's try-it page on 127.0.0.1:8080 (STACK=name)
	$(PY) -m infra.signing_proxy --stack $(STACK) $(if $(REGION),--region $(REGION)) --port $(PROXY_PORT)

lint: $(STAMP) $(TOOLS_STAMP) lock-check  ## ruff, mypy, sam validate, cfn-lint, lock files
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(SAM) validate --lint
	$(TOOLS)/bin/cfn-lint template.yaml -a cfn_lint_serverless.rules

lock: $(TOOLS_STAMP)  ## Re-resolve the requirements*.in files into the hashed lock files
	for name in $(LOCKS); do \
	  python=$$(sed -n 's/^# lock-python: //p' $$name.in); \
	  $(UV_COMPILE) --python-version $${python:-3.13} $$name.in -o $$name.txt || exit 1; \
	done

# Checks the locks against their .in files without re-resolving against what the index
# published since (infra/lock_check.py says how); `make lock` moves them deliberately.
lock-check: $(STAMP) $(TOOLS_STAMP)  ## Fail unless every lock pins its .in file's versions, complete and hashed
	$(PY) -m infra.lock_check $(TOOLS)/bin/uv

# The serving functions' processor: x86_64, or arm64 (make build ARCH=arm64).
ARCH ?= x86_64

build: $(STAMP) $(TOOLS_STAMP)  ## sam build the serving functions (no Docker; ARCH=arm64 for Graviton)
	$(TOOLS)/bin/python infra/serving_template.py template.yaml .aws-sam/serving-template.yaml
	rm -rf .aws-sam/build
	PATH="$(PYTHON313_DIR):$$PATH" ARCH=$(ARCH) $(SAM) build --build-in-source \
	  -t .aws-sam/serving-template.yaml --parameter-overrides Architecture=$(ARCH)
	$(PY) -m infra.function_sizes .aws-sam/build

# The build, redone only when what goes into it changed (the benchmarks' quick run).
BUILT := .aws-sam/build/.built
$(BUILT): $(STAMP) $(TOOLS_STAMP) template.yaml samconfig.toml requirements.txt requirements-batch.txt \
          infra/serving_template.py $(shell find functions -type f -not -path '*/__pycache__/*')
	$(MAKE) build
	@touch $@

invoke: build  ## Invoke each built function with every file in events/, against local moto
	$(PY) -m infra.invoke_built

lambda-image: $(STAMP)  ## The Lambda base image for sam local: official if it pulls, else a stand-in
	$(PY) -m infra.lambda_image

sam-local: build  ## sam local for real: training image, every event, start-api, against moto (Docker)
	$(PY) -m infra.sam_local $(if $(KEEP),--keep)

bench: build $(MLFLOW_STAMP) $(addsuffix /.installed,$(PEER_VENVS))  ## Benchmarks against bare scikit-learn/pandas; JSON under results/
	$(PY) -m bench.realtime
	$(PY) -m bench.batch
	$(PY) -m bench.fan_out
	$(PY) -m bench.capture
	$(PY) -m bench.feedback
	$(PY) -m bench.digits
	$(PY) -m bench.peers
	$(PY) -m bench.cost
	$(PY) -m infra.function_sizes .aws-sam/build results/sizes.json

bench-peers: build $(MLFLOW_STAMP) $(addsuffix /.installed,$(PEER_VENVS))  ## Ours beside MLflow, BentoML, Flask and plain predict, as ratios
	$(PY) -m bench.peers

bench-quick: $(BUILT) $(MLFLOW_STAMP) $(addsuffix /.installed,$(PEER_VENVS))  ## The headline ratios in under 3 minutes (realtime, cold start, batch, peers at one model)
	$(PY) -m bench.quick

docs: $(STAMP)  ## Redraw the tables docs/ generates from the code (a test fails while stale)
	$(PY) -m infra.docs_tables

format: $(STAMP)  ## Apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:  ## Remove the virtualenvs, builds and caches
	rm -rf $(VENV) $(TOOLS) $(CLIENTS) $(MLFLOW) $(PEER_VENVS) .aws-sam results .pytest_cache .mypy_cache .ruff_cache
