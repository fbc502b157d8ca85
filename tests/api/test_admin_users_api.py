"""/api/v1/admin/users: administrators manage staff accounts over the API, through the
same services (and audit rows) as the Users page."""

from __future__ import annotations

import sqlalchemy as sa

from helpdesk.audit import AuditEvent
from helpdesk.auth import services as accounts
from helpdesk.auth.models import Role, User
from helpdesk.extensions import db
from helpdesk.notify.models import OutgoingEmail
from tests.factories import bearer


def _token(user: User) -> dict[str, str]:
    _t, secret = accounts.create_api_token(actor=None, name=f"{user.role.value} cli", user=user)
    return bearer(secret)


def _actions(target: int) -> list[str]:
    return list(db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.object_id == str(target))
                                   .order_by(AuditEvent.id)))


def test_an_admin_invites_lists_changes_and_deactivates_staff(client, ctx, admin, queues):
    h = _token(admin)
    resp = client.post("/api/v1/admin/users", json={"name": "Nina New", "email": "nina@example.org", "role": "agent"},
                       headers=h)
    assert resp.status_code == 201, resp.json
    nina = resp.json
    assert nina["role"] == "agent" and nina["invitation_pending"] and nina["active"] and not nina["mfa_enabled"]
    assert db.session.scalar(sa.select(OutgoingEmail.kind).where(OutgoingEmail.to_addr == "nina@example.org")) \
        == "staff_invite"
    listed = client.get("/api/v1/admin/users", headers=h).json["items"]
    assert "nina@example.org" in {a["email"] for a in listed} and all(a["role"] != "patient" for a in listed)
    assert client.post(f"/api/v1/admin/users/{nina['id']}/invitation", headers=h).status_code == 202

    changed = client.patch(f"/api/v1/admin/users/{nina['id']}", json={"role": "supervisor"}, headers=h)
    assert changed.status_code == 200 and changed.json["role"] == "supervisor"
    off = client.patch(f"/api/v1/admin/users/{nina['id']}", json={"active": False}, headers=h)
    assert off.status_code == 200 and off.json["active"] is False
    assert _actions(nina["id"]) == ["user.created", "user.invited", "user.invited", "user.role_changed",
                                    "user.deactivated"]


def test_bad_input_is_a_clear_4xx_and_changes_nothing(client, ctx, admin, agent, patient):
    h = _token(admin)
    n = db.session.scalar(sa.select(sa.func.count(User.id)))
    assert client.post("/api/v1/admin/users", json={"name": "X", "email": "x@example.org", "role": "patient"},
                       headers=h).status_code == 422
    assert client.post("/api/v1/admin/users", json={"name": "X", "email": agent.email, "role": "agent"},
                       headers=h).status_code == 409
    assert client.patch(f"/api/v1/admin/users/{agent.id}", json={}, headers=h).status_code == 422
    assert client.patch(f"/api/v1/admin/users/{agent.id}", json={"role": "wizard"}, headers=h).status_code == 422
    assert client.patch(f"/api/v1/admin/users/{admin.id}", json={"active": False}, headers=h).status_code == 409
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == n
    db.session.refresh(agent)
    assert agent.role == Role.AGENT and agent.active


def test_patients_are_not_accounts_of_this_api_and_only_admins_use_it(client, ctx, admin, supervisor, patient):
    assert client.get(f"/api/v1/admin/users/{patient.id}", headers=_token(admin)).status_code == 404
    assert client.patch(f"/api/v1/admin/users/{patient.id}", json={"active": False},
                        headers=_token(admin)).status_code == 404
    assert client.get("/api/v1/admin/users", headers=_token(supervisor)).status_code == 403
    assert client.get("/api/v1/admin/users").status_code == 401
