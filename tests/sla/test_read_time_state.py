"""A ticket's SLA state is computed from the clock when it is read: an overdue target is
"breached" on every surface (agent list, ticket page, supervisor dashboard, API) before
any periodic check has run."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from helpdesk.audit import AuditEvent
from helpdesk.auth import services as accounts
from helpdesk.extensions import db
from helpdesk.sla import services as sla
from helpdesk.sla.models import SlaMetric
from helpdesk.timeutil import simulated_clock
from tests.factories import bearer, login

# Monday 2 March 2026, 09:00 in New York.
T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def _sla_events(reference: str) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action.like("sla.%"), AuditEvent.object_id == reference)) or 0


def _row_of(page: str, reference: str) -> str:
    """The table row of the list or dashboard that names ``reference``."""
    rows = [r for r in re.findall(r"<tr.*?</tr>", page, flags=re.S) if reference in r]
    assert rows, f"{reference} is not listed"
    return rows[0]


def test_an_overdue_target_is_breached_on_every_surface_before_any_check(app, client, make_policy, make_ticket,
                                                                          agent, supervisor, patient):
    # calendar time: first reply 1 h (warning at 45 min), resolution 10 h
    make_policy("Default", position=1000, first=3600, nxt=3600, resolution=36000, business=False)
    with simulated_clock(lambda: T0):
        t = make_ticket()
        _t, agent_secret = accounts.create_api_token(actor=None, name="agent cli", user=agent)
        _t, patient_secret = accounts.create_api_token(actor=None, name="patient app", user=patient)

    # 50 minutes in: past the warning point, not yet due — "at risk" (amber) everywhere
    with simulated_clock(lambda: T0 + timedelta(minutes=50)):
        (badge,) = sla.badges([t.id]).values()
        assert (badge["level"], badge["state"]) == ("warning", sla.AT_RISK)
        login(client, agent)
        assert "sla-warning" in _row_of(client.get("/agent/tickets").get_data(as_text=True), t.reference)
        api = client.get(f"/api/v1/tickets/{t.reference}", headers=bearer(agent_secret)).get_json()
        assert api["sla"]["state"] == "at_risk" and api["sla"]["metric"] == "first_reply"

    # 2 hours in: the first reply is an hour overdue and no sweep or timer has run
    later = T0 + timedelta(hours=2)
    with simulated_clock(lambda: later):
        assert _sla_events(t.reference) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SlaMetric).where(
            SlaMetric.ticket_id == t.id, SlaMetric.breached.is_(True))) == 0  # nothing recorded yet

        login(client, agent)
        row = _row_of(client.get("/agent/tickets").get_data(as_text=True), t.reference)
        assert "sla-breached" in row and "first reply: overdue 1h 00m" in row
        page = client.get(f"/agent/tickets/{t.reference}").get_data(as_text=True)
        assert 'class="sla-badge sla-breached"' in page and "SLA breached:" in page

        api = client.get(f"/api/v1/tickets/{t.reference}", headers=bearer(agent_secret)).get_json()
        assert api["sla"] == {"metric": "first_reply", "state": "breached", "paused": False, "seconds_left": -3600,
                              "target_seconds": 3600, "due_at": (T0 + timedelta(hours=1)).isoformat()}
        listed = client.get("/api/v1/tickets", headers=bearer(agent_secret)).get_json()["items"]
        assert [i["sla"]["state"] for i in listed if i["reference"] == t.reference] == ["breached"]
        # SLA targets are staff information: a patient's view of the same request has none
        assert client.get(f"/api/v1/tickets/{t.reference}", headers=bearer(patient_secret)).get_json()["sla"] is None

        login(client, supervisor)
        page = client.get("/supervisor/dashboard").get_data(as_text=True)
        row = _row_of(page.split('id="risk-h"', 1)[1], t.reference)
        assert "sla-breached" in row and "at risk" not in row
        risk = client.get("/supervisor/dashboard/at_risk.json").get_json()
        assert risk["breached"] == 1 and risk["at_risk"] == 0
        assert [(r["reference"], r["metric"], r["state"]) for r in risk["tickets"]] \
            == [(t.reference, "first_reply", "breached")]

        # the periodic check, when it runs, records what the pages already showed
        assert sla.sweep() == 1 and _sla_events(t.reference) == 1
        assert client.get("/supervisor/dashboard/at_risk.json").get_json()["breached"] == 1


def test_the_sql_rule_of_the_dashboard_is_the_python_rule_of_the_badges(ctx, make_policy, make_ticket):
    """``state_clauses`` (dashboard, in SQL) and ``state_at`` (badges, API) agree on every
    kind of clock: running, paused, fulfilled, breach recorded or not."""
    from helpdesk.sla.models import Metric, MetricState

    make_policy("Default", position=1000, first=3600, nxt=3600, resolution=36000, business=False)
    with simulated_clock(lambda: T0):
        t = make_ticket()
    at = T0 + timedelta(hours=1)
    kinds = [  # state, due_at/warn_at offsets from T0 (minutes), elapsed seconds, breached flag
        (MetricState.ACTIVE, 90, 70, 0, False),     # ok
        (MetricState.ACTIVE, 70, 50, 0, False),     # past the warning point
        (MetricState.ACTIVE, 60, 45, 0, False),     # due exactly now
        (MetricState.ACTIVE, 30, 20, 0, False),     # overdue, not recorded
        (MetricState.ACTIVE, 90, 70, 0, True),      # recorded breach (target since raised)
        (MetricState.PAUSED, None, None, 1000, False),
        (MetricState.PAUSED, None, None, 3000, False),
        (MetricState.PAUSED, None, None, 3600, False),
        (MetricState.FULFILLED, None, None, 4000, True),
        (MetricState.FULFILLED, None, None, 100, False),
    ]
    for cycle, (state, due, warn, done, breached) in enumerate(kinds, start=1):
        db.session.add(SlaMetric(
            ticket_id=t.id, metric=Metric.NEXT_REPLY, cycle=cycle, queue_id=t.queue_id, priority="normal",
            target_seconds=3600, business=False, warn_fraction=0.75, started_at=T0,
            running_since=T0 if state == MetricState.ACTIVE else None, elapsed_seconds=done, state=state,
            due_at=T0 + timedelta(minutes=due) if due is not None else None,
            warn_at=T0 + timedelta(minutes=warn) if warn is not None else None, breached=breached))
    db.session.commit()
    rows = list(db.session.scalars(sa.select(SlaMetric).where(SlaMetric.metric == Metric.NEXT_REPLY)
                                   .order_by(SlaMetric.cycle)))
    in_python = {r.cycle: sla.state_at(r, at) for r in rows if r.state != MetricState.FULFILLED}
    assert list(in_python.values()) == ["ok", "at_risk", "breached", "breached", "breached", "ok", "at_risk",
                                        "breached"]
    in_sql = {}
    for state, clause in sla.state_clauses(at).items():
        for cycle in db.session.scalars(sa.select(SlaMetric.cycle).where(SlaMetric.metric == Metric.NEXT_REPLY,
                                                                         clause)):
            assert cycle not in in_sql
            in_sql[cycle] = state
    assert in_sql == {c: s for c, s in in_python.items() if s != "ok"}
