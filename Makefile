# Plain entry points. `make run` and `make test` are the two commands of README.md.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install test-tools system-deps run test test-fast lint clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'

# What only the tests need: Chromium and npm (Debian), axe-core (npm, pinned by package-lock.json).
test-tools: system-deps
	npm ci --no-audit --no-fund --silent

# Debian packages the browser tests need (run as root; CI does it in .ci/run).
system-deps:
	bash scripts/system_deps.sh

run: install
	bash scripts/ensure_backends.sh
	$(BIN)/python scripts/run_local.py

test: install test-tools
	bash scripts/ensure_backends.sh
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q tests/unit

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache var
