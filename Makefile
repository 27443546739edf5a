# Two commands for a new user: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test test-fast test-browser chromium lint clean
LINTED := tracker tests bench docs config.py wsgi.py

# A bare Debian lacks ensurepip until python3-venv is installed; install it once when venv fails.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); $(SUDO) apt-get install -y python3-venv \
	  || { $(SUDO) apt-get update && $(SUDO) apt-get install -y python3-venv; }; $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.run-deps: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.test-deps: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

## Install, migrate, create the first admin and demo data on a new database, then serve with the scheduler.
run: $(VENV)/.run-deps
	$(BIN)/flask --app wsgi db upgrade
	$(BIN)/flask --app wsgi first-run
	TRACKER_SCHEDULER=on $(BIN)/flask --app wsgi run --host 127.0.0.1 --port 5000

## Install what the tests need (Debian's chromium included) and run the whole suite.
test: $(VENV)/.test-deps chromium
	$(BIN)/python -m pytest

## The quick check: no browser, nothing marked slow, on two workers (each its own SQLite file; PostgreSQL runs serial,
## as `make test` always does, since the workers would share one database).
test-fast: $(VENV)/.test-deps
	$(BIN)/python -m pytest -m "not browser and not slow" $(if $(TRACKER_TEST_DATABASE_URL),,-n 2)

test-browser: $(VENV)/.test-deps chromium
	$(BIN)/python -m pytest -m browser

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  $(SUDO) apt-get install -y chromium || { $(SUDO) apt-get update && $(SUDO) apt-get install -y chromium; }; }

## Lint and formatting (ruff, pinned in requirements-dev.txt); .ci/run runs it first.
lint: $(VENV)/.test-deps
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

clean:
	rm -rf $(VENV) .pytest_cache
