# The two commands of the README: `make demo` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit install browsers clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Run the platform on the embedded SQLite database with demo data at http://127.0.0.1:8000
demo: $(STAMP)
	$(BIN)/phongdich demo --serve

## The whole test suite: lint, format check, type check, unit + integration (SQLite and a
## throw-away PostgreSQL) + browser tests. Installs PostgreSQL and Chromium when missing.
test: $(STAMP)
	bash scripts/system-deps.sh
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache phongdich.db*
