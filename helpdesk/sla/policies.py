"""Which policy applies to a ticket, and its targets (first match wins, a default last)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from helpdesk.extensions import db
from helpdesk.sla import calendars
from helpdesk.sla.clock import CALENDAR_24X7, Calendar, default_calendar
from helpdesk.sla.models import Metric, SlaCalendar, SlaPolicy
from helpdesk.tickets.models import Queue

HOUR = 3600
BUSINESS_DAY = 10 * HOUR  # Monday-Friday 08:00-18:00

DEFAULT_WARN_FRACTION = 0.75


def _t(seconds: int, business: bool = True) -> dict[str, Any]:
    return {"seconds": seconds, "business": business}


# Used when no stored policy matches (or none exist yet): every ticket has a clock.
BUILTIN_TARGETS: dict[str, dict[str, dict[str, Any]]] = {
    "urgent": {"first_reply": _t(1 * HOUR), "next_reply": _t(2 * HOUR), "resolution": _t(8 * HOUR)},
    "high": {"first_reply": _t(4 * HOUR), "next_reply": _t(4 * HOUR), "resolution": _t(2 * BUSINESS_DAY)},
    "normal": {"first_reply": _t(BUSINESS_DAY), "next_reply": _t(BUSINESS_DAY), "resolution": _t(5 * BUSINESS_DAY)},
    "low": {"first_reply": _t(2 * BUSINESS_DAY), "next_reply": _t(2 * BUSINESS_DAY),
            "resolution": _t(10 * BUSINESS_DAY)},
}
BUILTIN_NAME = "Built-in default"


@dataclass(frozen=True)
class Target:
    metric: Metric
    seconds: int
    business: bool


@dataclass(frozen=True)
class Applied:
    policy_id: int | None
    name: str
    calendar_id: int | None
    warn_fraction: float
    targets: dict[Metric, Target]


def _targets_for(targets: dict[str, Any], priority: str) -> dict[Metric, Target]:
    per = targets.get(priority) or targets.get("*") or {}
    out = {}
    for metric in Metric:
        spec = per.get(metric.value)
        if spec and int(spec.get("seconds", 0)) > 0:
            out[metric] = Target(metric, int(spec["seconds"]), bool(spec.get("business", True)))
    return out


def match(queue_id: int, priority: str, channel: str) -> Applied:
    """The first active policy (by position, then id) whose conditions all match."""
    policy = db.session.scalar(
        sa.select(SlaPolicy)
        .where(
            SlaPolicy.active.is_(True),
            sa.or_(SlaPolicy.queue_id.is_(None), SlaPolicy.queue_id == queue_id),
            sa.or_(SlaPolicy.priority.is_(None), SlaPolicy.priority == priority),
            sa.or_(SlaPolicy.channel.is_(None), SlaPolicy.channel == channel),
        )
        .order_by(SlaPolicy.position, SlaPolicy.id)
        .limit(1)
    )
    if policy is None:
        return Applied(None, BUILTIN_NAME, None, DEFAULT_WARN_FRACTION, _targets_for(BUILTIN_TARGETS, priority))
    return Applied(policy.id, policy.name, policy.calendar_id, policy.warn_fraction,
                   _targets_for(policy.targets or {}, priority))


def calendar_for(calendar_id: int | None, business: bool, cache: dict[int | None, Calendar] | None = None) -> Calendar:
    if not business:
        return CALENDAR_24X7
    if calendar_id is None:
        return default_calendar()
    if cache is not None and calendar_id in cache:
        return cache[calendar_id]
    row = db.session.get(SlaCalendar, calendar_id)
    cal = calendars.build(row.spec) if row is not None else default_calendar()
    if cache is not None:
        cache[calendar_id] = cal
    return cal


# ----------------------------------------------------------------------------- seed

DEFAULT_CALENDAR_NAME = "Monday-Friday 08:00-18:00 (New York)"

SEED_POLICIES: list[dict[str, Any]] = [
    {"name": "Clinical escalation", "queue": "clinical-escalation", "position": 10, "targets": {
        "*": {"first_reply": _t(15 * 60, False), "next_reply": _t(30 * 60, False), "resolution": _t(4 * HOUR, False)}}},
    {"name": "Account access", "queue": "account-access", "position": 20, "targets": {
        "urgent": {"first_reply": _t(30 * 60), "next_reply": _t(1 * HOUR), "resolution": _t(2 * HOUR)},
        "high": {"first_reply": _t(1 * HOUR), "next_reply": _t(2 * HOUR), "resolution": _t(4 * HOUR)},
        "normal": {"first_reply": _t(4 * HOUR), "next_reply": _t(4 * HOUR), "resolution": _t(BUSINESS_DAY)},
        "low": {"first_reply": _t(BUSINESS_DAY), "next_reply": _t(BUSINESS_DAY), "resolution": _t(2 * BUSINESS_DAY)}}},
    {"name": "Billing disputes", "queue": "billing", "position": 30, "targets": {
        "*": {"first_reply": _t(BUSINESS_DAY), "next_reply": _t(BUSINESS_DAY), "resolution": _t(10 * BUSINESS_DAY)}}},
    {"name": "Scheduling", "queue": "scheduling", "position": 40, "targets": {
        "*": {"first_reply": _t(4 * HOUR), "next_reply": _t(4 * HOUR), "resolution": _t(2 * BUSINESS_DAY)}}},
    {"name": "Prescriptions", "queue": "prescriptions", "position": 50, "targets": {
        "*": {"first_reply": _t(2 * HOUR), "next_reply": _t(4 * HOUR), "resolution": _t(BUSINESS_DAY)}}},
    {"name": "Default", "queue": None, "position": 1000, "targets": BUILTIN_TARGETS},
]


def seed_defaults() -> int:
    """Create the default calendar and policies that don't exist yet (idempotent; caller commits)."""
    cal = db.session.scalar(sa.select(SlaCalendar).where(SlaCalendar.name == DEFAULT_CALENDAR_NAME))
    if cal is None:
        cal = SlaCalendar(name=DEFAULT_CALENDAR_NAME, spec={**default_calendar().to_spec(), "presets": ["us-federal"]})
        db.session.add(cal)
        db.session.flush()
    created = 0
    for spec in SEED_POLICIES:
        if db.session.scalar(sa.select(SlaPolicy.id).where(SlaPolicy.name == spec["name"])):
            continue
        queue_id = None
        if spec["queue"]:
            queue_id = db.session.scalar(sa.select(Queue.id).where(Queue.slug == spec["queue"]))
            if queue_id is None:
                continue
        db.session.add(SlaPolicy(name=spec["name"], position=spec["position"], queue_id=queue_id,
                                 calendar_id=cal.id, targets=spec["targets"]))
        created += 1
    db.session.flush()
    return created
