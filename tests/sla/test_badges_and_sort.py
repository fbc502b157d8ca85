"""Agents' SLA badges, the "due soonest" sort and notifications pages."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from helpdesk.extensions import db
from helpdesk.sla import services as sla
from helpdesk.sla.models import Notification, SlaMetric
from helpdesk.tickets import services as tickets
from helpdesk.tickets.queries import TicketFilters, ticket_list
from tests.factories import login


def _policy(make_policy):
    make_policy("Default", position=1000, first=3600, nxt=3600, resolution=36000, business=False)
    make_policy("Urgent", priority="urgent", position=1, first=600, nxt=600, resolution=3600, business=False)


def test_due_soonest_sort_is_keyset_paginated(ctx, clock, make_policy, make_ticket, agent):
    _policy(make_policy)
    a = make_ticket()
    clock.advance(minutes=1)
    b = make_ticket()
    clock.advance(minutes=1)
    c = make_ticket()
    tickets.update_ticket(c, actor=agent, priority="urgent")  # due in 10 min: first
    tickets.update_ticket(a, actor=agent, status="resolved")  # no running clock: last
    order = []
    cursor = None
    while True:
        page, cursor = ticket_list(agent, TicketFilters(sort="due", limit=2, cursor=cursor))
        order += [t.id for t in page]
        if cursor is None:
            break
    assert order == [c.id, b.id, a.id]


def test_badges_show_time_left_amber_under_25_percent_and_red_when_breached(ctx, clock, make_policy, make_ticket):
    _policy(make_policy)
    t = make_ticket()
    b = sla.badges([t.id])[t.id]
    assert (b["metric"], b["level"], b["text"]) == ("first_reply", "ok", "first reply: 1h 00m left")
    clock.advance(minutes=46)
    assert sla.badges([t.id])[t.id]["level"] == "warning"
    clock.advance(minutes=20)
    b = sla.badges([t.id])[t.id]
    assert b["level"] == "breached" and b["text"] == "first reply: overdue 6m"


def test_the_agent_list_and_ticket_page_show_the_badge_and_the_due_sort(client, ctx, clock, make_policy, make_ticket,
                                                                        agent):
    _policy(make_policy)
    t = make_ticket()
    clock.advance(minutes=50)
    login(client, agent)
    page = client.get("/agent/tickets?sort=due").get_data(as_text=True)
    assert "sla-warning" in page and "first reply: 10m left" in page and 'value="due" selected' in page
    page = client.get(f"/agent/tickets/{t.reference}").get_data(as_text=True)
    assert "sla-warning" in page


def test_notifications_page_lists_sla_events_and_marks_them_read(client, ctx, clock, make_policy, make_ticket,
                                                                 agent, patient):
    _policy(make_policy)
    t = make_ticket()
    tickets.update_ticket(t, actor=agent, assignee_id=agent.id)
    clock.advance(minutes=61)
    sla.sweep()
    assert sla.unread_count(agent.id) == 1  # the breach (its warning is folded into it)
    login(client, agent)
    page = client.get("/notifications").get_data(as_text=True)
    assert t.reference in page and "breached" in page and patient.display_name not in page
    assert client.post("/notifications/read").status_code == 302
    db.session.expire_all()
    assert sla.unread_count(agent.id) == 0
    login(client, patient)
    assert client.get("/notifications").status_code == 403


def test_the_sweep_uses_its_index_and_touches_only_owed_clocks(ctx, clock, make_policy, make_ticket):
    _policy(make_policy)
    t = make_ticket()
    owed = db.session.scalar(sa.select(sa.func.count()).where(SlaMetric.next_check_at <= clock.now + timedelta(hours=1)))
    assert owed == 1  # first reply's warning at 45 min; resolution's much later
    assert sla.sweep() == 0 and db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 0
    assert t.id


def test_the_api_lists_tickets_due_soonest_first(client, ctx, clock, make_policy, make_ticket, agent):
    from helpdesk.auth import services as accounts
    from tests.factories import bearer

    _policy(make_policy)
    a = make_ticket()
    clock.advance(minutes=1)
    b = make_ticket()
    tickets.update_ticket(b, actor=agent, priority="urgent")
    _t, secret = accounts.create_api_token(actor=None, name="agent cli", user=agent)
    refs = []
    url = "/api/v1/tickets?sort=due&limit=1"
    while url:
        page = client.get(url, headers=bearer(secret)).get_json()
        refs += [t["reference"] for t in page["items"]]
        url = f"/api/v1/tickets?sort=due&limit=1&cursor={page['next_cursor']}" if page["next_cursor"] else None
    assert refs == [b.reference, a.reference]
    assert client.get("/api/v1/tickets?sort=soonest", headers=bearer(secret)).status_code == 422
