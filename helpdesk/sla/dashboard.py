"""Supervisor dashboard figures, aggregated in SQL (no ticket is loaded into Python).

Counts come from the daily summary tables of :mod:`helpdesk.sla.rollup` for finished,
materialised days and from the same aggregate queries run live for the rest, so every
figure is exact and current; percentiles and distinct patients are computed from the
clocks and tickets directly (index-only scans on PostgreSQL).

Every figure takes a :class:`Period` (``[start, end)`` in UTC days and the queue ids in
scope, ``None`` for all) and returns JSON-ready data with no patient names or text:
tickets appear only by reference, agents by display name.

Definitions
-----------
* solved: the resolution clock was fulfilled (resolved or closed) within the period;
* backlog at the end of a day: tickets created by then whose resolution was not
  fulfilled by then, counted back from now (open now - created since + solved since);
  tickets without SLA clocks (older than SLAs) are not counted;
* first-reply and resolution time: the clocks' elapsed business seconds (calendar
  seconds for calendar-time targets) of clocks fulfilled in the period; median and p90
  are nearest-rank percentiles (``percentile_disc`` on PostgreSQL);
* attainment: achieved ÷ (achieved + breached), achieved = fulfilled in the period
  within target, breached = breached in the period;
* reopen rate: solved tickets that were ever reopened ÷ solved tickets; one-touch:
  solved tickets with exactly one public agent reply ÷ solved tickets;
* portal adoption: share of requests created through the portal (web) or the API.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from helpdesk.auth.models import User
from helpdesk.extensions import db
from helpdesk.kb.services import kb_stats
from helpdesk.notify.csat import csat as figure_
from helpdesk.routing import stats
from helpdesk.sla import rollup, services
from helpdesk.sla.models import Metric, MetricState, SlaMetric
from helpdesk.tickets.models import Channel, Queue, Ticket
from helpdesk.timeutil import utcnow

FIGURES = ("summary", "daily", "attainment", "at_risk", "agents", "routing", "kb", "adoption", "csat")
TABLES = ("daily", "attainment", "agents", "at_risk")


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime
    queue_ids: set[int] | None = None
    preset: str = "custom"
    queue: str | None = None

    def previous(self) -> Period:
        span = self.end - self.start
        return replace(self, start=self.start - span, end=self.start)

    @property
    def days(self) -> int:
        return max(1, (self.end - self.start).days)


def _is_pg() -> bool:
    return db.engine.dialect.name == "postgresql"


def _tq(stmt: sa.Select, p: Period) -> sa.Select:
    return stmt if p.queue_ids is None else stmt.where(Ticket.queue_id.in_(p.queue_ids or {-1}))


def _mq(stmt: sa.Select, p: Period) -> sa.Select:
    return stmt if p.queue_ids is None else stmt.where(SlaMetric.queue_id.in_(p.queue_ids or {-1}))


# ----------------------------------------------------------------------------- figures


def _volume(p: Period, by: tuple[str, ...] = (), end: datetime | None = None) -> list[dict[str, Any]]:
    return rollup.facts("volume", p.start, end or p.end, p.queue_ids, by)


def daily(p: Period) -> list[dict[str, Any]]:
    # The backlog at the start, from now backwards: open now - created since + solved since.
    at = services.now()
    rows = _volume(p, ("day",), max(p.end, at))
    by_day = {r["day"]: r for r in rows}
    since = [r for r in rows if rollup.day_start(r["day"]) < at]
    open_now = db.session.scalar(_mq(sa.select(sa.func.count()).select_from(SlaMetric).where(
        SlaMetric.state != MetricState.FULFILLED, SlaMetric.metric == Metric.RESOLUTION), p)) or 0
    backlog = open_now - sum(r["created"] for r in since) + sum(r["solved"] for r in since)
    out = []
    for i in range(p.days):
        d = (p.start + timedelta(days=i)).date()
        c, s = (by_day[d]["created"], by_day[d]["solved"]) if d in by_day else (0, 0)
        backlog += c - s
        out.append({"day": d.isoformat(), "created": c, "solved": s, "backlog": backlog})
    return out


_FINISHED: dict[tuple, tuple[datetime, dict[str, float | None]]] = {}
"""Per process: percentiles of periods made only of materialised, unchanged days."""


def _percentiles(metric: Metric, p: Period) -> dict[str, float | None]:
    """Nearest-rank median and p90 of the clocks fulfilled in the period. A period of
    finished days only (the previous period, past custom ranges) is kept in memory until
    one of its days changes (marked stale) or is summarised again."""
    if rollup.finished(p.start, p.end):
        key = (str(db.engine.url), metric, p.start, p.end, None if p.queue_ids is None else frozenset(p.queue_ids))
        hit = _FINISHED.get(key)
        if hit is not None and rollup.unchanged_since(p.start, p.end, hit[0]):
            return hit[1]
        started = utcnow()
        value = _compute_percentiles(metric, p)
        if len(_FINISHED) > 512:
            _FINISHED.clear()
        _FINISHED[key] = (started, value)
        return value
    return _compute_percentiles(metric, p)


def _compute_percentiles(metric: Metric, p: Period) -> dict[str, float | None]:
    where = [SlaMetric.metric == metric, SlaMetric.state == MetricState.FULFILLED,
             SlaMetric.fulfilled_at >= p.start, SlaMetric.fulfilled_at < p.end]
    col = SlaMetric.elapsed_seconds
    if _is_pg():
        med, p90, n = db.session.execute(_mq(sa.select(
            sa.func.percentile_disc(0.5).within_group(col), sa.func.percentile_disc(0.9).within_group(col),
            sa.func.count()).where(*where), p)).one()
        return {"n": n, "median_seconds": _r(med), "p90_seconds": _r(p90)}
    n = db.session.scalar(_mq(sa.select(sa.func.count()).select_from(SlaMetric).where(*where), p)) or 0

    def rank(q: float) -> float | None:
        if not n:
            return None
        k = max(1, math.ceil(q * n)) - 1
        return db.session.scalar(_mq(sa.select(col).where(*where), p).order_by(col).offset(k).limit(1))

    return {"n": n, "median_seconds": _r(rank(0.5)), "p90_seconds": _r(rank(0.9))}


def _r(v: Any) -> float | None:
    return None if v is None else round(float(v), 1)


def _pct(a: int, b: int) -> float | None:
    return round(100.0 * a / b, 1) if b else None


def attainment(p: Period) -> dict[str, Any]:
    slugs = dict(db.session.execute(sa.select(Queue.id, Queue.slug)).all())
    cells: dict[tuple[str, str, str], list[int]] = {}
    for r in rollup.facts("sla", p.start, p.end, p.queue_ids, ("metric", "queue_id", "priority")):
        cell = cells.setdefault((r["metric"], slugs.get(r["queue_id"], str(r["queue_id"])), r["priority"]), [0, 0])
        cell[0] += r["achieved"]
        cell[1] += r["breached"]
    cells = {k: v for k, v in cells.items() if v != [0, 0]}

    def roll(index: int | None) -> list[dict[str, Any]]:
        acc: dict[Any, list[int]] = {}
        for key, (a, b) in cells.items():
            k = key if index is None else key[index]
            acc.setdefault(k, [0, 0])
            acc[k][0] += a
            acc[k][1] += b
        out = []
        for k in sorted(acc):
            a, b = acc[k]
            item: dict[str, Any] = ({"metric": k[0], "queue": k[1], "priority": k[2]} if index is None
                                    else {("metric", "queue", "priority")[index]: k})
            item.update({"achieved": a, "breached": b, "attainment_pct": _pct(a, a + b)})
            out.append(item)
        return out

    total_a = sum(a for a, _ in cells.values())
    total_b = sum(b for _, b in cells.values())
    return {"overall_pct": _pct(total_a, total_a + total_b), "achieved": total_a, "breached": total_b,
            "by_metric": roll(0), "by_queue": roll(1), "by_priority": roll(2), "cells": roll(None)}


BREACH_STATES = ("breached", "at_risk")


def _risk_where(state: str) -> list[Any]:
    clauses = services.state_clauses(services.now())
    return [clauses[services.BREACHED if state == "breached" else services.AT_RISK]]


def _risk_rows(p: Period, state: str, limit: int | None, offset: int = 0) -> list[dict[str, Any]]:
    stmt = _mq(sa.select(Ticket.reference, Queue.slug, SlaMetric.metric, SlaMetric.priority, SlaMetric.due_at)
               .select_from(SlaMetric).join(Ticket, Ticket.id == SlaMetric.ticket_id)
               .join(Queue, Queue.id == SlaMetric.queue_id)
               .where(*_risk_where(state)), p).order_by(SlaMetric.due_at.asc().nulls_last(), SlaMetric.id)
    if limit is not None:
        stmt = stmt.limit(limit).offset(offset)
    return [{"reference": r, "queue": q, "metric": Metric(m).value, "priority": pr, "state": state,
             "due_at": d.isoformat() if d else None} for r, q, m, pr, d in db.session.execute(stmt)]


def risk_count(p: Period, state: str) -> int:
    return db.session.scalar(_mq(sa.select(sa.func.count()).select_from(SlaMetric).where(*_risk_where(state)), p)) or 0


def at_risk(p: Period, limit: int | None = 50) -> dict[str, Any]:
    """Now (not the period): open clocks breached, and clocks past their warning point,
    by the clock at read time (``services.state_clauses``), not by the last check.
    ``tickets`` holds the first ``limit`` of each (every one with ``limit=None``); the
    counts are of all of them, and :func:`breach_page` pages through every one."""
    return {"breached": risk_count(p, "breached"), "at_risk": risk_count(p, "at_risk"), "limit": limit,
            "tickets": _risk_rows(p, "breached", limit) + _risk_rows(p, "at_risk", limit)}


def breach_page(p: Period, state: str, page: int, per_page: int) -> dict[str, Any]:
    """One numbered page of the open clocks in ``state`` (breached or at risk), the soonest
    due first, with the total and the number of pages."""
    total = risk_count(p, state)
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    return {"state": state, "total": total, "page": page, "pages": pages, "per_page": per_page,
            "rows": _risk_rows(p, state, per_page, (page - 1) * per_page)}


def agents(p: Period) -> list[dict[str, Any]]:
    per = {r["agent_id"]: r for r in rollup.facts("agents", p.start, p.end, p.queue_ids, ("agent_id",))}
    names = dict(db.session.execute(sa.select(User.id, User.display_name).where(User.id.in_(set(per) or {-1}))).all())
    return sorted(({"agent": names.get(uid, str(uid)), "solved": int(v["solved"]),
                    "first_replies": int(v["first_replies"]),
                    "avg_first_reply_seconds": _r(v["first_reply_seconds"] / v["first_replies"])
                    if v["first_replies"] else None} for uid, v in per.items()),
                  key=lambda r: (-r["solved"], r["agent"]))


def summary(p: Period, att: dict[str, Any] | None = None) -> dict[str, Any]:
    (t,) = _volume(p)
    att = att if att is not None else attainment(p)
    return {
        "created": t["created"], "solved": t["solved"],
        "reopen_rate_pct": _pct(t["solved_reopened"], t["solved"]), "one_touch_pct": _pct(t["solved_one_touch"], t["solved"]),
        "first_reply": _percentiles(Metric.FIRST_REPLY, p), "resolution": _percentiles(Metric.RESOLUTION, p),
        "attainment_pct": att["overall_pct"],
    }


def adoption(p: Period) -> dict[str, Any]:
    per = {r["channel"]: r["created"] for r in _volume(p, ("channel",))}
    by_channel = {c.value: int(per.get(c.value, 0)) for c in Channel}
    total = sum(by_channel.values())
    patients = db.session.scalar(_tq(sa.select(sa.func.count(sa.distinct(Ticket.requester_id))).where(
        Ticket.created_at >= p.start, Ticket.created_at < p.end), p)) or 0
    portal = by_channel["web"] + by_channel["api"]
    return {"by_channel": by_channel, "total": total, "portal_share_pct": _pct(portal, total),
            "patients_served": patients}


def routing(p: Period) -> dict[str, Any]:
    return stats.coverage_and_overrides(p.start, p.queue_ids)


def kb(p: Period) -> dict[str, Any] | None:
    slugs = None
    if p.queue_ids is not None:
        slugs = list(db.session.scalars(sa.select(Queue.slug).where(Queue.id.in_(p.queue_ids or {-1}))))
        if not slugs:
            return {"deflections": 0, "helpful_pct": None}
    totals = kb_stats(slugs, p.start, limit=1)["totals"]
    return {"deflections": totals["deflections"], "helpful_pct": totals["helpful_pct"], "views": totals["views"]}


def _compare(cur: dict[str, Any], prev: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in cur.items():
        pv = prev.get(k)
        if isinstance(v, dict) and isinstance(pv, dict):
            out[k] = _compare(v, pv)
        elif isinstance(v, int | float) and not isinstance(v, bool) and isinstance(pv, int | float):
            out[k] = {"current": v, "previous": pv, "change": round(v - pv, 1)}
        else:
            out[k] = {"current": v, "previous": pv, "change": None}
    return out


def csat(p: Period) -> dict[str, Any]:
    """Satisfaction: good ÷ rated of the survey answers given in the period."""
    return figure_(p.start, p.end, p.queue_ids)


_FUNCS = {"csat": csat, "daily": daily, "attainment": attainment, "at_risk": at_risk, "agents": agents, "adoption": adoption,
          "routing": routing, "kb": kb}


def figure(name: str, p: Period) -> Any:
    if name == "summary":
        return _compare(summary(p), summary(p.previous()))
    if name in ("adoption", "routing", "kb", "csat"):
        cur, prev = _FUNCS[name](p), _FUNCS[name](p.previous())
        return _compare(cur, prev) if cur is not None and prev is not None else cur
    return _FUNCS[name](p)


def table(name: str, p: Period) -> list[dict[str, Any]]:
    if name == "attainment":
        return attainment(p)["cells"]
    if name == "at_risk":
        return at_risk(p, limit=None)["tickets"]  # the CSV holds every one
    return _FUNCS[name](p)


def full(p: Period) -> dict[str, Any]:
    with rollup.batch():
        return _full(p)


def _full(p: Period) -> dict[str, Any]:
    att = attainment(p)
    out: dict[str, Any] = {"period": {"start": p.start.isoformat(), "end": p.end.isoformat(), "preset": p.preset,
                                      "queue": p.queue}}
    for name in FIGURES:
        if name == "summary":
            out[name] = _compare(summary(p, att), summary(p.previous()))
        elif name == "attainment":
            out[name] = att
        else:
            out[name] = figure(name, p)
    return out
