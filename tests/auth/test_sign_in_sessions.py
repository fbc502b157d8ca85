"""Server-side sessions: the cookie holds a key, the server decides whether it still works."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from helpdesk.audit import AuditEvent
from helpdesk.auth import services, sessions
from helpdesk.auth.models import AuthSession
from helpdesk.config import ConfigError, Settings
from helpdesk.extensions import db
from helpdesk.timeutil import simulated_clock
from tests.factories import PASSWORD, bearer, login

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def at(minutes: float):
    """Run requests as if ``minutes`` after T0."""
    moment = T0 + timedelta(minutes=minutes)
    return simulated_clock(lambda: moment)


def cookie_key(client) -> str | None:
    with client.session_transaction() as s:
        return s.get("_user_id")


def sign_in(client, user) -> None:
    resp = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert resp.status_code == 302


def rows(user) -> list[AuthSession]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AuthSession).where(AuthSession.user_id == user.id)
                                   .order_by(AuthSession.id)))


def actions(name: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == name)))


def test_the_cookie_carries_only_a_random_key_and_sign_in_always_makes_a_new_one(client, app, ctx, patient):
    with client.session_transaction() as s:
        s["_user_id"] = "planted-by-an-attacker"  # session fixation attempt
    sign_in(client, patient)
    first = cookie_key(client)
    assert first and first != "planted-by-an-attacker" and str(patient.id) not in first.split(":")
    client.post("/logout")
    sign_in(client, patient)
    second = cookie_key(client)
    assert second != first
    stored = rows(patient)
    assert len(stored) == 2 and stored[0].ended_at is not None and stored[0].end_reason == "signed_out"
    assert stored[1].key_hash == sessions.hash_key(second) and second not in {r.key_hash for r in stored}
    assert stored[1].mfa_passed and stored[1].expires_at - stored[1].created_at == timedelta(hours=12)
    assert client.get("/requests").status_code == 200


def test_a_copied_cookie_stops_working_after_sign_out(client, app, ctx, patient):
    sign_in(client, patient)
    copied = client.get_cookie("session").value
    client.post("/logout")
    thief = app.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/requests").status_code == 302


def test_a_copied_cookie_stops_working_after_a_password_change(client, app, ctx, patient):
    sign_in(client, patient)
    other_device = app.test_client()
    sign_in(other_device, patient)
    copied = client.get_cookie("session").value
    patient.set_password("a brand new password")
    services.end_all_sessions(patient)  # what the password change / reset services call
    db.session.commit()
    thief = app.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/requests").status_code == 302
    assert client.get("/requests").status_code == 302 and other_device.get("/requests").status_code == 302
    assert all(r.ended_at is not None for r in rows(patient))


def test_deactivation_ends_the_session_on_the_server(client, ctx, agent, admin):
    login(client, agent)
    assert client.get("/agent/tickets").status_code == 200
    services.set_active(actor=admin, user=agent, active=False)
    assert client.get("/agent/tickets").status_code == 302
    assert rows(agent)[0].end_reason == "deactivated"


def test_patients_are_signed_out_after_30_idle_minutes_and_told_why(client, ctx, patient):
    with at(0):
        sign_in(client, patient)
    with at(29):
        assert client.get("/requests").status_code == 200  # activity moves the idle window
    with at(58):
        assert client.get("/requests").status_code == 200
    with at(88.5):
        resp = client.get("/requests")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "You were signed out after 30 minutes without activity." in page
    assert "Please sign in to continue." not in page
    row = rows(patient)[0]
    assert row.end_reason == "idle" and row.ended_at is not None
    event = actions("auth.session_timeout")[0]
    assert event.object_id == str(patient.id) and event.changes == {"reason": "idle"}


def test_a_burst_of_requests_records_the_activity_once_and_the_limit_is_never_exceeded(client, ctx, patient):
    with at(0):
        sign_in(client, patient)
    with at(10):
        assert client.get("/requests").status_code == 200  # recorded: 10 minutes since the last write
    with at(10.25):  # 15 s later: within the 30 s the recorded activity may lag, nothing written
        assert client.get("/requests").status_code == 200
    assert rows(patient)[0].last_seen_at == T0 + timedelta(minutes=10)
    with at(10.75):  # 45 s after the recorded activity: written again
        assert client.get("/requests").status_code == 200
    assert rows(patient)[0].last_seen_at == T0 + timedelta(minutes=10.75)
    with at(11):
        assert client.get("/requests").status_code == 200  # not written (15 s)
    # the idle limit counts from the recorded activity: the session ends at 40.75 minutes,
    # 15 s before 30 minutes after the last request — earlier, never later
    with at(40.8):
        resp = client.get("/requests")
    assert resp.status_code == 302 and rows(patient)[0].end_reason == "idle"


def test_the_timeout_message_is_in_spanish_for_a_spanish_patient(client, ctx, patient):
    patient.language = "es"
    db.session.commit()
    with at(0):
        sign_in(client, patient)
    with at(31):
        resp = client.get("/requests")
        page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Se cerró su sesión después de 30 minutos sin actividad." in page


def test_staff_are_signed_out_after_15_idle_minutes(client, ctx, agent):
    with at(0):
        login(client, agent)
    with at(14):
        assert client.get("/agent/tickets").status_code == 200
    with at(29.5):
        assert client.get("/agent/tickets").status_code == 302
    assert rows(agent)[0].end_reason == "idle"


def test_no_session_outlives_12_hours_even_when_active(client, ctx, patient):
    with at(0):
        sign_in(client, patient)
    for minutes in range(20, 12 * 60, 20):
        with at(minutes):
            assert client.get("/requests").status_code == 200
    with at(12 * 60 + 1):
        resp = client.get("/requests")
        page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert resp.status_code == 302 and "signed in 12 hours ago" in page
    assert rows(patient)[0].end_reason == "absolute"
    assert actions("auth.session_timeout")[0].changes == {"reason": "absolute"}


def test_presence_polling_does_not_keep_an_idle_agent_signed_in(client, ctx, agent, make_ticket):
    ticket = make_ticket()
    url = f"/agent/tickets/{ticket.reference}/presence"
    with at(0):
        login(client, agent)
    for minutes in (4, 8, 12):
        with at(minutes):
            resp = client.post(url, json={"state": "viewing"}, headers={"X-Helpdesk-Background": "1"})
            assert resp.status_code == 200  # the poll itself is answered
    with at(15.5):
        resp = client.post(url, json={"state": "viewing"}, headers={"X-Helpdesk-Background": "1"})
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "unauthorized"
    assert client.get("/agent/tickets").status_code == 302


def test_the_same_request_without_the_background_mark_counts_as_activity(client, ctx, agent, make_ticket):
    ticket = make_ticket()
    url = f"/agent/tickets/{ticket.reference}/presence"
    with at(0):
        login(client, agent)
    with at(12):
        assert client.post(url, json={"state": "typing"}).status_code == 200
    with at(15.5):
        assert client.get("/agent/tickets").status_code == 200


def test_status_is_a_background_check_and_keep_alive_extends(client, ctx, patient):
    with at(0):
        sign_in(client, patient)
    with at(20):
        resp = client.get("/session/status", headers={"X-Helpdesk-Background": "1"})
        assert resp.get_json() == {"remaining_seconds": 10 * 60}
    with at(28):
        resp = client.post("/session/keep-alive")
        assert resp.status_code == 200 and resp.get_json() == {"remaining_seconds": 30 * 60}
    with at(50):
        assert client.get("/session/status", headers={"X-Helpdesk-Background": "1"}).get_json() == {
            "remaining_seconds": 8 * 60}
    with at(58.5):
        resp = client.get("/session/status", headers={"X-Helpdesk-Background": "1"})
    assert resp.status_code == 401


def test_keep_alive_needs_the_csrf_token(client, configure, ctx, patient):
    sign_in(client, patient)
    configure(WTF_CSRF_ENABLED=True)
    assert client.post("/session/keep-alive").status_code == 400


def test_signed_in_pages_carry_the_warning_and_anonymous_ones_do_not(client, ctx, patient):
    assert b'id="session-timeout"' not in client.get("/login").data
    sign_in(client, patient)
    page = client.get("/requests").get_data(as_text=True)
    assert 'role="alertdialog"' in page and re.search(r'data-idle-seconds="1(7[5-9]\d|800)"', page)
    assert 'data-warning-seconds="120"' in page and "Stay signed in" in page and "session-timeout.js" in page


def test_api_bearer_tokens_are_not_sessions(client, ctx, portal):
    _user, secret = portal
    with at(13 * 60):
        assert client.get("/api/v1/tickets", headers=bearer(secret)).status_code == 200


def test_old_ended_sessions_are_pruned_by_the_periodic_job(ctx, patient, other_patient):
    from helpdesk.periodic import prune_sessions_job

    with at(0):
        old, _ = sessions.open_session(patient)
        sessions.end(old, "signed_out")
        expired_long_ago, _ = sessions.open_session(other_patient)
        db.session.commit()
    with at(60 * 24 * 20):
        recent, _ = sessions.open_session(patient)
        sessions.end(recent, "signed_out")
        live, _ = sessions.open_session(patient)
        db.session.commit()
    with at(60 * 24 * 31):
        prune_sessions_job()
    left = {r.id for r in db.session.scalars(sa.select(AuthSession))}
    assert left == {recent.id, live.id}


@pytest.mark.parametrize(("name", "value"), [
    ("SESSION_IDLE_MINUTES_STAFF", "16"), ("SESSION_IDLE_MINUTES_PATIENT", "31"), ("SESSION_MAX_HOURS", "13"),
    ("SESSION_IDLE_MINUTES_STAFF", "0"), ("SESSION_MAX_HOURS", "twelve"),
])
def test_session_limits_can_only_be_shortened(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({"HELPDESK_ENV": "testing", name: value})


def test_shorter_session_limits_are_used(client, configure, ctx, patient):
    s = Settings.from_env({"HELPDESK_ENV": "testing", "SESSION_IDLE_MINUTES_STAFF": "5",
                           "SESSION_IDLE_MINUTES_PATIENT": "10", "SESSION_MAX_HOURS": "2"})
    assert (s.session_idle_minutes_staff, s.session_idle_minutes_patient, s.session_max_hours) == (5, 10, 2)
    with configure(session_idle_minutes_patient=10):
        with at(0):
            sign_in(client, patient)
        with at(9):
            assert client.get("/requests").status_code == 200
        with at(19.5):
            assert client.get("/requests").status_code == 302
