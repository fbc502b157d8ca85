"""The SLA engine: clocks per ticket and metric, driven by the ticket services.

The ticket services (the one update path) call the ``on_*`` hooks inside their own unit
of work; the hooks never commit. ``check_ticket`` (the job scheduled for a ticket's next
warning or breach) and ``sweep`` (every minute, the safety net and the only timer in
inline mode) fire warnings and breaches and commit once.

Rules
-----
* first_reply starts at creation; the first public agent reply or resolving fulfils it.
* next_reply (one row per cycle) starts at a patient message when the first reply is
  done and no cycle is open; the next public agent reply fulfils it.
* resolution runs until resolved/closed; reopening resumes it (the resolved period is
  not counted).
* pending_patient pauses every running clock; a patient message resumes them.
* a queue or priority change re-evaluates the policy: open clocks take the new target,
  the elapsed time is kept.
* resolving also ends an open next_reply cycle (the patient got an answer).

Time comes from :data:`helpdesk.sla.timesource.clock` (``helpdesk.timeutil.utcnow``), which tests replace.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import has_request_context, request

from helpdesk import audit, jobs
from helpdesk.cache import MISSING, take
from helpdesk.db import transactional, unit_of_work
from helpdesk.extensions import db
from helpdesk.notify.services import mark_all_read, sla_event
from helpdesk.notify.services import unread_count as count
from helpdesk.sla import policies, rollup
from helpdesk.sla.clock import Calendar, add_business_time, business_seconds_between
from helpdesk.sla.models import Metric, MetricState, SlaCalendar, SlaMetric, TicketSla
from helpdesk.sla.timesource import now
from helpdesk.tickets.models import Status, Ticket
from helpdesk.webhooks import events as webhooks

log = logging.getLogger(__name__)

OPEN = (MetricState.ACTIVE, MetricState.PAUSED)


# ----------------------------------------------------------------------------- clock math


class _Cals:
    def __init__(self) -> None:
        self.cache: dict[int | None, Calendar] = {}

    def of(self, row: SlaMetric) -> Calendar:
        return policies.calendar_for(row.calendar_id, row.business, self.cache)


def elapsed(row: SlaMetric, at: datetime, cals: _Cals | None = None) -> float:
    """Business (or calendar) seconds counted on this clock up to ``at``."""
    total = row.elapsed_seconds or 0.0
    if row.state == MetricState.ACTIVE and row.running_since is not None:
        total += business_seconds_between(row.running_since, at, (cals or _Cals()).of(row))
    return total


def _recompute(row: SlaMetric, cals: _Cals) -> None:
    if row.state == MetricState.ACTIVE and row.running_since is not None:
        cal = cals.of(row)
        done = row.elapsed_seconds or 0.0
        row.due_at = add_business_time(row.running_since, max(0.0, row.target_seconds - done), cal)
        row.warn_at = add_business_time(row.running_since, max(0.0, row.target_seconds * row.warn_fraction - done), cal)
    else:
        row.due_at = row.warn_at = None
    pending = []
    if row.warn_at is not None and not row.warned:
        pending.append(row.warn_at)
    if row.due_at is not None and not row.breached:
        pending.append(row.due_at)
    row.next_check_at = min(pending) if pending else None


def _pause(row: SlaMetric, at: datetime, cals: _Cals) -> None:
    if row.state != MetricState.ACTIVE:
        return
    row.elapsed_seconds = elapsed(row, at, cals)
    row.running_since = None
    row.state = MetricState.PAUSED
    _recompute(row, cals)


def _resume(row: SlaMetric, at: datetime, cals: _Cals) -> None:
    if row.state == MetricState.ACTIVE:
        return
    row.state = MetricState.ACTIVE
    row.running_since = at
    row.fulfilled_at = None
    _recompute(row, cals)


def _fulfil(row: SlaMetric, at: datetime, cals: _Cals) -> None:
    if row.state == MetricState.FULFILLED:
        return
    row.elapsed_seconds = elapsed(row, at, cals)
    row.running_since = None
    row.state = MetricState.FULFILLED
    row.fulfilled_at = at
    if row.elapsed_seconds > row.target_seconds and not row.breached:
        row.breached = True
        row.breached_at = row.due_at or at
    _recompute(row, cals)


# ----------------------------------------------------------------------------- hooks


def _rows(ticket_id: int) -> list[SlaMetric]:
    lent = take("sla_rows", ticket_id)  # read already for a batch of tickets
    if lent is not MISSING:
        return lent
    return list(db.session.scalars(
        sa.select(SlaMetric).where(SlaMetric.ticket_id == ticket_id).order_by(SlaMetric.metric, SlaMetric.cycle)
    ))


def _new_row(ticket: Any, applied: policies.Applied, metric: Metric, cycle: int, at: datetime,
             cals: _Cals) -> SlaMetric | None:
    target = applied.targets.get(metric)
    if target is None:
        return None
    row = SlaMetric(
        ticket_id=ticket.id, metric=metric, cycle=cycle, queue_id=ticket.queue_id, priority=ticket.priority.value,
        target_seconds=target.seconds, business=target.business, calendar_id=applied.calendar_id,
        warn_fraction=target.warn_fraction(applied.warn_fraction), started_at=at, running_since=at, elapsed_seconds=0.0,
        state=MetricState.ACTIVE, warned=False, breached=False,
    )
    _recompute(row, cals)
    db.session.add(row)
    return row


def _apply(ticket: Any) -> policies.Applied:
    return policies.match(ticket.queue_id, ticket.priority.value, ticket.channel.value)


def _pinned(ticket: Any, ts: TicketSla | None) -> policies.Applied | None:
    """The policy version the ticket started under (or was last moved to), for its
    current priority; None when it has none (the built-in default, or no row)."""
    if ts is None or ts.policy_version_id is None:
        return None
    return policies.for_version(ts.policy_version_id, ticket.priority.value, ticket.queue_id)


def _for_ticket(ticket: Any) -> policies.Applied:
    """What a new clock of the ticket follows: its pinned version, else the matching policy."""
    return _pinned(ticket, db.session.get(TicketSla, ticket.id)) or _apply(ticket)


def _pin(ts: TicketSla, applied: policies.Applied) -> None:
    ts.policy_id, ts.policy_name = applied.policy_id, applied.name
    ts.policy_version_id, ts.policy_version = applied.version_id, applied.version


def on_ticket_created(ticket: Any, at: datetime) -> None:
    """Snapshot the policy version and start first_reply and resolution (the ticket is flushed)."""
    applied = _apply(ticket)
    ts = TicketSla(ticket_id=ticket.id, policy_id=applied.policy_id, policy_name=applied.name,
                   policy_version_id=applied.version_id, policy_version=applied.version)
    db.session.add(ts)
    cals = _Cals()
    rows = [_new_row(ticket, applied, m, 1, at, cals) for m in (Metric.FIRST_REPLY, Metric.RESOLUTION)]
    _refresh(ticket.id, [r for r in rows if r is not None], ts=ts)  # the row in hand: one INSERT, no re-read


def on_agent_reply(ticket: Any, at: datetime) -> None:
    """A public agent reply fulfils first_reply and the open next_reply cycle."""
    rows, cals = _rows(ticket.id), _Cals()
    before = _dash(rows)
    ts = db.session.get(TicketSla, ticket.id)
    if ts is not None:
        ts.agent_replies = (ts.agent_replies or 0) + 1
    for row in rows:
        if row.metric in (Metric.FIRST_REPLY, Metric.NEXT_REPLY):
            _fulfil(row, at, cals)
    _refresh(ticket.id, rows, before, counts_changed=ts is not None)


def on_patient_message(ticket: Any, at: datetime) -> None:
    """A patient message resumes every clock and opens a next_reply cycle when none is open."""
    rows, cals = _rows(ticket.id), _Cals()
    before = _dash(rows)
    for row in rows:
        if row.state == MetricState.PAUSED:
            _resume(row, at, cals)
    first_done = any(r.metric == Metric.FIRST_REPLY and r.state == MetricState.FULFILLED for r in rows)
    cycles = [r for r in rows if r.metric == Metric.NEXT_REPLY]
    if first_done and not any(r.state in OPEN for r in cycles):
        row = _new_row(ticket, _for_ticket(ticket), Metric.NEXT_REPLY, len(cycles) + 1, at, cals)
        if row is not None:
            rows.append(row)
    _refresh(ticket.id, rows, before)


def on_status_change(ticket: Any, target: Any, at: datetime) -> None:
    """Called before ``ticket.status`` becomes ``target``."""
    old = Status(ticket.status)
    target = Status(target)
    rows, cals = _rows(ticket.id), _Cals()
    before, reopened = _dash(rows), False
    if target == Status.PENDING_PATIENT:
        for row in rows:
            _pause(row, at, cals)
    elif target in (Status.RESOLVED, Status.CLOSED):
        for row in rows:
            _fulfil(row, at, cals)
    elif old == Status.RESOLVED:  # reopened: resolution resumes, the resolved period not counted
        ts = db.session.get(TicketSla, ticket.id)
        if ts is not None:
            ts.reopens = (ts.reopens or 0) + 1
            reopened = True
        for row in rows:
            if row.metric == Metric.RESOLUTION or row.state == MetricState.PAUSED:
                _resume(row, at, cals)
    else:
        for row in rows:
            if row.state == MetricState.PAUSED:
                _resume(row, at, cals)
    _refresh(ticket.id, rows, before, counts_changed=reopened)


def on_ticket_changed(ticket: Any, at: datetime) -> None:
    """Queue or priority (or routing) changed: re-evaluate the policy; elapsed time is kept.

    The ticket keeps its policy version while the same policy applies (a priority change
    takes that version's target for the new priority), and while it has not moved (a
    policy edited since does not reach it); moved to where another policy applies, it
    takes that policy's current version."""
    ts = db.session.get(TicketSla, ticket.id)
    if ts is None:
        return
    rows, cals = _rows(ticket.id), _Cals()
    fresh, pinned = _apply(ticket), _pinned(ticket, ts)
    moved = any(r.queue_id != ticket.queue_id or r.priority != ticket.priority.value for r in rows)
    applied = pinned if pinned is not None and (fresh.policy_id == ts.policy_id or not moved) else fresh
    before = _dash(rows)
    changed = (ts.policy_id, ts.policy_version_id) != (applied.policy_id, applied.version_id)
    _pin(ts, applied)
    for row in rows:
        if row.state not in OPEN:
            continue
        target = applied.targets.get(row.metric)
        same_place = row.queue_id == ticket.queue_id and row.priority == ticket.priority.value
        if same_place and not changed:
            continue
        running = row.state == MetricState.ACTIVE
        row.elapsed_seconds = elapsed(row, at, cals)  # counted on the old calendar up to now
        row.running_since = at if running else None
        row.queue_id, row.priority = ticket.queue_id, ticket.priority.value
        if target is not None:
            row.target_seconds, row.business = target.seconds, target.business
        row.calendar_id = applied.calendar_id
        row.warn_fraction = target.warn_fraction(applied.warn_fraction) if target else applied.warn_fraction
        _recompute(row, cals)
    _refresh(ticket.id, rows, before)


# What a clock contributes to the dashboard's daily figures (helpdesk.sla.rollup).
_DASH_FIELDS = ("fulfilled_at", "breached_at", "queue_id", "priority", "state", "breached", "elapsed_seconds")


def _dash(rows: Iterable[SlaMetric]) -> dict[int, tuple]:
    """The dashboard-relevant state of each clock, taken before a hook changes them."""
    return {id(r): tuple(getattr(r, f) for f in _DASH_FIELDS) for r in rows}


def _mark_changed_days(rows: list[SlaMetric], before: dict[int, tuple], counts_changed: bool) -> None:
    """The finished days whose figures these changes alter are stale from now on: the
    fulfilment and breach days (before and after) of every clock that changed, and, when
    the ticket's reply or reopen counts changed, every day it was solved on."""
    days: list[Any] = []
    for r in rows:
        old = before.get(id(r))
        if counts_changed or old != tuple(getattr(r, f) for f in _DASH_FIELDS):
            days += [r.fulfilled_at, r.breached_at, *(old[:2] if old else ())]
    rollup.mark_stale(days)


def _refresh(ticket_id: int, rows: Iterable[SlaMetric], before: dict[int, tuple] | None = None,
             counts_changed: bool = False, ts: TicketSla | None = None) -> None:
    """Mark the dashboard days the hook changed, keep the ticket's soonest due time and
    schedule its next check after the commit. ``before``: :func:`_dash` of the rows
    before the change (clocks not in it are new)."""
    rows = list(rows)
    _mark_changed_days(rows, before or {}, counts_changed)
    if ts is None:
        ts = db.session.get(TicketSla, ticket_id)
    if ts is None:
        return
    dues = [r.due_at for r in rows if r.state == MetricState.ACTIVE and r.due_at is not None]
    ts.next_due_at = min(dues) if dues else None
    checks = [r.next_check_at for r in rows if r.next_check_at is not None]
    nxt = min(checks) if checks else None
    if nxt is not None and nxt != ts.scheduled_for:
        # pushed to RQ after the commit (no outbox row: the check is idempotent and the
        # minute sweep is the durable safety net; inline, the sweep is the timer)
        jobs.enqueue_timer("helpdesk.sla.tasks.check_ticket", ticket_id, nxt, name="sla")
    ts.scheduled_for = nxt


def _fire(ticket: Any, row: SlaMetric, kind: str, at: datetime) -> None:
    audit.record(f"sla.{kind}", "ticket", ticket.reference, actor_id=None, changes={
        "metric": row.metric.value, "cycle": row.cycle, "target_seconds": row.target_seconds,
        "due_at": row.due_at.isoformat() if row.due_at else None,
    }, severity="warning" if kind == "breached" else "info")
    sla_event(ticket, kind, row.metric.value, at)  # in-app notices (and opted-in staff mails)
    webhooks.sla_fired(ticket, kind, metric=row.metric.value, cycle=row.cycle, target_seconds=row.target_seconds,
                       due_at=row.due_at, at=at)


def process_ticket(ticket_id: int, at: datetime, preloaded: list[SlaMetric] | None = None) -> int:
    """Fire the warnings and breaches owed at ``at`` for one ticket; returns how many (no commit)."""
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None:
        return 0
    rows, cals, fired = (preloaded if preloaded is not None else _rows(ticket_id)), _Cals(), 0
    before = _dash(rows)
    for row in rows:
        if row.next_check_at is None or row.next_check_at > at:
            continue
        if row.due_at is not None and not row.breached and row.due_at <= at:
            row.breached, row.breached_at, row.warned = True, row.due_at, True
            _fire(ticket, row, "breached", at)
            fired += 1
        elif row.warn_at is not None and not row.warned and row.warn_at <= at:
            row.warned = True
            _fire(ticket, row, "warning", at)
            fired += 1
        _recompute(row, cals)
    _refresh(ticket_id, rows, before)
    return fired


@transactional
def check_ticket(ticket_id: int) -> int:
    """The job scheduled for a ticket's next warning or breach: re-checks the clock, so
    running early (inline mode) or twice does nothing."""
    return process_ticket(ticket_id, now())


def sweep(limit: int = 2000) -> int:
    """Every minute: fire whatever is owed (timers lost or never scheduled); one commit."""
    at = now()
    ids = list(db.session.scalars(
        sa.select(SlaMetric.ticket_id).where(SlaMetric.next_check_at <= at)
        .group_by(SlaMetric.ticket_id).order_by(sa.func.min(SlaMetric.next_check_at)).limit(limit)
    ))
    by_ticket: dict[int, list[SlaMetric]] = {t: [] for t in ids}
    held: list[Any] = []  # the identity map only holds weak references: keep the batch alive
    if ids:  # three queries for the whole batch, then the identity map answers
        held += db.session.scalars(sa.select(Ticket).where(Ticket.id.in_(ids)))
        held += db.session.scalars(sa.select(TicketSla).where(TicketSla.ticket_id.in_(ids)))
        for row in db.session.scalars(sa.select(SlaMetric).where(SlaMetric.ticket_id.in_(ids))):
            by_ticket[row.ticket_id].append(row)
    with unit_of_work(), db.session.no_autoflush:  # notices and audit rows go out in one batch at the commit
        fired = sum(process_ticket(t, at, by_ticket[t]) for t in ids)
    held.clear()
    return fired


# ----------------------------------------------------------------------------- reads


# One definition of a clock's state at read time, from the clock itself: an overdue
# target is breached the moment it passes, whether or not the periodic check has run
# (that check only records the event and notifies). Every surface reads it: the agent
# list and ticket page badges (``badge_for``), ``ticket_metrics``, the API's ``sla``
# field and the dashboard's breached / at-risk lists (``state_clauses``, the same rule
# in SQL). A breach once recorded stays breached.
BREACHED, AT_RISK, OK = "breached", "at_risk", "ok"


def state_at(row: SlaMetric, at: datetime) -> str:
    """``breached``, ``at_risk`` (past the policy's warning point) or ``ok`` at ``at``."""
    if row.breached:
        return BREACHED
    done = row.elapsed_seconds or 0.0
    if row.state == MetricState.ACTIVE and row.due_at is not None:
        if row.due_at <= at:
            return BREACHED
        return AT_RISK if row.warn_at is not None and row.warn_at <= at else OK
    if row.state == MetricState.PAUSED:
        if done >= row.target_seconds:
            return BREACHED
        return AT_RISK if done >= row.target_seconds * row.warn_fraction else OK
    return OK


def state_clauses(at: datetime) -> dict[str, Any]:
    """:func:`state_at` as SQL conditions on ``sla_metrics`` (open clocks only)."""
    active, paused = SlaMetric.state == MetricState.ACTIVE, SlaMetric.state == MetricState.PAUSED
    open_ = SlaMetric.state != MetricState.FULFILLED
    breached = sa.or_(SlaMetric.breached.is_(True),
                      sa.and_(active, SlaMetric.due_at <= at),
                      sa.and_(paused, SlaMetric.elapsed_seconds >= SlaMetric.target_seconds))
    at_risk = sa.and_(SlaMetric.breached.is_(False), sa.or_(
        sa.and_(active, SlaMetric.due_at > at, SlaMetric.warn_at <= at),
        sa.and_(paused, SlaMetric.elapsed_seconds < SlaMetric.target_seconds,
                SlaMetric.elapsed_seconds >= SlaMetric.target_seconds * SlaMetric.warn_fraction)))
    return {BREACHED: sa.and_(open_, breached), AT_RISK: sa.and_(open_, at_risk)}


def badge_for(rows: list[SlaMetric], at: datetime, cals: _Cals | None = None) -> dict[str, Any] | None:
    """The badge of one ticket: its most urgent open clock (level ``breached`` red,
    ``warning`` amber past the warning point, ``ok``)."""
    cals = cals or _Cals()
    best: dict[str, Any] | None = None
    for row in rows:
        if row.state not in OPEN:
            continue
        state = state_at(row, at)
        left = row.target_seconds - elapsed(row, at, cals)
        item = {"metric": row.metric.value, "left": left, "target": row.target_seconds,
                "paused": row.state == MetricState.PAUSED, "due_at": row.due_at, "state": state,
                "breached": state == BREACHED}
        key = (state != BREACHED, item["left"])
        if best is None or key < (best["state"] != BREACHED, best["left"]):
            best = item
    if best is None:
        return None
    best["level"] = {BREACHED: "breached", AT_RISK: "warning"}.get(best["state"], "ok")
    best["text"] = _text(best)
    return best


def _fmt(seconds: float) -> str:
    seconds = int(abs(seconds))
    d, rest = divmod(seconds, 86_400)
    h, rest = divmod(rest, 3600)
    m = rest // 60
    if d:
        return f"{d}d {h}h"
    if h:
        return f"{h}h {m:02d}m"
    return f"{m}m"


def _text(b: dict[str, Any]) -> str:
    name = b["metric"].replace("_", " ")
    if b["breached"]:
        return f"{name}: overdue {_fmt(min(b['left'], 0))}"
    return f"{name}: {_fmt(b['left'])} left" + (" (paused)" if b["paused"] else "")


def badges(ticket_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Badges for a page of tickets: one query."""
    ids = list(ticket_ids)
    if not ids:
        return {}
    by_ticket: dict[int, list[SlaMetric]] = {}
    for row in db.session.scalars(sa.select(SlaMetric).where(SlaMetric.ticket_id.in_(ids),
                                                               SlaMetric.state.in_(OPEN))):
        by_ticket.setdefault(row.ticket_id, []).append(row)
    at, cals, out = now(), _Cals(), {}
    for tid, rows in by_ticket.items():
        b = badge_for(rows, at, cals)
        if b is not None:
            out[tid] = b
    return out


def _page_cache() -> dict[int, dict[str, Any] | None]:
    """Per request (never longer: the state is read-time)."""
    if not has_request_context():
        return {}
    cache = getattr(request, "_helpdesk_sla_badges", None)
    if cache is None:
        cache = {}
        request._helpdesk_sla_badges = cache  # type: ignore[attr-defined]
    return cache


def prefetch_badges(ticket_ids: Iterable[int]) -> None:
    """Badges of a page of tickets in one query, for :func:`sla_summary` in this request."""
    cache = _page_cache()
    ids = [i for i in ticket_ids if i not in cache]
    found = badges(ids)
    for i in ids:
        cache[i] = found.get(i)


def sla_summary(ticket_id: int) -> dict[str, Any] | None:
    """The API's ``sla`` field: the badge of the ticket (read time), or None."""
    cache = _page_cache()
    if ticket_id not in cache:
        cache[ticket_id] = badges([ticket_id]).get(ticket_id)
    b = cache[ticket_id]
    if b is None:
        return None
    return {"metric": b["metric"], "state": b["state"], "paused": b["paused"], "seconds_left": int(b["left"]),
            "target_seconds": b["target"], "due_at": b["due_at"]}


def ticket_metrics(ticket_id: int) -> list[dict[str, Any]]:
    at, cals = now(), _Cals()
    out = []
    for row in _rows(ticket_id):
        out.append({"metric": row.metric.value, "cycle": row.cycle, "state": row.state.value,
                    "target_seconds": row.target_seconds, "business": row.business,
                    "elapsed_seconds": round(elapsed(row, at, cals), 1), "due_at": row.due_at,
                    "breached": state_at(row, at) == BREACHED, "achieved": row.achieved,
                    "fulfilled_at": row.fulfilled_at})
    return out


def reply_clocks(ticket_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The open reply clock (first reply or next reply) of each ticket, for the
    patient's "what happens next" (one query): ``due_at`` (None while paused), whether
    it is paused, and its state now (``breached`` / ``at_risk`` / ``ok``). A ticket with
    no open reply clock (no target applies, or the help desk has replied) is absent."""
    ids = list(ticket_ids)
    if not ids:
        return {}
    at, out = now(), {}
    rows = db.session.scalars(sa.select(SlaMetric).where(
        SlaMetric.ticket_id.in_(ids), SlaMetric.state.in_(OPEN),
        SlaMetric.metric.in_([Metric.FIRST_REPLY, Metric.NEXT_REPLY])).order_by(SlaMetric.id))
    for row in rows:
        out[row.ticket_id] = {"due_at": row.due_at, "paused": row.state == MetricState.PAUSED,
                              "state": state_at(row, at)}
    return out


def unread_count(user_id: int) -> int:
    """Kept for callers of the SLA module; notifications live in helpdesk.notify."""
    return count(user_id)


def mark_read(user_id: int) -> None:
    mark_all_read(user_id, now())


def policy_detail(ticket_id: int) -> dict[str, Any] | None:
    """The ticket page's SLA panel: the policy and version the ticket follows, and how each
    clock's figures come about (target, business or calendar time, calendar and its zone,
    started, paused, elapsed, due). Paused time is the clock's own time (business hours for
    a business-time clock) since it started that it did not count (paused or resolved)."""
    ts = db.session.get(TicketSla, ticket_id)
    if ts is None:
        return None
    at, cals = now(), _Cals()
    cal_names = dict(db.session.execute(sa.select(SlaCalendar.id, SlaCalendar.name)).all())
    timers = []
    for row in _rows(ticket_id):
        cal = cals.of(row)
        counted = elapsed(row, at, cals)
        end = row.fulfilled_at if row.state == MetricState.FULFILLED and row.fulfilled_at else at
        span = business_seconds_between(row.started_at, end, cal)
        if not row.business:
            cal_name = "Calendar time (24×7)"
        elif row.calendar_id is not None and row.calendar_id in cal_names:
            cal_name = cal_names[row.calendar_id]
        else:
            cal_name = "Monday–Friday 08:00–18:00 (built in)"
        timers.append({
            "metric": row.metric.value, "cycle": row.cycle, "state": row.state.value, "target": row.target_seconds,
            "business": row.business, "calendar": cal_name, "zone": cal.timezone, "started_at": row.started_at,
            "paused_seconds": max(0.0, span - counted), "elapsed_seconds": counted, "due_at": row.due_at,
            "warn_at": row.warn_at, "fulfilled_at": row.fulfilled_at, "status": state_at(row, at),
        })
    return {"policy_name": ts.policy_name or policies.BUILTIN_NAME, "policy_id": ts.policy_id,
            "version": ts.policy_version, "timers": timers}


def fmt_duration(seconds: float) -> str:
    return _fmt(seconds)


def open_timers(ticket_id: int) -> list[dict[str, Any]]:
    """The ticket's running (or paused) clocks, each as a badge (``badge_for`` of one
    clock), soonest first: the ticket page's side panel."""
    at, cals = now(), _Cals()
    found = [badge_for([row], at, cals) for row in _rows(ticket_id) if row.state in OPEN]
    return sorted((b for b in found if b is not None), key=lambda b: (not b["breached"], b["left"]))
