# The two commands of the README: `make run` and `make test`. Both set up everything they need first.
# What they install is pinned in constraints.txt; `make lock` refreshes it after pyproject.toml's requirements change.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: run test lint bench system-deps lock lock-check wheel-check

# Refuses (before installing anything) when constraints.txt was not made from pyproject.toml's requirements.
lock-check:
	@$(PYTHON) scripts/lock_inputs.py check

$(BIN)/.installed: pyproject.toml constraints.txt
	@$(PYTHON) scripts/lock_inputs.py check
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip -c constraints.txt
	@# setuptools' note that folders named like the packages may shadow them is true of every flat layout (this one).
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/pip install -q -c constraints.txt -e '.[test]'
	touch $@

lock:
	PYTHON=$(PYTHON) scripts/lock.sh

system-deps:
	@scripts/install-system-deps.sh

run: lock-check system-deps $(BIN)/.installed
	$(BIN)/helpline run

lint: lock-check $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

# The built wheel, installed into a clean venv outside the checkout: every module imports, and the commands work
# from another folder.
wheel-check: lock-check
	PYTHON=$(PYTHON) scripts/check-wheel.sh

test: system-deps $(BIN)/.installed lint
	$(BIN)/pytest -n 2 -q
	PYTHON=$(PYTHON) scripts/check-wheel.sh

bench: system-deps $(BIN)/.installed
	$(BIN)/pip install -q -c constraints.txt -e '.[test,bench]'  # the baselines some benchmarks compare with
	$(BIN)/python -m bench
