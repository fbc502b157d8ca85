"""Regression tests for what the schemathesis fuzz test found (see test_fuzz.py)."""

from __future__ import annotations

import io

from helpdesk.audit import AuditEvent
from helpdesk.extensions import db
from helpdesk.notify.models import Attachment
from helpdesk.tickets import services as tickets
from helpdesk.tickets.models import Channel, Message, Ticket
from tests.factories import bearer, count, login
from tests.notify.samples import png


def test_an_id_larger_than_any_row_is_a_404_not_a_500(client, ctx, portal, patient):
    _user, secret = portal
    for huge in ("5700384760388591288320", str(2**31), str(2**63)):
        resp = client.get(f"/api/v1/attachments/{huge}", headers=bearer(secret))
        assert resp.status_code == 404 and resp.is_json and resp.get_json()["error"]["code"] == "not_found"
    assert client.get(f"/api/v1/attachments/{2**31 - 1}", headers=bearer(secret)).status_code == 404
    login(client, patient)  # the same bound on the web pages
    assert client.get("/attachments/99999999999999999999999").status_code == 404


def test_malformed_json_is_a_documented_400_with_a_plain_message(client, portal, queues):
    _user, secret = portal
    before = count(Ticket)
    for raw in (b"\x00", b"\xa6", b"{", b"[1,"):
        resp = client.post("/api/v1/tickets", data=raw,
                           headers={**bearer(secret), "Content-Type": "application/json"})
        assert resp.status_code == 400
        assert resp.get_json()["error"] == {"code": "bad_request", "message": "The request body is not valid JSON."}
    assert count(Ticket) == before
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "400" in spec["paths"]["/api/v1/tickets"]["post"]["responses"]


def test_multipart_public_must_be_true_or_false(client, ctx, portal, patient, agent, queues):
    from helpdesk.auth import services as accounts

    user, _secret = portal
    ticket = tickets.create_ticket(requester=patient, subject="Question about my bill", channel=Channel.API,
                                   body="I was charged twice for my visit on the statement.", created_by=user)
    _t, agent_secret = accounts.create_api_token(actor=None, name="agent", user=agent)
    url = f"/api/v1/tickets/{ticket.reference}/messages/with-attachments"
    before = (count(Message), count(Attachment), count(AuditEvent))
    for value in ("__not_in_enum__", "no", "False", ""):
        resp = client.post(url, headers=bearer(agent_secret), content_type="multipart/form-data",
                           data={"body": "x", "public": value, "attachments": [(io.BytesIO(png()), "a.png")]})
        assert resp.status_code == 422, value
        assert resp.get_json()["error"]["fields"] == {"public": ["Must be true or false."]}
    assert (count(Message), count(Attachment), count(AuditEvent)) == before
    note = client.post(url, headers=bearer(agent_secret), content_type="multipart/form-data",
                       data={"body": "internal", "public": "false"})
    assert note.status_code == 201
    assert db.session.get(Message, note.get_json()["message_id"]).public is False


def test_multipart_unknown_next_status_is_a_422_not_a_500(client, ctx, portal, patient, agent, queues):
    from helpdesk.auth import services as accounts

    user, _secret = portal
    ticket = tickets.create_ticket(requester=patient, subject="Question about my bill", channel=Channel.API,
                                   body="I was charged twice for my visit on the statement.", created_by=user)
    _t, agent_secret = accounts.create_api_token(actor=None, name="agent", user=agent)
    url = f"/api/v1/tickets/{ticket.reference}/messages/with-attachments"
    before = count(Message)
    resp = client.post(url, headers=bearer(agent_secret), content_type="multipart/form-data",
                       data={"body": "x", "next_status": "zzz"})
    assert resp.status_code == 422
    assert list(resp.get_json()["error"]["fields"]) == ["next_status"]
    assert count(Message) == before
