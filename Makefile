# Abasto: make run (the demo), make test (lint, types, the whole suite), make bench.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SEED ?= 42
SCALE ?= national
HOST ?= 127.0.0.1
PORT ?= 8000
## pytest-xdist workers (one per core), each with its own database. Work stealing: a worker
## that runs out takes half of the other's queue, so neither waits idle behind a long file
## (tests/conftest.py puts the slowest files first).
WORKERS ?= 2
DURATIONS ?= 20

.PHONY: install run test lint typecheck pytest bench chromium clean

## uv installs the pinned set in about 10 s where pip takes about 45 s; pip is the fallback.
## Then the packages' bytecode is compiled (compileall skips what is up to date, so a venv made
## before gets it too): without it, and with PYTHONDONTWRITEBYTECODE set, every `abasto` command
## compiled SQLAlchemy, typer and rich again before doing anything (audit verify: 0.53 s).
$(STAMP): pyproject.toml constraints.txt Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c constraints.txt -e '.[dev]' \
	  || $(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	$(BIN)/python -m compileall -q -j 0 "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" > /dev/null
	touch $(STAMP)

install: $(STAMP)

## The demo: an embedded SQLite database with a generated national scenario, served on PORT.
run: $(STAMP)
	$(BIN)/abasto demo --seed $(SEED) --scale $(SCALE) --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

## Browser tests drive Debian's Chromium; install it when missing and we may (root).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "Chromium is missing: sudo apt-get install -y chromium" >&2; exit 1; fi; }

## The schemathesis test runs in a process of its own, not under pytest-xdist: there its
## operations (subtests of one item) finished in 22 s where they take about 90 s in a plain run,
## so not all of them may have run. It runs beside the rest (its database is the configured one,
## the workers' are <name>_gw0, <name>_gw1) and its output follows the suite's.
##
## The suite starts a dozen interpreters (workers, `abasto serve`, `abasto demo`): each may keep
## the modules it compiles (PYTHONDONTWRITEBYTECODE set empty), so the next one reads them.
FUZZ_LOG := .pytest_cache/fuzz.log
pytest: $(STAMP) chromium
	@mkdir -p .pytest_cache
	@export PYTHONDONTWRITEBYTECODE=; \
	$(BIN)/pytest tests/web/test_fuzz.py > $(FUZZ_LOG) 2>&1 & fuzz=$$!; \
	$(BIN)/pytest -n $(WORKERS) --dist worksteal --durations=$(DURATIONS) \
	  --ignore=tests/web/test_fuzz.py; \
	suite=$$?; wait $$fuzz; fuzzed=$$?; \
	echo "--- tests/web/test_fuzz.py (run beside the suite) ---"; cat $(FUZZ_LOG); \
	test $$suite -eq 0 && test $$fuzzed -eq 0

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) data .mypy_cache .ruff_cache .pytest_cache
