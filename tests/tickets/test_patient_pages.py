"""Patient pages: register, sign in, get help, my requests, reply, close."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from helpdesk.auth.models import User
from helpdesk.extensions import db
from helpdesk.tickets import services
from helpdesk.tickets.models import Message, Status, Ticket
from tests.conftest import csrf_from
from tests.factories import PASSWORD, confirm_email, count, login


def test_register_confirm_the_address_then_land_on_my_requests(client, ctx, queues):
    resp = client.post("/register", data={"name": "Ana Ruiz", "email": "ana@example.net", "password": "a long pass",
                                           "confirm": "a long pass"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/account/verify-email")
    user = db.session.scalar(sa.select(User).where(User.email == "ana@example.net"))
    assert user.role.value == "patient" and not user.email_verified
    assert client.get("/requests").headers["Location"].endswith("/account/verify-email")
    confirm_email(client, "ana@example.net")
    assert client.get("/requests").status_code == 200


@pytest.mark.parametrize(
    "data",
    [
        {"name": "", "email": "a@example.net", "password": "a long pass", "confirm": "a long pass"},
        {"name": "A", "email": "not-an-email", "password": "a long pass", "confirm": "a long pass"},
        {"name": "A", "email": "a@example.net", "password": "short", "confirm": "short"},
        {"name": "A", "email": "a@example.net", "password": "a long pass", "confirm": "different"},
    ],
)
def test_register_with_bad_input_shows_errors_and_creates_nothing(client, ctx, data):
    resp = client.post("/register", data=data)
    assert resp.status_code == 422 and b'class="error"' in resp.data
    assert count(User) == 0


def test_sign_in_failure_message_does_not_reveal_the_account(client, ctx, patient):
    unknown = client.post("/login", data={"email": "nobody@example.net", "password": "whatever12"})
    wrong = client.post("/login", data={"email": patient.email, "password": "wrong password"})
    assert unknown.status_code == wrong.status_code == 200
    msg = b"That email and password don&#39;t match an account"
    assert msg in unknown.data and msg in wrong.data


def test_sign_in_follows_only_safe_next_urls(client, ctx, patient):
    ok = client.post("/login?next=/requests", data={"email": patient.email, "password": PASSWORD})
    assert ok.headers["Location"] == "/requests"
    client.post("/logout")
    for evil in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        resp = client.post(f"/login?next={evil}", data={"email": patient.email, "password": PASSWORD})
        assert resp.status_code == 302 and "evil" not in resp.headers["Location"]
        client.post("/logout")


def test_sign_in_is_rate_limited_with_the_same_message(client, ctx, patient):
    codes = [client.post("/login", data={"email": patient.email, "password": "wrong pass"}).status_code
             for _ in range(12)]
    assert codes[0] == 200 and codes[-1] == 429
    resp = client.post("/login", data={"email": patient.email, "password": PASSWORD})
    assert resp.status_code == 429 and b"Too many attempts" in resp.data


def test_session_cookie_is_httponly_and_lax_and_changes_at_sign_in(client, ctx, patient):
    client.get("/login")
    resp = client.post("/login", data={"email": patient.email, "password": PASSWORD})
    cookie = resp.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_security_headers(client):
    resp = client.get("/login")
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_forms_refuse_posts_without_csrf_token(configure, client, ctx, patient, queues):
    configure(WTF_CSRF_ENABLED=True)
    login(client, patient)
    resp = client.post("/help", data={"subject": "s", "body": "b"})
    assert resp.status_code == 400 and count(Ticket) == 0
    page = client.get("/help")
    resp = client.post("/help", data={"subject": "Need a bill copy", "body": "Please send my statement.",
                                      "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert resp.status_code == 302 and count(Ticket) == 1


def test_get_help_creates_a_request_and_shows_it(client, ctx, patient, queues):
    login(client, patient)
    resp = client.post("/help", data={"subject": "Can't see my statement", "body": "The billing page is blank."})
    assert resp.status_code == 302
    t = db.session.scalar(sa.select(Ticket))
    assert resp.headers["Location"].endswith(f"/requests/{t.reference}")
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Can&#39;t see my statement" in page and "Received" in page and t.reference in page
    listing = client.get("/requests").get_data(as_text=True)
    assert t.reference in listing


@pytest.mark.parametrize(
    "data", [{"subject": "", "body": "x"}, {"subject": "   ", "body": "text"}, {"subject": "s", "body": "  "},
             {"subject": "s" * 201, "body": "x"}, {"subject": "ok", "body": "b" * 20_001}],
)
def test_get_help_bad_input_is_a_friendly_422_and_nothing_is_saved(client, ctx, patient, queues, data):
    login(client, patient)
    resp = client.post("/help", data=data)
    assert resp.status_code == 422 and b'class="error"' in resp.data
    assert count(Ticket) == 0


def test_html_in_subject_and_body_is_rendered_escaped(client, ctx, patient, make_ticket):
    t = make_ticket(subject="<script>alert('x')</script>", body="<img src=x onerror=alert(1)>", queue=None)
    login(client, patient)
    page = client.get(f"/requests/{t.reference}").get_data(as_text=True)
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert "<img src=x" not in page


def test_patient_never_sees_internal_notes_or_agent_fields(client, ctx, patient, agent, make_ticket):
    t = make_ticket()
    services.post_message(t, author=agent, body="INTERNAL: suspected duplicate", public=False)
    services.post_message(t, author=agent, body="We are checking the charge.", next_status=Status.PENDING_PATIENT)
    login(client, patient)
    page = client.get(f"/requests/{t.reference}").get_data(as_text=True)
    assert "INTERNAL" not in page and "We are checking the charge." in page
    assert "Waiting for your reply" in page
    assert "Routing" not in page and "confidence" not in page.lower()


def test_patient_triad(client, ctx, patient, other_patient, agent, make_ticket):
    t = make_ticket(requester=patient)
    login(client, patient)
    assert client.get(f"/requests/{t.reference}").status_code == 200
    assert client.get("/requests").status_code == 200
    assert client.get("/help").status_code == 200
    login(client, other_patient)
    assert client.get(f"/requests/{t.reference}").status_code == 404
    assert client.post(f"/requests/{t.reference}/reply", data={"body": "hi"}).status_code == 404
    assert client.post(f"/requests/{t.reference}/close").status_code == 404
    login(client, agent)
    assert client.get(f"/requests/{t.reference}").status_code == 403
    assert client.get("/help").status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(client):
    resp = client.get("/requests")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_reply_and_close_from_the_request_page(client, ctx, patient, agent, make_ticket):
    t = make_ticket()
    services.post_message(t, author=agent, body="Can you send the date?", next_status=Status.PENDING_PATIENT)
    login(client, patient)
    assert client.post(f"/requests/{t.reference}/reply", data={"body": "March 3rd"}).status_code == 302
    db.session.refresh(t)
    assert t.status == Status.OPEN
    assert client.post(f"/requests/{t.reference}/reply", data={"body": "   "}).status_code == 422
    assert count(Message) == 3
    assert client.post(f"/requests/{t.reference}/close").status_code == 302
    db.session.refresh(t)
    assert t.status == Status.CLOSED
    resp = client.post(f"/requests/{t.reference}/reply", data={"body": "It happened again"})
    new = db.session.scalar(sa.select(Ticket).where(Ticket.follow_up_of_id == t.id))
    assert new is not None and resp.headers["Location"].endswith(new.reference)


def test_unknown_reference_is_a_friendly_404(client, ctx, patient):
    login(client, patient)
    resp = client.get("/requests/HD-NOPE99")
    assert resp.status_code == 404 and b"No request with that reference" in resp.data
    assert client.get("/requests/" + "x" * 5000).status_code == 404


def test_sign_out_invalidates_a_copied_cookie(client, app, ctx, patient):
    client.post("/login", data={"email": patient.email, "password": PASSWORD})
    copied = client.get_cookie("session").value
    client.post("/logout")
    thief = app.test_client()
    thief.set_cookie("session", copied)
    # signing out rotates the account's session token on the server: a cookie copied
    # before sign-out no longer identifies anyone
    assert thief.get("/requests").status_code == 302
