"""What an integrator relies on (docs/api.md): idempotent creates, cursor paging, one
error body, rate-limit headers, scoped tokens that expire and rotate."""

from __future__ import annotations

import io
import threading
from datetime import timedelta

import pytest
import schemathesis
import sqlalchemy as sa

from helpdesk import idempotency
from helpdesk.api import idempotency as edge
from helpdesk.auth import services as accounts
from helpdesk.auth.models import ApiToken
from helpdesk.extensions import db
from helpdesk.idempotency import IdempotencyKey
from helpdesk.periodic import SCHEDULE, idempotency_purge_job
from helpdesk.tickets import services as tickets
from helpdesk.tickets.models import Channel, Message, Ticket
from helpdesk.timeutil import utcnow
from tests.factories import bearer, count
from tests.notify.samples import png

NEW = {"subject": "Locked out", "body": "My account is locked after a new phone.",
       "requester": {"email": "rosa@example.net", "name": "Rosa Diaz"}}


def _key(secret: str, key: str) -> dict[str, str]:
    return {**bearer(secret), "Idempotency-Key": key}


# ---------------------------------------------------------------- Idempotency-Key


def test_same_key_and_body_makes_one_ticket_and_replays_the_first_answer(client, ctx, portal, queues):
    _user, secret = portal
    first = client.post("/api/v1/tickets", json=NEW, headers=_key(secret, "k-1"))
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    # the same body, keys in another order: the same request
    again = client.post("/api/v1/tickets", json=dict(reversed(list(NEW.items()))), headers=_key(secret, "k-1"))
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == first.get_data() and again.headers["Location"] == first.headers["Location"]
    assert count(Ticket) == 1 and count(IdempotencyKey) == 1
    # without a key every POST creates
    assert client.post("/api/v1/tickets", json=NEW, headers=bearer(secret)).status_code == 201
    assert count(Ticket) == 2


def test_same_key_with_another_body_or_path_is_a_409_and_changes_nothing(client, ctx, portal, queues):
    _user, secret = portal
    first = client.post("/api/v1/tickets", json=NEW, headers=_key(secret, "k-2"))
    ref = first.get_json()["reference"]
    resp = client.post("/api/v1/tickets", json={**NEW, "subject": "Another"}, headers=_key(secret, "k-2"))
    assert resp.status_code == 409
    assert resp.get_json()["error"]["code"] == "idempotency_key_reused"
    messages = count(Message)
    resp = client.post(f"/api/v1/tickets/{ref}/messages", json={"body": "More"}, headers=_key(secret, "k-2"))
    assert resp.status_code == 409 and count(Message) == messages and count(Ticket) == 1


def test_a_failed_create_keeps_no_key_and_a_bad_key_is_a_422(client, ctx, portal, queues):
    _user, secret = portal
    resp = client.post("/api/v1/tickets", json={**NEW, "subject": ""}, headers=_key(secret, "k-3"))
    assert resp.status_code == 422 and count(IdempotencyKey) == 0
    assert client.post("/api/v1/tickets", json=NEW, headers=_key(secret, "k-3")).status_code == 201
    for bad in ("", "has space", "x" * 256):
        resp = client.post("/api/v1/tickets", json=NEW, headers=_key(secret, bad))
        assert resp.status_code == 422 and "Idempotency-Key" in resp.get_json()["error"]["fields"]
    assert count(Ticket) == 1


def test_keys_belong_to_one_account_and_survive_rotation(client, ctx, portal, patient, queues):
    user, secret = portal
    token = db.session.scalars(sa.select(ApiToken).where(ApiToken.user_id == user.id)).one()
    ref = client.post("/api/v1/tickets", json=NEW, headers=_key(secret, "k-4")).get_json()["reference"]
    _new, new_secret = accounts.rotate_api_token(actor=None, token=token)
    replay = client.post("/api/v1/tickets", json=NEW, headers=_key(new_secret, "k-4"))
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.get_json()["reference"] == ref
    # another account's key of the same name is its own
    _t, patient_secret = accounts.create_api_token(actor=None, name="patient app", user=patient)
    ticket = tickets.create_ticket(requester=patient, subject="Bill", body="Charged twice.", channel=Channel.WEB,
                                   created_by=patient)
    resp = client.post(f"/api/v1/tickets/{ticket.reference}/messages", json={"body": "Any news?"},
                       headers=_key(patient_secret, "k-4"))
    assert resp.status_code == 201 and "Idempotent-Replayed" not in resp.headers


def test_multipart_create_is_idempotent_whatever_the_boundary(client, ctx, portal, queues):
    _user, secret = portal

    def send():
        return client.post("/api/v1/tickets/with-attachments", headers=_key(secret, "k-5"),
                           content_type="multipart/form-data",
                           data={"subject": "Scan", "body": "My card", "requester_email": "rosa@example.net",
                                 "requester_name": "Rosa Diaz", "attachments": [(io.BytesIO(png()), "card.png")]})

    first, again = send(), send()
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and again.get_data() == first.get_data()
    assert count(Ticket) == 1


def test_keys_expire_after_a_day_and_the_periodic_job_purges_them(client, ctx, portal, queues):
    _user, secret = portal
    assert any(entry.func is idempotency_purge_job for entry in SCHEDULE)
    client.post("/api/v1/tickets", json=NEW, headers=_key(secret, "k-6"))
    db.session.execute(sa.update(IdempotencyKey).values(created_at=utcnow() - timedelta(hours=25)))
    db.session.commit()
    # an expired key is forgotten: the request runs again, and the key now holds its answer
    again = client.post("/api/v1/tickets", json=NEW, headers=_key(secret, "k-6"))
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers and count(Ticket) == 2
    client.post("/api/v1/tickets", json=NEW, headers=_key(secret, "k-7"))
    db.session.execute(sa.update(IdempotencyKey).where(IdempotencyKey.key == "k-7")
                       .values(created_at=utcnow() - timedelta(hours=25)))
    db.session.commit()
    idempotency_purge_job()
    assert list(db.session.scalars(sa.select(IdempotencyKey.key))) == ["k-6"]


def test_two_concurrent_requests_with_one_key_make_one_ticket(app, ctx, portal, patient, queues, monkeypatch):
    """Both requests pass the look-up and create their ticket before either inserts its key
    row: the unique constraint lets one commit; the other rolls back whole and gets 409."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite serialises them on one lock)")
    _user, secret = portal
    # an existing patient: two new accounts with one address would wait on each other first
    body = {**NEW, "requester": {"email": patient.email, "name": patient.display_name}}
    both_created = threading.Barrier(2, timeout=20)
    remember = idempotency.remember

    def remember_together(**kwargs):
        both_created.wait()  # both tickets exist (uncommitted) before either key row does
        return remember(**kwargs)

    monkeypatch.setattr(idempotency, "remember", remember_together)
    monkeypatch.setattr(edge.store, "remember", remember_together)
    results: list[tuple[int, dict]] = []

    def post() -> None:
        with app.app_context():
            resp = app.test_client().post("/api/v1/tickets", json=body, headers=_key(secret, "same"))
            results.append((resp.status_code, resp.get_json()))
            db.session.remove()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(code for code, _ in results) == [201, 409]
    assert next(body for code, body in results if code == 409)["error"]["code"] == "idempotency_key_in_use"
    db.session.rollback()
    assert count(Ticket) == 1 and count(IdempotencyKey) == 1
    # the loser retries: the winner's answer
    monkeypatch.setattr(edge.store, "remember", remember)
    retry = app.test_client().post("/api/v1/tickets", json=body, headers=_key(secret, "same"))
    assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"
    assert count(Ticket) == 1


# ---------------------------------------------------------------- cursor paging


def test_cursor_paging_walks_every_item_exactly_once(client, ctx, portal, patient, queues):
    user, secret = portal
    made = {tickets.create_ticket(requester=patient, subject=f"Question {i}", body="About my bill.",
                                  channel=Channel.API, created_by=user).reference for i in range(7)}
    for sort in ("newest", "oldest", "priority"):
        seen: list[str] = []
        url = f"/api/v1/tickets?limit=3&sort={sort}"
        pages = 0
        while url:
            resp = client.get(url, headers=bearer(secret))
            assert resp.status_code == 200
            body = resp.get_json()
            seen += [t["reference"] for t in body["items"]]
            pages += 1
            if body["next_cursor"] is None:
                assert "Link" not in resp.headers
                url = None
            else:
                link = resp.headers["Link"]
                assert link.endswith('>; rel="next"') and "limit=3" in link and f"sort={sort}" in link
                url = link[1:link.index(">")].replace("http://localhost", "")
                assert body["next_cursor"] in link
        assert sorted(seen) == sorted(made) and len(seen) == len(made) == 7 and pages == 3, sort


def test_a_forged_or_edited_cursor_is_a_422(client, ctx, portal, patient, queues):
    user, secret = portal
    for i in range(3):
        tickets.create_ticket(requester=patient, subject=f"Q {i}", body="Bill.", channel=Channel.API, created_by=user)
    cursor = client.get("/api/v1/tickets?limit=1", headers=bearer(secret)).get_json()["next_cursor"]
    raw = "WyIyMDI2LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwgMV0"  # a keyset position, unsigned
    for bad in (raw, cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB"), "x"):
        resp = client.get(f"/api/v1/tickets?cursor={bad}", headers=bearer(secret))
        assert resp.status_code == 422 and list(resp.get_json()["error"]["fields"]) == ["cursor"]
    assert client.get("/api/v1/tickets?limit=101", headers=bearer(secret)).status_code == 422


# ---------------------------------------------------------------- scopes, expiry, rotation


def test_a_token_without_the_scope_gets_a_403_before_anything_runs(client, ctx, patient, queues):
    _t, reader = accounts.create_api_token(actor=None, name="portal reader", scopes=["read"])
    _t, writer = accounts.create_api_token(actor=None, name="portal writer", scopes=["create"])
    resp = client.post("/api/v1/tickets", json=NEW, headers=bearer(reader))
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "insufficient_scope"
    assert count(Ticket) == 0
    assert client.get("/api/v1/tickets", headers=bearer(reader)).status_code == 200
    created = client.post("/api/v1/tickets", json=NEW, headers=bearer(writer))
    assert created.status_code == 201
    ref = created.get_json()["reference"]
    for resp in (client.get("/api/v1/tickets", headers=bearer(writer)),
                 client.get(f"/api/v1/tickets/{ref}", headers=bearer(writer)),
                 client.patch(f"/api/v1/tickets/{ref}", json={"status": "closed"}, headers=bearer(writer))):
        assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "insufficient_scope"
    assert db.session.scalar(sa.select(Ticket.status)).value != "closed"


def test_scopes_and_lifetime_are_checked_when_a_token_is_made(ctx):
    from helpdesk.errors import ValidationFailed

    for kwargs in ({"scopes": []}, {"scopes": ["admin"]}, {"expires_in_days": 0}, {"expires_in_days": 731}):
        with pytest.raises(ValidationFailed):
            accounts.create_api_token(actor=None, name="x", **kwargs)
    token, _secret = accounts.create_api_token(actor=None, name="x", scopes="manage read", expires_in_days=30)
    assert token.scopes == "read manage" and timedelta(days=29) < token.expires_at - utcnow() <= timedelta(days=30)


def test_an_expired_token_is_a_401(client, ctx, queues):
    token, secret = accounts.create_api_token(actor=None, name="portal", expires_in_days=1)
    assert client.get("/api/v1/tickets", headers=bearer(secret)).status_code == 200
    db.session.execute(sa.update(ApiToken).where(ApiToken.id == token.id)
                       .values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    resp = client.get("/api/v1/tickets", headers=bearer(secret))
    assert resp.status_code == 401 and "expired" in resp.get_json()["error"]["message"]


def test_rotation_revokes_at_once_or_after_the_overlap(client, ctx, queues):
    token, old = accounts.create_api_token(actor=None, name="portal", scopes=["read"], expires_in_days=90)
    new_token, new = accounts.rotate_api_token(actor=None, token=token)
    assert client.get("/api/v1/tickets", headers=bearer(old)).status_code == 401
    assert client.get("/api/v1/tickets", headers=bearer(new)).status_code == 200
    assert new_token.scopes == "read" and token.replaced_by_id == new_token.id
    assert timedelta(days=89) < new_token.expires_at - utcnow() <= timedelta(days=90)
    # with an overlap both work, then the old one expires
    newer_token, newer = accounts.rotate_api_token(actor=None, token=new_token, overlap_minutes=60)
    assert client.get("/api/v1/tickets", headers=bearer(new)).status_code == 200
    assert client.get("/api/v1/tickets", headers=bearer(newer)).status_code == 200
    assert new_token.expires_at <= utcnow() + timedelta(minutes=60)
    db.session.execute(sa.update(ApiToken).where(ApiToken.id == new_token.id)
                       .values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert client.get("/api/v1/tickets", headers=bearer(new)).status_code == 401
    assert client.get("/api/v1/tickets", headers=bearer(newer)).status_code == 200
    from helpdesk.errors import Conflict, ValidationFailed

    with pytest.raises(Conflict):  # an expired (or revoked) token is not rotated
        accounts.rotate_api_token(actor=None, token=db.session.get(ApiToken, new_token.id))
    with pytest.raises(ValidationFailed):
        accounts.rotate_api_token(actor=None, token=newer_token, overlap_minutes=24 * 60 + 1)


# ---------------------------------------------------------------- rate limit, errors, the document


def test_rate_limit_headers_and_a_429_in_the_error_body(client, ctx, portal, configure, queues):
    _user, secret = portal
    configure(api_rate_limit="3 per minute")
    for remaining in (2, 1, 0):
        resp = client.get("/api/v1/tickets", headers=bearer(secret))
        assert resp.status_code == 200
        assert resp.headers["X-RateLimit-Limit"] == "3" and resp.headers["X-RateLimit-Remaining"] == str(remaining)
        assert int(resp.headers["X-RateLimit-Reset"]) > 0
    resp = client.get("/api/v1/tickets", headers=bearer(secret))
    assert resp.status_code == 429 and "Retry-After" in resp.headers
    assert resp.get_json()["error"]["code"] == "too_many_requests"
    # the budget is per token: another token still has its own
    _t, other = accounts.create_api_token(actor=None, name="other portal")
    assert client.get("/api/v1/tickets", headers=bearer(other)).status_code == 200


def test_the_document_is_valid_openapi_and_documents_the_contract(app, client):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    schema.validate()  # the OpenAPI 3.0 meta-schema
    spec = client.get("/api/v1/openapi.json").get_json()
    creates = {(path, method) for path, item in spec["paths"].items() for method, op in item.items()
               if method == "post" and "201" in op["responses"]}  # every POST that creates
    assert len(creates) >= 6 and ("/api/v1/tickets/with-attachments", "post") in creates
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            assert "429" in op["responses"], (method, path)
            ok = next(r for code, r in op["responses"].items() if code.startswith("2"))
            assert "X-RateLimit-Remaining" in ok["headers"], (method, path)
            headers = {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}
            assert ("Idempotency-Key" in headers) == ((path, method) in creates), (method, path)
            if (path, method) in creates:
                assert "409" in op["responses"] and "Idempotent-Replayed" in ok["headers"]
            if path != "/api/v1/inbound-mail":
                assert op["x-required-scope"] in ("read", "create", "manage") and "403" in op["responses"]
    for listed in ("/api/v1/tickets", "/api/v1/admin/patients", "/api/v1/admin/calendars", "/api/v1/admin/users",
                   "/api/v1/admin/retention/holds", "/api/v1/admin/sla-policies"):  # every list: cursor paging
        op = spec["paths"][listed]["get"]
        assert "Link" in op["responses"]["200"]["headers"], listed
        assert {"cursor", "limit"} <= {p["name"] for p in op["parameters"] if p["in"] == "query"}, listed
        body = op["responses"]["200"]["content"]["application/json"]["schema"]
        body = spec["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]] if "$ref" in body else body
        assert {"items", "next_cursor"} <= set(body["properties"]), listed
    codes = spec["components"]["schemas"]["ErrorDetailOut"]["properties"]["code"]
    assert {"insufficient_scope", "idempotency_key_reused", "too_many_requests"} <= set(codes["enum"])
