"""Which policy applies to a ticket, and its targets (first match wins, a default last).

A queue's SLA settings (``sla_queue_settings``) take part: its *default policy* applies to
its tickets when no policy written for that queue matches (the policies for any queue are
then not consulted), and its *calendar* is the business calendar of a policy that names
none. A ticket keeps the policy version it started under (:func:`for_version`).

The active policies and the calendars are read once and kept for
``SLA_POLICY_CACHE_SECONDS`` (5 by default; 0 reads them for every ticket), so that a
new ticket's targets cost no query. A change to a policy or calendar made through this
process (the ORM) empties the cache at once, and so does any rollback (``helpdesk.cache``); a change made on
another host (or with raw SQL) applies here within those seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app

from helpdesk import cache
from helpdesk.extensions import db
from helpdesk.sla import calendars
from helpdesk.sla.clock import CALENDAR_24X7, Calendar, default_calendar
from helpdesk.sla.models import Metric, SlaCalendar, SlaPolicy, SlaPolicyVersion, SlaQueueSettings
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
    # the warning this long before the due time (a target's ``warn_before``); None: the
    # policy's warning fraction of the target
    warn_before: int | None = None

    def warn_fraction(self, default: float) -> float:
        """The share of the target after which the clock warns."""
        if self.warn_before is None:
            return default
        return min(1.0, max(0.0, 1.0 - self.warn_before / self.seconds))


@dataclass(frozen=True)
class Applied:
    policy_id: int | None
    name: str
    calendar_id: int | None
    warn_fraction: float
    targets: dict[Metric, Target]
    version_id: int | None = None
    version: int | None = None


def _targets_for(targets: dict[str, Any], priority: str) -> dict[Metric, Target]:
    per = targets.get(priority) or targets.get("*") or {}
    out = {}
    for metric in Metric:
        spec = per.get(metric.value)
        if spec and int(spec.get("seconds", 0)) > 0:
            warn = spec.get("warn_before")
            out[metric] = Target(metric, int(spec["seconds"]), bool(spec.get("business", True)),
                                 int(warn) if warn is not None else None)
    return out


@dataclass(frozen=True)
class _Policy:
    id: int
    name: str
    queue_id: int | None
    priority: str | None
    channel: str | None
    calendar_id: int | None
    warn_fraction: float
    targets: dict[str, Any]
    version_id: int | None = None
    version: int | None = None
    active: bool = True


def _cached(what: str, load: Any) -> Any:
    return cache.cached(f"sla:{what}", load, current_app.config["HELPDESK"].sla_policy_cache_seconds)


def _all_policies() -> list[_Policy]:
    """Every policy with its current version's id (None for a policy saved without one)."""
    version = (sa.select(SlaPolicyVersion.id).where(SlaPolicyVersion.policy_id == SlaPolicy.id,
                                                    SlaPolicyVersion.version == SlaPolicy.version)
               .scalar_subquery())
    cols = (SlaPolicy.id, SlaPolicy.name, SlaPolicy.queue_id, SlaPolicy.priority, SlaPolicy.channel,
            SlaPolicy.calendar_id, SlaPolicy.warn_fraction, SlaPolicy.targets, version, SlaPolicy.version,
            SlaPolicy.active)
    # columns, not entities: what the database holds now, whatever the session has loaded
    return [
        _Policy(pid, name, q, pr, ch, cal, wf, targets or {}, vid, ver, bool(active))
        for pid, name, q, pr, ch, cal, wf, targets, vid, ver, active in db.session.execute(
            sa.select(*cols).order_by(SlaPolicy.position, SlaPolicy.id))
    ]


def _queue_settings() -> dict[int, tuple[int | None, int | None]]:
    """queue id -> (calendar id, default policy id)."""
    return {q: (c, d) for q, c, d in db.session.execute(
        sa.select(SlaQueueSettings.queue_id, SlaQueueSettings.calendar_id, SlaQueueSettings.default_policy_id))}


def queue_calendar_id(queue_id: int | None) -> int | None:
    """The calendar a queue's settings name for policies that name none (or None)."""
    if queue_id is None:
        return None
    return _cached("queues", _queue_settings).get(queue_id, (None, None))[0]


def _applied(p: _Policy, priority: str, queue_id: int | None) -> Applied:
    return Applied(p.id, p.name, p.calendar_id if p.calendar_id is not None else queue_calendar_id(queue_id),
                   p.warn_fraction, _targets_for(p.targets, priority), p.version_id, p.version)


def builtin(priority: str, queue_id: int | None = None) -> Applied:
    return Applied(None, BUILTIN_NAME, queue_calendar_id(queue_id), DEFAULT_WARN_FRACTION,
                   _targets_for(BUILTIN_TARGETS, priority))


def match(queue_id: int, priority: str, channel: str) -> Applied:
    """The first active policy (by position, then id) whose conditions all match; when
    the queue has a default policy, only the policies written for the queue are tried
    before it."""
    every = _cached("policies", _all_policies)
    default_id = _cached("queues", _queue_settings).get(queue_id, (None, None))[1]
    default = next((p for p in every if p.id == default_id and p.active), None) if default_id else None
    for p in every:
        if not p.active or (default is not None and p.queue_id is None):
            continue
        if ((p.queue_id is None or p.queue_id == queue_id) and (p.priority is None or p.priority == priority)
                and (p.channel is None or p.channel == channel)):
            return _applied(p, priority, queue_id)
    if default is not None:
        return _applied(default, priority, queue_id)
    return builtin(priority, queue_id)


def _version_row(version_id: int) -> _Policy | None:
    v = db.session.get(SlaPolicyVersion, version_id)
    if v is None:
        return None
    return _Policy(v.policy_id, v.name, None, None, None, v.calendar_id, v.warn_fraction, v.targets or {},
                   v.id, v.version)


def for_version(version_id: int, priority: str, queue_id: int | None) -> Applied | None:
    """A saved policy version's targets for ``priority`` (None when the version is gone).
    Versions never change, so they are kept as long as the cache keeps anything."""
    p = _cached(f"version:{version_id}", lambda: _version_row(version_id))
    return _applied(p, priority, queue_id) if p is not None else None


def site_default_calendar() -> Calendar:
    """Business hours where no calendar is chosen: Monday-Friday 08:00-18:00 in the site's
    time zone (``SITE_TIMEZONE``), no holidays."""
    return default_calendar(current_app.config["HELPDESK"].site_timezone)


def calendar_for(calendar_id: int | None, business: bool, cache: dict[int | None, Calendar] | None = None) -> Calendar:
    if not business:
        return CALENDAR_24X7
    if calendar_id is None:
        return site_default_calendar()
    if cache is not None and calendar_id in cache:
        return cache[calendar_id]

    def load() -> Calendar:
        row = db.session.get(SlaCalendar, calendar_id)
        return calendars.build(row.spec) if row is not None else site_default_calendar()

    cal = _cached(f"calendar:{calendar_id}", load)
    if cache is not None:
        cache[calendar_id] = cal
    return cal


# ----------------------------------------------------------------------------- seed

DEFAULT_CALENDAR_NAME = "Business hours (Monday-Friday 08:00-18:00)"
# what the seeded calendar was called before it followed SITE_TIMEZONE (found, not renamed)
_OLD_DEFAULT_CALENDAR_NAME = "Monday-Friday 08:00-18:00 (New York)"

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
    cal = db.session.scalar(sa.select(SlaCalendar).where(
        SlaCalendar.name.in_([DEFAULT_CALENDAR_NAME, _OLD_DEFAULT_CALENDAR_NAME])).order_by(SlaCalendar.id).limit(1))
    if cal is None:
        cal = SlaCalendar(name=DEFAULT_CALENDAR_NAME,
                          spec={**site_default_calendar().to_spec(), "presets": ["us-federal"]})
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
        policy = SlaPolicy(name=spec["name"], position=spec["position"], queue_id=queue_id,
                           calendar_id=cal.id, targets=spec["targets"], version=1)
        db.session.add(policy)
        db.session.flush()
        db.session.add(SlaPolicyVersion(policy_id=policy.id, version=1, name=policy.name, calendar_id=cal.id,
                                        warn_fraction=policy.warn_fraction, targets=spec["targets"]))
        created += 1
    db.session.flush()
    return created
