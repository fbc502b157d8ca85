# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
export FLASK_APP := wsgi
STAMP  := $(VENV)/.installed

.PHONY: run test install migrate seed worker cron lint bench check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Development server on the embedded SQLite database, jobs inline.
run: export HELPDESK_ENV ?= development
run: $(STAMP)
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-demo --if-empty
	$(BIN)/flask run --host 127.0.0.1 --port $(PORT)

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

migrate: $(STAMP)
	$(BIN)/flask db upgrade

seed: $(STAMP)
	HELPDESK_ENV=$${HELPDESK_ENV:-development} $(BIN)/flask seed-demo

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
