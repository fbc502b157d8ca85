"""Daily summary tables behind the supervisors' dashboard.

The dashboard's counts (created, solved, reopened, one-touch, SLA achieved/breached,
per-agent work) are sums of per-day, per-queue rows. ``refresh()`` (a job, every minute
from ``flask scheduler``; ``flask sla rollup`` by hand) materialises finished UTC days into the
``dash_daily_*`` tables; the dashboard reads those rows for materialised days and runs the
very same aggregate queries live for the rest (today, days not yet materialised, days
marked stale). The summary tables are therefore only a speed-up: a figure is the same
whether or not the job has run, and never older than the data.

A change that alters a finished day (a ticket reopened a week after it was solved, a
queue move of an old ticket, a breach recorded just after midnight) marks that day stale
in the same unit of work, so it is computed live until it is refreshed. The services
that make such changes say so explicitly: the ticket services call ``ticket_created``
and ``ticket_moved``, and the SLA engine calls ``mark_stale`` with the days of every
clock it changed (``helpdesk.sla.services._refresh``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.cache import MISSING, take
from helpdesk.db import conflict_insert, unit_of_work
from helpdesk.extensions import db
from helpdesk.sla.models import Metric, MetricState, SlaMetric, TicketSla
from helpdesk.sla.timesource import now
from helpdesk.tickets.models import Ticket
from helpdesk.timeutil import UTCDateTime, utcnow

Range = tuple[datetime, datetime]


# ----------------------------------------------------------------------------- tables


class DashVolume(db.Model):
    """Per day, queue and channel: tickets created, and tickets solved (with how)."""

    __tablename__ = "dash_daily_volume"
    __table_args__ = (sa.UniqueConstraint("day", "queue_id", "channel", name="uq_dash_daily_volume_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date)
    queue_id: Mapped[int] = mapped_column(sa.ForeignKey("queues.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(sa.String(16))
    created: Mapped[int] = mapped_column(default=0)
    solved: Mapped[int] = mapped_column(default=0)
    solved_reopened: Mapped[int] = mapped_column(default=0)
    solved_one_touch: Mapped[int] = mapped_column(default=0)


class DashSla(db.Model):
    """Per day, queue, metric and priority: targets achieved (by fulfilment day) and
    breached (by breach day)."""

    __tablename__ = "dash_daily_sla"
    __table_args__ = (sa.UniqueConstraint("day", "queue_id", "metric", "priority", name="uq_dash_daily_sla_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date)
    queue_id: Mapped[int] = mapped_column(sa.ForeignKey("queues.id", ondelete="CASCADE"))
    metric: Mapped[str] = mapped_column(sa.String(16))
    priority: Mapped[str] = mapped_column(sa.String(16))
    achieved: Mapped[int] = mapped_column(default=0)
    breached: Mapped[int] = mapped_column(default=0)


class DashAgent(db.Model):
    """Per day, queue and assignee: tickets solved, first replies and their total time."""

    __tablename__ = "dash_daily_agents"
    __table_args__ = (sa.UniqueConstraint("day", "queue_id", "agent_id", name="uq_dash_daily_agents_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date)
    queue_id: Mapped[int] = mapped_column(sa.ForeignKey("queues.id", ondelete="CASCADE"))
    agent_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    solved: Mapped[int] = mapped_column(default=0)
    first_replies: Mapped[int] = mapped_column(default=0)
    first_reply_seconds: Mapped[float] = mapped_column(default=0.0)


class DashDay(db.Model):
    """A UTC day whose summary rows are materialised."""

    __tablename__ = "dash_days"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DashStaleDay(db.Model):
    """A materialised day whose data changed since; computed live until refreshed."""

    __tablename__ = "dash_stale_days"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime())


# ----------------------------------------------------------------------------- days


def day_start(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=UTC)


def _day_expr(col: Any) -> Any:
    if db.engine.dialect.name == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", col), "YYYY-MM-DD")
    return sa.func.strftime("%Y-%m-%d", col)


def _in(col: Any, ranges: Sequence[Range]) -> Any:
    return sa.or_(*[sa.and_(col >= lo, col < hi) for lo, hi in ranges]) if ranges else sa.false()


def _d(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


# ----------------------------------------------------------------------------- aggregates
# One definition of every count, used both to fill the tables and for the live days.


def volume_rows(ranges: Sequence[Range]) -> list[dict[str, Any]]:
    acc: dict[tuple, dict[str, Any]] = {}

    def row(day: Any, queue_id: int, channel: Any) -> dict[str, Any]:
        ch = getattr(channel, "value", channel)
        key = (_d(day), queue_id, ch)
        return acc.setdefault(key, {"day": key[0], "queue_id": queue_id, "channel": ch, "created": 0,
                                    "solved": 0, "solved_reopened": 0, "solved_one_touch": 0})

    cday = _day_expr(Ticket.created_at)
    for day, qid, ch, n in db.session.execute(
        sa.select(cday, Ticket.queue_id, Ticket.channel, sa.func.count())
        .where(_in(Ticket.created_at, ranges)).group_by(cday, Ticket.queue_id, Ticket.channel)
    ):
        row(day, qid, ch)["created"] += n
    sday = _day_expr(SlaMetric.fulfilled_at)
    for day, qid, ch, n, reopened, one_touch in db.session.execute(
        sa.select(sday, SlaMetric.queue_id, Ticket.channel, sa.func.count(),
                  sa.func.count().filter(TicketSla.reopens > 0), sa.func.count().filter(TicketSla.agent_replies == 1))
        .select_from(SlaMetric).join(Ticket, Ticket.id == SlaMetric.ticket_id)
        .join(TicketSla, TicketSla.ticket_id == SlaMetric.ticket_id)
        .where(SlaMetric.metric == Metric.RESOLUTION, SlaMetric.state == MetricState.FULFILLED,
               _in(SlaMetric.fulfilled_at, ranges))
        .group_by(sday, SlaMetric.queue_id, Ticket.channel)
    ):
        r = row(day, qid, ch)
        r["solved"] += n
        r["solved_reopened"] += reopened
        r["solved_one_touch"] += one_touch
    return list(acc.values())


def sla_rows(ranges: Sequence[Range]) -> list[dict[str, Any]]:
    acc: dict[tuple, dict[str, Any]] = {}
    every_metric = SlaMetric.metric.in_(list(Metric))  # lets the (metric, time) indexes serve a time range

    def row(day: Any, qid: int, metric: Any, prio: str) -> dict[str, Any]:
        m = getattr(metric, "value", metric)
        key = (_d(day), qid, m, prio)
        return acc.setdefault(key, {"day": key[0], "queue_id": qid, "metric": m, "priority": prio,
                                    "achieved": 0, "breached": 0})

    keys = (SlaMetric.queue_id, SlaMetric.metric, SlaMetric.priority)
    fday = _day_expr(SlaMetric.fulfilled_at)
    for day, qid, metric, prio, n in db.session.execute(
        sa.select(fday, *keys, sa.func.count()).where(
            every_metric, SlaMetric.state == MetricState.FULFILLED, SlaMetric.breached.is_(False), _in(SlaMetric.fulfilled_at, ranges))
        .group_by(fday, *keys)
    ):
        row(day, qid, metric, prio)["achieved"] += n
    bday = _day_expr(SlaMetric.breached_at)
    for day, qid, metric, prio, n in db.session.execute(
        sa.select(bday, *keys, sa.func.count()).where(every_metric, SlaMetric.breached.is_(True), _in(SlaMetric.breached_at, ranges))
        .group_by(bday, *keys)
    ):
        row(day, qid, metric, prio)["breached"] += n
    return list(acc.values())


def agent_rows(ranges: Sequence[Range]) -> list[dict[str, Any]]:
    acc: dict[tuple, dict[str, Any]] = {}

    def row(day: Any, qid: int, agent_id: int) -> dict[str, Any]:
        key = (_d(day), qid, agent_id)
        return acc.setdefault(key, {"day": key[0], "queue_id": qid, "agent_id": agent_id, "solved": 0,
                                    "first_replies": 0, "first_reply_seconds": 0.0})

    fday = _day_expr(SlaMetric.fulfilled_at)
    base = (sa.select(fday, SlaMetric.queue_id, Ticket.assignee_id, SlaMetric.metric, sa.func.count(),
                      sa.func.sum(SlaMetric.elapsed_seconds))
            .select_from(SlaMetric).join(Ticket, Ticket.id == SlaMetric.ticket_id)
            .where(SlaMetric.metric.in_([Metric.RESOLUTION, Metric.FIRST_REPLY]),
                   SlaMetric.state == MetricState.FULFILLED, Ticket.assignee_id.is_not(None),
                   _in(SlaMetric.fulfilled_at, ranges))
            .group_by(fday, SlaMetric.queue_id, Ticket.assignee_id, SlaMetric.metric))
    for day, qid, agent_id, metric, n, total in db.session.execute(base):
        r = row(day, qid, agent_id)
        if Metric(metric) == Metric.RESOLUTION:
            r["solved"] += n
        else:
            r["first_replies"] += n
            r["first_reply_seconds"] += float(total or 0)
    return list(acc.values())


KINDS: dict[str, tuple[type[db.Model], Callable[[Sequence[Range]], list[dict[str, Any]]]]] = {
    "volume": (DashVolume, volume_rows),
    "sla": (DashSla, sla_rows),
    "agents": (DashAgent, agent_rows),
}


# ----------------------------------------------------------------------------- reading


def plan(start: datetime, end: datetime) -> tuple[list[date], list[Range]]:
    """Split ``[start, end)`` into materialised days (read from the tables) and live
    ranges (aggregated from the tickets): today, partial days, missing and stale days."""
    today = now().date()
    first, last = start.date(), (end - timedelta(microseconds=1)).date()
    ready: set[date] = set()
    if first < today:
        upto = min(last, today - timedelta(days=1))
        ready = set(db.session.scalars(sa.select(DashDay.day).where(DashDay.day >= first, DashDay.day <= upto)))
        if ready:
            ready -= set(db.session.scalars(
                sa.select(DashStaleDay.day).where(DashStaleDay.day >= first, DashStaleDay.day <= upto)))
    rolled: list[date] = []
    live: list[Range] = []
    d = first
    while d <= last:
        lo, hi = max(start, day_start(d)), min(end, day_start(d + timedelta(days=1)))
        if d in ready and lo == day_start(d) and hi == day_start(d + timedelta(days=1)):
            rolled.append(d)
        elif live and live[-1][1] == lo:
            live[-1] = (live[-1][0], hi)
        else:
            live.append((lo, hi))
        d += timedelta(days=1)
    return rolled, live


def finished(start: datetime, end: datetime) -> bool:
    """Whether ``[start, end)`` is made only of materialised days that are not stale."""
    return not _cached(("plan", start, end), lambda: plan(start, end))[1]


def unchanged_since(start: datetime, end: datetime, moment: datetime) -> bool:
    """Whether no day of ``[start, end)`` was summarised again after ``moment`` (a change
    to a finished day marks it stale, and refreshing it moves ``refreshed_at``)."""
    last = db.session.scalar(sa.select(sa.func.max(DashDay.refreshed_at)).where(
        DashDay.day >= start.date(), DashDay.day < end.date()))
    return last is not None and last <= moment


def facts(kind: str, start: datetime, end: datetime, queue_ids: set[int] | None,
          by: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The counts of one summary table over ``[start, end)``, summed by the columns
    ``by`` (``()``: one total row): stored rows of materialised days summed in SQL, plus
    live aggregates for the rest; restricted to ``queue_ids`` unless ``None``."""
    model, live_rows = KINDS[kind]
    fields = [c.name for c in model.__table__.columns if c.name not in KEYS[kind]]
    rolled, live = _cached(("plan", start, end), lambda: plan(start, end))
    acc: dict[tuple, dict[str, Any]] = {}

    def add(key: tuple, values: Any) -> None:
        row = acc.setdefault(key, {**dict(zip(by, key, strict=True)), **dict.fromkeys(fields, 0)})
        for f in fields:
            row[f] += values[f] or 0

    if rolled:
        cols = [getattr(model, k) for k in by]
        stmt = sa.select(*cols, *[sa.func.sum(getattr(model, f)).label(f) for f in fields]).where(model.day.in_(rolled))
        if queue_ids is not None:
            stmt = stmt.where(model.queue_id.in_(queue_ids or {-1}))
        for r in db.session.execute(stmt.group_by(*cols) if cols else stmt):
            m = r._mapping
            add(tuple(_d(m[k]) if k == "day" else m[k] for k in by), m)
    if live:
        for r in _cached(("live", kind, tuple(live)), lambda: live_rows(live)):
            if queue_ids is None or r["queue_id"] in queue_ids:
                add(tuple(r[k] for k in by), r)
    if not by and not acc:
        add((), dict.fromkeys(fields, 0))
    return list(acc.values())


KEYS = {"volume": ("id", "day", "queue_id", "channel"), "sla": ("id", "day", "queue_id", "metric", "priority"),
        "agents": ("id", "day", "queue_id", "agent_id")}


_batch: ContextVar[dict | None] = ContextVar("dash_rollup_batch", default=None)


@contextmanager
def batch() -> Iterator[None]:
    """Within one dashboard load, figures share the plan and the live days' aggregates."""
    token = _batch.set({})
    try:
        yield
    finally:
        _batch.reset(token)


def _cached(key: tuple, compute: Callable[[], Any]) -> Any:
    cache = _batch.get()
    if cache is None:
        return compute()
    if key not in cache:
        cache[key] = compute()
    return cache[key]


# ----------------------------------------------------------------------------- refreshing


def refresh(max_days: int | None = 31, progress: Callable[[Iterable[date]], Any] | None = None) -> int:
    """Materialise missing and stale finished days, newest first; returns the days done."""
    today = now().date()
    oldest = db.session.scalar(sa.select(sa.func.min(Ticket.created_at)))
    if oldest is None:
        return 0
    have = set(db.session.scalars(sa.select(DashDay.day)))
    stale = set(db.session.scalars(sa.select(DashStaleDay.day).where(DashStaleDay.day < today)))
    todo = set(stale)
    d = oldest.date()
    while d < today:
        if d not in have:
            todo.add(d)
        d += timedelta(days=1)
    days = sorted(todo, reverse=True)[:max_days] if max_days else sorted(todo, reverse=True)
    iterable: Iterable[date] = progress(days) if progress else days
    for day in iterable:
        with unit_of_work():  # one day at a time
            _refresh_day(day)
    return len(days)


def _refresh_day(day: date) -> None:
    started = utcnow()
    rng = [(day_start(day), day_start(day + timedelta(days=1)))]
    for model, rows_of in KINDS.values():
        db.session.execute(sa.delete(model).where(model.day == day))
        rows = rows_of(rng)
        if rows:
            db.session.execute(sa.insert(model), rows)
    db.session.merge(DashDay(day=day, refreshed_at=started))
    db.session.execute(sa.delete(DashStaleDay).where(DashStaleDay.day == day, DashStaleDay.marked_at <= started))


def rollup_job() -> int:
    """Every minute from ``flask scheduler``: at most a month of days per run."""
    return refresh(max_days=31)


# ----------------------------------------------------------------------------- staleness


def mark_stale(days: Iterable[Any]) -> None:
    """Mark the finished days among ``days`` (dates or datetimes; None ignored) stale, in
    the caller's unit of work: the dashboard computes them live until they are refreshed.
    Today's work marks nothing (today is always live), so this costs nothing then."""
    today = now().date()
    wanted = {v.date() if isinstance(v, datetime) else v for v in days if v is not None}
    wanted = {d for d in wanted if d < today}
    if not wanted:
        return
    at = utcnow()
    stmt = conflict_insert(DashStaleDay, db.engine.dialect.name).values(
        [{"day": d, "marked_at": at} for d in sorted(wanted)])
    db.session.execute(stmt.on_conflict_do_update(index_elements=["day"], set_={"marked_at": stmt.excluded.marked_at}))


def solved_days(ticket_id: int) -> list[datetime]:
    """The days the ticket's clocks were fulfilled on (what its queue, channel, assignee
    and reply counts are counted under)."""
    lent = take("solved_days", ticket_id)  # read already for a batch of tickets
    if lent is not MISSING:
        return lent
    db.session.flush()  # the clocks as they now stand (also where autoflush is off)
    return list(db.session.scalars(sa.select(SlaMetric.fulfilled_at).where(
        SlaMetric.ticket_id == ticket_id, SlaMetric.fulfilled_at.is_not(None))))


def ticket_created(ticket: Any) -> None:
    """A new ticket: only imports and back-dated rows reach a past day."""
    mark_stale([ticket.created_at])


def ticket_moved(ticket: Any) -> None:
    """The ticket's queue, channel or assignee changed: the day it was created and the
    days it was solved on count it elsewhere now."""
    mark_stale([ticket.created_at, *solved_days(ticket.id)])
