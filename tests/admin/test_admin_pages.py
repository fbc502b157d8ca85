"""Admin and supervisor pages: users, queues and membership, API tokens."""

from __future__ import annotations

import re

import sqlalchemy as sa

from helpdesk.audit import AuditEvent
from helpdesk.auth.models import ApiToken, Role, User, hash_token
from helpdesk.extensions import db
from helpdesk.notify.models import OutgoingEmail
from helpdesk.tickets import services
from helpdesk.tickets.models import Queue, QueueMembership
from tests.factories import count, login


def test_admin_invites_staff_who_choose_their_own_password_then_set_up_mfa(app, client, ctx, admin, queues):
    login(client, admin)
    assert client.get("/admin/users").status_code == 200
    resp = client.post("/admin/users", data={"name": "New Agent", "email": "new.agent@example.org", "role": "agent"})
    assert resp.status_code == 302
    user = db.session.scalar(sa.select(User).where(User.email == "new.agent@example.org"))
    assert user.role == Role.AGENT and user.password_hash is None  # the admin never knows it
    (mail,) = db.session.scalars(sa.select(OutgoingEmail).where(OutgoingEmail.kind == "staff_invite")).all()
    assert mail.to_addr == user.email and mail.secret and "72 hours" in mail.body
    assert [e.changes for e in _events("user.invited")] == [{"role": "agent"}]
    # again: a new link, the first one stops working
    assert client.post(f"/admin/users/{user.id}/invite").status_code == 302
    first, second = (re.search(r"(/password/reset/[A-Za-z0-9_-]+)", m.body).group(1) for m in db.session.scalars(
        sa.select(OutgoingEmail).where(OutgoingEmail.kind == "staff_invite").order_by(OutgoingEmail.id)))
    newcomer = app.test_client()
    assert newcomer.get(first).status_code == 410
    assert newcomer.post(second, data={"password": "blue kettle morning", "confirm": "blue kettle morning"}
                         ).status_code == 302
    signed_in = newcomer.post("/login", data={"email": user.email, "password": "blue kettle morning"})
    assert signed_in.status_code == 302 and "/mfa" in signed_in.headers["Location"]  # staff enrol an authenticator
    db.session.refresh(user)
    assert user.password_hash is not None
    page = client.post(f"/admin/users/{user.id}/invite", follow_redirects=True).get_data(as_text=True)
    assert "has not set a password yet" in page  # nothing to invite again once they have


def test_invitations_are_for_staff_and_a_taken_address_is_refused(client, ctx, admin, patient):
    login(client, admin)
    n = count(User)
    client.post("/admin/users", data={"name": "X", "email": "x@example.org", "role": "patient"})
    client.post("/admin/users", data={"name": "X", "email": patient.email, "role": "agent"})
    assert count(User) == n and _events("user.invited") == []


def test_deactivating_staff_ends_their_sessions_and_tokens_at_once(app, client, ctx, admin, agent):
    from helpdesk.auth import services as accounts

    _token, secret = accounts.create_api_token(actor=None, name="agent cli", user=agent)
    agent_browser = login(app.test_client(), agent)
    assert agent_browser.get("/agent/").status_code == 200
    assert app.test_client().get("/api/v1/tickets", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    login(client, admin)
    old_token = agent.session_token
    assert client.post(f"/admin/users/{agent.id}/active/0").status_code == 302
    db.session.refresh(agent)
    assert not agent.active and agent.session_token != old_token
    assert agent_browser.get("/agent/").status_code == 302
    assert app.test_client().get("/api/v1/tickets", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_admin_manages_queues_and_supervisors_manage_their_members(client, ctx, admin, supervisor, make_user):
    login(client, admin)
    assert client.post("/admin/queues", data={"slug": "imaging", "name": "Imaging"}).status_code == 302
    assert db.session.scalar(sa.select(Queue).where(Queue.slug == "imaging")) is not None
    assert client.post("/admin/queues", data={"slug": "Bad Slug!", "name": "x"}).status_code == 200
    assert count(Queue) == 10
    newbie = make_user(Role.AGENT)
    billing = db.session.scalar(sa.select(Queue).where(Queue.slug == "billing"))
    login(client, supervisor)
    assert client.get(f"/admin/queues/{billing.id}/members").status_code == 200
    assert client.post(f"/admin/queues/{billing.id}/members", data={"user_id": newbie.id}).status_code == 302
    assert db.session.scalar(sa.select(QueueMembership).where(QueueMembership.user_id == newbie.id)) is not None
    # removing asks first: the page says what it means, and nothing changes until confirmed
    resp = client.post(f"/admin/queues/{billing.id}/members/{newbie.id}/remove")
    assert resp.status_code == 200 and "Nothing has been changed yet" in resp.get_data(as_text=True)
    assert db.session.scalar(sa.select(QueueMembership).where(QueueMembership.user_id == newbie.id)) is not None
    assert client.post(f"/admin/queues/{billing.id}/members/{newbie.id}/remove",
                       data={"confirm": "yes"}).status_code == 302
    assert db.session.scalar(sa.select(QueueMembership).where(QueueMembership.user_id == newbie.id)) is None


def test_removing_a_member_with_open_requests_says_so_and_is_confirmed(client, ctx, supervisor, agent, make_ticket,
                                                                       make_user, queues):
    ticket = make_ticket()
    services.update_ticket(ticket, actor=agent, assignee_id=agent.id)
    billing = queues["billing"]
    login(client, supervisor)
    before = count(AuditEvent)
    page = client.post(f"/admin/queues/{billing.id}/members/{agent.id}/remove").get_data(as_text=True)
    assert "1 open request in this queue is assigned to them." in page
    assert 'name="confirm" value="yes"' in page
    assert count(AuditEvent) == before
    assert db.session.scalar(sa.select(QueueMembership).where(
        QueueMembership.user_id == agent.id, QueueMembership.queue_id == billing.id)) is not None
    # the wrong role, and a queue the supervisor does not manage
    login(client, agent)
    assert client.post(f"/admin/queues/{billing.id}/members/{agent.id}/remove",
                       data={"confirm": "yes"}).status_code == 403
    outsider = make_user(Role.SUPERVISOR, member_of=("records",))
    login(client, outsider)
    assert client.post(f"/admin/queues/{billing.id}/members/{agent.id}/remove",
                       data={"confirm": "yes"}).status_code == 404
    login(client, supervisor)
    assert client.post(f"/admin/queues/{billing.id}/members/{agent.id}/remove",
                       data={"confirm": "yes"}).status_code == 302
    assert db.session.scalar(sa.select(QueueMembership).where(
        QueueMembership.user_id == agent.id, QueueMembership.queue_id == billing.id)) is None


def test_supervisor_cannot_manage_a_queue_they_are_not_in(client, ctx, make_user, queues):
    sup = make_user(Role.SUPERVISOR, member_of=("billing",))
    login(client, sup)
    assert client.get(f"/admin/queues/{queues['billing'].id}/members").status_code == 200
    assert client.get(f"/admin/queues/{queues['records'].id}/members").status_code == 404
    assert client.get("/admin/users").status_code == 403
    assert client.get("/admin/tokens").status_code == 403


def test_admin_tokens_shown_once_and_stored_hashed(client, ctx, admin, patient, agent):
    login(client, admin)
    resp = client.post("/admin/tokens", data={"name": "patient-portal", "scope_read": "y", "scope_create": "y",
                                              "scope_manage": "y"})
    page = resp.get_data(as_text=True)
    token = db.session.scalar(sa.select(ApiToken))
    assert token.scopes == "read create manage" and token.expires_at is not None  # 1 year by default
    secret = page.split('<code class="secret">')[1].split("</code>")[0]
    assert token.token_hash == hash_token(secret) and secret not in token.token_hash
    assert secret not in client.get("/admin/tokens").get_data(as_text=True)
    assert client.post(f"/admin/tokens/{token.id}/revoke").status_code == 302
    db.session.refresh(token)
    assert token.revoked_at is not None
    for user in (patient, agent):
        login(client, user)
        assert client.get("/admin/tokens").status_code == 403
        assert client.post(f"/admin/tokens/{token.id}/revoke").status_code == 403


def test_admin_issues_a_read_only_token_and_rotates_it(client, ctx, admin):
    login(client, admin)
    page = client.post("/admin/tokens", data={"name": "reports", "scope_read": "y", "expires": "30"}).get_data(
        as_text=True)
    token = db.session.scalar(sa.select(ApiToken))
    old = page.split('<code class="secret">')[1].split("</code>")[0]
    assert token.scopes == "read" and token.expires_at is not None
    assert "Give the token at least one scope" in client.post(
        "/admin/tokens", data={"name": "nothing"}, follow_redirects=True).get_data(as_text=True)
    page = client.post(f"/admin/tokens/{token.id}/rotate", data={"overlap": "0"}).get_data(as_text=True)
    new = page.split('<code class="secret">')[1].split("</code>")[0]
    db.session.expire_all()
    rotated = db.session.get(ApiToken, token.id)
    replacement = db.session.get(ApiToken, rotated.replaced_by_id)
    assert rotated.revoked_at is not None and replacement.token_hash == hash_token(new) and new != old
    assert replacement.scopes == "read" and replacement.name == "reports"
    assert client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {old}"}).status_code == 401
    assert client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {new}"}).status_code == 200


def test_queue_assignment_method_is_set_by_admins_and_its_supervisors(client, ctx, admin, supervisor, agent, queues):
    login(client, supervisor)
    page = client.get(f"/admin/queues/{queues['billing'].id}/members").get_data(as_text=True)
    assert page.count("Automatic assignment") == 1
    assert client.post(f"/admin/queues/{queues['billing'].id}/assignment",
                       data={"assignment": "round_robin"}).status_code == 302
    db.session.refresh(queues["billing"])
    assert queues["billing"].assignment.value == "round_robin"
    client.post(f"/admin/queues/{queues['billing'].id}/assignment", data={"assignment": "lottery"})
    db.session.refresh(queues["billing"])
    assert queues["billing"].assignment.value == "round_robin"
    login(client, agent)
    assert client.post(f"/admin/queues/{queues['billing'].id}/assignment",
                       data={"assignment": "manual"}).status_code == 403


def test_agents_toggle_their_availability(client, ctx, agent, patient):
    login(client, agent)
    assert client.post("/agent/availability").status_code == 302
    db.session.refresh(agent)
    assert agent.available is False
    assert "not available" in client.get("/agent/").get_data(as_text=True)
    login(client, patient)
    assert client.post("/agent/availability").status_code == 403
