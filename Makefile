# Doorstep — the two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?= -n 2

.PHONY: run test check bench setup migrate seed browser twilio-mock audit lock clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements.lock -e '.[dev]'
	touch $(STAMP)

## Compile the search kernels into Numba's on-disk cache (~40 s once; then ~0.5 s to load).
KERNELS := $(VENV)/.kernels
$(KERNELS): $(STAMP) routing/sisr_kernels.py
	$(PY) -c "from routing.sisr import warm_up; warm_up()"
	touch $(KERNELS)

setup: $(STAMP) $(KERNELS)

migrate: setup
	$(BIN)/doorstep migrate

seed: migrate
	$(BIN)/doorstep seed --demo

## Set everything up on SQLite and serve http://$(HOST):$(PORT)
run: seed
	$(BIN)/doorstep serve --host $(HOST) --port $(PORT)

## Headless Chromium for the console tests (Debian's package; no browser download).
browser:
	@command -v chromium >/dev/null || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

## The local Twilio-compatible server (Twilio's OpenAPI spec served by Prism).
twilio-mock:
	@test -d tools/twilio-mock/node_modules || npm ci --prefix tools/twilio-mock --no-audit --no-fund --loglevel=error

## Known vulnerabilities: pip-audit over the pinned Python packages (PyPI's advisory data, each
## pin looked up as pinned, no resolving: seconds) and npm audit over the test tools' packages.
## A finding fails; so does a package it could not look up (--strict). Where the advisory
## services cannot be reached at all (an offline mirror answers no advisories), it says
## NOT AUDITED and goes on, unless AUDIT_STRICT=1 makes that fail too (for machines that reach
## them; this project's CI machine does not, so it is not the default there). A finding that
## cannot be fixed goes in PIP_AUDIT_IGNORE as --ignore-vuln <ID>, with its reason beside it.
AUDIT_STRICT ?= 0
PIP_AUDIT_IGNORE :=
PYPI_ADVISORIES := https://pypi.org/pypi/pip-audit/2.10.1/json
NPM_ADVISORIES := https://registry.npmjs.org/-/npm/v1/security/advisories/bulk
audit: setup twilio-mock
	@if curl -sf -m 5 -o /dev/null $(PYPI_ADVISORIES); then \
	  $(BIN)/pip-audit --strict --no-deps --disable-pip --progress-spinner off \
	    -r requirements.lock $(PIP_AUDIT_IGNORE); \
	else echo "pip-audit: PyPI's advisory data cannot be reached from here: NOT AUDITED"; \
	  test "$(AUDIT_STRICT)" != 1; fi
	@if curl -sf -m 5 -o /dev/null -X POST -H 'content-type: application/json' -d '{}' \
	    $(NPM_ADVISORIES); then \
	  npm audit --prefix tools/twilio-mock --audit-level=low; \
	else echo "npm audit: the registry's advisory endpoint cannot be reached from here: NOT AUDITED"; \
	  test "$(AUDIT_STRICT)" != 1; fi

## Set up and run every test (PostgreSQL too when DOORSTEP_TEST_POSTGRES_URL is set), in two
## processes (pytest-xdist; each has its own databases): `make test PYTEST_ARGS=` runs one.
test: setup browser twilio-mock audit
	$(PY) -m pytest $(PYTEST_ARGS)

check: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(PY) -m pytest $(PYTEST_ARGS)

## Benchmarks (figures printed and written to var/bench/*.json); PyVRP and VROOM compared.
bench: setup
	$(PY) -m pip install -q -c requirements.lock -e '.[dev,bench]'
	$(PY) -m bench.vrptw
	$(PY) -m bench.doorstep_day
	$(PY) -m bench.ivr
	$(PY) -m bench.journeys
	$(PY) -m bench.console
	$(PY) -m bench.state_day
	$(PY) -m bench.load

## Refresh the pinned versions of every installed package.
lock:
	$(PY) -m pip freeze --exclude-editable | grep -v '^-e' > requirements.lock

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
