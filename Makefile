# One target per habit. Every target sets up what it needs from nothing.
SHELL := bash
.DEFAULT_GOAL := help

VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: help setup run test lint format bench clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-train.txt requirements-dev.txt pyproject.toml infra/find-python.sh
	@python=$$(infra/find-python.sh) && echo "Using $$python" && \
	  rm -rf $(VENV) && "$$python" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip==26.3
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

setup: $(STAMP)  ## Create .venv with Python 3.13 and every pinned dependency

run: $(STAMP)  ## The product locally: moto S3 on :5000, the API on :3000 (Ctrl-C stops)
	$(PY) infra/local_stack.py

test: $(STAMP)  ## Run the whole test suite
	$(PY) -m pytest

lint: $(STAMP)  ## ruff (lint + format check) and mypy on the core and training
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: $(STAMP)  ## Benchmarks against bare scikit-learn; tables under results/
	$(PY) bench/realtime.py

format: $(STAMP)  ## Apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:  ## Remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
