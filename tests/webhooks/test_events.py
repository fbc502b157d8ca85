"""Each event is recorded where it happens, in the same transaction (ids and states only)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from rq.registry import ScheduledJobRegistry

from helpdesk import jobs
from helpdesk.clinical import services as clinical
from helpdesk.clinical.models import ClinicalAlert
from helpdesk.extensions import db
from helpdesk.notify import csat
from helpdesk.sla import services as sla
from helpdesk.tickets import services as tickets
from helpdesk.tickets.models import Status
from helpdesk.webhooks import services
from helpdesk.webhooks.events import EVENTS
from helpdesk.webhooks.models import WebhookDelivery
from tests.factories import run_jobs
from tests.sla.conftest import clock, make_policy  # noqa: F401  (fixtures)


@pytest.fixture
def everything(ctx, receiver):
    endpoint, secret = services.create_endpoint(actor=None, url=receiver.url("/all"), events=list(EVENTS))
    receiver.secrets["/all"] = secret
    return endpoint


def _events(endpoint) -> list[tuple[str, dict]]:
    db.session.expire_all()
    rows = db.session.scalars(sa.select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
                              .order_by(WebhookDelivery.id))
    return [(r.event, r.payload["data"]) for r in rows]


def test_status_changes_and_assignments(everything, receiver, make_ticket, agent):
    t = make_ticket()  # created in triage, then the router moves it to billing
    tickets.update_ticket(t, actor=agent, assignee_id=agent.id)
    tickets.update_ticket(t, actor=agent, status=Status.PENDING_PATIENT)
    got = _events(everything)
    names = [e for e, _ in got]
    assert names[0] == "ticket.created" and names.count("ticket.assigned") == 1
    assigned = next(d for e, d in got if e == "ticket.assigned")
    assert assigned["assignee_id"] == agent.id and assigned["ticket"]["queue"] == "billing"
    status = [d for e, d in got if e == "ticket.status_changed"]
    assert status[-1]["from"] == "new" and status[-1]["to"] == "pending_patient"
    assert status[-1]["actor_id"] == agent.id and status[-1]["ticket"]["status"] == "pending_patient"
    run_jobs()
    assert receiver.requests and all(r.signature_ok for r in receiver.requests)


def test_emergency_raised_and_acknowledged(everything, patient, make_user):
    from helpdesk.auth.models import Role
    from helpdesk.tickets.models import Channel

    nurse = make_user(Role.AGENT, member_of=("clinical-escalation",), name="Nina Nurse")
    clinical.add_to_roster(actor=None, user=nurse, mode="on")
    t = tickets.create_ticket(requester=patient, subject="Help", body="my father has chest pain and can't breathe",
                              channel=Channel.WEB, created_by=patient)
    run_jobs()
    names = [e for e, _ in _events(everything)]
    assert names[:4] == ["ticket.created", "emergency.raised", "ticket.assigned", *names[3:4]]
    alert = db.session.scalar(sa.select(ClinicalAlert).where(ClinicalAlert.ticket_id == t.id))
    assert clinical.acknowledge(alert, user=nurse)
    ack = [d for e, d in _events(everything) if e == "emergency.acknowledged"]
    assert ack and ack[0]["alert_id"] == alert.id and ack[0]["acknowledged_by_id"] == nurse.id
    assert not clinical.acknowledge(alert, user=nurse)  # twice: one event
    assert len([e for e, _ in _events(everything) if e == "emergency.acknowledged"]) == 1


def test_csat_received_without_the_comment(everything, make_ticket, agent, patient):
    t = make_ticket()
    tickets.update_ticket(t, actor=agent, status=Status.RESOLVED)
    csat.answer_on_page(patient, t, "bad", "The agent was rude to me")
    [got] = [d for e, d in _events(everything) if e == "csat.received"]
    assert got["rating"] == "bad" and got["has_comment"] is True and "rude" not in str(got)


def test_sla_warning_and_breach(everything, make_ticket, fast_policy):
    t = make_ticket()
    fast_policy.advance(seconds=61)
    sla.sweep()
    fast_policy.advance(seconds=61)
    sla.sweep()
    got = [(e, d["metric"]) for e, d in _events(everything) if e.startswith("sla.")]
    assert ("sla.warning", "first_reply") in got and ("sla.breach", "first_reply") in got
    breach = next(d for e, d in _events(everything) if e == "sla.breach")
    assert breach["ticket"]["reference"] == t.reference and breach["due_at"]


@pytest.fixture
def fast_policy(clock, make_policy):  # noqa: F811  (the SLA tests' fixtures)
    """Calendar time: first reply due in 100 s, warned at 50 s; returns the clock."""
    make_policy("Fast", position=1, first=100, nxt=100, resolution=3600, business=False, warn_fraction=0.5)
    return clock


def test_with_redis_the_retry_is_an_outbox_job_scheduled_for_any_worker(ctx, app, receiver, configure, make_ticket):
    if not app.config["HELPDESK"].redis_url:
        pytest.skip("needs REDIS_URL (RQ's scheduled jobs)")
    configure(webhook_retry_seconds=(600,))
    endpoint, _secret = services.create_endpoint(actor=None, url=receiver.url("/x"), events=["ticket.created"])
    receiver.plan["/x"] = [500]
    make_ticket()
    [d] = db.session.scalars(sa.select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)).all()
    db.session.refresh(d)
    # the retry is a row in the database (the outbox), pushed to RQ's scheduled registry
    row = db.session.scalars(sa.select(jobs.OutboxJob).where(jobs.OutboxJob.func == "helpdesk.webhooks.tasks.deliver")).one()
    assert row.args == [d.uid] and abs((row.run_at - d.next_attempt_at).total_seconds()) < 1
    registry = ScheduledJobRegistry(queue=jobs.rq_queue())
    assert jobs.job_id(row.id) in registry.get_job_ids()
