"""Serving the compiled model from the database: registered with its bytes, loaded by
every process, verified on activation, activated by name or id, at most one active, and
corrupt bytes send requests to triage (never a 500)."""

from __future__ import annotations

import json
import logging

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from helpdesk.extensions import db
from helpdesk.routing import classifier, compiled
from helpdesk.routing.models import ModelVersion, RoutingDecision
from helpdesk.routing.services import artefact_digest, model_cache, model_health, model_status
from helpdesk.routing.training import activate, register_model
from helpdesk.tickets import services
from helpdesk.tickets.models import Channel, Ticket
from tests.factories import run_jobs


def submit(patient, subject, body) -> Ticket:
    t = services.create_ticket(requester=patient, subject=subject, body=body, channel=Channel.WEB, created_by=patient)
    run_jobs()
    db.session.expire_all()
    return db.session.get(Ticket, t.id)


def decision_of(t: Ticket) -> RoutingDecision:
    return db.session.scalar(sa.select(RoutingDecision).where(RoutingDecision.ticket_id == t.id))


def active_version() -> str | None:
    return db.session.scalar(sa.select(ModelVersion.version).where(ModelVersion.active.is_(True)))


def files_under(path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file() and p.suffix in (".npz", ".joblib"))


def test_a_registered_model_is_stored_in_the_database_and_served_compiled(app, ctx, queues, patient,
                                                                          trained_model_file):
    before = files_under(app.config["HELPDESK"].instance_path)
    version = register_model(classifier.load(trained_model_file), n_examples=7, metrics={"x": 1}, activate=True)
    row = db.session.scalar(sa.select(ModelVersion).where(ModelVersion.version == version))
    assert row.active and row.n_examples == 7 and row.metrics == {"x": 1}
    assert row.size == len(row.artefact) > 10_000 and row.sha256 == artefact_digest(row.artefact)
    assert compiled.loads(row.artefact).version == version
    assert files_under(app.config["HELPDESK"].instance_path) == before  # nothing written to disk
    served = model_cache.get()
    assert isinstance(served, compiled.CompiledRouter) and served.version == version
    assert model_status().ok and model_status().model_id == row.id and model_health() == f"ok ({version})"
    t = submit(patient, "bill", "I was charged twice for the same visit, I want to dispute the charge")
    d = decision_of(t)
    assert d.auto_routed and t.queue.slug == "billing" and d.model_version == version


def test_corrupt_stored_bytes_send_requests_to_triage_and_health_says_so(client, app, ctx, queues, patient, caplog):
    db.session.execute(sa.update(ModelVersion).where(ModelVersion.version == "test-model")
                       .values(artefact=b"PK\x03\x04 not a model", sha256=artefact_digest(b"PK\x03\x04 not a model")))
    db.session.commit()
    model_cache.reset()
    with caplog.at_level(logging.ERROR):
        t = submit(patient, "bill", "I was charged twice for the same visit")
    assert t.queue.slug == "triage" and decision_of(t).note == "no_model"
    assert "ModelLoadError" in caplog.text and "charged" not in caplog.text
    status = model_status()
    assert not status.ok and status.version == "test-model" and "could not be loaded" in status.reason
    assert model_health().startswith("degraded: model test-model could not be loaded")
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "degraded" in ready.get_json()["failing"]["model"]


def test_bytes_that_do_not_match_their_sha256_are_not_loaded(ctx, trained_model_bytes):
    db.session.execute(sa.update(ModelVersion).values(sha256="0" * 64))
    db.session.commit()
    model_cache.reset()
    assert model_cache.get() is None and "sha256" in model_status().reason


def test_no_active_version_is_reported_as_such(ctx, queues, patient):
    db.session.execute(sa.update(ModelVersion).values(active=False))
    db.session.commit()
    model_cache.reset()
    assert model_status() == model_status().__class__(ok=False, model_id=None, version=None,
                                                      reason="no active model version")
    assert model_health() == "degraded: no active model version; requests go to triage"
    t = submit(patient, "bill", "I was charged twice for the same visit")
    assert t.queue.slug == "triage" and decision_of(t).note == "no_model"


def test_activating_a_model_with_corrupt_bytes_is_refused(app, ctx, trained_model_file):
    version = register_model(classifier.load(trained_model_file), n_examples=1, metrics={}, activate=False)
    db.session.execute(sa.update(ModelVersion).where(ModelVersion.version == version).values(artefact=b"garbage"))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["routing", "activate", version])
    assert result.exit_code != 0 and "can't be read" in result.output
    assert active_version() == "test-model"


def test_activation_by_id_or_name_and_the_listing_shows_ids(app, ctx, trained_model_file):
    version = register_model(classifier.load(trained_model_file), n_examples=1, metrics={}, activate=False)
    new_id = db.session.scalar(sa.select(ModelVersion.id).where(ModelVersion.version == version))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["routing", "activate", str(new_id)])
    assert result.exit_code == 0, result.output
    assert f"{version} (id {new_id}) is now active" in result.output
    db.session.expire_all()
    assert active_version() == version
    assert model_cache.get().version == version  # this process reloaded at once
    listing = runner.invoke(args=["routing", "models"]).output
    old_id = db.session.scalar(sa.select(ModelVersion.id).where(ModelVersion.version == "test-model"))
    assert f"* {version}  id={new_id}" in listing and f"  test-model  id={old_id}" in listing
    assert runner.invoke(args=["routing", "activate", "test-model"]).exit_code == 0
    db.session.expire_all()
    assert active_version() == "test-model"
    assert runner.invoke(args=["routing", "activate", "999999"]).exit_code != 0
    assert active_version() == "test-model"
    rows = db.session.execute(sa.select(ModelVersion.version, ModelVersion.active)).all()
    assert sorted(rows) == sorted([("test-model", True), (version, False)])


def test_the_database_refuses_a_second_active_version(ctx, trained_model_bytes):
    db.session.add(ModelVersion(version="other", artefact=trained_model_bytes,
                                sha256=artefact_digest(trained_model_bytes), size=len(trained_model_bytes),
                                active=True))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    db.session.add(ModelVersion(version="other", active=False))
    db.session.add(ModelVersion(version="third", active=False))
    db.session.commit()  # any number of inactive ones
    assert db.session.scalar(sa.select(sa.func.count()).where(ModelVersion.active.is_(True))) == 1


def test_activate_service_switches_exactly_one_row(ctx, trained_model_file):
    version = register_model(classifier.load(trained_model_file), n_examples=1, metrics={}, activate=False)
    row = activate(version)
    assert row.active and row.activated_at is not None
    db.session.expire_all()
    assert db.session.execute(sa.select(ModelVersion.version).where(ModelVersion.active.is_(True))).scalars().all() \
        == [version]


def test_export_and_import_round_trip(app, ctx, tmp_path):
    runner = app.test_cli_runner()
    out = tmp_path / "m.npz"
    result = runner.invoke(args=["routing", "export", "test-model", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_mode & 0o077 == 0 and compiled.loads(out.read_bytes()).version == "test-model"
    again = runner.invoke(args=["routing", "import", str(out)])
    assert again.exit_code == 0 and "already stored" in again.output
    db.session.execute(sa.delete(ModelVersion))
    db.session.commit()
    imported = runner.invoke(args=["routing", "import", str(out)])
    assert imported.exit_code == 0 and "stored;" in imported.output, imported.output
    row = db.session.scalar(sa.select(ModelVersion))
    assert row.version == "test-model" and not row.active and row.sha256 == artefact_digest(out.read_bytes())
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"garbage")
    refused = runner.invoke(args=["routing", "import", str(bad)])
    assert refused.exit_code != 0 and "not a usable model" in refused.output


def test_evaluate_reads_the_stored_model(app, ctx, tmp_path):
    csv_file = tmp_path / "e.csv"
    csv_file.write_text("text,queue\nforgot my password,account_access\nmove my appointment,scheduling\n")
    result = app.test_cli_runner().invoke(args=["routing", "evaluate", "--csv", str(csv_file), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["n"] == 2
