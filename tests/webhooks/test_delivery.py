"""Deliveries through a real HTTP receiver: signed, retried with back-off, PHI only when
allowed, recorded in the transaction of the change."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from helpdesk import jobs
from helpdesk.audit import AuditEvent
from helpdesk.errors import ValidationFailed
from helpdesk.extensions import db
from helpdesk.tickets import services as tickets
from helpdesk.tickets.models import Channel
from helpdesk.webhooks import services
from helpdesk.webhooks.models import DeliveryStatus, WebhookDelivery
from tests.factories import run_jobs
from tests.webhooks.conftest import retry_due

SUBJECT = "Question about my bill"
BODY = "I was charged twice for my visit on the statement, please check the billing charge."


def _endpoint(receiver, path: str, events: list[str], *, phi: bool = False, admin=None):
    endpoint, secret = services.create_endpoint(actor=admin, url=receiver.url(path), events=events, allow_phi=phi,
                                                description=path.strip("/"))
    receiver.secrets[path] = secret
    return endpoint


def _deliveries(endpoint) -> list[WebhookDelivery]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
                                   .order_by(WebhookDelivery.id)))


def test_a_signed_delivery_fails_twice_and_the_third_attempt_is_received(ctx, receiver, fast_retries, make_ticket):
    endpoint = _endpoint(receiver, "/hook", ["ticket.created"])
    receiver.plan["/hook"] = [500, 500]
    t = make_ticket()  # the first attempt runs after the commit (inline) or in the worker's burst
    [d] = _deliveries(endpoint)
    assert (d.status, d.attempts, d.response_code) == (DeliveryStatus.PENDING, 1, 500)
    assert d.last_error == "HTTP 500" and d.next_attempt_at is not None
    retry_due()
    [d] = _deliveries(endpoint)
    assert (d.status, d.attempts, d.response_code) == (DeliveryStatus.PENDING, 2, 500)
    retry_due()
    [d] = _deliveries(endpoint)
    assert (d.status, d.attempts, d.response_code, d.last_error) == (DeliveryStatus.DELIVERED, 3, 200, None)
    got = receiver.at("/hook")
    assert [r.answered for r in got] == [500, 500, 200]
    assert all(r.signature_ok for r in got), "every attempt carries a valid signature"
    # one delivery id and event on every attempt (receivers dedupe on it), each attempt signed afresh
    assert {r.headers["X-Helpdesk-Delivery"] for r in got} == {d.uid}
    assert {r.headers["X-Helpdesk-Event"] for r in got} == {"ticket.created"}
    payload = json.loads(got[-1].body)
    assert payload["id"] == d.uid and payload["event"] == "ticket.created"
    ticket = payload["data"]["ticket"]
    assert ticket["reference"] == t.reference and ticket["status"] == "new" and ticket["queue"] == "triage"
    assert ticket["priority"] == "normal" and payload["data"]["message_id"]
    # no patient-written text without the PHI flag
    text = got[-1].body.decode()
    assert SUBJECT not in text and "charged twice" not in text and "subject" not in ticket


def test_the_last_retry_fails_the_delivery_and_a_replay_sends_it_again(ctx, receiver, configure, make_ticket, admin):
    configure(webhook_retry_seconds=(1,))
    endpoint = _endpoint(receiver, "/down", ["ticket.created"])
    receiver.plan["/down"] = [503, 503]
    make_ticket()
    retry_due()
    [d] = _deliveries(endpoint)
    assert (d.status, d.attempts, d.response_code, d.next_attempt_at) == (DeliveryStatus.FAILED, 2, 503, None)
    services.replay(d, actor=admin)
    run_jobs()
    [d] = _deliveries(endpoint)
    assert (d.status, d.attempts, d.response_code) == (DeliveryStatus.DELIVERED, 1, 200)
    assert len({r.headers["X-Helpdesk-Delivery"] for r in receiver.at("/down")}) == 1
    replayed = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "webhook.delivery_replayed")).one()
    assert replayed.actor_id == admin.id and replayed.changes["status"] == {"before": "failed", "after": "pending"}
    with pytest.raises(Exception, match="still being attempted"):
        d.status = DeliveryStatus.PENDING
        services.replay(d, actor=admin)


def test_patient_text_only_reaches_an_endpoint_allowed_phi(ctx, receiver, make_ticket):
    plain = _endpoint(receiver, "/plain", ["ticket.created"])
    phi = _endpoint(receiver, "/phi", ["ticket.created"], phi=True)
    t = make_ticket()
    [plain_body] = [json.loads(r.body) for r in receiver.at("/plain")]
    [phi_body] = [json.loads(r.body) for r in receiver.at("/phi")]
    assert SUBJECT not in json.dumps(plain_body) and "charged twice" not in json.dumps(plain_body)
    assert "message" not in plain_body["data"] and "subject" not in plain_body["data"]["ticket"]
    assert phi_body["data"]["ticket"]["subject"] == SUBJECT
    assert phi_body["data"]["message"]["body"] == BODY
    assert all(r.signature_ok for r in receiver.requests)
    # the disclosure is audited; the plain one is not a disclosure
    sent = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "webhook.phi_sent")).all()
    assert [(e.object_id, e.changes["endpoint_id"]) for e in sent] == [(t.reference, phi.id)]
    assert _deliveries(plain)[0].payload == plain_body  # what is stored is what the plain endpoint got


def test_emergency_category_is_phi_too(ctx, receiver, patient):
    plain = _endpoint(receiver, "/plain", ["emergency.raised"])
    _endpoint(receiver, "/phi", ["emergency.raised"], phi=True)
    tickets.create_ticket(requester=patient, subject="Help", body="my father has chest pain and can't breathe",
                          channel=Channel.WEB, created_by=patient)
    run_jobs()
    [p] = [json.loads(r.body) for r in receiver.at("/plain")]
    [q] = [json.loads(r.body) for r in receiver.at("/phi")]
    assert p["data"]["ticket"]["emergency"] is True and "chest" not in json.dumps(p)
    assert q["data"]["ticket"]["emergency_category"] and q["data"]["ticket"]["subject"] == "Help"
    assert _deliveries(plain)[0].status == DeliveryStatus.DELIVERED


def test_a_change_that_rolls_back_leaves_no_delivery(ctx, receiver, patient):
    endpoint = _endpoint(receiver, "/hook", ["ticket.created"])
    with pytest.raises(ValidationFailed):
        tickets.create_ticket(requester=patient, subject="   ", body="text", channel=Channel.WEB, created_by=patient)
    assert _deliveries(endpoint) == [] and receiver.requests == []
    outbox = db.session.scalar(sa.select(sa.func.count()).select_from(jobs.OutboxJob))
    assert outbox == 0


def test_redirects_are_answers_not_followed(ctx, receiver, configure, make_ticket):
    configure(webhook_retry_seconds=(60,))
    endpoint = _endpoint(receiver, "/moved", ["ticket.created"])
    receiver.plan["/moved"] = [302]
    make_ticket()
    [d] = _deliveries(endpoint)
    assert d.status == DeliveryStatus.PENDING and d.response_code == 302 and "not followed" in d.last_error
    assert [r.path for r in receiver.requests] == ["/moved"]  # nothing reached /elsewhere


def test_an_unreachable_endpoint_is_retried_with_the_error_class_only(ctx, configure, make_ticket):
    configure(webhook_retry_seconds=(60,))
    endpoint, _secret = services.create_endpoint(actor=None, url="http://127.0.0.1:9/nothing-listens",
                                                 events=["ticket.created"])
    make_ticket()
    [d] = _deliveries(endpoint)
    assert d.status == DeliveryStatus.PENDING and d.attempts == 1 and d.response_code is None
    assert d.last_error == "ConnectError"


def test_an_inactive_endpoint_gets_nothing_and_its_pending_deliveries_fail(ctx, receiver, configure, make_ticket):
    configure(webhook_retry_seconds=(1,))
    endpoint = _endpoint(receiver, "/hook", ["ticket.created"])
    receiver.plan["/hook"] = [500]
    make_ticket()
    services.update_endpoint(endpoint, actor=None, active=False)
    retry_due()
    [d] = _deliveries(endpoint)
    assert d.status == DeliveryStatus.FAILED and d.last_error == "endpoint inactive"
    make_ticket()
    assert len(_deliveries(endpoint)) == 1 and len(receiver.requests) == 1


def test_a_delivery_job_run_twice_sends_once(ctx, receiver, configure, make_ticket):
    endpoint = _endpoint(receiver, "/hook", ["ticket.created"])
    make_ticket()
    [d] = _deliveries(endpoint)
    assert services.deliver(d.uid) is None and services.deliver("0" * 32) is None
    assert len(receiver.requests) == 1


def test_a_replay_waits_for_the_endpoint_to_be_active(ctx, receiver, make_ticket, admin):
    endpoint = _endpoint(receiver, "/hook", ["ticket.created"])
    make_ticket()
    [d] = _deliveries(endpoint)
    services.update_endpoint(endpoint, actor=admin, active=False)
    with pytest.raises(Exception, match="inactive"):
        services.replay(d, actor=admin)
    services.update_endpoint(endpoint, actor=admin, active=True)
    services.replay(d, actor=admin)
    run_jobs()
    assert len(receiver.at("/hook")) == 2
