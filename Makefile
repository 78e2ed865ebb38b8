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

# hailong on SQLite with demo data, no token needed: seed ./hailong.db once (surveys and
# complaints), print both reports, register one demo dossier and print its rating link and how
# to follow a demo complaint, then serve the web chat at
# http://127.0.0.1:8000 (Ctrl-C stops). The link secret is made once into .env and kept.
DEMO_DOSSIER := DEMO-$(shell date +%Y%m%d%H%M%S)
SERVE_ARGS ?=  # e.g. --port 8001
start: export DATABASE_URL = sqlite:///./hailong.db
start: install
	@grep -q '^LINK_SECRET=' .env 2>/dev/null || { \
	  printf '\n# Made once by make start: dossier links are signed with it, keep it.\nLINK_SECRET=%s\n' \
	    "$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(32))')" >> .env; \
	  echo "A new LINK_SECRET was written to .env: links stay valid across runs."; }
	$(BIN)/hailong db upgrade
	[ -f .demo-seeded ] && [ -f hailong.db ] || ($(BIN)/hailong demo && touch .demo-seeded)
	$(BIN)/hailong report --by unit
	$(BIN)/hailong report complaints --by unit
	$(BIN)/hailong invite --dossier $(DEMO_DOSSIER) --unit STP --procedure CC_HOP_DONG
	@echo "Open http://127.0.0.1:8000 (or the web link above) to take the survey, or type"
	@echo "/phananh there to send a complaint and follow it with /tracuu PA-YYYY-NNNNNN."
	@echo "Demo complaints to follow in the terminal: .venv/bin/hailong chat --user demo, then /tracuu"
	@echo "Web console (unit inbox, analysts' dashboard) at http://127.0.0.1:8000/console: make a login with"
	@echo "  .venv/bin/hailong staff add --name 'Quản trị' --role admin --email you@example.org --password-stdin"
	$(BIN)/hailong serve $(SERVE_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest -n 2 -q

# The whole suite: lint, types, and every test (PostgreSQL tests use the local server).
test: lint pytest

clean:
	rm -rf $(VENV) hailong.db hailong.db-wal hailong.db-shm .demo-seeded
