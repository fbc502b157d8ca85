"""SLA fixtures: an injectable clock shared by the ticket services and the SLA engine,
and policies with short, simple targets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from helpdesk.extensions import db
from helpdesk.sla.clock import default_calendar
from helpdesk.sla.models import SlaCalendar, SlaPolicy

# Monday 2 March 2026, 09:00 in New York (EST, UTC-5): inside business hours.
MONDAY_9AM = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now

    def set(self, moment: datetime) -> datetime:
        self.now = moment
        return moment


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """One clock for ticket timestamps and the SLA engine (jobs, sweep, badges)."""
    c = Clock(MONDAY_9AM)
    import helpdesk.sla.timesource as sla_timesource
    import helpdesk.tickets.services as ticket_services

    monkeypatch.setattr(ticket_services, "utcnow", c)
    monkeypatch.setattr(sla_timesource, "clock", c)
    return c


def targets(first: int, nxt: int, resolution: int, business: bool = True) -> dict:
    spec = {"first_reply": {"seconds": first, "business": business},
            "next_reply": {"seconds": nxt, "business": business},
            "resolution": {"seconds": resolution, "business": business}}
    return {"*": spec}


@pytest.fixture
def make_policy(ctx, queues):
    cal = None

    def make(name: str, *, queue: str | None = None, priority: str | None = None, channel: str | None = None,
             position: int = 100, first: int = 3600, nxt: int = 7200, resolution: int = 36000,
             business: bool = True, per_priority: dict | None = None, warn_fraction: float = 0.75) -> SlaPolicy:
        nonlocal cal
        if cal is None:
            cal = SlaCalendar(name="business", spec=default_calendar().to_spec())
            db.session.add(cal)
            db.session.flush()
        p = SlaPolicy(name=name, queue_id=queues[queue].id if queue else None, priority=priority, channel=channel,
                      position=position, calendar_id=cal.id, warn_fraction=warn_fraction,
                      targets=per_priority or targets(first, nxt, resolution, business))
        db.session.add(p)
        db.session.commit()
        return p

    return make
