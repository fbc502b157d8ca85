"""Timers through real Redis: RQ's scheduler runs the check at the warning moment."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from rq import SimpleWorker
from rq.registry import ScheduledJobRegistry

from helpdesk import jobs
from helpdesk.audit import AuditEvent
from helpdesk.extensions import db
from helpdesk.sla.models import Metric, SlaMetric
from helpdesk.timeutil import utcnow


@pytest.fixture
def redis_only(app):
    if not app.config["HELPDESK"].redis_url:
        pytest.skip("needs REDIS_URL (a real RQ worker and scheduler)")


def _actions(ticket) -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AuditEvent.action).where(
        AuditEvent.object_id == ticket.reference, AuditEvent.action.like("sla.%")).order_by(AuditEvent.id)))


def _work_at(moment) -> None:
    delay = (moment - utcnow()).total_seconds()
    if delay > 0:
        time.sleep(delay + 0.2)
    SimpleWorker([jobs.QUEUE_NAME], connection=jobs.redis_connection()).work(burst=True, with_scheduler=True)


def test_warning_and_breach_fire_at_their_scheduled_moment_through_rq(redis_only, ctx, make_policy, make_ticket):
    # calendar-time targets of 8 s: warning at 6 s, breach at 8 s (2 s apart, so a busy
    # machine still runs the warning's check before the breach is due); no sweep runs here
    make_policy("Default", position=1000, first=8, nxt=8, resolution=3600, business=False)
    t = make_ticket()
    fr = db.session.scalar(sa.select(SlaMetric).where(SlaMetric.ticket_id == t.id,
                                                      SlaMetric.metric == Metric.FIRST_REPLY))
    warn_at, due_at = fr.warn_at, fr.due_at
    registry = ScheduledJobRegistry(jobs.QUEUE_NAME, connection=jobs.redis_connection())
    assert f"sla-{t.id}-{int(warn_at.timestamp() * 1000)}" in registry.get_job_ids()
    SimpleWorker([jobs.QUEUE_NAME], connection=jobs.redis_connection()).work(burst=True, with_scheduler=True)
    assert _actions(t) == []  # not yet due: the scheduler keeps it
    _work_at(warn_at)
    assert _actions(t) == ["sla.warning"]
    _work_at(due_at)  # the warning's check scheduled the breach
    assert _actions(t) == ["sla.warning", "sla.breached"]
