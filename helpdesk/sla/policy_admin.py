"""SLA policies and queue settings as admins keep them: validation, versioned saves with
audit rows, the preview of a draft on sample tickets, and a queue's settings page.

A policy's targets are per priority (``urgent`` … ``low``, and ``*`` for any priority
without its own row) and metric: ``{"seconds": 3600, "business": true, "warn_before":
900}`` — the target, whether it counts business time (the policy's calendar, else the
queue's, else Monday-Friday 08:00-18:00 in the site's time zone) or calendar time (24×7), and how long
before the due time the warning comes (left out: at 75 % of the target).

Saving a change to the name, calendar, warning or targets adds the policy's next version;
tickets that started under an earlier version keep it (``TicketSla.policy_version_id``).
Conditions (queue, priority, channel, position, active) decide which new tickets the policy
applies to and are changed in place.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from helpdesk import audit
from helpdesk.auth.models import User
from helpdesk.db import transactional
from helpdesk.errors import Conflict, NotFound, ValidationFailed
from helpdesk.extensions import db
from helpdesk.i18n import names
from helpdesk.i18n.models import NameKind
from helpdesk.sla import policies
from helpdesk.sla.clock import add_business_time
from helpdesk.sla.models import Metric, SlaCalendar, SlaPolicy, SlaPolicyVersion, SlaQueueSettings
from helpdesk.sla.timesource import now
from helpdesk.tickets.models import Assignment, Channel, Priority, Queue, Ticket
from helpdesk.timeutil import utcnow

PRIORITY_KEYS: tuple[str, ...] = ("*", *(p.value for p in sorted(Priority, key=lambda p: -p.rank)))
METRICS: tuple[str, ...] = tuple(m.value for m in Metric)
MAX_TARGET_SECONDS = 366 * 86_400
SAVE_FAILED = "The policy was not saved: correct the fields marked below."
PREVIEW_TICKETS = 5


def priority_label(key: str) -> str:
    return "Any other priority" if key == "*" else key.capitalize()


def field_key(priority: str) -> str:
    """A priority's part of a form field name (``*`` is ``any``)."""
    return "any" if priority == "*" else priority


# ----------------------------------------------------------------------------- validation


def _check_targets(raw: object, errors: dict[str, list[str]], prefix: str = "targets") -> dict[str, Any]:
    """Targets in the stored form, or field errors keyed ``targets.<priority>.<metric>.<what>``."""
    if not isinstance(raw, Mapping):
        errors.setdefault(prefix, []).append("Give the targets per priority and metric.")
        return {}
    out: dict[str, Any] = {}
    for prio, per in raw.items():
        if prio not in PRIORITY_KEYS:
            errors.setdefault(f"{prefix}.{prio}", []).append(f"Priority is one of: {', '.join(PRIORITY_KEYS)}.")
            continue
        if not isinstance(per, Mapping):
            errors.setdefault(f"{prefix}.{prio}", []).append("Give the metrics of this priority.")
            continue
        row: dict[str, Any] = {}
        for metric, spec in per.items():
            where = f"{prefix}.{prio}.{metric}"
            if metric not in METRICS:
                errors.setdefault(where, []).append(f"Metric is one of: {', '.join(METRICS)}.")
                continue
            if not isinstance(spec, Mapping) or set(spec) - {"seconds", "business", "warn_before"}:
                errors.setdefault(where, []).append("Give seconds, business and (optionally) warn_before.")
                continue
            seconds, business, warn = spec.get("seconds"), spec.get("business", True), spec.get("warn_before")
            if isinstance(seconds, bool) or not isinstance(seconds, int) or not 60 <= seconds <= MAX_TARGET_SECONDS:
                errors.setdefault(f"{where}.seconds", []).append("A target from 1 minute to 366 days.")
                continue
            if not isinstance(business, bool):
                errors.setdefault(f"{where}.business", []).append("True for business time, false for calendar time.")
                continue
            if warn is not None and (isinstance(warn, bool) or not isinstance(warn, int) or not 0 < warn < seconds):
                errors.setdefault(f"{where}.warn_before", []).append("The warning must come before the due time "
                                                                      "(more than 0, less than the target).")
                continue
            row[metric] = {"seconds": seconds, "business": business, **({"warn_before": warn} if warn else {})}
        if row:
            out[prio] = row
    if not out and not any(k.startswith(prefix) for k in errors):
        errors.setdefault(prefix, []).append("Give at least one target.")
    return out


def clean(data: Mapping[str, Any]) -> dict[str, Any]:
    """A whole policy (name, conditions, calendar, warning fraction, targets) checked;
    ValidationFailed with every wrong field."""
    errors: dict[str, list[str]] = {}
    name = " ".join(str(data.get("name") or "").split())
    if not 1 <= len(name) <= 80:
        errors["name"] = ["Give the policy a name of at most 80 characters."]
    queue_id = data.get("queue_id")
    if queue_id is not None and (isinstance(queue_id, bool) or not isinstance(queue_id, int)
                                 or db.session.get(Queue, queue_id) is None):
        errors["queue_id"] = ["Choose an existing queue, or none for every queue."]
    priority = data.get("priority") or None
    if priority is not None and priority not in {p.value for p in Priority}:
        errors["priority"] = [f"One of: {', '.join(p.value for p in Priority)}, or none for every priority."]
    channel = data.get("channel") or None
    if channel is not None and channel not in {c.value for c in Channel}:
        errors["channel"] = [f"One of: {', '.join(c.value for c in Channel)}, or none for every channel."]
    position = data.get("position", 100)
    if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position <= 100_000:
        errors["position"] = ["A whole number from 0 to 100000 (lower is tried first)."]
    calendar_id = data.get("calendar_id")
    if calendar_id is not None and (isinstance(calendar_id, bool) or not isinstance(calendar_id, int)
                                    or db.session.get(SlaCalendar, calendar_id) is None):
        errors["calendar_id"] = ["Choose an existing calendar, or none for the queue's calendar."]
    warn_fraction = data.get("warn_fraction", policies.DEFAULT_WARN_FRACTION)
    if isinstance(warn_fraction, bool) or not isinstance(warn_fraction, int | float) \
            or not math.isfinite(warn_fraction) or not 0 < warn_fraction < 1:
        errors["warn_fraction"] = ["A share of the target between 0 and 1, e.g. 0.75."]
    active = data.get("active", True)
    if not isinstance(active, bool):
        errors["active"] = ["True or false."]
    targets = _check_targets(data.get("targets"), errors)
    if errors:
        raise ValidationFailed(SAVE_FAILED, fields=errors)
    return {"name": name, "queue_id": queue_id, "priority": priority, "channel": channel, "position": position,
            "calendar_id": calendar_id, "warn_fraction": float(warn_fraction), "active": active, "targets": targets}


def targets_from_form(form: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The editor's grid: per priority and metric ``t_<prio>_<metric>_hours`` (empty: no
    target), ``…_time`` (``business``/``calendar``) and ``…_warn`` (minutes before due,
    empty: the policy's share). Returns (targets, errors by form field)."""
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    for prio in PRIORITY_KEYS:
        for metric in METRICS:
            base = f"t_{field_key(prio)}_{metric}"
            hours_text = (form.get(f"{base}_hours") or "").strip()
            warn_text = (form.get(f"{base}_warn") or "").strip()
            if not hours_text:
                if warn_text:
                    errors[f"{base}_hours"] = ["Give the target for this warning."]
                continue
            try:
                hours = float(hours_text)
            except ValueError:
                errors[f"{base}_hours"] = ["Write the target in hours, e.g. 4 or 0.5."]
                continue
            seconds = round(hours * 3600) if math.isfinite(hours) else 0
            if not 60 <= seconds <= MAX_TARGET_SECONDS:
                errors[f"{base}_hours"] = ["A target from 1 minute (0.017 h) to 366 days."]
                continue
            spec: dict[str, Any] = {"seconds": seconds, "business": form.get(f"{base}_time", "business") != "calendar"}
            if warn_text:
                try:
                    minutes = float(warn_text)
                except ValueError:
                    minutes = float("nan")
                warn = round(minutes * 60) if math.isfinite(minutes) else -1
                if not 0 < warn < seconds:
                    errors[f"{base}_warn"] = ["Minutes before the due time: more than 0, less than the target."]
                    continue
                spec["warn_before"] = warn
            out.setdefault(prio, {})[metric] = spec
    return out, errors


def form_values(policy: SlaPolicy | None) -> dict[str, str]:
    """The grid's field values for a saved policy (empty for a new one)."""
    values: dict[str, str] = {}
    for prio, per in ((policy.targets or {}) if policy else {}).items():
        for metric, spec in per.items():
            base = f"t_{field_key(prio)}_{metric}"
            values[f"{base}_hours"] = f"{spec['seconds'] / 3600:g}"
            values[f"{base}_time"] = "business" if spec.get("business", True) else "calendar"
            if spec.get("warn_before"):
                values[f"{base}_warn"] = f"{spec['warn_before'] / 60:g}"
    return values


# ----------------------------------------------------------------------------- saves


def _unique(name: str, except_id: int | None = None) -> None:
    stmt = sa.select(SlaPolicy.id).where(sa.func.lower(SlaPolicy.name) == name.lower())
    if except_id is not None:
        stmt = stmt.where(SlaPolicy.id != except_id)
    if db.session.scalar(stmt) is not None:
        raise Conflict("A policy with this name already exists.", fields={"name": ["This name is taken."]})


_VERSIONED = ("name", "calendar_id", "warn_fraction", "targets")
_IN_PLACE = ("queue_id", "priority", "channel", "position", "active")


def _add_version(policy: SlaPolicy, actor_id: int | None) -> SlaPolicyVersion:
    v = SlaPolicyVersion(policy_id=policy.id, version=policy.version, name=policy.name,
                         calendar_id=policy.calendar_id, warn_fraction=policy.warn_fraction,
                         targets=policy.targets, created_by_id=actor_id)
    db.session.add(v)
    db.session.flush()
    return v


@transactional
def create_policy(*, actor_id: int | None, data: Mapping[str, Any]) -> SlaPolicy:
    clean_data = clean(data)
    _unique(clean_data["name"])
    policy = SlaPolicy(**clean_data, version=1)
    db.session.add(policy)
    db.session.flush()
    _add_version(policy, actor_id)
    audit.record("sla_policy.created", "sla_policy", str(policy.id), actor_id=actor_id,
                 changes={**clean_data, "version": 1})
    return policy


@transactional
def update_policy(*, actor_id: int | None, policy: SlaPolicy, data: Mapping[str, Any]) -> SlaPolicy:
    """Save an edit: a change to what tickets keep (name, calendar, warning, targets)
    adds version N+1; tickets under earlier versions are untouched."""
    clean_data = clean(data)
    _unique(clean_data["name"], except_id=policy.id)
    changes = {k: {"before": getattr(policy, k), "after": v} for k, v in clean_data.items()
               if getattr(policy, k) != v}
    if not changes:
        raise ValidationFailed("Nothing changed.")
    for key, value in clean_data.items():
        setattr(policy, key, value)
    if any(k in changes for k in _VERSIONED):
        policy.version = (policy.version or 1) + 1
        _add_version(policy, actor_id)
        changes["version"] = {"before": policy.version - 1, "after": policy.version}
    audit.record("sla_policy.updated", "sla_policy", str(policy.id), actor_id=actor_id, changes=changes)
    return policy


def get_policy(policy_id: int) -> SlaPolicy:
    policy = db.session.get(SlaPolicy, policy_id)
    if policy is None:
        raise NotFound("No such SLA policy.")
    return policy


def all_policies(*, after: tuple[int, int] | None = None, limit: int | None = None) -> list[SlaPolicy]:
    """The policies by position (then id): every one, or the ``limit`` after the (position, id)
    ``after`` (keyset, for the API's pages)."""
    stmt = sa.select(SlaPolicy).order_by(SlaPolicy.position, SlaPolicy.id)
    if after is not None:
        stmt = stmt.where(sa.tuple_(SlaPolicy.position, SlaPolicy.id) > sa.tuple_(*map(sa.literal, after)))
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(db.session.scalars(stmt))


def versions_of(policy: SlaPolicy) -> list[SlaPolicyVersion]:
    return list(db.session.scalars(sa.select(SlaPolicyVersion).where(SlaPolicyVersion.policy_id == policy.id)
                                   .order_by(SlaPolicyVersion.version.desc())))


def policy_out(policy: SlaPolicy) -> dict[str, Any]:
    return {"id": policy.id, "name": policy.name, "version": policy.version, "queue_id": policy.queue_id,
            "priority": policy.priority, "channel": policy.channel, "position": policy.position,
            "active": policy.active, "calendar_id": policy.calendar_id, "warn_fraction": policy.warn_fraction,
            "targets": policy.targets or {}}


# ----------------------------------------------------------------------------- preview


@dataclass(frozen=True)
class PreviewRow:
    label: str  # a ticket's reference, or "New ticket now"
    priority: str
    start: datetime
    metric: str
    current: datetime | None  # what the policy that applies today gives
    current_name: str
    draft: datetime | None
    business: bool | None  # the draft target's kind


def _due(applied: policies.Applied, metric: Metric, start: datetime) -> datetime | None:
    """The due time of a clock of ``metric`` started at ``start`` and never paused — how
    the SLA engine computes it (``helpdesk.sla.services._recompute``)."""
    target = applied.targets.get(metric)
    if target is None:
        return None
    return add_business_time(start, target.seconds, policies.calendar_for(applied.calendar_id, target.business))


def preview(data: Mapping[str, Any], *, limit: int = PREVIEW_TICKETS) -> list[PreviewRow]:
    """Due times under the draft (checked with :func:`clean`) and under the policy that
    applies today, for the newest ``limit`` tickets it would cover and a ticket created
    now per priority (as if each clock started when the ticket was created)."""
    draft = clean(data)
    at = now()
    samples: list[tuple[str, str, int | None, str, datetime]] = []
    stmt = sa.select(Ticket.reference, Ticket.priority, Ticket.queue_id, Ticket.channel, Ticket.created_at)
    if draft["queue_id"] is not None:
        stmt = stmt.where(Ticket.queue_id == draft["queue_id"])
    if draft["priority"] is not None:
        stmt = stmt.where(Ticket.priority == Priority(draft["priority"]))
    for ref, prio, queue_id, channel, created in db.session.execute(
            stmt.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit)):
        samples.append((ref, Priority(prio).value, queue_id, Channel(channel).value, created))
    for prio in [draft["priority"]] if draft["priority"] else [p for p in PRIORITY_KEYS if p != "*"]:
        samples.append(("New ticket now", prio, draft["queue_id"], draft["channel"] or Channel.WEB.value, at))
    rows = []
    for label, prio, queue_id, channel, start in samples:
        drafted = policies.Applied(None, draft["name"], draft["calendar_id"] if draft["calendar_id"] is not None
                                   else policies.queue_calendar_id(queue_id), draft["warn_fraction"],
                                   policies._targets_for(draft["targets"], prio))  # noqa: SLF001
        # no queue (a draft for every queue, a ticket created now): queue 0 matches only
        # the policies for every queue
        current = policies.match(queue_id if queue_id is not None else 0, prio, channel)
        for metric in Metric:
            target = drafted.targets.get(metric)
            rows.append(PreviewRow(label, prio, start, metric.value, _due(current, metric, start), current.name,
                                   _due(drafted, metric, start), target.business if target else None))
    return rows


# ----------------------------------------------------------------------------- queue settings


def queue_settings(queue: Queue) -> dict[str, Any]:
    row = db.session.get(SlaQueueSettings, queue.id)
    return {"id": queue.id, "slug": queue.slug, "name": queue.name,
            "name_es": names.names_of(NameKind.QUEUE, "es").get(queue.slug, ""),
            "calendar_id": row.calendar_id if row else None,
            "default_policy_id": row.default_policy_id if row else None,
            "assignment": queue.assignment.value, "active": queue.active}


def default_policy_choices(queue: Queue) -> list[SlaPolicy]:
    """Policies a queue may default to: those for every queue or for this one."""
    return list(db.session.scalars(sa.select(SlaPolicy).where(
        sa.or_(SlaPolicy.queue_id.is_(None), SlaPolicy.queue_id == queue.id)).order_by(SlaPolicy.position)))


@transactional
def update_queue_settings(*, actor: User | None, queue: Queue, data: Mapping[str, Any]) -> dict[str, Any]:
    """Name, Spanish name, calendar, default policy, assignment method, active: one audit
    row for the queue (and the translation's own row)."""
    errors: dict[str, list[str]] = {}
    name = " ".join(str(data.get("name") or "").split())
    if not 1 <= len(name) <= 80:
        errors["name"] = ["Give the queue a name of at most 80 characters."]
    name_es = " ".join(str(data.get("name_es") or "").split())
    if len(name_es) > names.MAX_NAME:
        errors["name_es"] = [f"At most {names.MAX_NAME} characters."]
    calendar_id = data.get("calendar_id")
    if calendar_id is not None and (isinstance(calendar_id, bool) or not isinstance(calendar_id, int)
                                    or db.session.get(SlaCalendar, calendar_id) is None):
        errors["calendar_id"] = ["Choose an existing calendar, or none."]
    policy_id = data.get("default_policy_id")
    if policy_id is not None and (isinstance(policy_id, bool) or not isinstance(policy_id, int)
                                  or policy_id not in {p.id for p in default_policy_choices(queue)}):
        errors["default_policy_id"] = ["Choose a policy for every queue or for this queue, or none."]
    try:
        assignment = Assignment(str(data.get("assignment") or ""))
    except ValueError:
        errors["assignment"] = [f"One of: {', '.join(a.value for a in Assignment)}."]
    active = data.get("active")
    if not isinstance(active, bool):
        errors["active"] = ["True or false."]
    elif not active and queue.slug == "triage":
        errors["active"] = ["The triage queue can't be deactivated: unsure requests go there."]
    if errors:
        raise ValidationFailed("The queue was not saved: correct the fields marked below.", fields=errors)
    before = queue_settings(queue)
    row = db.session.get(SlaQueueSettings, queue.id)
    if row is None:
        row = SlaQueueSettings(queue_id=queue.id)
        db.session.add(row)
    queue.name, queue.assignment, queue.active = name, assignment, active
    row.calendar_id, row.default_policy_id, row.updated_at = calendar_id, policy_id, utcnow()
    after = {**before, "name": name, "name_es": name_es, "calendar_id": calendar_id,
             "default_policy_id": policy_id, "assignment": assignment.value, "active": active}
    changes = {k: {"before": before[k], "after": after[k]} for k in before if before[k] != after[k]}
    if not changes:
        raise ValidationFailed("Nothing changed.")
    if "name_es" in changes:
        names.set_name(actor=actor, kind=NameKind.QUEUE.value, key=queue.slug, language="es", name=name_es)
    audit.record("queue.updated", "queue", queue.slug, actor_id=actor.id if actor else None, changes=changes)
    db.session.flush()
    return after
