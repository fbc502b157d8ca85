"""Readiness: can this process do its work? (``/readyz``; ``/healthz`` only says it answers.)

Four checks, each cheap and bounded by a short timeout, none reading or returning
patient data:

* **database**: a fresh connection answers ``SELECT 1`` (its own engine without a pool,
  connect timeout 2 s, statement timeout 1 s, so a probe never waits on the app's pool);
* **migrations**: the database's ``alembic_version`` is the head of ``migrations/`` as
  this process's code knows it (read once, at start-up);
* **redis** (only when ``REDIS_URL`` is set; without it jobs run inline): ``PING``
  answers within 1 s;
* **model**: the active routing model is loaded
  (:func:`helpdesk.routing.services.model_health` says ``ok``); without one every
  request goes to triage, which is a readiness failure.

Reasons name the failure by its exception type only.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask import Flask, current_app
from redis import Redis
from sqlalchemy.pool import NullPool

from helpdesk.routing.services import model_health

_EXTENSION = "helpdesk_health"
_redis_probes: dict[str, Redis] = {}


@cache
def script_heads(directory: str) -> tuple[str, ...]:
    """The head revision(s) of the migrations in ``directory`` (read once per process)."""
    return tuple(sorted(ScriptDirectory(directory).get_heads()))


def init_health(app: Flask, migrations_directory: Path) -> None:
    """Remember the migrations' head now, at start-up: what this code expects."""
    state: dict[str, Any] = {"engine": None}
    try:
        state["heads"], state["heads_error"] = script_heads(str(migrations_directory)), None
    except Exception as exc:  # no migrations folder (or a broken one): not ready, and say why
        state["heads"], state["heads_error"] = None, type(exc).__name__
    app.extensions[_EXTENSION] = state


def _probe_engine(state: dict[str, Any]) -> sa.Engine:
    if state["engine"] is None:
        url = current_app.config["SQLALCHEMY_DATABASE_URI"]
        if url.startswith("sqlite"):
            connect_args: dict[str, Any] = {"timeout": 1}
        else:  # libpq: connect timeout in seconds (2 at least), statement timeout in ms
            connect_args = {"connect_timeout": 2, "options": "-c statement_timeout=1000"}
        state["engine"] = sa.create_engine(url, poolclass=NullPool, connect_args=connect_args)
    return state["engine"]


def _redis_probe(url: str) -> Redis:
    if url not in _redis_probes:
        _redis_probes[url] = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    return _redis_probes[url]


def _model_ready(state: str) -> bool:
    """``ok`` or ``ok (version)``: anything else (degraded, unavailable) is not ready."""
    return state == "ok" or state.startswith("ok ")


def readiness() -> tuple[bool, dict[str, str], dict[str, str]]:
    """``(ready, checks, failing)``: every check's state, and the failing ones' reasons."""
    state = current_app.extensions[_EXTENSION]
    checks: dict[str, str] = {}
    failing: dict[str, str] = {}

    def fail(name: str, reason: str) -> None:
        checks[name] = failing[name] = reason

    versions: tuple[str, ...] | None = None
    try:
        with _probe_engine(state).connect() as conn:
            conn.execute(sa.text("SELECT 1"))
            checks["database"] = "ok"
            try:
                versions = tuple(sorted(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()))
            except sa.exc.DBAPIError:
                versions = ()
    except Exception as exc:
        fail("database", f"unreachable ({type(exc).__name__})")

    heads = state["heads"]
    if heads is None:
        fail("migrations", f"unknown: the migrations could not be read ({state['heads_error']})")
    elif versions is None:
        fail("migrations", "unknown: database unreachable")
    elif versions != heads:
        fail("migrations", f"not current: database at {', '.join(versions) or 'no revision'}, "
                           f"code expects {', '.join(heads)}")
    else:
        checks["migrations"] = f"ok ({', '.join(heads)})"

    redis_url = current_app.config["HELPDESK"].redis_url
    if redis_url is None:
        checks["redis"] = "not configured (jobs run inline)"
    else:
        try:
            _redis_probe(redis_url).ping()
            checks["redis"] = "ok"
        except Exception as exc:
            fail("redis", f"unreachable ({type(exc).__name__})")

    if "database" in failing:
        fail("model", "unknown: database unreachable")
    else:
        try:
            model = str(model_health())
        except Exception as exc:
            model = f"unavailable ({type(exc).__name__})"
        if _model_ready(model):
            checks["model"] = model
        else:
            fail("model", model)
    return not failing, checks, failing
