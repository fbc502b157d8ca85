"""/api/v1/admin: admins' jobs over JSON through the pages' services (audited), others 403,
unknown objects 404, bad input 4xx with data unchanged."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from helpdesk.audit import AuditEvent
from helpdesk.auth import services as accounts
from helpdesk.auth import throttle
from helpdesk.auth.models import User
from helpdesk.extensions import db
from helpdesk.retention import services as retention
from helpdesk.sla import calendars
from helpdesk.sla.models import SlaCalendar
from tests.factories import bearer


def _actions(prefix: str) -> list[str]:
    return list(db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.action.like(prefix + "%"))
                                   .order_by(AuditEvent.id)))


@pytest.fixture
def admin_h(ctx, admin) -> dict[str, str]:
    _t, secret = accounts.create_api_token(actor=None, name="admin cli", user=admin)
    return bearer(secret)


@pytest.fixture
def sup_h(ctx, supervisor) -> dict[str, str]:
    _t, secret = accounts.create_api_token(actor=None, name="sup cli", user=supervisor)
    return bearer(secret)


def test_retention_over_the_api(client, admin_h, sup_h, make_ticket):
    body = client.get("/api/v1/admin/retention", headers=admin_h).get_json()
    assert body["retention_on"] is False and body["last_run"] is None
    assert {k["kind"]: k["days"] for k in body["kinds"]} == {"closed_tickets": None, "attachments": None,
                                                             "raw_mail": None}
    assert client.get("/api/v1/admin/retention", headers=sup_h).status_code == 403
    assert client.put("/api/v1/admin/retention/closed_tickets", json={"days": 0}, headers=admin_h).status_code == 422
    assert client.put("/api/v1/admin/retention/closed_tickets", json={"days": "x"}, headers=admin_h).status_code == 422
    assert client.put("/api/v1/admin/retention/audit_log", json={"days": 9}, headers=admin_h).status_code == 404
    assert retention.policies()["closed_tickets"] is None
    resp = client.put("/api/v1/admin/retention/closed_tickets", json={"days": 365}, headers=admin_h)
    assert resp.status_code == 200 and resp.get_json()["days"] == 365
    dry = client.post("/api/v1/admin/retention/dry-run", headers=admin_h).get_json()
    assert dry["dry_run"] is True and dry["counts"]["closed_tickets"] == 0 and dry["counts"]["raw_mail"] is None
    t = make_ticket()
    hold = client.post("/api/v1/admin/retention/holds", json={"ticket": t.reference, "reason": "Case 4"},
                       headers=admin_h)
    assert hold.status_code == 201 and hold.get_json()["ticket"] == t.reference
    assert client.post("/api/v1/admin/retention/holds", json={"ticket": t.reference, "reason": "Case 4"},
                       headers=admin_h).status_code == 409
    assert client.post("/api/v1/admin/retention/holds", json={"reason": "Case 4"}, headers=admin_h).status_code == 422
    assert client.post("/api/v1/admin/retention/holds", json={"ticket": "HD-NOPE00", "reason": "Case 4"},
                       headers=admin_h).status_code == 404
    listed = client.get("/api/v1/admin/retention/holds", headers=admin_h).get_json()
    assert [h["id"] for h in listed["items"]] == [hold.get_json()["id"]] and listed["next_cursor"] is None
    assert client.delete(f"/api/v1/admin/retention/holds/{hold.get_json()['id']}", headers=admin_h).status_code == 204
    assert client.delete(f"/api/v1/admin/retention/holds/{hold.get_json()['id']}", headers=admin_h).status_code == 409
    assert client.delete("/api/v1/admin/retention/holds/999999", headers=admin_h).status_code == 404
    assert _actions("retention.")[:1] == ["retention.policy_set"]
    assert {"retention.hold_placed", "retention.hold_released", "retention.run_finished"} <= set(
        _actions("retention."))


def test_patient_accounts_over_the_api(app, client, admin_h, sup_h, patient, other_patient, make_ticket):
    t = make_ticket(requester=other_patient)
    found = client.get("/api/v1/admin/patients", query_string={"q": "lopez"}, headers=admin_h).get_json()
    assert [p["id"] for p in found["items"]] == [patient.id] and found["next_cursor"] is None
    assert "mrn" not in found["items"][0]
    assert client.get("/api/v1/admin/patients", query_string={"born": "17/05/1980"},
                      headers=admin_h).status_code == 422
    assert client.get("/api/v1/admin/patients", headers=sup_h).status_code == 403
    detail = client.get(f"/api/v1/admin/patients/{patient.id}", headers=admin_h).get_json()
    assert detail["state"] == "active" and detail["locked_until"] is None
    assert client.get("/api/v1/admin/patients/999999", headers=admin_h).status_code == 404
    staff = db.session.scalar(sa.select(User).where(User.id != patient.id, User.role != "patient"))
    assert client.get(f"/api/v1/admin/patients/{staff.id}", headers=admin_h).status_code == 404  # not a patient
    assert _actions("patient.") == ["patient.accounts_searched", "patient.account_viewed"]
    # unlock: nothing to unlock, then a real lock-out
    assert client.post(f"/api/v1/admin/patients/{patient.id}/unlock", headers=admin_h).status_code == 422
    other_client = app.test_client()
    for _ in range(throttle.ACCOUNT.max_failures):
        other_client.post("/login", data={"email": patient.email, "password": "wrong password"})
    assert client.get(f"/api/v1/admin/patients/{patient.id}", headers=admin_h).get_json()["locked_until"]
    assert client.post(f"/api/v1/admin/patients/{patient.id}/unlock", headers=admin_h).status_code == 200
    assert client.get(f"/api/v1/admin/patients/{patient.id}", headers=admin_h).get_json()["locked_until"] is None
    assert client.post(f"/api/v1/admin/patients/{patient.id}/reset-password", headers=admin_h).status_code == 200
    assert client.post(f"/api/v1/admin/patients/{patient.id}/deactivate", headers=admin_h).get_json()["state"] == \
        "deactivated"
    assert client.post(f"/api/v1/admin/patients/{patient.id}/reactivate", headers=admin_h).get_json()["state"] == \
        "active"
    # merge other_patient (with a request) into patient
    assert client.post(f"/api/v1/admin/patients/{other_patient.id}/merge", json={"into": other_patient.id},
                       headers=admin_h).status_code == 422
    resp = client.post(f"/api/v1/admin/patients/{other_patient.id}/merge", json={"into": patient.id},
                       headers=admin_h)
    assert resp.status_code == 200 and resp.get_json()["moved"]["tickets.requester_id"] == 1
    db.session.expire_all()
    assert t.requester_id == patient.id
    assert client.post(f"/api/v1/admin/patients/{other_patient.id}/unlock", headers=admin_h).status_code == 409
    assert {"auth.unlocked", "password.reset_forced", "patient.merged_away", "patient.merged_into"} <= set(
        db.session.scalars(sa.select(AuditEvent.action)))


def test_business_calendars_over_the_api(client, admin_h, sup_h):
    spec = {"name": "Clinic", "timezone": "America/Chicago",
            "hours": {"mon": [["08:00", "12:00"], ["13:00", "17:00"]], "tue": [["08:00", "17:00"]]},
            "holidays": ["2027-11-26"], "presets": ["us-federal"]}
    resp = client.post("/api/v1/admin/calendars", json=spec, headers=admin_h)
    assert resp.status_code == 201, resp.get_json()
    cal = resp.get_json()
    assert cal["presets"] == ["us-federal"] and cal["holidays"] == ["2027-11-26"] and cal["holidays_this_year"]
    assert client.post("/api/v1/admin/calendars", json=spec, headers=admin_h).status_code == 409  # name taken
    for bad in ({**spec, "name": "B", "timezone": "Mars/Olympus"}, {**spec, "name": "C", "presets": ["moon"]},
                {**spec, "name": "D", "hours": {"mon": [["17:00", "08:00"]]}},
                {**spec, "name": "E", "hours": {"funday": []}}, {**spec, "name": "F", "extra": 1}):
        assert client.post("/api/v1/admin/calendars", json=bad, headers=admin_h).status_code == 422, bad
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SlaCalendar)) == 1
    assert client.post("/api/v1/admin/calendars", json=spec, headers=sup_h).status_code == 403
    listed = client.get("/api/v1/admin/calendars", headers=admin_h).get_json()
    assert [(c["name"], c["policies"]) for c in listed["items"]] == [("Clinic", 0)] and listed["next_cursor"] is None
    edited = {**spec, "hours": {"mon": [["09:00", "17:00"]]}, "holidays": [], "presets": []}
    resp = client.put(f"/api/v1/admin/calendars/{cal['id']}", json=edited, headers=admin_h)
    assert resp.status_code == 200 and resp.get_json()["hours"] == {"mon": [["09:00", "17:00"]]}
    assert client.put(f"/api/v1/admin/calendars/{cal['id']}", json=edited, headers=admin_h).status_code == 422
    assert client.put("/api/v1/admin/calendars/999999", json=edited, headers=admin_h).status_code == 404
    assert client.get(f"/api/v1/admin/calendars/{cal['id']}", headers=admin_h).get_json()["presets"] == []
    assert [p["name"] for p in client.get("/api/v1/admin/calendars/presets", headers=admin_h).get_json()] == [
        "us-federal"]
    assert _actions("sla_calendar.") == ["sla_calendar.created", "sla_calendar.updated"]
    assert calendars.get(cal["id"]).spec["hours"] == {"mon": [["09:00", "17:00"]]}
