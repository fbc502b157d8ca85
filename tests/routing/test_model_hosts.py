"""Model versions are shared state: two apps with their own instance folders (two hosts,
no shared disk) on one database; a retrain on one is what the other routes with after
its re-check interval. And the migration that moved model files into the database."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from helpdesk.auth.models import User
from helpdesk.config import ConfigError, Settings
from helpdesk.extensions import db
from helpdesk.routing.models import ModelVersion, RoutingDecision
from helpdesk.routing.services import artefact_digest, model_cache, model_health, model_status
from helpdesk.routing.training import activate, retrain
from helpdesk.tickets import services
from helpdesk.tickets.models import Channel
from tests.factories import run_jobs

ROOT = Path(__file__).resolve().parents[2]
BEFORE = "e1c2a3b4d5f6"  # the revision before the models moved into the database
MOVED = "f16a7b8c9d01"


def model_files(*folders: Path) -> list[Path]:
    return [p for folder in folders for p in folder.rglob("*") if p.suffix in (".npz", ".joblib")]


def route_on(host, patient_id: int, body: str) -> RoutingDecision:
    """Submit a request through ``host`` (its own app, session and model cache)."""
    with host.test_request_context():
        patient = db.session.get(User, patient_id)
        t = services.create_ticket(requester=patient, subject="bill", body=body, channel=Channel.WEB,
                                   created_by=patient)
        run_jobs()
        decision = db.session.scalar(sa.select(RoutingDecision).where(RoutingDecision.ticket_id == t.id))
        db.session.expunge(decision)
        db.session.remove()
        return decision


def test_a_retrain_on_one_host_is_what_the_other_routes_with_after_the_recheck(app, ctx, make_app, queues,
                                                                                patient, tmp_path):
    host_b = make_app(instance_path=tmp_path / "host-b", routing_model_recheck_seconds=2.0)
    body = "I was charged twice for the same visit, I want to dispute the charge"
    assert route_on(host_b, patient.id, body).model_version == "test-model"

    started = time.monotonic()
    report = retrain(force=True)  # on host A (what its worker's weekly_retrain_job runs, promoted anyway)
    assert report.promoted
    new = db.session.scalar(sa.select(ModelVersion).where(ModelVersion.active.is_(True)))
    assert new.version != "test-model" and new.size == len(new.artefact)
    assert model_cache.get().version == new.version  # the host that trained reloads at once
    time.sleep(max(0.0, 2.05 - (time.monotonic() - started)))  # host B's interval has passed
    decision = route_on(host_b, patient.id, body)
    assert decision.model_version == new.version and decision.auto_routed
    with host_b.app_context():
        assert model_health() == f"ok ({new.version})"

    # rolled back by id on host A: host B keeps its model until its next re-check, then follows
    activate(db.session.scalar(sa.select(ModelVersion.id).where(ModelVersion.version == "test-model")))
    assert model_cache.get().version == "test-model"
    with host_b.app_context():
        assert model_cache.get().version == new.version  # within host B's interval: one query saved
    time.sleep(2.05)
    assert route_on(host_b, patient.id, body).model_version == "test-model"
    assert model_files(app.config["HELPDESK"].instance_path, tmp_path / "host-b") == []


def test_the_default_recheck_is_30_seconds_and_bounded_to_a_minute():
    base = {"HELPDESK_ENV": "testing"}
    assert Settings.from_env(base).routing_model_recheck_seconds == 30.0
    assert Settings.from_env({**base, "ROUTING_MODEL_RECHECK_SECONDS": "5"}).routing_model_recheck_seconds == 5.0
    for bad in ("61", "-1", "soon"):
        with pytest.raises(ConfigError, match="ROUTING_MODEL_RECHECK_SECONDS"):
            Settings.from_env({**base, "ROUTING_MODEL_RECHECK_SECONDS": bad})


def test_a_host_whose_active_model_is_unusable_reports_it_and_recovers_on_the_next_activation(
        app, ctx, make_app, queues, patient, tmp_path, trained_model_bytes):
    host_b = make_app(instance_path=tmp_path / "host-b", routing_model_recheck_seconds=0.0)
    db.session.add(ModelVersion(version="broken", artefact=b"PK\x03\x04 broken", active=False,
                                sha256=artefact_digest(b"PK\x03\x04 broken"), size=15))
    db.session.execute(sa.update(ModelVersion).values(active=False))
    db.session.commit()
    db.session.execute(sa.update(ModelVersion).where(ModelVersion.version == "broken").values(active=True))
    db.session.commit()  # as if activated by hand in SQL: activate() refuses unreadable bytes
    with host_b.app_context():
        status = model_status()
        assert not status.ok and status.version == "broken" and "could not be loaded" in status.reason
        assert model_health().startswith("degraded:")
    decision = route_on(host_b, patient.id, "I was charged twice for the same visit")
    assert decision.note == "no_model" and not decision.auto_routed
    activate("test-model")
    with host_b.app_context():
        assert model_health() == "ok (test-model)"


# ------------------------------------------------------------------ the migration


@pytest.fixture
def scratch_database(app, tmp_path):
    """A database of its own for the migration: a SQLite file, or a PostgreSQL schema in
    the suite's database (dropped afterwards)."""
    url = app.config["HELPDESK"].database_url
    if url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'migration.db'}"
        return
    schema = f"migration_{int(time.time() * 1000) % 10**9}"
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with app.app_context(), db.engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


OLD_ROWS = sa.table(
    "routing_models", sa.column("id", sa.Integer), sa.column("version", sa.String), sa.column("path", sa.String),
    sa.column("created_at", sa.DateTime), sa.column("n_examples", sa.Integer), sa.column("metrics", sa.JSON),
    sa.column("active", sa.Boolean),
)


def test_the_migration_moves_model_files_into_the_database(make_app, scratch_database, tmp_path,
                                                           trained_model_file, trained_model_bytes):
    instance = tmp_path / "old-host"
    models_dir = instance / "models"  # the old default MODEL_DIR
    models_dir.mkdir(parents=True)
    (models_dir / "v-compiled.compiled.npz").write_bytes(trained_model_bytes)
    shutil.copy(trained_model_file, models_dir / "v-legacy.joblib")  # before compiled files: compiled on the way
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "v-abs.compiled.npz").write_bytes(trained_model_bytes)
    old = make_app(database_url=scratch_database, instance_path=instance)
    with old.app_context():
        upgrade(directory=str(ROOT / "migrations"), revision=BEFORE)
        now = datetime.now(UTC).replace(tzinfo=None)
        rows = [("v-compiled", "v-compiled.joblib", True), ("v-legacy", "v-legacy.joblib", False),
                ("v-abs", str(elsewhere / "v-abs.joblib"), False), ("v-missing", "v-missing.joblib", False)]
        with db.engine.begin() as conn:
            conn.execute(OLD_ROWS.insert(), [{"version": v, "path": p, "active": a, "created_at": now,
                                              "n_examples": 3, "metrics": {}} for v, p, a in rows])
        upgrade(directory=str(ROOT / "migrations"), revision=MOVED)
        got = {r.version: r for r in db.session.execute(sa.select(
            ModelVersion.version, ModelVersion.active, ModelVersion.artefact, ModelVersion.sha256,
            ModelVersion.size, ModelVersion.note))}
        assert got["v-compiled"].artefact == trained_model_bytes and got["v-compiled"].active
        assert got["v-compiled"].sha256 == artefact_digest(trained_model_bytes)
        assert got["v-compiled"].size == len(trained_model_bytes) and got["v-compiled"].note is None
        assert got["v-abs"].artefact == trained_model_bytes
        assert got["v-legacy"].artefact is not None and got["v-legacy"].sha256 == artefact_digest(
            got["v-legacy"].artefact)
        assert got["v-missing"].artefact is None and not got["v-missing"].active
        assert "not moved into the database" in got["v-missing"].note and "v-missing" in got["v-missing"].note
        model_cache.reset()
        assert model_health() == "ok (v-compiled)"  # the stored bytes load
        # the compiled-on-the-way version loads too (switched in SQL: the app's own activate()
        # writes an audit row, whose table is of a later revision than this database's)
        with db.engine.begin() as conn:
            conn.execute(sa.update(ModelVersion).values(active=False))
            conn.execute(sa.update(ModelVersion).where(ModelVersion.version == "v-legacy").values(active=True))
        model_cache.reset()
        assert model_health() == "ok (v-legacy)"
        db.session.remove()

        # downgrade writes the stored models back as files; a file gone by the next upgrade
        # leaves its (active) row inactive with a note
        downgrade(directory=str(ROOT / "migrations"), revision=BEFORE)
        assert (models_dir / "v-legacy.compiled.npz").read_bytes() == got["v-legacy"].artefact
        (models_dir / "v-legacy.compiled.npz").unlink()
        (models_dir / "v-legacy.joblib").unlink()
        upgrade(directory=str(ROOT / "migrations"), revision=MOVED)
        after = {r.version: r for r in db.session.execute(sa.select(
            ModelVersion.version, ModelVersion.active, ModelVersion.artefact, ModelVersion.note))}
        assert after["v-legacy"].artefact is None and not after["v-legacy"].active and after["v-legacy"].note
        assert after["v-compiled"].artefact == trained_model_bytes
        assert db.session.scalar(sa.select(sa.func.count()).where(ModelVersion.active.is_(True))) == 0
        model_cache.reset()
        assert model_health() == "degraded: no active model version; requests go to triage"
        db.session.remove()
