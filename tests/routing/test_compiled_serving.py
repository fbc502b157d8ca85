"""Serving the compiled model: registered with its twin, loaded by workers, verified on
activation, and a corrupt twin sends requests to triage (never a 500)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import sqlalchemy as sa

from helpdesk.extensions import db
from helpdesk.routing import classifier, compiled
from helpdesk.routing.models import ModelVersion, RoutingDecision
from helpdesk.routing.services import model_cache
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


def model_dir(app) -> Path:
    return app.config["HELPDESK"].resolved_model_dir


def legacy_model(app, trained_model_file: Path, version: str) -> Path:
    """A model saved before compiled files existed: joblib (+ sidecar) only."""
    router = classifier.load(trained_model_file)
    router.version = version
    path = classifier.save(router, model_dir(app) / f"{version}.joblib")
    db.session.add(ModelVersion(version=version, path=path.name, n_examples=router.n_examples))
    db.session.commit()
    return path


def test_a_registered_model_is_served_compiled(app, ctx, queues, patient, trained_model_file):
    version = register_model(classifier.load(trained_model_file), n_examples=1, metrics={}, activate=True)
    joblib_path = model_dir(app) / f"{version}.joblib"
    twin = compiled.compiled_path(joblib_path)
    assert joblib_path.is_file() and twin.is_file() and twin.stat().st_mode & 0o077 == 0
    served = model_cache.get()
    assert isinstance(served, compiled.CompiledRouter) and served.version == version
    t = submit(patient, "bill", "I was charged twice for the same visit, I want to dispute the charge")
    d = decision_of(t)
    assert d.auto_routed and t.queue.slug == "billing" and d.model_version == version


def test_a_corrupt_compiled_file_sends_requests_to_triage(client, app, ctx, queues, patient, trained_model_file,
                                                          caplog):
    version = register_model(classifier.load(trained_model_file), n_examples=1, metrics={}, activate=True)
    compiled.compiled_path(model_dir(app) / f"{version}.joblib").write_bytes(b"PK\x03\x04 not a model")
    model_cache.reset()
    with caplog.at_level(logging.ERROR):
        t = submit(patient, "bill", "I was charged twice for the same visit")
    assert t.queue.slug == "triage" and decision_of(t).note == "no_model"
    assert "ModelLoadError" in caplog.text and "charged" not in caplog.text
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "degraded" in ready.get_json()["failing"]["model"]


def test_activating_a_model_with_a_corrupt_compiled_file_is_refused(app, ctx, trained_model_file):
    version = register_model(classifier.load(trained_model_file), n_examples=1, metrics={}, activate=False)
    compiled.compiled_path(model_dir(app) / f"{version}.joblib").write_bytes(b"garbage")
    result = app.test_cli_runner().invoke(args=["routing", "activate", version])
    assert result.exit_code != 0 and "can't be read" in result.output
    assert db.session.scalar(sa.select(ModelVersion.version).where(ModelVersion.active.is_(True))) == "test-model"


def test_activating_a_legacy_model_compiles_it_and_evaluate_prints_the_same(app, ctx, tmp_path, trained_model_file):
    path = legacy_model(app, trained_model_file, "legacy")
    db.session.execute(sa.update(ModelVersion).values(active=False))
    db.session.execute(sa.update(ModelVersion).where(ModelVersion.version == "legacy").values(active=True))
    db.session.commit()
    model_cache.reset()
    csv_file = tmp_path / "e.csv"
    csv_file.write_text("text,queue\nforgot my password,account_access\nmove my appointment,scheduling\n"
                        "refill please,prescriptions\nok,general\n")
    runner = app.test_cli_runner()

    def evaluate() -> dict:
        result = runner.invoke(args=["routing", "evaluate", "--csv", str(csv_file), "--json"])
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)
        data.pop("latency_ms")
        return data

    assert isinstance(model_cache.get(), classifier.Router)  # no compiled file yet: the fallback
    before = evaluate()
    activate("legacy")
    assert compiled.compiled_path(path).is_file()
    assert isinstance(model_cache.get(), compiled.CompiledRouter)
    assert evaluate() == before
