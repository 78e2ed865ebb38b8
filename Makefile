# The two commands of the README: `make start` and `make test`. Both install what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install start test lint pytest clean

$(BIN)/hailong: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/hailong

# hailong on SQLite with demo data, no token needed: seed, print the monthly report, then
# take a survey in the terminal (type your answers; "dừng" pauses, Ctrl-D leaves).
start: install
	$(BIN)/hailong db upgrade
	$(BIN)/hailong demo
	$(BIN)/hailong report
	$(BIN)/hailong chat --user demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest -n 2 -q

# The whole suite: lint, types, and every test (PostgreSQL tests use the local server).
test: lint pytest

clean:
	rm -rf $(VENV) hailong.db hailong.db-wal hailong.db-shm
