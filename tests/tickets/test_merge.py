"""Merging requests of one patient: combined thread, pointer, later replies land in the survivor."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from helpdesk.audit import AuditEvent
from helpdesk.errors import Conflict, NotFound
from helpdesk.extensions import db
from helpdesk.tickets import merge, services
from helpdesk.tickets.models import Message, Status, Ticket
from tests.factories import bearer, count, login


def _three_with_threads(make_ticket, agent, patient):
    first = make_ticket(subject="Charged twice", body="I was charged twice for my billing statement visit.")
    second = make_ticket(subject="Still charged twice", body="Second billing statement shows the charge again.")
    services.post_message(first, author=agent, body="Looking at your bill.")
    services.post_message(second, author=patient, body="Any news on the second charge?")
    services.post_message(first, author=patient, body="Thanks, waiting.")
    return first, second


def test_threads_are_combined_in_time_order_and_merged_ones_point_to_the_survivor(ctx, agent, patient, make_ticket):
    first, second = _three_with_threads(make_ticket, agent, patient)
    all_ids = sorted(m.id for m in first.messages + second.messages)
    merge.merge_tickets(second, [first.reference], actor=agent)
    db.session.expire_all()
    thread = second.messages
    bodies = [m.body for m in thread]
    assert [m.id for m in thread if m.public] == all_ids  # every message, none copied or lost
    times = [(m.created_at, m.id) for m in thread]
    assert times == sorted(times)
    assert bodies[-1] == f"Merged into this request: {first.reference}." and not thread[-1].public
    assert first.messages == [] and first.status == Status.CLOSED
    assert merge.merged_into(first).id == second.id and merge.survivor_of(first).id == second.id
    assert [t.id for t in merge.merged_from(second)] == [first.id]
    actions = {e.object_id: e for e in db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action.in_(["ticket.merged", "ticket.merged_into"])))}
    assert actions[second.reference].changes["merged"] == [first.reference]
    assert actions[first.reference].changes["into"] == second.reference
    closed = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.object_id == first.reference,
                                                           AuditEvent.action == "ticket.updated"))
    assert closed.changes["status"]["after"] == "closed"


def test_later_replies_land_in_the_survivor(client, ctx, agent, patient, portal, make_ticket):
    first, second = _three_with_threads(make_ticket, agent, patient)
    merge.merge_tickets(second, [first.reference], actor=agent)
    n_tickets = count(Ticket)

    # patient on the web: the merged request's page points to the survivor, a reply lands there
    login(client, patient)
    resp = client.get(f"/requests/{first.reference}", follow_redirects=True)
    page = resp.get_data(as_text=True)
    assert f"Request {first.reference} was merged into {second.reference}" in page
    assert "Any news on the second charge?" in page and "Thanks, waiting." in page
    resp = client.post(f"/requests/{first.reference}/reply", data={"body": "Web reply after merge"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/requests/{second.reference}")

    # post_message directly (e-mail and jobs use it) and the staff side
    posted = services.post_message(first, author=patient, body="Service reply after merge")
    assert posted.ticket.id == second.id and not posted.new_ticket
    posted = services.post_message(first, author=agent, body="Agent note after merge", public=False)
    assert posted.ticket.id == second.id

    # the portal through the API, writing for the patient
    user, secret = portal
    own = make_ticket(created_by=user)  # the portal sees only the requests it created
    merge.merge_tickets(second, [own.reference], actor=agent)
    resp = client.post(f"/api/v1/tickets/{own.reference}/messages", json={"body": "API reply after merge"},
                       headers=bearer(secret))
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["reference"] == second.reference
    got = client.get(f"/api/v1/tickets/{own.reference}", headers=bearer(secret)).get_json()
    assert got["merged_into"] == second.reference and got["status"] == "closed" and got["messages"] == []

    db.session.expire_all()
    bodies = [m.body for m in second.messages]
    for text in ("Web reply after merge", "Service reply after merge", "Agent note after merge",
                 "API reply after merge"):
        assert text in bodies
    assert count(Ticket) == n_tickets + 1  # no new request was opened (only the portal's own)
    assert not [m for m in db.session.scalars(sa.select(Message).where(Message.ticket_id == first.id))]


def test_agent_page_shows_the_pointer(client, ctx, agent, patient, make_ticket):
    first, second = _three_with_threads(make_ticket, agent, patient)
    login(client, agent)
    resp = client.post(f"/agent/tickets/{second.reference}/merge", data={"merge_ref": [first.reference],
                                                                          "confirm": "yes"})
    assert resp.status_code == 302
    page = client.get(f"/agent/tickets/{first.reference}").get_data(as_text=True)
    assert "This request was merged into" in page and f'/agent/tickets/{second.reference}"' in page
    page = client.get(f"/agent/tickets/{second.reference}").get_data(as_text=True)
    assert "Merged into this request: " in page and first.reference in page


def test_different_patients_are_refused_and_nothing_changes(client, ctx, agent, patient, other_patient, make_ticket):
    mine = make_ticket()
    theirs = make_ticket(requester=other_patient)
    n_audit = count(AuditEvent)
    with pytest.raises(Conflict, match="different patient"):
        merge.merge_tickets(mine, [theirs.reference], actor=agent)
    db.session.expire_all()
    assert len(theirs.messages) == 1 and theirs.status == Status.NEW and count(AuditEvent) == n_audit
    login(client, agent)
    resp = client.post(f"/agent/tickets/{mine.reference}/merge", data={"references": theirs.reference},
                       headers={"Referer": f"/agent/tickets/{mine.reference}"}, follow_redirects=True)
    assert "belongs to a different patient" in resp.get_data(as_text=True)
    resp = client.post(f"/agent/tickets/{mine.reference}/merge", data={"references": ""})
    assert resp.status_code == 422
    db.session.expire_all()
    assert merge.merged_into(theirs) is None and theirs.status == Status.NEW


def test_merge_rules(ctx, agent, outsider_agent, patient, make_ticket):
    a, b, c = make_ticket(), make_ticket(), make_ticket()
    with pytest.raises(NotFound):
        merge.merge_tickets(a, [b.reference], actor=outsider_agent)
    with pytest.raises(NotFound):
        merge.merge_tickets(a, ["HD-ZZZZZZ"], actor=agent)
    merge.merge_tickets(a, [b.reference], actor=agent)
    with pytest.raises(Conflict, match="already merged"):
        merge.merge_tickets(c, [b.reference], actor=agent)
    with pytest.raises(Conflict, match="itself merged"):
        merge.merge_tickets(b, [c.reference], actor=agent)
    services.update_ticket(c, actor=agent, status=Status.CLOSED)
    with pytest.raises(Conflict, match="closed request"):
        merge.merge_tickets(c, [a.reference], actor=agent)
    # chains are followed: a merged into c' later, replies to b land in the last survivor
    d = make_ticket()
    merge.merge_tickets(d, [a.reference], actor=agent)
    assert merge.survivor_of(b).id == d.id
    assert services.post_message(b, author=patient, body="Where does this go?").ticket.id == d.id


def test_merge_endpoint_triad(client, ctx, agent, patient, outsider_agent, make_ticket):
    a, b = make_ticket(), make_ticket()
    login(client, patient)
    assert client.post(f"/agent/tickets/{a.reference}/merge", data={"references": b.reference}).status_code == 403
    login(client, outsider_agent)
    assert client.post(f"/agent/tickets/{a.reference}/merge", data={"references": b.reference}).status_code == 404
    login(client, agent)
    # the first post is the confirmation page: nothing is merged yet
    resp = client.post(f"/agent/tickets/{a.reference}/merge", data={"references": b.reference})
    assert resp.status_code == 200 and "Nothing has been merged yet" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert b.status != Status.CLOSED and merge.survivor_of(b).id == b.id
    assert client.post(f"/agent/tickets/{a.reference}/merge",
                       data={"merge_ref": b.reference, "confirm": "yes"}).status_code == 302
    db.session.expire_all()
    assert b.status == Status.CLOSED and merge.survivor_of(b).id == a.id
