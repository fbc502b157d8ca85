"""Business calendars as admins keep them: a stored spec, holiday presets, edits with audit.

A stored calendar (``sla_calendars.spec``) is the clock's spec (``timezone``, ``hours``,
``holidays``; see :mod:`helpdesk.sla.clock`) plus an optional ``presets`` list. A preset
is a rule-based holiday set that no one has to type in every year; today there is one,
``us-federal``: the United States federal holidays on their *observed* dates (a holiday on
a Saturday is observed on the Friday before, on a Sunday the Monday after — so 1 January
2028, a Saturday, is observed on Friday 31 December 2027). The rules come from the
``holidays`` package (maintained, with the federal observance rules and Juneteenth since
2021), expanded for the years around today. ``holidays`` in the spec are the local
additions (e.g. the day after Thanksgiving, a closure).

Editing a calendar changes every clock computed from then on (due times are worked out
when a clock starts, pauses or resumes); clocks already running keep the due time they
were given until their next change. The audit row records the spec before and after.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from helpdesk import audit
from helpdesk.db import transactional
from helpdesk.errors import Conflict, NotFound, ValidationFailed
from helpdesk.extensions import db
from helpdesk.sla.clock import WEEKDAYS, Calendar, CalendarError
from helpdesk.sla.models import SlaCalendar, SlaPolicy
from helpdesk.timeutil import utcnow

PRESETS: dict[str, str] = {
    "us-federal": "United States federal holidays (observed dates)",
}
# Years a preset is expanded for, around the current year: clocks run for days or weeks, and
# a report on an old ticket reads stored instants, not the calendar.
YEARS_BEFORE, YEARS_AFTER = 1, 3


@lru_cache(maxsize=64)
def _preset_holidays(preset: str, years: tuple[int, ...]) -> tuple[tuple[date, str], ...]:
    if preset == "us-federal":
        # imported here: the package is large, and only calendars with a preset need it
        from holidays.countries.united_states import UnitedStates

        return tuple(sorted(UnitedStates(years=years, observed=True).items()))
    raise CalendarError(f"unknown holiday preset {preset!r}; known: {', '.join(PRESETS)}")


def _years(around: int | None = None) -> tuple[int, ...]:
    year = around if around is not None else utcnow().year
    return tuple(range(year - YEARS_BEFORE, year + YEARS_AFTER + 1))


def _presets_of(spec: Mapping[str, Any]) -> list[str]:
    presets = spec.get("presets") or []
    if not isinstance(presets, list) or not all(isinstance(p, str) for p in presets):
        raise CalendarError("presets must be a list of preset names")
    unknown = [p for p in presets if p not in PRESETS]
    if unknown:
        raise CalendarError(f"unknown holiday preset {unknown[0]!r}; known: {', '.join(PRESETS)}")
    return presets


def build(spec: Mapping[str, Any], *, around_year: int | None = None) -> Calendar:
    """The clock's :class:`Calendar` for a stored spec, presets expanded. Raises CalendarError."""
    if not isinstance(spec, Mapping):
        raise CalendarError("calendar spec must be a mapping")
    presets = _presets_of(spec)
    cal = Calendar.from_spec({k: v for k, v in spec.items() if k != "presets"})
    years = _years(around_year)
    for preset in presets:
        cal = cal.with_holidays(d for d, _ in _preset_holidays(preset, years))
    return cal


def holidays_in(spec: Mapping[str, Any], year: int) -> list[tuple[date, str]]:
    """Every holiday of ``year`` with where it comes from, in date order (for the admin page)."""
    out: dict[date, str] = {}
    for preset in _presets_of(spec):
        for d, name in _preset_holidays(preset, (year,)):
            if d.year == year:
                out[d] = name
    for text in spec.get("holidays") or []:
        d = date.fromisoformat(str(text))
        if d.year == year:
            out.setdefault(d, "Local holiday")
    return sorted(out.items())


def spec_from_form(*, timezone: str, hours: Mapping[str, str], presets: Iterable[str],
                   local_holidays: str) -> dict[str, Any]:
    """A spec from the admin form's text: hours like ``08:00-12:00, 13:00-18:00`` per weekday
    (empty for closed), one ``YYYY-MM-DD`` per line for local holidays. Raises ValidationFailed
    with the field that is wrong."""
    errors: dict[str, list[str]] = {}
    week: dict[str, list[list[str]]] = {}
    for day in WEEKDAYS:
        text = (hours.get(day) or "").strip()
        if not text:
            continue
        intervals = []
        for part in text.split(","):
            bounds = [b.strip() for b in part.strip().split("-")]
            if len(bounds) != 2 or not all(bounds):
                errors.setdefault(f"hours_{day}", []).append("Write intervals like 08:00-12:00, 13:00-18:00.")
                break
            intervals.append(bounds)
        week[day] = intervals
    dates: list[str] = []
    for n, line in enumerate(local_holidays.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        try:
            dates.append(date.fromisoformat(line).isoformat())
        except ValueError:
            errors.setdefault("holidays", []).append(f"Line {n}: write dates as YYYY-MM-DD.")
    spec = {"timezone": timezone.strip(), "hours": week, "holidays": sorted(set(dates)),
            "presets": [p for p in PRESETS if p in set(presets)]}
    if not errors:
        try:
            build(spec)
        except CalendarError as err:
            field = "timezone" if "time zone" in str(err) else "hours"
            errors[field] = [str(err).capitalize() + "."]
    if errors:
        raise ValidationFailed("The calendar was not saved: correct the fields marked below.", fields=errors)
    return canonical(spec)


def canonical(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The stored form: the clock's canonical spec plus the presets (if any)."""
    presets = _presets_of(spec)
    out = Calendar.from_spec({k: v for k, v in spec.items() if k != "presets"}).to_spec()
    if presets:
        out["presets"] = presets
    return out


def _name(name: str) -> str:
    name = (name or "").strip()
    if not 1 <= len(name) <= 80:
        raise ValidationFailed("The calendar was not saved: correct the fields marked below.",
                               fields={"name": ["Give the calendar a name of at most 80 characters."]})
    return name


def _unique(name: str, *, except_id: int | None = None) -> None:
    stmt = sa.select(SlaCalendar.id).where(sa.func.lower(SlaCalendar.name) == name.lower())
    if except_id is not None:
        stmt = stmt.where(SlaCalendar.id != except_id)
    if db.session.scalar(stmt) is not None:
        raise Conflict("A calendar with this name already exists.", fields={"name": ["This name is taken."]})


@transactional
def create(*, actor_id: int, name: str, spec: Mapping[str, Any]) -> SlaCalendar:
    name = _name(name)
    _unique(name)
    try:
        stored = canonical(spec)
    except CalendarError as err:
        raise ValidationFailed(str(err)) from None
    cal = SlaCalendar(name=name, spec=stored)
    db.session.add(cal)
    db.session.flush()
    audit.record("sla_calendar.created", "sla_calendar", str(cal.id), actor_id=actor_id,
                 changes={"name": name, "spec": stored})
    return cal


@transactional
def update(*, actor_id: int, calendar: SlaCalendar, name: str, spec: Mapping[str, Any]) -> SlaCalendar:
    name = _name(name)
    _unique(name, except_id=calendar.id)
    try:
        stored = canonical(spec)
    except CalendarError as err:
        raise ValidationFailed(str(err)) from None
    if name == calendar.name and stored == calendar.spec:
        raise ValidationFailed("Nothing changed.")
    changes: dict[str, Any] = {}
    if name != calendar.name:
        changes["name"] = {"before": calendar.name, "after": name}
    if stored != calendar.spec:
        changes["spec"] = {"before": calendar.spec, "after": stored}
    calendar.name, calendar.spec = name, stored
    audit.record("sla_calendar.updated", "sla_calendar", str(calendar.id), actor_id=actor_id, changes=changes)
    return calendar


def get(calendar_id: int) -> SlaCalendar:
    cal = db.session.get(SlaCalendar, calendar_id)
    if cal is None:
        raise NotFound("No such calendar.")
    return cal


def all_with_usage(*, after: tuple[str, int] | None = None,
                   limit: int | None = None) -> list[tuple[SlaCalendar, int]]:
    """The calendars with the number of policies that use it, by name (then id): every one,
    or the ``limit`` after the (name, id) ``after`` (keyset, for the API's pages)."""
    used = sa.select(sa.func.count(SlaPolicy.id)).where(SlaPolicy.calendar_id == SlaCalendar.id).scalar_subquery()
    stmt = sa.select(SlaCalendar, used).order_by(SlaCalendar.name, SlaCalendar.id)
    if after is not None:
        stmt = stmt.where(sa.tuple_(SlaCalendar.name, SlaCalendar.id) > sa.tuple_(*map(sa.literal, after)))
    if limit is not None:
        stmt = stmt.limit(limit)
    return [(c, n) for c, n in db.session.execute(stmt)]
