"""The bell, the list, mark read / mark all read, and the notification settings page."""

from __future__ import annotations

import sqlalchemy as sa

from helpdesk.auth.models import Role
from helpdesk.extensions import db
from helpdesk.notify import services as notify
from helpdesk.notify.models import Notification, NotifyPreference
from tests.factories import login


def _notices(ticket, user, n=3):
    for kind in ["assigned", "patient_replied", "sla_breached_first_reply"][:n]:
        notify.add_notifications([user.id], kind, ticket)
    db.session.commit()
    return list(db.session.scalars(sa.select(Notification).where(Notification.user_id == user.id)
                                   .order_by(Notification.id)))


def test_bell_shows_unread_count_and_list_marks_read(ctx, client, make_ticket, agent, patient, make_user):
    t = make_ticket()
    rows = _notices(t, agent)
    login(client, agent)
    home = client.get("/agent/").get_data(as_text=True)
    assert "🔔" in home and "3 unread" in home
    page = client.get("/notifications").get_data(as_text=True)
    assert "Assigned to you" in page and "SLA breached: first reply" in page and t.reference in page
    assert patient.display_name not in page and t.subject not in page
    assert client.post(f"/notifications/{rows[0].id}/read").status_code == 302
    assert notify.unread_count(agent.id) == 2
    # opening one from the list goes to the ticket
    r = client.post(f"/notifications/{rows[1].id}/read", data={"open": "1"})
    assert r.headers["Location"].endswith(f"/agent/tickets/{t.reference}")
    assert client.post("/notifications/read").status_code == 302
    assert notify.unread_count(agent.id) == 0
    assert "unread" not in client.get("/agent/").get_data(as_text=True).split("</nav>")[0].split("Notifications")[1][:40]


def test_notification_triad(ctx, client, make_ticket, agent, outsider_agent, patient):
    t = make_ticket()
    rows = _notices(t, agent, 1)
    login(client, outsider_agent)  # someone else's notification: not found
    assert client.post(f"/notifications/{rows[0].id}/read").status_code == 404
    assert client.post("/notifications/999999/read").status_code == 404
    db.session.refresh(rows[0])
    assert rows[0].read_at is None
    login(client, patient)
    assert client.get("/notifications").status_code == 403
    assert client.post(f"/notifications/{rows[0].id}/read").status_code == 403
    login(client, agent)
    assert client.get("/notifications").status_code == 200


def test_keyset_pages(ctx, client, make_ticket, agent):
    t = make_ticket()
    for _ in range(60):
        notify.add_notifications([agent.id], "patient_replied", t)
    db.session.commit()
    first, cursor = notify.notifications_page(agent.id, None)
    second, end = notify.notifications_page(agent.id, cursor)
    assert len(first) == 50 and len(second) == 10 and end is None
    assert {r[0].id for r in first}.isdisjoint({r[0].id for r in second})
    login(client, agent)
    assert f"before={cursor}" in client.get("/notifications").get_data(as_text=True)


def test_patient_settings_page(ctx, client, patient, portal, agent):
    login(client, patient)
    page = client.get("/settings/notifications").get_data(as_text=True)
    assert 'name="email" checked' in page
    r = client.post("/settings/notifications", data={"language": "es"})  # box unticked: off
    assert r.status_code == 302
    db.session.refresh(patient)
    assert patient.language == "es" and notify.email_enabled(patient) is False
    assert db.session.get(NotifyPreference, patient.id).email_enabled is False
    r = client.post("/settings/notifications", data={"language": "fr", "email": "on"},
                    headers={"Referer": "/settings/notifications"})
    assert r.status_code == 302  # refused, friendly
    db.session.refresh(patient)
    assert patient.language == "es" and notify.email_enabled(patient) is False
    login(client, agent)
    assert client.get("/settings/notifications").status_code == 200
    login(client, portal[0])
    assert client.get("/settings/notifications").status_code == 403


def test_staff_default_is_in_app_only(ctx, make_user):
    assert notify.email_enabled(make_user(Role.AGENT)) is False
    assert notify.email_enabled(make_user(Role.PATIENT)) is True
