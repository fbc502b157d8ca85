"""JSON API v1: the portal creates and follows requests; staff work them."""

from __future__ import annotations

import pytest

from helpdesk.audit import AuditEvent
from helpdesk.auth import services as accounts
from helpdesk.auth.models import User
from helpdesk.tickets.models import Message, Ticket
from tests.factories import bearer, count, run_jobs

NEW = {"subject": "Can't pay my bill online", "body": "The payment page rejects my card for the March statement.",
       "requester": {"email": "new.patient@example.net", "name": "Rosa Diaz"}}


def error_of(resp) -> dict:
    assert resp.is_json, resp.data[:200]
    return resp.get_json()["error"]


def test_portal_creates_a_ticket_for_a_new_patient(client, portal, queues):
    _user, secret = portal
    resp = client.post("/api/v1/tickets", json=NEW, headers=bearer(secret))
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["reference"].startswith("HD-")
    assert resp.headers["Location"].endswith(f"/api/v1/tickets/{body['reference']}")
    assert body["status"] == "new" and body["status_label"] == "Received" and body["channel"] == "api"
    assert body["requester"] == {"name": "Rosa Diaz", "email": "new.patient@example.net"}
    assert body["emergency"] is None
    run_jobs()
    got = client.get(resp.headers["Location"], headers=bearer(secret)).get_json()
    assert got["queue"] in ("billing", "triage")
    assert [m["body"] for m in got["messages"]] == [NEW["body"]]


def test_the_same_patient_is_reused_by_email(client, portal, queues):
    _user, secret = portal
    client.post("/api/v1/tickets", json=NEW, headers=bearer(secret))
    client.post("/api/v1/tickets", json={**NEW, "requester": {"email": "NEW.Patient@example.net", "name": "R"}},
                headers=bearer(secret))
    assert count(User) == 2  # the integration account and one patient


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({**NEW, "subject": ""}, "subject"),
        ({**NEW, "subject": "   "}, "subject"),
        ({**NEW, "body": "b" * 20_001}, "body"),
        ({**NEW, "subject": 42}, "subject"),
        ({**NEW, "priority": "whenever"}, "priority"),
        ({**NEW, "requester": {"email": "not-an-email", "name": "X"}}, "requester"),
        ({**NEW, "requester": "someone"}, "requester"),
        ({**NEW, "surprise": 1}, "surprise"),
        ({k: v for k, v in NEW.items() if k != "body"}, "body"),
    ],
)
def test_bad_input_gets_a_clear_4xx_and_writes_nothing(client, portal, queues, payload, field):
    _user, secret = portal
    before = (count(Ticket), count(Message), count(User), count(AuditEvent))
    resp = client.post("/api/v1/tickets", json=payload, headers=bearer(secret))
    assert resp.status_code == 422
    err = error_of(resp)
    assert err["code"] == "validation_error" and err["message"]
    assert field in err.get("fields", {}), err
    assert (count(Ticket), count(Message), count(User), count(AuditEvent)) == before


def test_not_json_and_oversized_requests_are_refused(client, portal, queues):
    _user, secret = portal
    resp = client.post("/api/v1/tickets", data="not json", headers={**bearer(secret), "Content-Type": "application/json"})
    assert resp.status_code in (400, 422) and error_of(resp)["message"]
    resp = client.post("/api/v1/tickets", data="x" * (1_048_576 + 10),
                       headers={**bearer(secret), "Content-Type": "application/json"})
    assert resp.status_code == 413 and "too large" in error_of(resp)["message"]
    assert count(Ticket) == 0


def test_tokens_are_required_and_revoked_tokens_stop_working(client, portal, queues):
    user, secret = portal
    assert client.post("/api/v1/tickets", json=NEW).status_code == 401
    assert client.post("/api/v1/tickets", json=NEW, headers=bearer("hdk_wrong")).status_code == 401
    import sqlalchemy as sa

    from helpdesk.auth.models import ApiToken
    from helpdesk.extensions import db

    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.user_id == user.id))
    accounts.revoke_api_token(actor=None, token=token)
    resp = client.post("/api/v1/tickets", json=NEW, headers=bearer(secret))
    assert resp.status_code == 401 and error_of(resp)["code"] == "unauthorized"


def test_triad_get_ticket(client, ctx, portal, make_ticket, agent, outsider_agent, patient):
    """allowed 200 / wrong role 403 / someone else's 404."""
    _user, portal_secret = portal
    mine = client.post("/api/v1/tickets", json=NEW, headers=bearer(portal_secret)).get_json()["reference"]
    run_jobs()
    not_mine = make_ticket().reference  # made on the web, not by this integration
    _t, agent_secret = accounts.create_api_token(actor=None, name="agent cli", user=agent)
    _t, outsider_secret = accounts.create_api_token(actor=None, name="outsider", user=outsider_agent)

    assert client.get(f"/api/v1/tickets/{mine}", headers=bearer(portal_secret)).status_code == 200
    assert client.get(f"/api/v1/tickets/{not_mine}", headers=bearer(portal_secret)).status_code == 404
    assert client.get(f"/api/v1/tickets/{not_mine}", headers=bearer(agent_secret)).status_code == 200
    assert client.get(f"/api/v1/tickets/{not_mine}", headers=bearer(outsider_secret)).status_code == 404
    assert client.get("/api/v1/tickets/HD-ZZZZZZ", headers=bearer(agent_secret)).status_code == 404
    # wrong role: staff tokens may not create requests for patients
    resp = client.post("/api/v1/tickets", json=NEW, headers=bearer(agent_secret))
    assert resp.status_code == 403 and error_of(resp)["code"] == "forbidden"


def test_list_is_scoped_filtered_and_paginated_by_cursor(client, ctx, portal, make_ticket):
    _user, secret = portal
    refs = [client.post("/api/v1/tickets", json={**NEW, "subject": f"Bill question {i}"}, headers=bearer(secret))
            .get_json()["reference"] for i in range(5)]
    make_ticket()  # not visible to the portal
    page1 = client.get("/api/v1/tickets?limit=2", headers=bearer(secret)).get_json()
    assert len(page1["items"]) == 2 and page1["next_cursor"]
    page2 = client.get(f"/api/v1/tickets?limit=2&cursor={page1['next_cursor']}", headers=bearer(secret)).get_json()
    page3 = client.get(f"/api/v1/tickets?limit=2&cursor={page2['next_cursor']}", headers=bearer(secret)).get_json()
    seen = [t["reference"] for p in (page1, page2, page3) for t in p["items"]]
    assert seen == list(reversed(refs)) and page3["next_cursor"] is None
    assert client.get("/api/v1/tickets?cursor=garbage", headers=bearer(secret)).status_code == 422
    assert client.get("/api/v1/tickets?limit=0", headers=bearer(secret)).status_code == 422
    assert client.get("/api/v1/tickets?sort=random", headers=bearer(secret)).status_code == 422
    assert client.get("/api/v1/tickets?status=closed", headers=bearer(secret)).get_json()["items"] == []


def test_messages_and_patch_through_the_api(client, ctx, portal, agent, queues):
    _user, portal_secret = portal
    ref = client.post("/api/v1/tickets", json=NEW, headers=bearer(portal_secret)).get_json()["reference"]
    run_jobs()
    _t, agent_secret = accounts.create_api_token(actor=None, name="agent", user=agent)
    client.patch(f"/api/v1/tickets/{ref}", json={"queue": "billing", "reason": "billing question"},
                 headers=bearer(agent_secret))
    resp = client.post(f"/api/v1/tickets/{ref}/messages",
                       json={"body": "Which card did you use?", "next_status": "pending_patient"},
                       headers=bearer(agent_secret))
    assert resp.status_code == 201 and resp.get_json()["status"] == "pending_patient"
    resp = client.post(f"/api/v1/tickets/{ref}/messages", json={"body": "The Visa ending 4242."},
                       headers=bearer(portal_secret))
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["status"] == "open" and body["status_label"] == "We're working on it"
    assert body["messages"][-1]["author"] == "Rosa Diaz"
    # the portal may not post internal notes or change staff fields
    assert client.post(f"/api/v1/tickets/{ref}/messages", json={"body": "x", "public": False},
                       headers=bearer(portal_secret)).status_code == 403
    assert client.patch(f"/api/v1/tickets/{ref}", json={"priority": "urgent"},
                        headers=bearer(portal_secret)).status_code == 403
    # invalid transition, unknown field, empty patch
    assert client.patch(f"/api/v1/tickets/{ref}", json={"status": "new"},
                        headers=bearer(agent_secret)).status_code == 409
    assert client.patch(f"/api/v1/tickets/{ref}", json={"colour": "red"}, headers=bearer(agent_secret)).status_code == 422
    assert client.patch(f"/api/v1/tickets/{ref}", json={}, headers=bearer(agent_secret)).status_code == 422
    assert client.patch(f"/api/v1/tickets/{ref}", json={"queue": "nowhere", "reason": "x"},
                        headers=bearer(agent_secret)).status_code == 422
    # the portal closes on the patient's behalf
    resp = client.patch(f"/api/v1/tickets/{ref}", json={"status": "closed"}, headers=bearer(portal_secret))
    assert resp.status_code == 200 and resp.get_json()["status"] == "closed"


def test_internal_notes_are_hidden_from_the_portal(client, ctx, portal, agent):
    _user, portal_secret = portal
    ref = client.post("/api/v1/tickets", json=NEW, headers=bearer(portal_secret)).get_json()["reference"]
    run_jobs()
    _t, agent_secret = accounts.create_api_token(actor=None, name="agent", user=agent)
    client.patch(f"/api/v1/tickets/{ref}", json={"queue": "billing", "reason": "billing"}, headers=bearer(agent_secret))
    client.post(f"/api/v1/tickets/{ref}/messages", json={"body": "SECRET NOTE", "public": False},
                headers=bearer(agent_secret))
    portal_view = client.get(f"/api/v1/tickets/{ref}", headers=bearer(portal_secret)).get_json()
    staff_view = client.get(f"/api/v1/tickets/{ref}", headers=bearer(agent_secret)).get_json()
    assert "SECRET NOTE" not in str(portal_view)
    assert "SECRET NOTE" in str(staff_view)


def test_openapi_document_and_docs_page_are_served_locally(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/tickets" in spec["paths"] and "/api/v1/tickets/{reference}/messages" in spec["paths"]
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and b"swagger-ui-bundle.js" in page.data and b"https://" not in page.data
    asset = client.get("/api/v1/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200
    asset.close()
    assert client.get("/api/v1/docs/assets/../../etc/passwd").status_code == 404
