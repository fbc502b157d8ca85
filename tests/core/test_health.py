"""/healthz says the process answers; /readyz says whether it can do its work: database,
migrations current, Redis (when configured), the routing model loaded."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.script import ScriptDirectory

from helpdesk.extensions import db
from helpdesk.routing.models import ModelVersion
from helpdesk.routing.services import model_cache

MIGRATIONS = Path(__file__).resolve().parent.parent.parent / "migrations"


def _dispose(app) -> None:
    with app.app_context():
        db.engine.dispose()  # close the failed pool now, not at interpreter exit


def test_healthz_is_the_process_alone_and_livez_is_its_alias(client, make_app, tmp_path):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/livez").get_json() == {"status": "ok"}
    broken = make_app(database_url="sqlite:////nonexistent-dir/unreachable.db", instance_path=tmp_path)
    resp = broken.test_client().get("/healthz")
    _dispose(broken)
    assert resp.status_code == 200 and resp.get_json() == {"status": "ok"}  # no database needed


def test_readyz_is_200_with_every_check_when_ready(client, app):
    resp = client.get("/readyz")
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert body["status"] == "ready" and "failing" not in body
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["migrations"] == f"ok ({head})"
    assert body["checks"]["model"] == "ok (test-model)"
    if app.config["HELPDESK"].redis_url:
        assert body["checks"]["redis"] == "ok"
    else:  # `make run`: no Redis, and none needed
        assert body["checks"]["redis"] == "not configured (jobs run inline)"
    assert resp.headers["Cache-Control"] == "no-store"


def test_readyz_is_503_naming_the_database_when_it_is_unreachable(make_app, tmp_path):
    broken = make_app(database_url="sqlite:////nonexistent-dir/unreachable.db", instance_path=tmp_path)
    resp = broken.test_client().get("/readyz")
    _dispose(broken)
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["status"] == "not ready"
    assert body["failing"]["database"] == "unreachable (OperationalError)"
    assert body["failing"]["migrations"] == body["failing"]["model"] == "unknown: database unreachable"


def test_readyz_follows_redis_going_down_and_coming_back(client, configure, own_redis):
    """A Redis of the test's own, stopped by its pid and started again."""
    configure(redis_url=own_redis["url"], jobs_inline=False)  # read per request, as jobs.py does
    assert client.get("/readyz").status_code == 200
    own_redis["stop"]()
    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.get_json()["failing"] == {"redis": "unreachable (ConnectionError)"}
    assert resp.get_json()["checks"]["database"] == "ok"
    own_redis["start"]()
    resp = client.get("/readyz")
    assert resp.status_code == 200 and resp.get_json()["checks"]["redis"] == "ok"


def test_readyz_is_503_while_the_migrations_are_behind_the_code(client, ctx):
    scripts = ScriptDirectory(str(MIGRATIONS))
    head = scripts.get_current_head()
    older = scripts.get_revision(head).down_revision
    db.session.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": older})
    db.session.commit()
    try:
        resp = client.get("/readyz")
    finally:
        db.session.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": head})
        db.session.commit()
    assert resp.status_code == 503
    assert resp.get_json()["failing"] == {"migrations": f"not current: database at {older}, code expects {head}"}
    assert client.get("/readyz").status_code == 200


def test_readyz_is_503_when_no_routing_model_is_active(client, ctx):
    db.session.execute(sa.update(ModelVersion).values(active=False))
    db.session.commit()
    model_cache.reset()
    resp = client.get("/readyz")
    assert resp.status_code == 503
    failing = resp.get_json()["failing"]
    assert list(failing) == ["model"] and "no active model" in failing["model"]
