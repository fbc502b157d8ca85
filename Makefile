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

.PHONY: run test install migrate seed worker cron lint bench check clean translations translations-compile mfa-code

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) $(MO)

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

# Development server on the embedded SQLite database, jobs inline.
run: export HELPDESK_ENV ?= development
run: $(STAMP) $(MO)
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-demo --if-empty
	$(BIN)/flask run --host 127.0.0.1 --port $(PORT)

test: $(STAMP) $(MO)
	$(BIN)/pytest $(PYTEST_ARGS)

# migrate and worker start the app as the environment says: production by default, which
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

# Production job runner: RQ worker (needs REDIS_URL) plus the periodic scheduler.
worker: $(STAMP)
	$(BIN)/flask cron & CRON=$$!; trap "kill $$CRON" EXIT INT TERM; $(BIN)/flask worker

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
