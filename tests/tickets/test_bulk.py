"""Bulk actions: every ticket through the update path, own audit rows, per-ticket failures."""

from __future__ import annotations

import sqlalchemy as sa

from helpdesk.audit import AuditEvent
from helpdesk.extensions import db
from helpdesk.tickets import bulk, macros, services
from helpdesk.tickets.models import Message, Priority, Status, Ticket
from tests.factories import count, login


def _actions(ref: str) -> list[str]:
    return list(db.session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.object_id == ref).order_by(AuditEvent.id)))


def test_a_failing_ticket_in_the_middle_is_reported_and_left_unchanged(ctx, agent, make_ticket):
    a, b, c = make_ticket(), make_ticket(), make_ticket()
    services.update_ticket(b, actor=agent, status=Status.CLOSED)  # closed: can't go to pending
    before_b = _actions(b.reference)
    outcomes = bulk.bulk_apply(agent, [a.reference, b.reference, c.reference], action="status",
                               value="pending_patient")
    assert [(o.reference, o.ok) for o in outcomes] == [(a.reference, True), (b.reference, False), (c.reference, True)]
    assert "can't go from 'Closed'" in outcomes[1].message
    db.session.expire_all()
    assert a.status == c.status == Status.PENDING_PATIENT
    assert b.status == Status.CLOSED and _actions(b.reference) == before_b
    for t in (a, c):  # each changed ticket has its own audit row, written by the update service
        ev = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.object_id == t.reference)
                               .order_by(AuditEvent.id.desc()).limit(1))
        assert ev.action == "ticket.updated" and ev.actor_id == agent.id
        assert ev.changes["status"] == {"before": "new", "after": "pending_patient"}


def test_permission_is_checked_per_ticket(ctx, agent, outsider_agent, make_ticket, make_user):
    mine = make_ticket()
    other = make_ticket()
    outcomes = bulk.bulk_apply(outsider_agent, [mine.reference, "HD-NOPE22"], action="priority", value="urgent")
    assert [o.ok for o in outcomes] == [False, False]
    assert all(o.message == "No request with that reference." for o in outcomes)
    outcomes = bulk.bulk_apply(agent, [mine.reference, other.reference], action="priority", value="urgent")
    assert all(o.ok for o in outcomes)
    db.session.expire_all()
    assert mine.priority == other.priority == Priority.URGENT


def test_assign_move_and_macro_in_bulk(ctx, agent, supervisor, queues, make_ticket):
    a, b = make_ticket(), make_ticket()
    assert all(o.ok for o in bulk.bulk_apply(agent, [a.reference, b.reference], action="assign", value="me"))
    db.session.expire_all()
    assert a.assignee_id == b.assignee_id == agent.id
    macro = macros.create_macro(actor=agent, data={"title": "Ack", "body": "Hi {{patient_first_name}}",
                                                   "set_priority": "high"})
    outcomes = bulk.bulk_apply(agent, [a.reference, b.reference], action="macro", value=str(macro.id))
    assert all(o.ok for o in outcomes)
    db.session.expire_all()
    for t in (a, b):
        assert t.priority == Priority.HIGH and t.messages[-1].body == "Hi Maria"
        assert _actions(t.reference)[-3:] == ["ticket.replied", "ticket.updated", "macro.applied"]
    # a move needs a reason: refused before anything is touched
    import pytest

    from helpdesk.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        bulk.bulk_apply(agent, [a.reference], action="queue", value=str(queues["general"].id), reason=" ")
    outcomes = bulk.bulk_apply(supervisor, [a.reference, b.reference], action="queue",
                               value=str(queues["general"].id), reason="Not billing")
    assert all(o.ok for o in outcomes)
    db.session.expire_all()
    assert a.queue.slug == b.queue.slug == "general"
    assert a.assignee_id is None  # the agent is not a member of general


def test_bulk_page_triad_and_bad_input(client, ctx, agent, patient, outsider_agent, make_ticket):
    a, b = make_ticket(), make_ticket()
    login(client, patient)
    assert client.post("/agent/bulk", data={"ref": [a.reference], "action": "priority",
                                            "priority": "low"}).status_code == 403
    login(client, outsider_agent)
    resp = client.post("/agent/bulk", data={"ref": [a.reference], "action": "priority", "priority": "low"})
    assert resp.status_code == 200 and "Not changed: No request with that reference." in resp.get_data(as_text=True)
    login(client, agent)
    n = count(AuditEvent)
    for bad in ({"action": "priority", "priority": "low"},  # nothing selected
                {"ref": [a.reference], "action": "explode"},
                {"ref": [a.reference], "action": "status", "status": ""}):
        resp = client.post("/agent/bulk", data=bad)
        assert resp.status_code == 422 and "Nothing was changed." in resp.get_data(as_text=True)
    assert count(AuditEvent) == n
    resp = client.post("/agent/bulk", data={"ref": [a.reference, b.reference], "action": "status", "status": "nope"})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and page.count("Not changed: Unknown status.") == 2
    resp = client.post("/agent/bulk", data={"ref": [a.reference, b.reference], "action": "status", "status": "open"})
    assert "2 changed" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert a.status == b.status == Status.OPEN
    list_page = client.get("/agent/tickets").get_data(as_text=True)
    assert f'name="ref" value="{a.reference}"' in list_page and 'id="bulk-form"' in list_page
    assert count(Message) == 2 and count(Ticket) == 2
