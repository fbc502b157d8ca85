"""Access control: identifiers on file, break-glass, role changes, audited staff views."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from helpdesk.access.models import BreakGlassGrant
from helpdesk.access.services import IDENTIFIER_FIELDS
from helpdesk.audit import AuditEvent
from helpdesk.auth import services as accounts
from helpdesk.auth.models import Role, User
from helpdesk.extensions import db
from helpdesk.tickets.models import QueueMembership
from helpdesk.timeutil import utcnow
from tests.factories import bearer, count, login

DOB = date(1971, 8, 23)
MRN = "MRN-771234"
PHONE = "+1 415 555 0199"
ZIP = "94117"


def events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


@pytest.fixture
def on_file(ctx, patient):
    patient.date_of_birth, patient.mrn, patient.phone, patient.address_zip = DOB, MRN, PHONE, ZIP
    db.session.commit()
    return patient


def page(resp) -> str:
    return resp.get_data(as_text=True)


# ---------------------------------------------------------------- identifiers on file


def test_identifier_fields_are_one_tuple_of_user_attributes():
    assert [f for f, _label in IDENTIFIER_FIELDS] == ["date_of_birth", "mrn", "phone", "address_zip"]
    assert all(hasattr(User, f) for f, _label in IDENTIFIER_FIELDS)


def test_lists_show_the_patient_name_but_never_identifiers(client, ctx, on_file, agent, supervisor, make_ticket, portal):
    from helpdesk.tickets import saved_views

    first = make_ticket(subject="Question about my bill")
    make_ticket(subject="Second billing question")
    view = saved_views.save_view(actor=agent, name="Billing", scope="personal", args={"queue": "billing"})
    login(client, agent)
    pages = {
        "list": client.get("/agent/tickets"),
        "search": client.get("/agent/tickets", query_string={"q": "bill"}),
        "saved view": client.get("/agent/tickets", query_string={"view": view.id, "queue": "billing"}),
        "dashboard": client.get("/agent/"),
        "ticket page (patient context)": client.get(f"/agent/tickets/{first.reference}"),
    }
    _t, secret = accounts.create_api_token(actor=None, name="agent cli", user=agent)
    pages["api list"] = client.get("/api/v1/tickets", headers=bearer(secret))
    pages["api item"] = client.get(f"/api/v1/tickets/{first.reference}", headers=bearer(secret))
    login(client, supervisor)
    pages["supervisor dashboard"] = client.get("/supervisor/dashboard")
    pages["supervisor dashboard json"] = client.get("/supervisor/dashboard/data.json")
    for name, resp in pages.items():
        assert resp.status_code == 200, name
        text = page(resp)
        assert MRN not in text and DOB.isoformat() not in text and "1971" not in text, name
        assert PHONE not in text and "0199" not in text and ZIP not in text, name
    for name in ("list", "search", "saved view", "api list"):
        assert "Maria Lopez" in page(pages[name]), name
    assert events("patient.identifiers_viewed") == []


def test_show_identifiers_is_a_post_shown_on_the_page_and_audited(client, ctx, on_file, agent, make_ticket):
    ticket = make_ticket()
    login(client, agent)
    before = page(client.get(f"/agent/tickets/{ticket.reference}"))
    assert "Show identifiers on file" in before and MRN not in before
    resp = client.post(f"/agent/tickets/{ticket.reference}/identifiers")
    assert resp.status_code == 200
    assert MRN in page(resp) and DOB.isoformat() in page(resp) and PHONE in page(resp) and ZIP in page(resp)
    [ev] = events("patient.identifiers_viewed")
    assert ev.actor_id == agent.id and ev.object_type == "user" and ev.object_id == str(on_file.id)
    assert ev.changes == {"ticket": ticket.reference, "fields": ["date_of_birth", "mrn", "phone", "address_zip"]}
    assert MRN not in str(ev.changes)
    # shown once: reloading the page hides them again
    assert MRN not in page(client.get(f"/agent/tickets/{ticket.reference}"))


def test_missing_identifiers_say_not_on_file(client, ctx, patient, agent, make_ticket):
    ticket = make_ticket()
    login(client, agent)
    resp = client.post(f"/agent/tickets/{ticket.reference}/identifiers")
    assert resp.status_code == 200 and page(resp).count("Not on file") == 4


def test_identifiers_triad(client, ctx, on_file, other_patient, agent, outsider_agent, make_ticket):
    ticket = make_ticket()
    login(client, on_file)  # a patient: staff only
    assert client.post(f"/agent/tickets/{ticket.reference}/identifiers").status_code == 403
    login(client, outsider_agent)  # another queue's ticket
    assert client.post(f"/agent/tickets/{ticket.reference}/identifiers").status_code == 404
    login(client, agent)
    assert client.post("/agent/tickets/HD-NOPE22/identifiers").status_code == 404
    assert client.post(f"/agent/tickets/{ticket.reference}/identifiers").status_code == 200
    assert [e.actor_id for e in events("patient.identifiers_viewed")] == [agent.id]


def test_identifiers_need_the_csrf_token(client, configure, ctx, on_file, agent, make_ticket):
    ticket = make_ticket()
    login(client, agent)
    configure(WTF_CSRF_ENABLED=True)
    resp = client.post(f"/agent/tickets/{ticket.reference}/identifiers")
    assert resp.status_code in (302, 400)
    assert MRN not in page(resp) and events("patient.identifiers_viewed") == []


# ---------------------------------------------------------------- break-glass


@pytest.fixture
def scheduling_sup(make_user):
    """A supervisor of the scheduling queue only (billing tickets are outside)."""
    return make_user(Role.SUPERVISOR, member_of=("scheduling",), name="Sue Scheduling")


REASON = "Patient escalated by phone to the clinic manager"


def test_supervisor_outside_the_queue_is_asked_for_a_reason(client, ctx, scheduling_sup, make_ticket):
    ticket = make_ticket()
    login(client, scheduling_sup)
    resp = client.get(f"/agent/tickets/{ticket.reference}")
    assert resp.status_code == 403
    assert "Reason for opening this request" in page(resp)
    assert ticket.subject not in page(resp) and "charged twice" not in page(resp)
    assert client.get("/agent/tickets/HD-NOPE22").status_code == 404  # unknown: plain not found
    assert events("ticket.viewed") == []


@pytest.mark.parametrize("reason", ["", "   ", "too short", "x" * 501, "  a  b  c  d  "])
def test_break_glass_needs_a_real_reason(client, ctx, scheduling_sup, make_ticket, reason):
    ticket = make_ticket()
    login(client, scheduling_sup)
    resp = client.post(f"/agent/tickets/{ticket.reference}/break-glass", data={"reason": reason})
    assert resp.status_code == 422
    assert "Reason for opening this request" in page(resp) and 'class="error"' in page(resp)
    assert count(BreakGlassGrant) == 0 and events("ticket.break_glass") == []
    assert client.get(f"/agent/tickets/{ticket.reference}").status_code == 403


def test_break_glass_grants_that_ticket_only_for_a_while(client, ctx, scheduling_sup, make_ticket, monkeypatch):
    ticket = make_ticket()
    other = make_ticket(subject="Another billing question")
    login(client, scheduling_sup)
    resp = client.post(f"/agent/tickets/{ticket.reference}/break-glass", data={"reason": f"  {REASON}  "})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/agent/tickets/{ticket.reference}")
    grant = db.session.scalar(sa.select(BreakGlassGrant))
    assert grant.user_id == scheduling_sup.id and grant.ticket_id == ticket.id and grant.reason == REASON
    assert timedelta(minutes=29) < grant.expires_at - grant.created_at <= timedelta(minutes=30)
    [ev] = events("ticket.break_glass")
    assert ev.severity == "high" and ev.actor_id == scheduling_sup.id and ev.object_id == ticket.reference
    assert ev.changes["grant"] == grant.id and REASON not in str(ev.changes)

    opened = client.get(f"/agent/tickets/{ticket.reference}")
    assert opened.status_code == 200 and "Break-glass access" in page(opened) and "charged twice" in page(opened)
    assert [e.object_id for e in events("ticket.viewed")] == [ticket.reference]
    # that ticket only: another ticket of the same queue still asks, lists don't include it
    assert client.get(f"/agent/tickets/{other.reference}").status_code == 403
    listing = page(client.get("/agent/tickets"))
    assert ticket.reference not in listing and other.reference not in listing

    # after the time limit the prompt is back

    later = utcnow() + timedelta(minutes=31)
    monkeypatch.setattr("helpdesk.timeutil._simulated", lambda: later)
    login(client, scheduling_sup)  # the idle timeout (15 min) ended the first session meanwhile
    assert client.get(f"/agent/tickets/{ticket.reference}").status_code == 403


def test_break_glass_is_for_supervisors_only(client, ctx, patient, other_patient, outsider_agent, admin, make_ticket):
    ticket = make_ticket()
    for user in (outsider_agent, admin, patient, other_patient):
        login(client, user)
        resp = client.post(f"/agent/tickets/{ticket.reference}/break-glass", data={"reason": REASON})
        assert resp.status_code == 404, user.role
    login(client, outsider_agent)
    assert client.get(f"/agent/tickets/{ticket.reference}").status_code == 404  # agents: as before
    client.post("/logout")
    with client.session_transaction() as session:
        session.clear()
    assert client.post(f"/agent/tickets/{ticket.reference}/break-glass", data={"reason": REASON}).status_code == 302
    assert count(BreakGlassGrant) == 0 and events("ticket.break_glass") == []


def test_a_supervisor_of_the_queue_needs_no_break_glass(client, ctx, supervisor, make_ticket):
    ticket = make_ticket()
    login(client, supervisor)
    assert client.post(f"/agent/tickets/{ticket.reference}/break-glass", data={"reason": REASON}).status_code == 404
    assert count(BreakGlassGrant) == 0


def test_admin_reviews_break_glass_events(client, ctx, admin, scheduling_sup, supervisor, agent, patient, make_ticket):
    ticket = make_ticket()
    login(client, scheduling_sup)
    client.post(f"/agent/tickets/{ticket.reference}/break-glass", data={"reason": REASON})
    grant = db.session.scalar(sa.select(BreakGlassGrant))
    login(client, admin)
    listing = page(client.get("/admin/break-glass"))
    assert REASON in listing and ticket.reference in listing and "Sue Scheduling" in listing
    assert "Mark reviewed" in listing
    assert client.post(f"/admin/break-glass/{grant.id}/reviewed").status_code == 302
    db.session.refresh(grant)
    assert grant.reviewed_at is not None and grant.reviewed_by_id == admin.id
    [ev] = events("break_glass.reviewed")
    assert ev.actor_id == admin.id and ev.object_id == str(grant.id)
    assert REASON not in page(client.get("/admin/break-glass"))  # unreviewed only by default
    assert REASON in page(client.get("/admin/break-glass?show=all"))
    # twice: a friendly message, one audit row
    assert client.post(f"/admin/break-glass/{grant.id}/reviewed").status_code == 302
    assert len(events("break_glass.reviewed")) == 1
    assert client.post("/admin/break-glass/999999/reviewed").status_code == 404
    assert client.get("/admin/break-glass?before=abc").status_code == 200
    for user in (supervisor, agent, patient):
        login(client, user)
        assert client.get("/admin/break-glass").status_code == 403
        assert client.post(f"/admin/break-glass/{grant.id}/reviewed").status_code == 403


# ---------------------------------------------------------------- role changes


def test_admin_changes_a_role_audited_and_sessions_end(client, ctx, admin, make_user):
    user = make_user(Role.AGENT, member_of=("billing", "records"))
    old_token = user.session_token
    login(client, admin)
    assert client.post(f"/admin/users/{user.id}/role", data={"role": "supervisor"}).status_code == 302
    db.session.refresh(user)
    assert user.role == Role.SUPERVISOR and user.session_token != old_token
    assert db.session.scalar(sa.select(sa.func.count()).where(QueueMembership.user_id == user.id)) == 2
    [ev] = events("user.role_changed")
    assert ev.actor_id == admin.id and ev.object_id == str(user.id)
    assert ev.changes == {"role": {"before": "agent", "after": "supervisor"}}


def test_leaving_staff_removes_memberships(client, ctx, admin, make_user):
    user = make_user(Role.AGENT, member_of=("billing", "records"))
    login(client, admin)
    user_client = client.application.test_client()
    login(user_client, user)
    assert user_client.get("/agent/").status_code == 200
    assert client.post(f"/admin/users/{user.id}/role", data={"role": "patient"}).status_code == 302
    db.session.refresh(user)
    assert user.role == Role.PATIENT
    assert db.session.scalar(sa.select(sa.func.count()).where(QueueMembership.user_id == user.id)) == 0
    [ev] = events("user.role_changed")
    assert ev.changes == {"role": {"before": "agent", "after": "patient"}, "memberships_removed": ["billing", "records"]}
    assert sorted(e.object_id for e in events("queue.member_removed")) == ["billing", "records"]
    # the old session no longer works
    assert user_client.get("/agent/").status_code == 302


@pytest.mark.parametrize("role", ["", "integration", "wizard", "agent"])
def test_bad_role_changes_are_refused_and_change_nothing(client, ctx, admin, make_user, role):
    user = make_user(Role.AGENT, member_of=("billing",))
    token = user.session_token
    login(client, admin)
    resp = client.post(f"/admin/users/{user.id}/role", data={"role": role}, follow_redirects=True)
    assert resp.status_code == 200 and 'flash-error' in page(resp)
    db.session.refresh(user)
    assert user.role == Role.AGENT and user.session_token == token and events("user.role_changed") == []


def test_role_change_triad_and_own_role(client, ctx, admin, supervisor, patient, portal, make_user):
    user = make_user(Role.AGENT)
    for someone in (supervisor, patient, user):
        login(client, someone)
        assert client.post(f"/admin/users/{user.id}/role", data={"role": "admin"}).status_code == 403
    login(client, admin)
    assert client.post("/admin/users/999999/role", data={"role": "agent"}).status_code == 404
    client.post(f"/admin/users/{admin.id}/role", data={"role": "agent"})
    integration, _secret = portal
    client.post(f"/admin/users/{integration.id}/role", data={"role": "agent"})
    db.session.refresh(admin)
    db.session.refresh(integration)
    assert admin.role == Role.ADMIN and integration.role == Role.INTEGRATION and events("user.role_changed") == []
    assert "Change role" in page(client.get("/admin/users"))


def test_membership_add_and_remove_are_audited(client, ctx, admin, queues, make_user):
    user = make_user(Role.AGENT)
    login(client, admin)
    billing = queues["billing"]
    client.post(f"/admin/queues/{billing.id}/members", data={"user_id": user.id})
    client.post(f"/admin/queues/{billing.id}/members/{user.id}/remove", data={"confirm": "yes"})
    added, removed = events("queue.member_added")[-1], events("queue.member_removed")[-1]
    assert added.actor_id == admin.id and added.object_id == "billing"
    assert added.changes == {"member": {"before": None, "after": user.id}}
    assert removed.actor_id == admin.id and removed.changes == {"member": {"before": user.id, "after": None}}


# ---------------------------------------------------------------- audited staff views


def test_every_staff_view_of_a_ticket_is_audited(client, ctx, agent, patient, make_ticket):
    ticket = make_ticket()
    login(client, agent)
    assert client.get(f"/agent/tickets/{ticket.reference}").status_code == 200
    _t, secret = accounts.create_api_token(actor=None, name="agent cli", user=agent)
    assert client.get(f"/api/v1/tickets/{ticket.reference}", headers=bearer(secret)).status_code == 200
    views = events("ticket.viewed")
    assert [(e.actor_id, e.object_id) for e in views] == [(agent.id, ticket.reference)] * 2
    # the knowledge base's "article from this ticket" page shows the thread too
    from helpdesk.tickets import services as tickets

    tickets.update_ticket(ticket, actor=agent, status="resolved")
    login(client, agent)
    assert client.get(f"/kb/from-ticket/{ticket.reference}").status_code == 200
    assert len(events("ticket.viewed")) == 3
    # a patient reading their own request is not a staff view
    login(client, patient)
    assert client.get(f"/requests/{ticket.reference}").status_code == 200
    assert len(events("ticket.viewed")) == 3
