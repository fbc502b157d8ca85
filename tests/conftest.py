"""Fixtures: one migrated database per run, emptied before every test.

SQLite (a temp file) and inline jobs by default; PostgreSQL and real RQ when
DATABASE_URL / REDIS_URL are set (as .ci/run does). Services commit for real — the
browser and worker tests need committed rows visible to other connections — so
each test starts from empty tables instead of a rolled-back transaction.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from helpdesk import create_app
from helpdesk.config import Settings
from helpdesk.extensions import db, limiter

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    instance = tmp_path_factory.mktemp("instance")
    overrides = {"instance_path": instance}
    if not os.environ.get("DATABASE_URL"):
        overrides["database_url"] = f"sqlite:///{instance / 'test.db'}"
    return Settings.for_testing(**overrides)


class IsolatedClient(FlaskClient):
    """Tests that also call services hold an app context open (the ``ctx`` fixture), and
    Flask then reuses it for the client's requests: per-request caches in ``g`` (the
    signed-in user, queue memberships) must not leak from one request to the next."""

    def open(self, *args, **kwargs):
        from flask import g, has_app_context

        if has_app_context():
            for key in ("_login_user", "_member_queue_ids", "api_user", "_name_translations"):
                g.pop(key, None)
        return super().open(*args, **kwargs)


# ------------------------------------------------------------------ configuration
#
# Tests never assign to ``app.config``: they build an app with ``build_app`` / ``make_app``
# or change the suite's app for one test with ``configure``. These helpers are the only
# places in tests/ that write configuration; ``_clean`` fails a test that leaks any.

# The suite's Flask keys on top of what Settings.flask_config() gives: forms without CSRF
# tokens (tests that check CSRF turn it on with ``configure(WTF_CSRF_ENABLED=True)``).
SUITE_FLASK_KEYS: dict[str, Any] = {"WTF_CSRF_ENABLED": False}
_ABSENT = object()


def _split(changes: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Lower-case names are Settings fields, UPPER_CASE names are Flask config keys."""
    fields = {k: v for k, v in changes.items() if not k.isupper()}
    keys = {k: v for k, v in changes.items() if k.isupper()}
    return fields, keys


def build_app(settings: Settings, **changes: Any) -> Flask:
    """``create_app`` from ``settings`` with some fields replaced (``smtp_host=...``) and
    some Flask keys set (``WTF_CSRF_ENABLED=False``)."""
    fields, keys = _split(changes)
    built = create_app(replace(settings, **fields) if fields else settings)
    built.config.update(keys)
    return built


def _put_back(config: dict[str, Any], values: Mapping[str, Any]) -> None:
    for key, value in values.items():
        if value is _ABSENT:
            config.pop(key, None)
        else:
            config[key] = value


class Configure:
    """The ``configure`` fixture: ``configure(smtp_host="127.0.0.1", redis_url=None,
    WTF_CSRF_ENABLED=True)`` changes the suite's app from now on (on top of earlier calls);
    everything is put back when the test ends. Used as a context manager, a change lasts
    only for the block: ``with configure(inbound_max_bytes=2048) as settings: ...``."""

    def __init__(self, app: Flask) -> None:
        self._app = app
        self._initial = dict(app.config)

    def __call__(self, **changes: Any) -> _Change:
        config = self._app.config
        fields, keys = _split(changes)
        before = {k: config.get(k, _ABSENT) for k in [*keys, *(["HELPDESK"] if fields else [])]}
        if fields:
            config["HELPDESK"] = replace(config["HELPDESK"], **fields)
        config.update(keys)
        return _Change(self, before)

    @property
    def settings(self) -> Settings:
        return self._app.config["HELPDESK"]

    def restore(self, values: Mapping[str, Any] | None = None) -> None:
        """Put back ``values`` (key → value before), or everything as it was at the start."""
        if values is None:
            values = {k: self._initial.get(k, _ABSENT) for k in {*self._initial, *self._app.config}}
        _put_back(self._app.config, values)


class _Change:
    def __init__(self, owner: Configure, before: dict[str, Any]) -> None:
        self._owner, self._before = owner, before

    def __enter__(self) -> Settings:
        return self._owner.settings

    def __exit__(self, *exc: object) -> None:
        self._owner.restore(self._before)


@pytest.fixture
def configure(app: Flask) -> Iterator[Configure]:
    """Change the suite's app configuration for one test (see ``Configure``)."""
    configure = Configure(app)
    yield configure
    configure.restore()


@pytest.fixture
def make_app(settings: Settings) -> Iterator[Any]:
    """A second app on the same database with other settings (as after a redeploy):
    ``make_app(env="production", ..., WTF_CSRF_ENABLED=False)``. Its pool is closed after."""
    built: list[Flask] = []
    # flask-limiter is one object per process: each app's init_app points it at that
    # app's storage (another Redis); the suite's is put back after the test
    suite_limiter = (limiter._storage, limiter._limiter)

    def make(**changes: Any) -> Flask:
        built.append(build_app(settings, **changes))
        return built[-1]

    yield make
    limiter._storage, limiter._limiter = suite_limiter
    for other in built:
        with other.app_context():
            db.engine.dispose()


@pytest.fixture(scope="session")
def app(settings: Settings) -> Iterator[Flask]:
    app = build_app(settings, **SUITE_FLASK_KEYS)
    app.test_client_class = IsolatedClient
    with app.app_context():
        _reset_schema()
        from flask_migrate import upgrade

        upgrade(directory=str(ROOT / "migrations"))
    yield app


def _reset_schema() -> None:
    """Drop whatever an earlier run left, so the migrations build the schema afresh."""
    engine = db.engine
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
        else:
            for table in sa.inspect(conn).get_table_names():
                conn.execute(sa.text(f'DROP TABLE IF EXISTS "{table}"'))


def _empty_tables() -> None:
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    with db.engine.begin() as conn:
        if db.engine.dialect.name == "postgresql":
            # TRUNCATE costs a few ms per table (and cascades to every table that refers to
            # users): one probe finds the tables a test wrote to, their few rows are deleted
            # (children first), and every sequence that moved restarts.
            probe = " UNION ALL ".join(f"SELECT '{t}' WHERE EXISTS (SELECT 1 FROM \"{t}\")" for t in tables)
            used = {row[0] for row in conn.execute(sa.text(probe))}
            for t in tables:
                if t in used:
                    conn.execute(sa.text(f'DELETE FROM "{t}"'))
            conn.execute(sa.text(
                "SELECT setval(format('%I.%I', schemaname, sequencename)::regclass, 1, false) "
                "FROM pg_sequences WHERE schemaname = current_schema() AND last_value IS NOT NULL"))
        else:
            for t in tables:
                conn.execute(sa.text(f'DELETE FROM "{t}"'))


@pytest.fixture(scope="session")
def trained_model_file(app: Flask, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One routing model for the whole run, trained on the project's corpus (the
    scikit-learn model, saved outside any instance folder: tests that register a new
    version load it from here)."""
    from helpdesk.routing import classifier
    from helpdesk.routing.training import corpus_examples

    texts, labels = corpus_examples()
    router = classifier.train(texts, labels, seed=0)
    router.version = "test-model"
    return classifier.save(router, tmp_path_factory.mktemp("trained") / "test-model.joblib")


@pytest.fixture(scope="session")
def trained_model_bytes(trained_model_file: Path) -> bytes:
    """The compiled twin of ``trained_model_file``: what the database stores and every
    process loads."""
    from helpdesk.routing import classifier, compiled

    return compiled.dumps(compiled.compile_router(classifier.load(trained_model_file)))


APP_FIXTURES = {"app", "ctx", "client", "configure", "make_app", "trained_model_file", "trained_model_bytes"}


@pytest.fixture(autouse=True)
def _clean(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test that touches the app starts from empty tables; tests marked ``pure``
    (``pytestmark = pytest.mark.pure``: no app, no database) skip that, and may not ask
    for the suite's app."""
    if request.node.get_closest_marker("pure"):
        if used := sorted(APP_FIXTURES & set(request.fixturenames)):
            pytest.fail(f"a pure test may not use the app fixtures {used}: drop the pure mark")
        yield
        return
    app: Flask = request.getfixturevalue("app")
    model_bytes: bytes = request.getfixturevalue("trained_model_bytes")
    from helpdesk.routing.models import ModelVersion
    from helpdesk.routing.services import artefact_digest, model_cache

    with app.app_context():
        _empty_tables()
        db.session.add(ModelVersion(version="test-model", artefact=model_bytes, sha256=artefact_digest(model_bytes),
                                    size=len(model_bytes), active=True))
        db.session.commit()
        model_cache.reset()
    if app.config["HELPDESK"].redis_url:
        from redis import Redis

        Redis.from_url(app.config["HELPDESK"].redis_url).flushdb()
    limiter.reset()
    before = dict(app.config)
    yield
    leaked = sorted(k for k in {*before, *app.config} if app.config.get(k, _ABSENT) != before.get(k, _ABSENT))
    if leaked:
        _put_back(app.config, {k: before.get(k, _ABSENT) for k in leaked})
        pytest.fail(f"the test left app.config changed ({', '.join(leaked)}): use the configure fixture")


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    """An application context for calling services directly."""
    with app.test_request_context():
        yield
        db.session.remove()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


# ------------------------------------------------------------------ factories

from tests.factories import *  # noqa: E402,F401,F403
from tests.mailserver import smtp_server, use_smtp  # noqa: E402,F401  (fixtures for every area that sends mail)
from tests.oidc_provider import oidc_provider, sso_on  # noqa: E402,F401  (a real OpenID Connect provider)
from tests.redisserver import own_redis  # noqa: E402,F401  (a Redis the test can stop and start)


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, "no CSRF token in page"
    return match.group(1)
