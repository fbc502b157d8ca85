"""The password pages: forgot, reset by link, change — in English and Spanish."""

from __future__ import annotations

import logging
import re

import pytest
import sqlalchemy as sa

from helpdesk.audit import AuditEvent
from helpdesk.auth.models import Role
from helpdesk.extensions import db
from helpdesk.logging_setup import redact
from helpdesk.notify.models import OutgoingEmail
from tests.factories import PASSWORD, login

ES = {"Accept-Language": "es"}
NEW = "a brand new sentence"  # noqa: S105


def reset_path(n: int = 0) -> str:
    mail = list(db.session.scalars(sa.select(OutgoingEmail).where(OutgoingEmail.kind == "password_reset")
                                   .order_by(OutgoingEmail.id)))[n]
    return re.search(r"(/password/reset/[A-Za-z0-9_-]+)", mail.body).group(1)


def test_sign_in_page_links_to_forgot_password(client, ctx):
    html = client.get("/login").get_data(as_text=True)
    assert 'href="/password/forgot"' in html and "Forgot your password?" in html
    assert "¿Olvidó su contraseña?" in client.get("/login", headers=ES).get_data(as_text=True)


def test_forgot_password_gives_the_same_answer_for_any_address(client, ctx, patient):
    known = client.post("/password/forgot", data={"email": patient.email})
    unknown = client.post("/password/forgot", data={"email": "nobody@example.net"})
    assert known.status_code == unknown.status_code == 200

    def main(resp):
        return resp.get_data(as_text=True).split("<main", 1)[1]

    assert main(known) == main(unknown)
    assert "If an account uses that address" in main(known)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutgoingEmail)) == 1
    es = client.post("/password/forgot", headers=ES, data={"email": "nadie@example.net"})
    assert "Si una cuenta usa esa dirección" in es.get_data(as_text=True)


def test_forgot_password_refuses_a_malformed_address_with_a_message(client, ctx):
    resp = client.post("/password/forgot", data={"email": "not an address"})
    assert resp.status_code == 422
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutgoingEmail)) == 0


def test_forgot_password_is_rate_limited_per_ip(client, ctx, patient):
    codes = [client.post("/password/forgot", data={"email": f"x{i}@example.net"}).status_code for i in range(6)]
    assert codes[:5] == [200] * 5 and codes[5] == 429


def test_reset_by_link_end_to_end(client, ctx, patient):
    other_browser = login(client.application.test_client(), patient)
    assert other_browser.get("/requests").status_code == 200
    client.post("/password/forgot", data={"email": patient.email})
    path = reset_path()
    page = client.get(path)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert '<meta name="referrer" content="no-referrer">' in page.get_data(as_text=True)
    assert client.get(path).status_code == 200  # viewing does not use the link up
    weak = client.post(path, data={"password": "password1", "confirm": "password1"})
    assert weak.status_code == 422 and "too common" in weak.get_data(as_text=True)
    done = client.post(path, data={"password": NEW, "confirm": NEW})
    assert done.status_code == 302 and done.headers["Location"] == "/login"
    assert client.get(path).status_code == 410  # used
    assert other_browser.get("/requests").status_code == 302  # every session ended
    ok = client.post("/login", data={"email": patient.email, "password": NEW})
    assert ok.status_code == 302


def test_reset_page_errors_in_spanish(client, ctx, patient):
    client.post("/password/forgot", data={"email": patient.email})
    path = reset_path()
    resp = client.post(path, headers=ES, data={"password": "maria lopez 2026", "confirm": "maria lopez 2026"})
    assert resp.status_code == 422
    assert "No use su nombre" in resp.get_data(as_text=True)
    gone = client.get("/password/reset/" + "A" * 43, headers=ES)
    assert gone.status_code == 410 and "Este enlace caducó o ya se usó" in gone.get_data(as_text=True)


def test_the_reset_secret_stays_out_of_logs(client, ctx, patient, caplog):
    client.post("/password/forgot", data={"email": patient.email})
    path = reset_path()
    secret = path.rsplit("/", 1)[1]
    line = f'127.0.0.1 - - [04/Dec/2026 10:00:00] "GET {path} HTTP/1.1" 200 -'
    assert secret not in redact(line) and "/password/reset/[token]" in redact(line)
    with caplog.at_level(logging.DEBUG):
        client.get(path)
        client.post(path, data={"password": NEW, "confirm": NEW})
    assert secret not in caplog.text
    for event in db.session.scalars(sa.select(AuditEvent)):
        assert secret not in str(event.changes)


@pytest.mark.parametrize("role", [Role.PATIENT, Role.AGENT, Role.SUPERVISOR, Role.ADMIN])
def test_every_role_can_change_their_password(client, ctx, make_user, role):
    user = make_user(role)
    other_browser = login(client.application.test_client(), user)
    login(client, user)
    assert client.get("/account/password").status_code == 200
    wrong = client.post("/account/password", data={"current_password": "not it at all", "password": NEW,
                                                   "confirm": NEW})
    assert wrong.status_code == 422 and "current password isn" in wrong.get_data(as_text=True)
    resp = client.post("/account/password", data={"current_password": PASSWORD, "password": NEW, "confirm": NEW})
    assert resp.status_code == 302
    assert client.get("/account/password").status_code == 200  # this browser stays signed in
    assert other_browser.get("/account/password").status_code == 302  # the other one is signed out
    db.session.refresh(user)
    assert user.check_password(NEW)


def test_change_password_needs_sign_in(client, ctx):
    assert client.get("/account/password").status_code == 302


def test_change_password_guessing_is_throttled(client, ctx, patient):
    login(client, patient)
    for _ in range(5):
        client.post("/account/password", data={"current_password": "not it at all", "password": NEW, "confirm": NEW})
    resp = client.post("/account/password", data={"current_password": PASSWORD, "password": NEW, "confirm": NEW})
    assert resp.status_code == 429 and "Too many attempts" in resp.get_data(as_text=True)


def test_locked_sign_in_shows_the_same_message_for_unknown_and_known_accounts(client, ctx, patient):
    for email in (patient.email, "nobody@example.net"):
        for _ in range(5):
            client.post("/login", data={"email": email, "password": "wrong guess here"})
    known = client.post("/login", data={"email": patient.email, "password": PASSWORD})
    unknown = client.post("/login", data={"email": "nobody@example.net", "password": PASSWORD})
    assert known.status_code == unknown.status_code == 429
    assert b"Too many attempts" in known.data and b"Too many attempts" in unknown.data


def test_registration_refuses_common_and_personal_passwords(client, ctx):
    for pw in ("password123", "ana ruiz is here"):
        resp = client.post("/register", data={"name": "Ana Ruiz", "email": "ana@example.net", "password": pw,
                                              "confirm": pw})
        assert resp.status_code == 422
    resp = client.post("/register", headers=ES, data={"name": "Ana Ruiz", "email": "ana@example.net",
                                                      "password": "iloveyou", "confirm": "iloveyou"})
    assert "demasiado común" in resp.get_data(as_text=True)
