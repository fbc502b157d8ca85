"""Who is on duty: a pure function of the roster and the time (no Flask, no database).

A roster member is on duty when their duty *mode* says so:

* ``on``  — on duty whatever the time (the explicit toggle);
* ``off`` — off duty whatever the time (sick, on leave);
* ``shifts`` — on duty while one of their weekly shifts covers the moment.

A shift is a weekday (0 = Monday … 6 = Sunday) with a start and an end in the site's
local wall-clock time. It starts on that weekday; an end at or before the start means
the shift runs past midnight into the next day ("Friday 22:00–06:00" ends Saturday
06:00), and an end equal to the start is a whole 24 hours.

Shifts are wall-clock times in the site's time zone, so they follow daylight saving
time: "09:00–17:00" starts at 09:00 local time in winter and in summer (14:00 UTC in
January, 13:00 UTC in July in New York), and a night shift that spans the change is an
hour shorter or longer in real time, as on the ward's own rota. The moment is turned
into local wall-clock time once; a local time that happens twice (the hour repeated in
autumn) is inside a shift both times, and a local time that never happens (skipped in
spring) is never asked about.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MODES = ("shifts", "on", "off")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class Shift:
    weekday: int  # 0 = Monday
    start: time
    end: time

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError("weekday must be 0 (Monday) to 6 (Sunday)")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("shift times are local wall-clock times (naive)")

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start

    def window(self, day: date) -> tuple[datetime, datetime]:
        """The shift's local wall-clock interval [start, end) when it starts on ``day``."""
        start = datetime.combine(day, self.start)
        end = datetime.combine(day + timedelta(days=1) if self.crosses_midnight else day, self.end)
        return start, end

    def covers(self, local: datetime) -> bool:
        """Does the shift cover this local wall-clock moment (naive)?"""
        for day in (local.date(), local.date() - timedelta(days=1)):
            if day.weekday() != self.weekday:
                continue
            start, end = self.window(day)
            if start <= local < end:
                return True
        return False

    def label(self) -> str:
        text = f"{WEEKDAYS[self.weekday]} {self.start:%H:%M}–{self.end:%H:%M}"
        if self.end == self.start:
            return f"{WEEKDAYS[self.weekday]} {self.start:%H:%M} (24 hours)"
        return text + (" (next day)" if self.crosses_midnight else "")


@dataclass(frozen=True)
class Member:
    user_id: int
    mode: str = "shifts"
    shifts: tuple[Shift, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")


def local_wall_time(at: datetime, tz: ZoneInfo) -> datetime:
    """``at`` (aware) as naive wall-clock time in ``tz``."""
    if at.tzinfo is None:
        raise ValueError("an aware datetime is required")
    return at.astimezone(tz).replace(tzinfo=None)


def is_on_duty(member: Member, at: datetime, tz: ZoneInfo) -> bool:
    if at.tzinfo is None:
        raise ValueError("an aware datetime is required")
    if member.mode == "on":
        return True
    if member.mode == "off":
        return False
    local = local_wall_time(at, tz)
    return any(shift.covers(local) for shift in member.shifts)


def on_duty(members: Iterable[Member], at: datetime, tz: ZoneInfo) -> list[int]:
    """The user ids of the members on duty at ``at``, in the order given."""
    return [m.user_id for m in members if is_on_duty(m, at, tz)]
