"""Two-step sign-in (TOTP): enrolment, the second step, replay, recovery codes, resets."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import sqlalchemy as sa

from helpdesk.audit import AuditEvent
from helpdesk.auth import mfa
from helpdesk.auth.models import AuthSession, MfaRecoveryCode
from helpdesk.extensions import db
from helpdesk.timeutil import simulated_clock, utcnow
from tests.factories import PASSWORD, login, totp_code


def password_step(client, user, next_url: str | None = None):
    url = "/login" + (f"?next={next_url}" if next_url else "")
    return client.post(url, data={"email": user.email, "password": PASSWORD})


def actions(name: str, user) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == name,
                                                               AuditEvent.object_id == str(user.id))))


def enrol_through_pages(client, user) -> list[str]:
    page = client.get("/account/mfa/enrol").get_data(as_text=True)
    secret = re.search(r'id="mfa-secret">([A-Z2-7]+)<', page).group(1)
    resp = client.post("/account/mfa/enrol", data={"code": pyotp.TOTP(secret).now()})
    assert resp.status_code == 200
    return re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", resp.get_data(as_text=True))


def test_staff_without_mfa_are_sent_to_enrolment_before_any_other_page(client, ctx, agent):
    resp = password_step(client, agent)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/account/mfa/enrol")
    for path in ("/", "/agent/tickets", "/account/security", "/admin/users"):
        r = client.get(path)
        assert r.status_code == 302 and r.headers["Location"].endswith("/account/mfa/enrol"), path
    assert client.get("/agent/tickets", headers={"X-Helpdesk-Background": "1"}).status_code == 401
    page = client.get("/account/mfa/enrol").get_data(as_text=True)
    assert 'src="data:image/svg+xml' in page and "Staff accounts must use two-step sign-in" in page
    secret = re.search(r'id="mfa-secret">([A-Z2-7]+)<', page).group(1)
    assert client.get("/account/mfa/enrol").get_data(as_text=True).count(secret) == 1  # a reload keeps it

    wrong = client.post("/account/mfa/enrol", data={"code": "000000" if pyotp.TOTP(secret).now() != "000000"
                                                     else "111111"})
    assert wrong.status_code == 422 and b"That code didn&#39;t match." in wrong.data
    db.session.refresh(agent)
    assert not agent.mfa_enabled

    resp = client.post("/account/mfa/enrol", data={"code": pyotp.TOTP(secret).now()})
    codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", resp.get_data(as_text=True))
    assert resp.status_code == 200 and len(set(codes)) == 10
    db.session.refresh(agent)
    assert agent.mfa_enabled and agent.mfa_secret == secret
    stored = db.session.scalars(sa.select(MfaRecoveryCode.code_hash).where(MfaRecoveryCode.user_id == agent.id)).all()
    assert len(stored) == 10 and not set(codes) & set(stored)  # only hashes are kept
    assert len(actions("mfa.enrolled", agent)) == 1
    assert client.get("/agent/tickets").status_code == 200


def test_the_second_step_is_required_and_a_code_works_only_once(client, app, ctx, agent):
    mfa.provision(agent)
    resp = password_step(client, agent, next_url="/agent/tickets?status=active")
    assert resp.headers["Location"].endswith("/login/mfa")
    assert client.get("/agent/tickets").headers["Location"].endswith("/login/mfa")
    assert not db.session.scalar(sa.select(AuthSession.mfa_passed).where(AuthSession.user_id == agent.id))

    bad = client.post("/login/mfa", data={"code": "12345"})
    assert bad.status_code == 422 and len(actions("auth.mfa_failed", agent)) == 1

    code = totp_code(agent)
    ok = client.post("/login/mfa", data={"code": code})
    assert ok.status_code == 302 and ok.headers["Location"].endswith("/agent/tickets?status=active")
    assert client.get("/agent/tickets").status_code == 200

    other = app.test_client()  # someone who saw the code tries it in the same 30 seconds
    password_step(other, agent)
    replay = other.post("/login/mfa", data={"code": code})
    assert replay.status_code == 422
    assert other.get("/agent/tickets").headers["Location"].endswith("/login/mfa")


def test_codes_from_the_neighbouring_time_steps_are_accepted_but_not_older_ones(client, ctx, agent):
    secret, _ = mfa.provision(agent)
    totp = pyotp.TOTP(secret)
    password_step(client, agent)
    stale = totp.at(utcnow() - timedelta(seconds=120))
    assert client.post("/login/mfa", data={"code": stale}).status_code == 422
    drifted = totp.at(utcnow() - timedelta(seconds=30))
    if drifted == stale:  # pragma: no cover - one in a million
        drifted = totp.now()
    assert client.post("/login/mfa", data={"code": drifted}).status_code == 302


def test_recovery_codes_work_once(client, app, ctx, patient):
    login(client, patient)
    codes = enrol_through_pages(client, patient)
    assert len(codes) == 10
    client.post("/logout")

    password_step(client, patient)
    resp = client.post("/login/mfa", data={"code": codes[3].upper().replace("-", " ")})
    assert resp.status_code == 302 and client.get("/requests").status_code == 200
    assert len(actions("mfa.recovery_code_used", patient)) == 1
    assert "9 recovery codes left." in client.get("/account/security").get_data(as_text=True)
    client.post("/logout")

    again = app.test_client()
    password_step(again, patient)
    assert again.post("/login/mfa", data={"code": codes[3]}).status_code == 422
    assert again.get("/requests").headers["Location"].endswith("/login/mfa")


def test_too_many_wrong_codes_end_the_session(client, app, ctx, agent):
    mfa.provision(agent)
    password_step(client, agent)
    copied = client.get_cookie("session").value
    for _ in range(mfa.MAX_FAILURES - 1):
        assert client.post("/login/mfa", data={"code": "99999"}).status_code == 422
    resp = client.post("/login/mfa", data={"code": "99999"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/login")
    thief = app.test_client()
    thief.set_cookie("session", copied)
    assert thief.post("/login/mfa", data={"code": totp_code(agent)}).status_code == 302
    assert thief.get("/agent/tickets").headers["Location"].startswith("/login")
    row = db.session.scalar(sa.select(AuthSession).where(AuthSession.user_id == agent.id))
    assert row.end_reason == "mfa_failed" and not row.mfa_passed


def test_patients_may_opt_in_and_out(client, app, ctx, patient):
    login(client, patient)
    page = client.get("/account/security").get_data(as_text=True)
    assert "Off." in page and client.get("/requests").status_code == 200  # not forced
    enrol_through_pages(client, patient)
    assert "On." in client.get("/account/security").get_data(as_text=True)
    client.post("/logout")

    password_step(client, patient)
    assert client.get("/requests").headers["Location"].endswith("/login/mfa")
    client.post("/login/mfa", data={"code": totp_code(patient)})

    wrong = client.post("/account/mfa/disable", data={"password": "not my password"}, follow_redirects=True)
    assert "That password is not right." in wrong.get_data(as_text=True)
    db.session.refresh(patient)
    assert patient.mfa_enabled
    client.post("/account/mfa/disable", data={"password": PASSWORD})
    db.session.refresh(patient)
    assert not patient.mfa_enabled and patient.mfa_secret is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MfaRecoveryCode)) == 0
    assert len(actions("mfa.disabled", patient)) == 1
    client.post("/logout")
    assert password_step(client, patient).headers["Location"].endswith("/")  # one step again


def test_the_security_page_is_in_spanish_for_a_spanish_patient(client, ctx, patient):
    patient.language = "es"
    db.session.commit()
    login(client, patient)
    page = client.get("/account/security").get_data(as_text=True)
    assert "Seguridad de la cuenta" in page and "Configurar el inicio de sesión en dos pasos" in page
    enrol = client.get("/account/mfa/enrol").get_data(as_text=True)
    assert "Escanee este código QR" in enrol


def test_staff_cannot_turn_mfa_off(client, ctx, agent):
    login(client, agent)
    assert client.post("/account/mfa/disable", data={"password": PASSWORD}).status_code == 403
    db.session.refresh(agent)
    assert agent.mfa_enabled


def test_admin_resets_a_staff_members_mfa(client, app, ctx, admin, agent):
    login(client, agent)  # the agent has an authenticator and a session
    victim_cookie = client.get_cookie("session").value
    admin_client = login(app.test_client(), admin)
    resp = admin_client.post(f"/admin/users/{agent.id}/mfa-reset", follow_redirects=True)
    assert resp.status_code == 200 and "Two-step sign-in reset for Alex Agent" in resp.get_data(as_text=True)
    db.session.refresh(agent)
    assert not agent.mfa_enabled and agent.mfa_secret is None
    event = actions("mfa.reset", agent)[0]
    assert event.actor_id == admin.id
    thief = app.test_client()
    thief.set_cookie("session", victim_cookie)
    assert thief.get("/agent/tickets").status_code == 302  # their sessions ended
    assert password_step(app.test_client(), agent).headers["Location"].endswith("/account/mfa/enrol")


def test_mfa_reset_is_for_admins_only_and_unknown_accounts_are_404(client, app, ctx, admin, agent, supervisor,
                                                                   patient):
    mfa.provision(patient)
    for who in (agent, supervisor, patient):
        c = login(app.test_client(), who)
        assert c.post(f"/admin/users/{agent.id}/mfa-reset").status_code == 403
    db.session.refresh(patient)
    assert patient.mfa_enabled
    assert login(client, admin).post("/admin/users/99999/mfa-reset").status_code == 404
    admin_page = client.get("/admin/users").get_data(as_text=True)
    assert "Reset two-step sign-in" in admin_page


def test_cli_prints_the_current_code(app, ctx, agent):
    secret, _ = mfa.provision(agent)
    result = app.test_cli_runner().invoke(args=["users", "mfa-code", agent.email])
    assert result.exit_code == 0 and result.output.strip() == pyotp.TOTP(secret).now()
    missing = app.test_cli_runner().invoke(args=["users", "mfa-code", "nobody@example.org"])
    assert missing.exit_code != 0


def test_codes_follow_the_injected_clock(ctx, agent):
    secret, _ = mfa.provision(agent)
    moment = utcnow() + timedelta(hours=3)
    with simulated_clock(lambda: moment):
        assert mfa.current_code(agent) == pyotp.TOTP(secret).at(moment)
