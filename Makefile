# Alliance Logistics Portal: the developer's commands.
#
#   make run      virtualenv + install (runtime dependencies only; Chart.js from npm), migrate, load the demo scenario if the
#                 database is empty, serve http://$(HOST):$(PORT)  (SQLite in var/ unless DATABASE_URL is set;
#                 another port: make run PORT=8080)
#   make test     virtualenv + install with test extras (Playwright, …), npm libraries with the development ones
#                 (axe-core), Debian's chromium if missing (as root),
#                 then pytest $(PYTEST_ARGS)
#                 (uses DATABASE_URL / REDIS_URL from the environment when set)
#   make lint     ruff check + ruff format --check + lint-imports (the apps' layers)
#   make worker   Celery worker   (needs REDIS_URL; without it tasks run in-process and no worker is needed)
#   make beat     Celery beat     (idem)
#   make clean    caches, build artefacts, collected static files
#   make distclean  clean + the virtualenv and var/ (the local SQLite database)

PYTHON ?= python3.11
VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

BIN := $(VENV)/bin
# Touched after a successful install: re-running `make` reinstalls only when pyproject.toml changes.  `make run`
# needs the runtime dependencies only; the test extras (Playwright, schemathesis, the client generator) come with
# `make test`, `make lint` and `make format`.
RUNTIME_STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
# Front-end libraries come from npm (package.json, package-lock.json): `npm ci` into node_modules/, then the files
# pages load are copied to static/vendor/, which static files serve.  Both folders are git-ignored.  `make run`
# installs the runtime libraries (Chart.js); `make test` adds the development ones (axe-core, for the
# accessibility test, loaded by the browser test from node_modules/).
ASSETS_STAMP := static/vendor/.installed
TEST_ASSETS_STAMP := node_modules/.installed-test
VENDOR_FILES := node_modules/chart.js/dist/chart.umd.min.js node_modules/chart.js/dist/chart.umd.min.js.map

.DEFAULT_GOAL := help
.PHONY: help venv test-venv assets test-assets run test lint format worker beat clean distclean

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUNTIME_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check --quiet -e .
	@touch $@

# the test extras include the runtime: both stamps are then current
$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check --quiet -e '.[test]'
	@touch $@ $(RUNTIME_STAMP)

venv: $(RUNTIME_STAMP)
test-venv: $(TEST_STAMP)

$(ASSETS_STAMP): package.json package-lock.json
	npm ci --omit=dev --no-audit --no-fund --loglevel=error
	@mkdir -p static/vendor
	cp $(VENDOR_FILES) static/vendor/
	@touch $@

# the development libraries too (npm ci replaces node_modules/: the vendored copies are made again)
$(TEST_ASSETS_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@mkdir -p static/vendor
	cp $(VENDOR_FILES) static/vendor/
	@touch $@ $(ASSETS_STAMP)

assets: $(ASSETS_STAMP)
test-assets: $(TEST_ASSETS_STAMP)

run: venv assets
	@mkdir -p var
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo --if-empty
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

test: test-venv test-assets
	@sh tests/e2e/install-chromium.sh
	$(BIN)/pytest $(PYTEST_ARGS)

lint: test-venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: test-venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

worker: venv
	$(BIN)/celery -A config worker --loglevel=INFO

beat: venv
	@mkdir -p var
	$(BIN)/celery -A config beat --loglevel=INFO --schedule var/celerybeat-schedule

clean:
	rm -rf .pytest_cache .ruff_cache staticfiles build dist *.egg-info test-artifacts static/vendor
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) var node_modules
