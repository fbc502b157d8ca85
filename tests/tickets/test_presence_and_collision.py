"""Presence (who else is here) and the server-side "new message since you opened it" check."""

from __future__ import annotations

import socket

import pytest
import sqlalchemy as sa

from helpdesk.extensions import db
from helpdesk.tickets import presence, services
from helpdesk.tickets.models import Message
from helpdesk.tickets.workspace_models import TicketPresence
from helpdesk.timeutil import utcnow
from tests.factories import count, login


def test_presence_endpoint_triad_and_others(client, ctx, agent, supervisor, patient, outsider_agent, make_ticket):
    ticket = make_ticket()
    url = f"/agent/tickets/{ticket.reference}/presence"
    login(client, patient)
    assert client.post(url, json={"state": "viewing"}).status_code == 403
    login(client, outsider_agent)
    assert client.post(url, json={"state": "viewing"}).status_code == 404
    login(client, agent)
    resp = client.post(url, json={"state": "viewing"})
    assert resp.status_code == 200
    assert resp.get_json() == {"others": [], "last_message_id": ticket.messages[-1].id}
    login(client, supervisor)
    got = client.post(url, json={"state": "typing"}).get_json()
    assert got["others"] == [{"name": "Alex Agent", "state": "viewing"}]
    login(client, agent)
    assert client.post(url, json={"state": "viewing"}).get_json()["others"] == [
        {"name": "Sam Supervisor", "state": "typing"}]
    bad = client.post(url, json={"state": "dancing"})
    assert bad.status_code == 422 and bad.get_json()["error"]["fields"]["state"]
    assert client.post(url, data="not json", content_type="application/json").status_code == 422


@pytest.fixture
def table_backend(configure):
    """Presence in the database table (the backend used when REDIS_URL is not set)."""
    configure(redis_url=None)


def test_stale_heartbeats_do_not_count(ctx, agent, supervisor, make_ticket, request):
    ticket = make_ticket()
    request.getfixturevalue("table_backend")  # after the ticket exists (its jobs may need Redis)
    presence.heartbeat(supervisor, ticket, "typing")
    assert presence.others(agent, ticket) == [{"name": "Sam Supervisor", "state": "typing"}]
    row = db.session.scalar(sa.select(TicketPresence))
    from datetime import timedelta

    row.seen_at = utcnow() - timedelta(seconds=presence.TTL_SECONDS + 1)
    db.session.commit()
    assert presence.others(agent, ticket) == []
    presence.heartbeat(supervisor, ticket, "viewing")  # updates the same row, no duplicate
    assert count(TicketPresence) == 1


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_up(), reason="no Redis on 127.0.0.1:6379")
def test_presence_in_redis_when_configured(configure, ctx, agent, supervisor, make_ticket):
    import os

    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/8"
    ticket = make_ticket()
    with configure(redis_url=url):
        presence.heartbeat(supervisor, ticket, "typing")
        assert presence.others(agent, ticket) == [{"name": "Sam Supervisor", "state": "typing"}]
        assert count(TicketPresence) == 0  # kept in Redis, not the table
        from helpdesk.jobs import redis_connection

        r = redis_connection()
        key = presence._key(ticket.id)
        assert 0 < r.ttl(key) <= presence.TTL_SECONDS * 4
        r.delete(key)
        assert presence.others(agent, ticket) == []


def test_reply_is_held_when_a_message_arrived_since_the_page_loaded(client, ctx, agent, patient, make_ticket):
    ticket = make_ticket()
    login(client, agent)
    page = client.get(f"/agent/tickets/{ticket.reference}").get_data(as_text=True)
    loaded = ticket.messages[-1].id
    assert f'name="last_seen_message_id" value="{loaded}"' in page
    services.post_message(ticket, author=patient, body="Actually I found the receipt, never mind.")
    n = count(Message)
    resp = client.post(f"/agent/tickets/{ticket.reference}/reply",
                       data={"body": "We refunded the charge.", "last_seen_message_id": str(loaded)})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 409
    assert "New message since you opened this request" in page and "Actually I found the receipt" in page
    assert "We refunded the charge.</textarea>" in page  # the draft is kept
    assert count(Message) == n  # not sent
    newest = db.session.scalar(sa.select(sa.func.max(Message.id)))
    assert f'name="last_seen_message_id" value="{newest}"' in page
    # pressing Send again (the form now carries the newest id) sends it
    resp = client.post(f"/agent/tickets/{ticket.reference}/reply",
                       data={"body": "We refunded the charge.", "last_seen_message_id": str(newest)})
    assert resp.status_code == 302 and count(Message) == n + 1


def test_own_messages_and_missing_ids_do_not_hold_the_reply(client, ctx, agent, make_ticket):
    ticket = make_ticket()
    loaded = ticket.messages[-1].id
    services.post_message(ticket, author=agent, body="My own note", public=False)
    login(client, agent)
    resp = client.post(f"/agent/tickets/{ticket.reference}/reply",
                       data={"body": "Reply", "last_seen_message_id": str(loaded)})
    assert resp.status_code == 302
    resp = client.post(f"/agent/tickets/{ticket.reference}/reply", data={"body": "Reply 2"})
    assert resp.status_code == 302  # clients that don't send the id (older pages) are not blocked
