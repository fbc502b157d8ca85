"""Routing figures for supervisors, aggregated in SQL (no tickets loaded into Python)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from helpdesk.extensions import db
from helpdesk.routing.models import LabelSource, ModelVersion, RoutingDecision, RoutingLabel
from helpdesk.tickets.models import Queue, Ticket
from helpdesk.timeutil import utcnow


def _scoped(stmt: sa.Select, queue_ids: set[int] | None) -> sa.Select:
    if queue_ids is None:
        return stmt
    return stmt.where(Ticket.queue_id.in_(queue_ids or {-1}))


def coverage_and_overrides(since: datetime, queue_ids: set[int] | None = None) -> dict[str, Any]:
    """Share of new tickets auto-routed, and share of those an agent then moved."""
    overridden = (
        sa.select(RoutingLabel.id)
        .where(RoutingLabel.ticket_id == RoutingDecision.ticket_id, RoutingLabel.source == LabelSource.MOVE)
        .exists()
    )
    stmt = (
        sa.select(
            sa.func.count(RoutingDecision.id),
            sa.func.count(RoutingDecision.id).filter(RoutingDecision.auto_routed.is_(True)),
            sa.func.count(RoutingDecision.id).filter(RoutingDecision.auto_routed.is_(True), overridden),
        )
        .join(Ticket, Ticket.id == RoutingDecision.ticket_id)
        .where(RoutingDecision.created_at >= since)
    )
    total, auto, moved = db.session.execute(_scoped(stmt, queue_ids)).one()
    return {
        "tickets": total,
        "auto_routed": auto,
        "overridden": moved,
        "coverage": (auto / total) if total else None,
        "override_rate": (moved / auto) if auto else None,
    }


def predicted_vs_final(since: datetime, queue_ids: set[int] | None = None) -> dict[str, Any]:
    """Confusion between the router's top prediction and where tickets are now."""
    stmt = (
        sa.select(RoutingDecision.predicted_queue, Queue.slug, sa.func.count())
        .join(Ticket, Ticket.id == RoutingDecision.ticket_id)
        .join(Queue, Queue.id == Ticket.queue_id)
        .where(RoutingDecision.created_at >= since, RoutingDecision.predicted_queue.is_not(None))
        .group_by(RoutingDecision.predicted_queue, Queue.slug)
    )
    rows = db.session.execute(_scoped(stmt, queue_ids)).all()
    labels = sorted({r[0] for r in rows} | {r[1] for r in rows})
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for predicted, final, n in rows:
        matrix[index[final]][index[predicted]] += n  # rows: final queue, columns: predicted
    return {"labels": labels, "matrix": matrix}


def top_corrections(since: datetime, limit: int = 10, queue_ids: set[int] | None = None) -> list[dict[str, Any]]:
    stmt = (
        sa.select(RoutingLabel.from_queue, RoutingLabel.queue, RoutingLabel.source, sa.func.count().label("n"))
        .join(Ticket, Ticket.id == RoutingLabel.ticket_id)
        .where(RoutingLabel.created_at >= since)
        .group_by(RoutingLabel.from_queue, RoutingLabel.queue, RoutingLabel.source)
        .order_by(sa.desc("n"), RoutingLabel.from_queue)
        .limit(limit)
    )
    return [{"from": f, "to": t, "source": LabelSource(s).value, "count": n}
            for f, t, s, n in db.session.execute(_scoped(stmt, queue_ids))]


def daily_coverage(days: int, queue_ids: set[int] | None = None) -> list[dict[str, Any]]:
    """Per day: tickets routed and auto-routed (for the chart)."""
    since = (utcnow() - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    day = sa.func.date(RoutingDecision.created_at)
    stmt = (
        sa.select(day.label("day"), sa.func.count(),
                  sa.func.count().filter(RoutingDecision.auto_routed.is_(True)))
        .join(Ticket, Ticket.id == RoutingDecision.ticket_id)
        .where(RoutingDecision.created_at >= since)
        .group_by(day).order_by(day)
    )
    by_day = {str(d): (n, a) for d, n, a in db.session.execute(_scoped(stmt, queue_ids))}
    out = []
    for i in range(days):
        d = (since + timedelta(days=i)).date().isoformat()
        n, a = by_day.get(d, (0, 0))
        out.append({"day": d, "tickets": n, "auto_routed": a})
    return out


def active_model() -> ModelVersion | None:
    return db.session.scalar(sa.select(ModelVersion).where(ModelVersion.active.is_(True)))


def overview(queue_ids: set[int] | None = None) -> dict[str, Any]:
    now = utcnow()
    return {
        "model": active_model(),
        "periods": {d: coverage_and_overrides(now - timedelta(days=d), queue_ids) for d in (7, 30)},
        "confusion": predicted_vs_final(now - timedelta(days=30), queue_ids),
        "corrections": top_corrections(now - timedelta(days=30), queue_ids=queue_ids),
        "daily": daily_coverage(30, queue_ids),
    }
