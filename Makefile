# The two commands of the README: `make run` and `make test`. Both set up everything they need first.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: run test lint bench system-deps

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

system-deps:
	@scripts/install-system-deps.sh

run: system-deps $(BIN)/.installed
	$(BIN)/helpline run

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

test: system-deps $(BIN)/.installed lint
	$(BIN)/pytest -n 2 -q

bench: system-deps $(BIN)/.installed
	$(BIN)/python -m bench
