"""The portal's one-use sign-in links: POST /api/v1/patient-links, then GET /patient-link/<token>."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from itsdangerous import TimestampSigner

from helpdesk.audit import AuditEvent
from helpdesk.auth import portal as identity
from helpdesk.auth import services as accounts
from helpdesk.auth.models import AuthSession
from helpdesk.auth.portal_models import PatientIdentifier, PatientLink
from helpdesk.extensions import db
from helpdesk.logging_setup import redact
from helpdesk.timeutil import utcnow
from tests.factories import bearer, login

ES = {"Accept-Language": "es"}
IDENTITY = {"system": "portal", "value": "12345"}


@pytest.fixture
def linked(ctx, patient):
    """The patient with the portal's identifier 12345."""
    db.session.add(PatientIdentifier(user_id=patient.id, system="portal", value="12345"))
    db.session.commit()
    return patient


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def _ask(client, secret: str, identity: dict | None = None):
    return client.post("/api/v1/patient-links", json=identity or IDENTITY, headers=bearer(secret))


def _path(resp) -> str:
    assert resp.status_code == 201, resp.get_json()
    url = resp.get_json()["url"]
    assert url.startswith("http://") and "/patient-link/" in url
    return url[url.index("/patient-link/"):]


def test_a_good_link_signs_the_patient_in_to_their_requests(app, client, portal, linked, make_ticket):
    integration, secret = portal
    ticket = make_ticket(requester=linked)
    resp = _ask(client, secret)
    body = resp.get_json()
    assert body["expires_in"] == 120
    path = _path(resp)
    browser = app.test_client()
    opened = browser.get(path)
    assert opened.status_code == 302 and opened.headers["Location"].endswith("/requests")
    assert opened.headers["Cache-Control"] == "no-store"
    page = browser.get("/requests")
    assert page.status_code == 200 and ticket.reference in page.get_data(as_text=True)
    assert browser.get(f"/requests/{ticket.reference}").status_code == 200
    # a normal server-side session of the patient, and the audit trail
    sessions = db.session.scalars(sa.select(AuthSession).where(AuthSession.user_id == linked.id)).all()
    assert len(sessions) == 1 and sessions[0].ended_at is None and sessions[0].mfa_passed
    issued, signed_in = _events("patient.link_issued"), _events("auth.signed_in")
    assert issued[0].actor_id == integration.id and issued[0].object_id == str(linked.id)
    assert signed_in[-1].changes["via"] == "patient_link" and signed_in[-1].actor_id == linked.id
    link = db.session.scalars(sa.select(PatientLink)).one()
    assert link.used_at is not None and link.created_by_id == integration.id


def test_the_token_names_no_patient_and_the_logs_hide_it(client, portal, linked):
    _integration, secret = portal
    path = _path(_ask(client, secret))
    token = path.rsplit("/", 1)[1]
    payload = token.split(".")[0]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    assert set(json.loads(decoded)) == {"l"}  # the random link id only
    assert "12345" not in token and str(linked.id) not in decoded.replace(json.loads(decoded)["l"], "")
    assert redact(f"GET {path} 302") == "GET /patient-link/[token] 302"


def test_a_link_works_once(app, client, portal, linked):
    _integration, secret = portal
    path = _path(_ask(client, secret))
    assert app.test_client().get(path).status_code == 302
    again = app.test_client().get(path)
    assert again.status_code == 410
    text = again.get_data(as_text=True)
    assert "already used" in text and 'href="/login"' in text
    assert app.test_client().get("/requests").status_code == 302  # that second browser is not signed in
    refused = _events("auth.patient_link_refused")
    assert [e.changes["reason"] for e in refused] == ["used"] and refused[0].object_id == str(linked.id)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuthSession)
                             .where(AuthSession.user_id == linked.id)) == 1


def test_an_expired_link_is_refused(app, client, portal, linked):
    _integration, secret = portal
    path = _path(_ask(client, secret))
    link = db.session.scalars(sa.select(PatientLink)).one()
    link.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    resp = app.test_client().get(path)
    assert resp.status_code == 410 and "expired" in resp.get_data(as_text=True)
    assert [e.changes["reason"] for e in _events("auth.patient_link_refused")] == ["expired"]
    db.session.refresh(link)
    assert link.used_at is None


def test_the_link_lifetime_is_configurable_and_the_signature_expires_with_it(app, client, portal, linked, configure):
    _integration, secret = portal
    with configure(patient_link_ttl_seconds=30):
        resp = _ask(client, secret)
        assert resp.get_json()["expires_in"] == 30
        path = _path(resp)
        link = db.session.scalars(sa.select(PatientLink)).one()
        assert 29 <= (link.expires_at - link.created_at).total_seconds() <= 31
        # the same link signed a minute ago: the row would still allow it, the signature's age does not
        link.expires_at = utcnow() + timedelta(hours=1)
        db.session.commit()

        class SignedAMinuteAgo(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(time.time()) - 60

        serializer = identity._serializer()  # the help desk's own key and salt, an older clock
        serializer.signer = SignedAMinuteAgo
        old = serializer.dumps({"l": link.link_id})
        resp = app.test_client().get(f"/patient-link/{old}")
        assert resp.status_code == 410 and "expired" in resp.get_data(as_text=True)
        assert app.test_client().get(path).status_code == 302  # the same link signed now: fine
    refused = _events("auth.patient_link_refused")
    assert [e.changes["reason"] for e in refused] == ["expired"] and refused[0].object_id == str(linked.id)


@pytest.mark.parametrize("change", ["signature", "payload", "garbage", "other_key"])
def test_a_tampered_link_is_refused(app, client, portal, linked, change, configure):
    _integration, secret = portal
    path = _path(_ask(client, secret))
    token = path.rsplit("/", 1)[1]
    if change == "signature":
        token = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    elif change == "payload":
        other = base64.urlsafe_b64encode(json.dumps({"l": "x" * 43}).encode()).decode().rstrip("=")
        token = other + token[token.index("."):]
    elif change == "garbage":
        token = "not-a-token-at-all-but-long-enough"
    else:
        with configure(patient_link_secret="another-key-" + "k" * 30):
            token = _path(_ask(client, secret)).rsplit("/", 1)[1]
    resp = app.test_client().get(f"/patient-link/{token}")
    assert resp.status_code == 410 and "isn't valid" in resp.get_data(as_text=True)
    assert [e.changes["reason"] for e in _events("auth.patient_link_refused")] == ["invalid"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuthSession)) == 0


def test_another_patients_session_ends_and_their_requests_stay_hidden(app, client, portal, linked, other_patient,
                                                                       make_ticket):
    _integration, secret = portal
    mine, theirs = make_ticket(requester=linked), make_ticket(requester=other_patient, subject="Other's bill")
    browser = app.test_client()
    login(browser, other_patient)  # someone else is signed in on this computer
    assert browser.get(f"/requests/{theirs.reference}").status_code == 200
    assert browser.get(_path(_ask(client, secret))).status_code == 302
    listing = browser.get("/requests").get_data(as_text=True)
    assert mine.reference in listing and theirs.reference not in listing
    assert browser.get(f"/requests/{theirs.reference}").status_code == 404
    other_sessions = db.session.scalars(sa.select(AuthSession).where(AuthSession.user_id == other_patient.id)).all()
    assert other_sessions and all(s.ended_at is not None for s in other_sessions)
    assert _events("auth.signed_out")[-1].object_id == str(other_patient.id)


def test_a_deactivated_patients_link_is_refused(app, client, portal, linked):
    _integration, secret = portal
    path = _path(_ask(client, secret))
    accounts.set_active(actor=None, user=linked, active=False)
    assert app.test_client().get(path).status_code == 410
    assert [e.changes["reason"] for e in _events("auth.patient_link_refused")] == ["inactive"]
    # and no new link is given for it
    resp = _ask(client, secret)
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "conflict"


def test_a_patient_with_two_step_sign_in_still_gives_the_code(app, client, portal, linked):
    from helpdesk.auth import mfa
    from tests.factories import totp_code

    _integration, secret = portal
    mfa.begin_enrolment(linked)
    mfa.confirm_enrolment(linked, totp_code(linked), None)
    browser = app.test_client()
    resp = browser.get(_path(_ask(client, secret)))
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/login/mfa")
    assert browser.get("/requests").status_code == 302


def test_who_may_ask_for_a_link(client, ctx, portal, linked, agent, admin):
    _integration, secret = portal
    assert client.post("/api/v1/patient-links", json=IDENTITY).status_code == 401
    for user in (linked, agent, admin):  # patients and staff: not an integration
        _t, own = accounts.create_api_token(actor=None, name="own", user=user)
        resp = client.post("/api/v1/patient-links", json=IDENTITY, headers=bearer(own))
        assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "forbidden"
    unknown = _ask(client, secret, {"system": "portal", "value": "404"})
    assert unknown.status_code == 404 and unknown.get_json()["error"]["code"] == "not_found"
    other_system = _ask(client, secret, {"system": "mrn", "value": "12345"})
    assert other_system.status_code == 404
    for bad in ({"system": "portal"}, {"system": "Portal", "value": "1"}, {**IDENTITY, "extra": 1},
                {"system": "portal", "value": "a b"}):
        resp = _ask(client, secret, bad)
        assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "validation_error", bad
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PatientLink)) == 0
    assert _events("patient.link_issued") == []


def test_the_refusal_page_speaks_spanish(app, client, portal, linked):
    _integration, secret = portal
    # tampered: the browser's language
    resp = app.test_client().get("/patient-link/not-a-token-at-all-but-long-enough", headers=ES)
    text = resp.get_data(as_text=True)
    assert resp.status_code == 410 and "Este enlace para iniciar sesión no se puede usar" in text and "no es válido" in text
    # used: the language of the patient it named, whatever the browser says
    linked.language = "es"
    db.session.commit()
    path = _path(_ask(client, secret))
    assert app.test_client().get(path).status_code == 302
    text = app.test_client().get(path).get_data(as_text=True)
    assert "ya se usó" in text and "portal del paciente" in text
    # and English for an English-speaking patient
    linked.language = "en"
    db.session.commit()
    path = _path(_ask(client, secret))
    app.test_client().get(path)
    assert "already used" in app.test_client().get(path, headers=ES).get_data(as_text=True)


def test_no_link_for_an_account_that_is_no_longer_a_patients(client, portal, linked):
    _integration, secret = portal
    path = _path(_ask(client, secret))
    accounts.change_role(actor=None, user=linked, role="agent")
    resp = _ask(client, secret)
    assert resp.status_code == 409 and "not a patient" in resp.get_json()["error"]["message"]
    assert client.get(path).status_code == 410
    assert [e.changes["reason"] for e in _events("auth.patient_link_refused")] == ["inactive"]
