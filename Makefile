# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
export FLASK_APP := wsgi
STAMP  := $(VENV)/.installed
# Patient pages in English and Spanish: catalogues in translations/, compiled .mo files
# are build output (not committed), made from the .po files by install/run/test.
PO     := $(wildcard translations/*/LC_MESSAGES/messages.po)
MO     := $(PO:.po=.mo)
BABEL_KEYWORDS := -k _l -k lazy_gettext

.PHONY: run dev-env test install install-prod lock migrate seed worker scheduler lint bench check clean translations translations-compile mfa-code

# Installs come from the lock files (exact versions, sha256 hashes): requirements/dev.txt
# here, requirements/runtime.txt on a production host (`make install-prod`, the Dockerfile).
# After changing dependencies in pyproject.toml: `make lock`.
$(STAMP): pyproject.toml requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP) $(MO)

# A production host: runtime dependencies only (no test tools); the app runs from this checkout
# (templates/, migrations/ and translations/ sit beside helpdesk/), installed in place.
install-prod:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements/runtime.txt
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pybabel compile -d translations
	@echo "installed runtime dependencies from requirements/runtime.txt into $(VENV)"

# Re-resolve the lock files from pyproject.toml (needs the package registry).
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes --quiet \
	  -o requirements/runtime.txt
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 --generate-hashes --quiet \
	  -c requirements/runtime.txt -o requirements/dev.txt

translations/%/LC_MESSAGES/messages.mo: translations/%/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel compile -i $< -o $@ -l $*

translations-compile: $(MO)

# After adding or changing a marked string: extract every msgid into messages.pot,
# merge it into each language's messages.po (then translate the new entries there),
# and compile. tests/i18n fails while the .pot is stale or a msgid lacks a translation.
translations: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg $(BABEL_KEYWORDS) --no-location --sort-output --omit-header \
	  -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --ignore-obsolete --width=120
	$(MAKE) translations-compile

# Development server on the embedded SQLite database, jobs inline. Beside it, exactly one
# `flask scheduler`: without REDIS_URL it runs the periodic jobs (SLA warnings and breaches,
# mail retries…) in its own process; it is stopped when the server stops.
run: export HELPDESK_ENV ?= development
run: $(STAMP) $(MO) dev-env
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-demo --if-empty
	$(BIN)/flask scheduler & SCHEDULER=$$!; trap "kill $$SCHEDULER 2>/dev/null" EXIT INT TERM; \
	  $(BIN)/flask run --host 127.0.0.1 --port $(PORT)

# This checkout's settings for the flask command (python-dotenv loads .env; git-ignored):
# after `make run`, `flask users list` and the other commands of README.md and docs/ work here
# as written, on the development instance. Written by `make run` only, never by
# `make install` (a production host), and a line already there is kept.
dev-env:
	@touch .env
	@grep -qs '^FLASK_APP=' .env || echo 'FLASK_APP=wsgi' >> .env
	@grep -qs '^HELPDESK_ENV=' .env || { echo '# written by make run: this checkout is a development instance' >> .env; \
	  echo 'HELPDESK_ENV=development' >> .env; }

test: $(STAMP) $(MO)
	$(BIN)/pytest $(PYTEST_ARGS)

# migrate, worker and scheduler start the app as the environment says: production by default, which
# needs SECRET_KEY and an https:// EXTERNAL_URL (the app refuses to start otherwise), e.g.
#   HELPDESK_ENV=production SECRET_KEY=… EXTERNAL_URL=https://help.example.org make migrate
migrate: $(STAMP)
	$(BIN)/flask db upgrade

seed: $(STAMP)
	HELPDESK_ENV=$${HELPDESK_ENV:-development} $(BIN)/flask seed-demo

# The current two-step sign-in code of a seeded account: make mfa-code EMAIL=agent@example.org
mfa-code: $(STAMP)
	@test -n "$(EMAIL)" || { echo "usage: make mfa-code EMAIL=agent@example.org"; exit 2; }
	@HELPDESK_ENV=$${HELPDESK_ENV:-development} $(BIN)/flask users mfa-code "$(EMAIL)"

# Production job runner: an RQ worker (needs REDIS_URL); as many as you like, on any host.
# Workers never run the periodic schedule.
worker: $(STAMP)
	$(BIN)/flask worker

# The periodic scheduler (needs REDIS_URL): start one on two hosts; the one holding the
# Redis lease enqueues the periodic jobs, the other stands by and takes over if it dies.
scheduler: $(STAMP)
	$(BIN)/flask scheduler

lint: $(STAMP)
	$(BIN)/ruff check helpdesk tests bench

check: $(STAMP)
	$(BIN)/flask db check

# Performance figures, each printed next to what it is compared with (needs PostgreSQL;
# uses REDIS_URL when set). See bench/*.py for what each measures.
bench: $(STAMP)
	$(BIN)/python bench/routing.py
	$(BIN)/python bench/intake.py

clean:
	rm -rf $(VENV) instance/helpdesk.db
