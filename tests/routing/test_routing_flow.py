"""Routing in the app: emergency guard, auto-route vs triage, assignment, learning."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from helpdesk.auth.models import Role
from helpdesk.extensions import db
from helpdesk.routing.models import ModelVersion, RoutingDecision, RoutingLabel
from helpdesk.routing.services import model_cache
from helpdesk.tickets import services
from helpdesk.tickets.models import Assignment, Channel, Priority, Ticket
from tests.factories import bearer, login, run_jobs


def submit(patient, subject, body) -> Ticket:
    t = services.create_ticket(requester=patient, subject=subject, body=body, channel=Channel.WEB, created_by=patient)
    run_jobs()
    db.session.expire_all()
    return db.session.get(Ticket, t.id)


def decision_of(t: Ticket) -> RoutingDecision:
    return db.session.scalar(sa.select(RoutingDecision).where(RoutingDecision.ticket_id == t.id))


@pytest.mark.parametrize(
    ("subject", "body", "queue"),
    [
        ("locked out", "i cant get into mychart it says my account is locked", "account-access"),
        ("cita", "necesito cambiar mi cita del martes para otro dia", "scheduling"),
        ("refill", "I need a refill of my blood pressure medication sent to CVS", "prescriptions"),
        ("bill", "I was charged twice for the same visit, I want to dispute the charge", "billing"),
    ],
)
def test_clear_requests_are_auto_routed(ctx, queues, patient, subject, body, queue):
    t = submit(patient, subject, body)
    d = decision_of(t)
    assert d.auto_routed and d.predicted_queue == queue and t.queue.slug == queue
    assert d.model_version == "test-model" and len(d.top3) == 3 and d.confidence >= 0.5


@pytest.mark.parametrize("body", ["", "🙂🙂🙂", "\x00\x01\x02 ÿþ", "Bonjour, j'ai une question générale", "x" * 1_000_000])
def test_odd_text_gets_a_valid_decision_never_an_exception(ctx, queues, patient, body):
    from helpdesk.routing.services import decide

    result = decide(body)
    assert result["queue"] is None or isinstance(result["queue"], str)
    assert 0.0 <= result["confidence"] <= 1.0


def test_unsure_requests_wait_in_triage_with_suggestions(client, ctx, queues, patient, supervisor):
    t = submit(patient, "ok", "ok")
    d = decision_of(t)
    assert not d.auto_routed and t.queue.slug == "triage" and d.note == "unsure"
    assert len(d.top3) == 3
    login(client, supervisor)
    page = client.get(f"/agent/tickets/{t.reference}").get_data(as_text=True)
    assert "Not auto-routed" in page and "Accept" in page
    target = d.top3[0][0]
    resp = client.post(f"/agent/tickets/{t.reference}/move",
                       data={"queue_id": queues[target].id, "reason": f"Triage: accepted suggestion {target}"})
    assert resp.status_code == 302
    label = db.session.scalar(sa.select(RoutingLabel).where(RoutingLabel.ticket_id == t.id))
    assert label.source.value == "triage" and label.queue == target


@pytest.mark.parametrize(
    "text",
    [
        "I have crushing chest pain right now and my left arm is numb",
        "I can't breathe and my lips are turning blue",
        "I want to kill myself tonight",
        "took too many pills, i think i overdosed",
        "tengo un dolor de pecho muy fuerte ahora mismo",
        "no puedo respirar",
    ],
)
def test_emergencies_go_to_clinical_escalation_at_once(client, ctx, queues, patient, text):
    login(client, patient)
    resp = client.post("/help", data={"subject": "help", "body": text})
    t = db.session.scalar(sa.select(Ticket))
    assert t.emergency and t.queue.slug == "clinical-escalation" and t.priority == Priority.URGENT
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "call 911 or go to the nearest emergency department" in page
    run_jobs()
    db.session.expire_all()
    t = db.session.get(Ticket, t.id)
    assert t.queue.slug == "clinical-escalation"  # the classifier never moves it out
    assert decision_of(t).note == "emergency"


@pytest.mark.parametrize(
    "text",
    ["my chest x-ray bill is wrong, I was charged twice", "I need to reschedule my cardiology follow up",
     "can I get a copy of my stroke clinic visit notes from 2019"],
)
def test_non_emergencies_are_not_flagged(ctx, queues, patient, text):
    t = submit(patient, "question", text)
    assert t.emergency is None and t.queue.slug != "clinical-escalation"


def test_the_api_returns_the_emergency_message(client, ctx, queues, portal):
    _user, secret = portal
    resp = client.post("/api/v1/tickets", headers=bearer(secret), json={
        "subject": "urgent", "body": "my father has slurred speech and his face is drooping",
        "requester": {"email": "p@example.net", "name": "Pat"}})
    body = resp.get_json()
    assert resp.status_code == 201 and body["queue"] == "clinical-escalation" and body["priority"] == "urgent"
    assert "call 911" in body["emergency"]["message"] and "911" in body["emergency"]["message_es"]


def test_patients_never_see_routing_details(client, ctx, queues, patient):
    t = submit(patient, "bill", "I was charged twice for the same visit")
    login(client, patient)
    page = client.get(f"/requests/{t.reference}").get_data(as_text=True)
    assert "test-model" not in page and "confidence" not in page.lower() and "Auto-routed" not in page


def test_missing_or_corrupt_model_falls_back_to_triage_and_readiness_says_so(client, app, ctx, queues, patient):
    model = db.session.scalar(sa.select(ModelVersion))
    db.session.add(ModelVersion(version="corrupt", artefact=b"not a model at all", active=False))
    model.active = False
    db.session.commit()
    db.session.execute(sa.update(ModelVersion).where(ModelVersion.version == "corrupt").values(active=True))
    db.session.commit()
    model_cache.reset()
    t = submit(patient, "bill", "I was charged twice for the same visit")
    assert t.queue.slug == "triage"
    ready = client.get("/readyz")  # routing to triage for want of a model: not ready
    assert ready.status_code == 503 and "degraded" in ready.get_json()["failing"]["model"]
    db.session.execute(sa.update(ModelVersion).values(active=False))
    db.session.commit()
    model_cache.reset()
    t2 = submit(patient, "bill", "I was charged twice again")
    assert t2.queue.slug == "triage" and decision_of(t2).note == "no_model"


def test_round_robin_and_least_loaded_assign_only_available_members(ctx, queues, patient, make_user):
    a1 = make_user(Role.AGENT, member_of=("billing",))
    a2 = make_user(Role.AGENT, member_of=("billing",))
    away = make_user(Role.AGENT, member_of=("billing",))
    from helpdesk.auth.services import set_available

    set_available(user=away, available=False)
    queues["billing"].assignment = Assignment.ROUND_ROBIN
    db.session.commit()
    body = "I was charged twice for the same visit, please refund the duplicate charge"
    got = [submit(patient, "bill", body).assignee_id for _ in range(4)]
    assert got == [a1.id, a2.id, a1.id, a2.id]
    queues["billing"].assignment = Assignment.LEAST_LOADED
    db.session.commit()
    services.update_ticket(db.session.scalar(sa.select(Ticket).where(Ticket.assignee_id == a1.id)), actor=a1,
                           status="resolved")
    assert submit(patient, "bill", body).assignee_id == a1.id


def test_routing_page_triad_and_figures(client, ctx, queues, patient, supervisor, agent, admin):
    submit(patient, "bill", "I was charged twice for the same visit")
    login(client, supervisor)
    page = client.get("/supervisor/routing")
    assert page.status_code == 200 and b"test-model" in page.data
    data = client.get("/supervisor/routing/data.json").get_json()
    assert data["periods"]["7"]["tickets"] == 1
    svg = client.get("/supervisor/routing/coverage.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    login(client, admin)
    assert client.get("/supervisor/routing").status_code == 200
    for user in (agent, patient):
        login(client, user)
        assert client.get("/supervisor/routing").status_code == 403
        assert client.get("/supervisor/routing/data.json").status_code == 403


def test_evaluate_cli_prints_json_with_every_key(app, ctx, tmp_path):
    csv_file = tmp_path / "e.csv"
    csv_file.write_text("text,queue\nforgot my password,account_access\nmove my appointment,scheduling\n")
    result = app.test_cli_runner().invoke(args=["routing", "evaluate", "--csv", str(csv_file), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    for key in ("macro_f1", "accuracy", "coverage", "auto_accuracy", "per_queue", "confusion", "latency_ms", "n"):
        assert key in data
    assert data["n"] == 2 and set(data["latency_ms"]) >= {"p50", "p99"}
    bad = tmp_path / "bad.csv"
    bad.write_text("text,queue\nhello,astrology\n")
    result = app.test_cli_runner().invoke(args=["routing", "evaluate", "--csv", str(bad)])
    assert result.exit_code != 0 and "astrology" in result.output


def test_retrain_learns_from_labels_deidentified_and_can_roll_back(app, ctx, queues, patient, agent):
    t = submit(patient, "bill", "Please call me at 555-123-4567 about the charge, my MRN is 12345678")
    services.update_ticket(t, actor=agent, queue_id=queues["records"].id, reason="it is a records request")
    from helpdesk.routing.training import labelled_ticket_examples

    texts, labels = labelled_ticket_examples()
    assert labels == ["records"]
    assert "555-123-4567" not in texts[0] and "12345678" not in texts[0]
    runner = app.test_cli_runner()
    result = runner.invoke(args=["routing", "retrain"])
    assert result.exit_code == 0, result.output
    assert "1 labelled tickets" in result.output and ("PROMOTED" in result.output or "NOT promoted" in result.output)
    listing = runner.invoke(args=["routing", "models"]).output
    assert "test-model" in listing
    assert runner.invoke(args=["routing", "activate", "test-model"]).exit_code == 0
    assert db.session.scalar(sa.select(ModelVersion.version).where(ModelVersion.active.is_(True))) == "test-model"
    assert runner.invoke(args=["routing", "activate", "nope"]).exit_code != 0
