# Two commands on a fresh machine with Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
# Test processes (pytest-xdist): 2 on the 2-core CI machine; PYTEST_WORKERS=0 for one process.
# worksteal: a worker that runs out takes tests queued for the other, so neither sits idle
# at the end (the default hands each worker one long first block: the browser tests).
PYTEST_WORKERS ?= 2
export FLASK_APP := portal

.PHONY: run test tools lint bench campaign clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	@PORTAL_ENV=$${PORTAL_ENV:-development} $(BIN)/flask db upgrade
	@PORTAL_ENV=$${PORTAL_ENV:-development} $(BIN)/flask seed-demo --if-empty
	@echo "Emails are written to instance/mail/ (no SMTP server configured)."
	@echo "Serving on http://localhost:$(PORT)  (Ctrl+C to stop)"
	@export PORTAL_ENV=$${PORTAL_ENV:-development}; \
	  $(BIN)/flask send-outbox --loop --interval 2 & sender=$$!; \
	  $(BIN)/flask send-reminders --loop --interval 60 >/dev/null & reminders=$$!; \
	  $(BIN)/flask purge-expired --loop >/dev/null & purge=$$!; \
	  trap 'kill $$sender $$reminders $$purge 2>/dev/null' EXIT INT TERM; \
	  $(BIN)/flask run --host 127.0.0.1 --port $(PORT)

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

# The HTML and calendar checkers the tests run (needs Java and Node.js); without them those
# two tests are skipped. Installed once per lock file, outside the clone (see tests/tools/).
tools:
	@tests/tools/install.sh

lint: $(VENV)/.installed-test
	$(BIN)/ruff check portal tests
	$(BIN)/lint-imports

# Not a test and not in CI: gunicorn on PostgreSQL at issue 11's sizes, driven by wrk (see the
# README). BENCH_SCALES="1x 10x", BENCH_DURATION=10 (seconds a page), BENCH_RACES=3.
bench: $(VENV)/.installed-test
	$(BIN)/python tests/bench/bench_http.py

# An attacker's campaign against the demo practice (cross-client, CSRF, fuzz, escaping, open
# redirects) on SQLite, and on PostgreSQL when TEST_DATABASE_URL is set. Not part of `make test`.
campaign: $(VENV)/.installed-test
	$(BIN)/python tests/security/campaign.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .import_linter_cache test-results
