"""Agent workspace: queues with counts, the filtered list, the ticket page and actions."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import event

from helpdesk.audit import AuditEvent
from helpdesk.extensions import db
from helpdesk.tickets import services
from helpdesk.tickets.models import Priority, Status
from tests.factories import login


def test_dashboard_counts_by_status(client, ctx, agent, make_ticket):
    make_ticket()
    b = make_ticket()
    services.update_ticket(b, actor=agent, status=Status.OPEN)
    login(client, agent)
    page = client.get("/agent/").get_data(as_text=True)
    assert "Billing" in page
    row = page[page.index(">Billing<"):]
    row = row[: row.index("</tr>")]
    assert ">1</a>" in row  # one new, one open


def test_list_filters_sort_search_and_paginates(client, app, ctx, agent, make_ticket):
    tickets = [make_ticket(subject=f"Statement question {i}") for i in range(7)]
    services.update_ticket(tickets[2], actor=agent, priority=Priority.URGENT)
    services.update_ticket(tickets[3], actor=agent, assignee_id=agent.id)
    login(client, agent)
    page = client.get("/agent/tickets?sort=priority").get_data(as_text=True)
    assert page.index(tickets[2].reference) < page.index(tickets[0].reference)
    mine = client.get("/agent/tickets?assignee=mine").get_data(as_text=True)
    assert tickets[3].reference in mine and tickets[0].reference not in mine
    unassigned = client.get("/agent/tickets?assignee=unassigned").get_data(as_text=True)
    assert tickets[3].reference not in unassigned
    found = client.get("/agent/tickets?q=question 5").get_data(as_text=True)
    assert tickets[5].reference in found and tickets[4].reference not in found
    body_hit = client.get("/agent/tickets?q=charged twice").get_data(as_text=True)
    assert tickets[0].reference in body_hit
    assert client.get("/agent/tickets?q=100%25_").status_code == 200
    assert client.get("/agent/tickets?status=bogus").status_code == 422
    assert client.get("/agent/tickets?cursor=@@@").status_code == 422


def test_keyset_pagination_walks_every_ticket_once(client, ctx, agent, make_ticket):
    from helpdesk.tickets.queries import TicketFilters, ticket_list

    made = {make_ticket().reference for _ in range(7)}
    seen, cursor = [], None
    for _ in range(10):
        rows, cursor = ticket_list(agent, TicketFilters(limit=3, cursor=cursor, sort="oldest"))
        seen += [t.reference for t in rows]
        if not cursor:
            break
    assert sorted(seen) == sorted(made) and len(seen) == len(set(seen))


def test_ticket_list_runs_a_fixed_number_of_queries(client, ctx, agent, make_ticket):
    for _ in range(12):
        make_ticket()
    login(client, agent)
    statements: list[str] = []

    def count_statement(conn, cursor, statement, *args):
        statements.append(statement)

    def count(url: str) -> int:
        statements.clear()
        event.listen(db.engine, "before_cursor_execute", count_statement)
        try:
            resp = client.get(url)
        finally:
            event.remove(db.engine, "before_cursor_execute", count_statement)
        assert resp.status_code == 200
        return len(statements)

    client.get("/agent/tickets")  # warm-up (session user, memberships)
    # user, memberships, the page of tickets (with requester/queue/assignee joined), queue counts (3),
    # the workspace's fixed four: saved views, bulk toolbar's agents, macros and queues, and the
    # clinical-alert banner every staff page carries, and the total with the views' counts (one statement)
    plain = count("/agent/tickets")
    assert plain <= 13, statements
    # a queue filter reads the queue's id once, not once for the list and each view's count
    assert count("/agent/tickets?queue=billing&status=open") <= plain + 1, statements


def test_ticket_page_shows_thread_and_audits_the_view(client, ctx, agent, make_ticket):
    t = make_ticket()
    services.post_message(t, author=agent, body="Internal: check ledger", public=False)
    login(client, agent)
    page = client.get(f"/agent/tickets/{t.reference}").get_data(as_text=True)
    assert "Internal: check ledger" in page and "internal note" in page
    assert "charged twice" in page
    views = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "ticket.viewed")).all()
    assert [v.actor_id for v in views] == [agent.id]


def test_reply_with_next_status_claim_assign_update_and_move(client, ctx, agent, make_ticket, queues):
    t = make_ticket()
    login(client, agent)
    resp = client.post(f"/agent/tickets/{t.reference}/reply",
                       data={"body": "Which date?", "next_status": "pending_patient"})
    assert resp.status_code == 302
    db.session.refresh(t)
    assert t.status == Status.PENDING_PATIENT and t.first_response_at is not None
    assert client.post(f"/agent/tickets/{t.reference}/reply", data={"body": "  "}).status_code == 422
    assert client.post(f"/agent/tickets/{t.reference}/reply",
                       data={"body": "note", "internal": "y"}).status_code == 302
    assert client.post(f"/agent/tickets/{t.reference}/update",
                       data={"status": "resolved", "priority": "high"}).status_code == 302
    db.session.refresh(t)
    assert (t.status, t.priority) == (Status.RESOLVED, Priority.HIGH)
    # invalid transition from the page: a friendly message, nothing changes
    resp = client.post(f"/agent/tickets/{t.reference}/update", data={"status": "new", "priority": "high"},
                       headers={"Referer": f"/agent/tickets/{t.reference}"})
    assert resp.status_code == 302
    db.session.refresh(t)
    assert t.status == Status.RESOLVED
    assert client.post(f"/agent/tickets/{t.reference}/assign", data={"assignee_id": ""}).status_code == 302
    assert client.post(f"/agent/tickets/{t.reference}/claim").status_code == 302
    db.session.refresh(t)
    assert t.assignee_id == agent.id
    assert client.post(f"/agent/tickets/{t.reference}/move",
                       data={"queue_id": queues["scheduling"].id, "reason": ""}).status_code == 422
    assert client.post(f"/agent/tickets/{t.reference}/move",
                       data={"queue_id": queues["scheduling"].id, "reason": "appointment"}).status_code == 302
    db.session.refresh(t)
    assert t.queue.slug == "scheduling"


def test_agent_triad(client, ctx, agent, outsider_agent, patient, make_ticket):
    t = make_ticket()
    login(client, agent)
    assert client.get("/agent/").status_code == 200
    assert client.get("/agent/tickets").status_code == 200
    assert client.get(f"/agent/tickets/{t.reference}").status_code == 200
    login(client, outsider_agent)
    assert client.get(f"/agent/tickets/{t.reference}").status_code == 404
    assert client.post(f"/agent/tickets/{t.reference}/claim").status_code == 404
    assert t.reference not in client.get("/agent/tickets").get_data(as_text=True)
    login(client, patient)
    for url in ("/agent/", "/agent/tickets", f"/agent/tickets/{t.reference}"):
        assert client.get(url).status_code == 403
    assert client.post(f"/agent/tickets/{t.reference}/reply", data={"body": "x"}).status_code == 403
