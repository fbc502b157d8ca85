"""Triage groups: the router's unsure requests grouped by its two best guesses, moved in bulk."""

from __future__ import annotations

import sqlalchemy as sa

from helpdesk.extensions import db
from helpdesk.routing.models import LabelSource, RoutingDecision, RoutingLabel
from helpdesk.routing.triage_groups import triage_groups
from helpdesk.tickets.models import Ticket
from tests.factories import login


def _triage_ticket(make_ticket, guesses: list[str], subject: str) -> Ticket:
    t = make_ticket(subject=subject, body="ok", queue="triage")
    decision = db.session.scalar(sa.select(RoutingDecision).where(RoutingDecision.ticket_id == t.id))
    decision.top3 = [[q, p] for q, p in zip(guesses, (0.45, 0.35, 0.2), strict=False)]
    decision.confidence = 0.45
    db.session.commit()
    return t


def test_groups_follow_the_routers_two_best_guesses_largest_first(ctx, make_ticket, agent):
    a = _triage_ticket(make_ticket, ["billing", "general", "records"], "one")
    b = _triage_ticket(make_ticket, ["billing", "general", "scheduling"], "two")
    c = _triage_ticket(make_ticket, ["scheduling", "records", "billing"], "three")
    groups = triage_groups(agent)
    assert [(g.first, g.second, sorted(m.reference for m in g.members)) for g in groups] == [
        ("billing", "general", sorted([a.reference, b.reference])),
        ("scheduling", "records", [c.reference]),
    ]
    assert abs(groups[0].mean_confidence - 0.45) < 1e-9


def test_only_requests_the_agent_may_see_are_grouped(client, ctx, make_ticket, agent, outsider_agent):
    t = _triage_ticket(make_ticket, ["billing", "general", "records"], "one")  # no signal: triage
    assert triage_groups(outsider_agent) == []  # not a member of triage
    page = login(client, outsider_agent).get("/agent/triage/groups")
    assert page.status_code == 200 and t.reference not in page.text and "No open requests" in page.text
    client.post("/logout")
    page = login(client, agent).get("/agent/triage/groups")
    assert page.status_code == 200 and t.reference in page.text and "Billing or General" in page.text


def test_moving_a_group_labels_every_checked_request(client, ctx, make_ticket, agent, queues):
    a = _triage_ticket(make_ticket, ["billing", "general", "records"], "one")
    b = _triage_ticket(make_ticket, ["billing", "general", "records"], "two")
    login(client, agent)
    page = client.get("/agent/triage/groups").text
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    resp = client.post("/agent/bulk", data={"csrf_token": token, "action": "queue", "queue": str(queues["billing"].id),
                                            "reason": "Triage: labelled as a group", "ref": [a.reference, b.reference]})
    assert resp.status_code == 200
    db.session.expire_all()
    assert {db.session.get(Ticket, t.id).queue.slug for t in (a, b)} == {"billing"}
    labels = db.session.scalars(sa.select(RoutingLabel).where(RoutingLabel.ticket_id.in_([a.id, b.id]))).all()
    assert sorted((lab.queue, lab.source) for lab in labels) == [("billing", LabelSource.TRIAGE)] * 2
    assert triage_groups(agent) == []  # nothing left waiting

