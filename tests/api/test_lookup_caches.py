"""The lean create path: the rows every write reads (its token, its start queue, the
webhook subscriptions) come from short-lived per-process caches that follow changes
(``helpdesk.cache``, ``helpdesk.api.token_cache``), and a new request's reference is not
looked up before its insert (a taken one is retried in a new unit of work)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from helpdesk import cache
from helpdesk.api import token_cache
from helpdesk.audit import AuditEvent
from helpdesk.auth import services as accounts
from helpdesk.auth.models import ApiToken, User, hash_token
from helpdesk.extensions import db
from helpdesk.tickets import services as ticket_services
from helpdesk.tickets.models import Channel, Ticket
from helpdesk.webhooks import services as webhook_services
from helpdesk.webhooks.models import WebhookDelivery


def _body(n: int) -> dict:
    return {"subject": f"Question about my bill {n}", "body": "I was charged twice for my visit, please check.",
            "requester": {"email": f"cache{n}@example.net", "name": "Cache Patient"}}


def _auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@contextmanager
def statements(app, *, until_commit: bool = False) -> Iterator[list[str]]:
    """Every SQL statement the app's engine runs inside the block (``until_commit``: up
    to the first commit — a request's own unit of work, not the jobs run inline after it)."""
    seen: list[str] = []
    done = [False]
    with app.app_context():
        engine = db.engine

    def record(conn, cursor, statement, params, context, executemany):
        if not done[0]:
            seen.append(" ".join(statement.split()))

    def committed(conn):
        done[0] = until_commit

    sa.event.listen(engine, "before_cursor_execute", record)
    sa.event.listen(engine, "commit", committed)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
        sa.event.remove(engine, "commit", committed)


def _reads(seen: list[str], table: str) -> list[str]:
    return [s for s in seen if s.startswith("SELECT") and f"FROM {table}" in s]


@pytest.fixture
def two_hosts(make_app, own_redis):
    """Two web hosts on the same database and the same Redis, each caching for 5 minutes."""
    hosts = [make_app(redis_url=own_redis["url"], lookup_cache_seconds=300) for _ in range(2)]
    token_cache._entries.clear()
    yield hosts
    token_cache._entries.clear()


def test_a_token_is_read_once_then_served_from_the_cache(two_hosts, ctx, portal, queues):
    _user, secret = portal
    host = two_hosts[0]
    client = host.test_client()
    assert client.get("/api/v1/tickets", headers=_auth(secret)).status_code == 200
    with statements(host) as seen:
        assert client.get("/api/v1/tickets", headers=_auth(secret)).status_code == 200
    assert _reads(seen, "api_tokens") == []  # the second call: no statement for the token


def test_a_revoked_token_is_refused_at_once_on_another_host_that_cached_it(two_hosts, ctx, portal, queues):
    _user, secret = portal
    a, b = two_hosts
    assert b.test_client().get("/api/v1/tickets", headers=_auth(secret)).status_code == 200  # b caches it
    with a.app_context():
        token = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == hash_token(secret)))
        accounts.revoke_api_token(actor=None, token=token)
    answer = b.test_client().get("/api/v1/tickets", headers=_auth(secret))
    assert answer.status_code == 401, answer.get_json()


def test_a_deactivated_integration_account_is_refused_at_once_on_another_host(two_hosts, ctx, portal, admin, queues):
    user, secret = portal
    a, b = two_hosts
    assert b.test_client().get("/api/v1/tickets", headers=_auth(secret)).status_code == 200
    with a.app_context():
        accounts.set_active(actor=db.session.get(User, admin.id), user=db.session.get(User, user.id), active=False)
    assert b.test_client().get("/api/v1/tickets", headers=_auth(secret)).status_code == 401


def test_recording_a_tokens_last_use_is_not_a_change_that_empties_the_cache(two_hosts, ctx, portal, queues):
    _user, secret = portal
    host = two_hosts[0]
    client = host.test_client()
    client.get("/api/v1/tickets", headers=_auth(secret))  # loads it and records its use
    client.get("/api/v1/tickets", headers=_auth(secret))
    with statements(host) as seen:
        client.get("/api/v1/tickets", headers=_auth(secret))
    assert _reads(seen, "api_tokens") == [] and not [s for s in seen if s.startswith("UPDATE api_tokens")]


def test_with_redis_down_tokens_are_read_from_the_database_and_revocation_still_holds(
        two_hosts, ctx, portal, own_redis, queues):
    _user, secret = portal
    host = two_hosts[0]
    client = host.test_client()
    assert client.get("/api/v1/tickets", headers=_auth(secret)).status_code == 200
    own_redis["stop"]()
    with statements(host) as seen:
        assert client.get("/api/v1/tickets", headers=_auth(secret)).status_code == 200
    assert len(_reads(seen, "api_tokens")) == 1  # nothing to check the cache against: the database
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == hash_token(secret)))
    accounts.revoke_api_token(actor=None, token=token)  # (its generation cannot be published)
    assert client.get("/api/v1/tickets", headers=_auth(secret)).status_code == 401


def test_the_start_queue_and_webhook_subscriptions_are_cached_and_follow_changes(
        client, ctx, portal, queues, configure, admin):
    _user, secret = portal
    with configure(lookup_cache_seconds=300):
        cache.invalidate()
        try:
            assert client.post("/api/v1/tickets", json=_body(1), headers=_auth(secret)).status_code == 201
            with statements(client.application, until_commit=True) as seen:
                assert client.post("/api/v1/tickets", json=_body(2), headers=_auth(secret)).status_code == 201
            assert _reads(seen, "queues") == [] and _reads(seen, "webhook_endpoints") == []
            # an endpoint added through the app is seen by the very next request
            webhook_services.create_endpoint(actor=admin, url="https://receiver.example.org/hook",
                                             events=["ticket.created"], description="EHR bridge")
            answer = client.post("/api/v1/tickets", json=_body(3), headers=_auth(secret))
            assert answer.status_code == 201
            ticket = db.session.scalar(sa.select(Ticket).where(Ticket.reference == answer.get_json()["reference"]))
            assert db.session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery).where(
                WebhookDelivery.event == "ticket.created",
                WebhookDelivery.payload["data"]["ticket"]["reference"].as_string() == ticket.reference)) == 1
        finally:
            cache.invalidate()


def test_a_taken_reference_is_retried_in_a_new_unit_and_nothing_of_the_first_try_is_kept(
        client, ctx, portal, patient, queues, monkeypatch):
    _user, secret = portal
    taken = ticket_services.create_ticket(requester=patient, subject="First request", body="About my bill, please.",
                                          channel=Channel.WEB, created_by=patient).reference
    drawn = iter([taken])
    real = ticket_services.new_reference
    monkeypatch.setattr(ticket_services, "new_reference", lambda: next(drawn, None) or real())
    answer = client.post("/api/v1/tickets", json=_body(7), headers=_auth(secret))
    assert answer.status_code == 201
    reference = answer.get_json()["reference"]
    assert reference != taken
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User).where(
        User.email == "cache7@example.net")) == 1  # the patient made on the first try was rolled back with it
    created = db.session.scalars(sa.select(AuditEvent.object_id).where(AuditEvent.action == "ticket.created")).all()
    assert sorted(created) == sorted([taken, reference])


def test_a_patients_form_request_is_retried_the_same_way(client, ctx, patient, queues, monkeypatch):
    taken = ticket_services.create_ticket(requester=patient, subject="First request", body="About my bill, please.",
                                          channel=Channel.WEB, created_by=patient).reference
    drawn = iter([taken])
    real = ticket_services.new_reference
    monkeypatch.setattr(ticket_services, "new_reference", lambda: next(drawn, None) or real())
    ticket = ticket_services.create_ticket(requester=patient, subject="Second request", body="My appointment, please.",
                                           channel=Channel.WEB, created_by=patient)
    assert ticket.reference != taken and ticket.subject == "Second request"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 2


def test_an_api_create_for_a_known_patient_costs_at_most_eight_statements(client, ctx, portal, queues, configure):
    _user, secret = portal
    with configure(lookup_cache_seconds=300, sla_policy_cache_seconds=300):
        cache.invalidate()
        try:
            client.post("/api/v1/tickets", json=_body(1), headers=_auth(secret))  # the caches filled, the patient made
            with statements(client.application, until_commit=True) as seen:
                assert client.post("/api/v1/tickets", json=_body(1), headers=_auth(secret)).status_code == 201
        finally:
            cache.invalidate()
    work = [s for s in seen if s.split()[0] in ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")]
    assert len(work) <= 8, "\n".join(w[:100] for w in work)


def test_routing_a_new_request_reads_no_queue_row_while_the_queues_are_cached(client, ctx, patient, queues, configure):
    from helpdesk.routing.models import RoutingDecision

    with configure(lookup_cache_seconds=300):
        cache.invalidate()
        try:
            ticket = ticket_services.create_ticket(requester=patient, subject="Bill", body="Charged twice, please check.",
                                                   channel=Channel.WEB, created_by=patient)
            # as if the router had not run yet (inline jobs route at once): back in triage, undecided
            db.session.execute(sa.delete(RoutingDecision).where(RoutingDecision.ticket_id == ticket.id))
            ticket.queue = queues["triage"]
            db.session.commit()
            db.session.expunge_all()  # a worker's fresh session: no queue loaded yet
            ticket = db.session.get(Ticket, ticket.id)
            decision = {"queue": "billing", "auto_routed": True, "confidence": 0.97,
                        "top3": [["billing", 0.97], ["general", 0.02], ["records", 0.01]], "model_version": "t"}
            with statements(client.application) as seen:
                ticket_services.apply_routing(ticket, decision)
        finally:
            cache.invalidate()
    assert ticket.queue.slug == "billing"
    assert [s for s in seen if "FROM queues" in s] == []
    updates = [s for s in seen if s.startswith("UPDATE tickets")]
    assert len(updates) == 1 and "queue_id" in updates[0] and "updated_at" in updates[0]
