# The two commands: `make run` serves the demo, `make test` runs every test; `make serve` serves
# the configured database under gunicorn, as in production (docs/deployment.md).
# Each sets itself up on a fresh machine (virtualenv, packages, Debian chromium for browser tests).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run serve test lint format chromium clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Stamps re-install only when the requirement files change.
$(VENV)/.deps-run: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	@touch $@

$(VENV)/.deps-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	@touch $@ $(VENV)/.deps-run

run: $(VENV)/.deps-run
	DEMO=$${DEMO:-1} PORT=$(PORT) $(BIN)/python app.py

# Production server: migrate, then gunicorn (one gthread worker; lastmile_portal/gunicorn_conf.py).
serve: $(VENV)/.deps-run
	$(BIN)/flask --app app migrate
	PORT=$(PORT) $(BIN)/gunicorn --config python:lastmile_portal.gunicorn_conf

chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "Installing Debian chromium for the browser tests..."; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; \
	fi

# Lint, format and strict types are part of the test: a change that breaks them fails CI.
test: lint chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.deps-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(VENV)/.deps-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache .mypy_cache
