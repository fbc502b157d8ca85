"""The business-hours clock: pure functions over a business calendar (stdlib only, no Flask, no database).

A :class:`Calendar` is an IANA time zone, a week of wall-clock working intervals (zero or
more per weekday, e.g. Mon 08:00-12:00 and 13:00-18:00) and a set of holidays (dates in
the calendar's own time zone). Per-queue holidays are the caller's business: build one
calendar per queue with :meth:`Calendar.with_holidays`.

How wall-clock intervals become real time
-----------------------------------------
Every local date's intervals are placed on that date, in local time, and turned into real
instants with these rules (zoneinfo / PEP 495 semantics):

* a local time that does not exist (the spring-forward gap) is the first valid instant
  after the gap, i.e. the transition itself (02:30 on 2026-03-08 in New York -> 03:00 EDT);
* an ambiguous local time (fall-back) takes ``fold=0``, the earlier of the two instants
  (01:30 on 2026-11-01 in New York -> 01:30 EDT);
* an interval end of 24:00 is the next date's local midnight, resolved the same way.

Business time is the real elapsed time inside those instants, so a 00:00-24:00 day in
America/New_York lasts 23 h on 2026-03-08 and 25 h on 2026-11-01, and a 01:00-03:00
interval lasts 1 h and 3 h on those days. 08:00-18:00 is always 10 h there, since the
change happens at 02:00, outside the interval.

Decisions (callers rely on these)
---------------------------------
* Datetimes must be timezone-aware: naive ones raise ``ValueError``. Results are aware
  datetimes in UTC. The resolution is the microsecond: ``seconds`` is rounded to the
  nearest microsecond (half to even, like :class:`datetime.timedelta`), and every sum is
  done on whole microseconds, so ``business_seconds_between(t, add_business_time(t, s))``
  equals ``s`` to within half a microsecond.
* Working intervals are half-open: the start instant is working time, the end instant is
  not (:func:`is_working_time` is False at 18:00 for 08:00-18:00).
* ``add_business_time(start, 0, cal)`` returns ``start`` unchanged (as UTC), even outside
  working time: no time was added, so the moment is not moved to the next opening. With
  ``seconds > 0`` the result lies inside a working interval or exactly at its end (Friday
  08:00 + 10 h is Friday 18:00, not Monday 08:00). Negative, NaN or infinite ``seconds``
  raise ``ValueError``.
* ``business_seconds_between(a, b, cal)`` is ``0.0`` when ``b <= a``: it measures business
  time elapsed from ``a`` to ``b``, which is never negative (an overdue target is
  detected by comparing instants, not by a negative count).
* A holiday removes every interval of that local date, and nothing else.
* Calendars are immutable and hashable; equal specs give equal calendars.

Cost: the clock walks one local day at a time and one working interval at a time, never
minute by minute; each (calendar, date) pair's real instants are computed once and kept
in a bounded LRU cache. Adding 90 business days takes about 0.7 ms cold and 0.04 ms warm
(whole weeks are not skipped arithmetically: holidays and DST make weeks unequal, and the
per-day walk is already fast enough; tests/sla/test_clock.py holds it under 5 ms).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "CALENDAR_24X7",
    "WEEKDAYS",
    "Calendar",
    "CalendarError",
    "add_business_time",
    "business_seconds_between",
    "default_calendar",
    "is_working_time",
    "next_working_moment",
]

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Weekday keys of a spec, in :meth:`datetime.date.weekday` order (Monday is 0)."""

_DAY_SECONDS = 86_400
_US = 1_000_000
_ONE_US = timedelta(microseconds=1)
_ONE_DAY = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)
_TIME_RE = re.compile(r"(\d{2}):(\d{2})(?::(\d{2}))?")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SPEC_KEYS = frozenset({"timezone", "hours", "holidays"})

# One weekday's working intervals: (start, end) in seconds after local midnight,
# 0 <= start < end <= 86400, sorted, non-overlapping.
_Day = tuple[tuple[int, int], ...]


class CalendarError(ValueError):
    """A business calendar that cannot be used; the message says what is wrong and where."""


class Calendar:
    """An immutable business calendar: time zone, weekly working intervals, holidays.

    ``hours`` maps a weekday (``"mon"`` ... ``"sun"``, or 0-6 with Monday 0) to a list of
    ``(start, end)`` pairs, each a :class:`datetime.time` or an ``"HH:MM"``/``"HH:MM:SS"``
    string; ``"24:00"`` ends an interval at midnight. Missing weekdays have no working
    time. ``holidays`` are dates (or ``"YYYY-MM-DD"`` strings) in the calendar's zone.
    Raises :class:`CalendarError` for anything invalid.
    """

    __slots__ = ("_hash", "_holidays", "_timezone", "_tz", "_week")

    _timezone: str
    _tz: ZoneInfo
    _week: tuple[_Day, ...]
    _holidays: frozenset[date]
    _hash: int

    def __init__(
        self,
        timezone: str,
        hours: Mapping[str | int, Iterable[Any]],
        holidays: Iterable[date | str] = (),
    ) -> None:
        tz = _load_zone(timezone)
        week = _parse_week(hours)
        if not any(week):
            raise CalendarError(
                "calendar has no working time in the week: give at least one weekday a working interval"
            )
        self._init(timezone, tz, week, _parse_holidays(holidays))

    def _init(self, timezone: str, tz: ZoneInfo, week: tuple[_Day, ...], holidays: frozenset[date]) -> None:
        object.__setattr__(self, "_timezone", timezone)
        object.__setattr__(self, "_tz", tz)
        object.__setattr__(self, "_week", week)
        object.__setattr__(self, "_holidays", holidays)
        object.__setattr__(self, "_hash", hash((timezone, week, holidays)))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Calendar is immutable; use with_holidays() or from_spec() to make another")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Calendar is immutable")

    # -- construction from and to JSON-like config ---------------------------------

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Calendar:
        """Build a calendar from JSON-like config.

        ``{"timezone": "America/New_York", "hours": {"mon": [["08:00", "12:00"],
        ["13:00", "18:00"]], ...}, "holidays": ["2026-12-25"]}``; ``holidays`` is optional,
        any other key is refused.
        """
        if not isinstance(spec, Mapping):
            raise CalendarError(f"calendar spec must be a mapping, got {type(spec).__name__}")
        unknown = sorted(str(k) for k in spec if k not in _SPEC_KEYS)
        if unknown:
            raise CalendarError(f"unknown calendar setting(s) {', '.join(unknown)}; allowed: holidays, hours, timezone")
        for key in ("timezone", "hours"):
            if key not in spec:
                raise CalendarError(f"calendar spec is missing {key!r}")
        holidays = spec.get("holidays", ())
        if holidays is None:
            holidays = ()
        return cls(spec["timezone"], spec["hours"], holidays)

    def to_spec(self) -> dict[str, Any]:
        """The JSON-like config of this calendar; ``Calendar.from_spec(c.to_spec()) == c``.

        Only weekdays with working time appear under ``hours``, intervals in order, holidays
        sorted: the canonical form of a spec.
        """
        return {
            "timezone": self._timezone,
            "hours": {
                WEEKDAYS[i]: [[_format_time(s), _format_time(e)] for s, e in day]
                for i, day in enumerate(self._week)
                if day
            },
            "holidays": [d.isoformat() for d in sorted(self._holidays)],
        }

    def with_holidays(self, extra_dates: Iterable[date | str]) -> Calendar:
        """A new calendar with ``extra_dates`` added to the holidays (this one is unchanged)."""
        extra = _parse_holidays(extra_dates)
        new = object.__new__(Calendar)
        new._init(self._timezone, self._tz, self._week, self._holidays | extra)
        return new

    # -- read-only views ------------------------------------------------------------

    @property
    def timezone(self) -> str:
        """The IANA time zone name."""
        return self._timezone

    @property
    def tz(self) -> ZoneInfo:
        return self._tz

    @property
    def holidays(self) -> frozenset[date]:
        return self._holidays

    def working_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The real ``[start, end)`` instants (UTC) of local date ``day``'s working intervals.

        Empty on a holiday or a weekday without working time; an interval that falls wholly
        inside a spring-forward gap is empty and left out.
        """
        if not isinstance(day, date) or isinstance(day, datetime):
            raise TypeError(f"day must be a date, got {type(day).__name__}")
        return [(_from_us(s), _from_us(e)) for s, e in _day_spans(self, day)]

    # -- value semantics --------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Calendar):
            return NotImplemented
        return (self._timezone, self._week, self._holidays) == (other._timezone, other._week, other._holidays)

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"Calendar.from_spec({self.to_spec()!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Calendar.from_spec, (self.to_spec(),))


# -- the clock ----------------------------------------------------------------------------


def add_business_time(start: datetime, seconds: float | int, calendar: Calendar) -> datetime:
    """The instant (UTC) at which ``seconds`` of business time have elapsed since ``start``.

    ``seconds == 0`` returns ``start`` itself (as UTC), even outside working time. With
    ``seconds > 0`` the result is inside a working interval or exactly at its end.
    """
    t = _to_us(start, "start")
    remaining = _seconds_to_us(seconds)
    if remaining == 0:
        return _from_us(t)
    for s, e in _spans_from(calendar, t):
        if e <= t:
            continue
        begin = s if s > t else t
        available = e - begin
        if remaining <= available:
            return _from_us(begin + remaining)
        remaining -= available
    raise AssertionError("unreachable: _spans_from never ends")  # pragma: no cover


def business_seconds_between(a: datetime, b: datetime, calendar: Calendar) -> float:
    """Business seconds elapsed from ``a`` to ``b``; ``0.0`` when ``b <= a`` (never negative)."""
    ta = _to_us(a, "a")
    tb = _to_us(b, "b")
    if tb <= ta:
        return 0.0
    total = 0
    for s, e in _spans_from(calendar, ta):
        if s >= tb:
            break
        lo = s if s > ta else ta
        hi = e if e < tb else tb
        if hi > lo:
            total += hi - lo
    return total / _US


def is_working_time(moment: datetime, calendar: Calendar) -> bool:
    """Whether ``moment`` lies inside a working interval (start included, end excluded)."""
    t = _to_us(moment, "moment")
    for s, e in _spans_from(calendar, t):
        if s > t:
            return False
        if t < e:
            return True
    raise AssertionError("unreachable: _spans_from never ends")  # pragma: no cover


def next_working_moment(moment: datetime, calendar: Calendar) -> datetime:
    """``moment`` (as UTC) if it is working time, else the start of the next working interval."""
    t = _to_us(moment, "moment")
    for s, e in _spans_from(calendar, t):
        if e > t:
            return _from_us(s if s > t else t)
    raise AssertionError("unreachable: _spans_from never ends")  # pragma: no cover


def default_calendar(zone: str | None = None) -> Calendar:
    """Monday to Friday, 08:00-18:00, no holidays, in ``zone`` (an IANA name; the app
    passes the site's time zone, ``SITE_TIMEZONE``), else America/New_York."""
    if zone is None or zone == _DEFAULT.timezone:
        return _DEFAULT
    return _default_in(zone)


@lru_cache(maxsize=8)
def _default_in(zone: str) -> Calendar:
    return Calendar(zone, {day: [("08:00", "18:00")] for day in WEEKDAYS[:5]})


# -- internals ------------------------------------------------------------------------------


def _spans_from(calendar: Calendar, t: int) -> Iterator[tuple[int, int]]:
    """Every working span (epoch microseconds) that ends after ``t``, in order, forever.

    Starts one local day early: with fold=0 an interval of the day before can end after
    ``t``'s local midnight (a fall-back at midnight repeats the previous day's last hour).
    """
    if not isinstance(calendar, Calendar):
        raise TypeError(f"calendar must be a Calendar, got {type(calendar).__name__}")
    day = _from_us(t).astimezone(calendar._tz).date()
    if day > date.min:
        day -= _ONE_DAY
    while True:
        for span in _day_spans(calendar, day):
            if span[1] > t:
                yield span
        try:
            day += _ONE_DAY
        except OverflowError:
            raise OverflowError("business time runs past the last representable date (9999-12-31)") from None


@lru_cache(maxsize=32_768)
def _day_spans(calendar: Calendar, day: date) -> tuple[tuple[int, int], ...]:
    """The real [start, end) spans, in epoch microseconds, of one local date's working intervals."""
    if day in calendar._holidays:
        return ()
    intervals = calendar._week[day.weekday()]
    if not intervals:
        return ()
    midnight = datetime(day.year, day.month, day.day)
    tz = calendar._tz
    spans = []
    for start, end in intervals:
        s = _resolve(midnight + timedelta(seconds=start), tz)
        try:
            e = _resolve(midnight + timedelta(seconds=end), tz)
        except OverflowError:  # 24:00 on 9999-12-31
            e = _to_us(datetime.max.replace(tzinfo=UTC), "end")
        if e > s:  # empty when the whole interval lies in a spring-forward gap
            spans.append((s, e))
    return tuple(spans)


def _resolve(wall: datetime, tz: ZoneInfo) -> int:
    """The instant (epoch microseconds) of naive local time ``wall`` in ``tz``.

    Ambiguous (fall-back) times take fold=0, the earlier instant; nonexistent (spring-
    forward) times become the first valid instant after the gap, i.e. the transition.
    """
    aware = wall.replace(tzinfo=tz)
    off0 = aware.utcoffset()
    off1 = aware.replace(fold=1).utcoffset()
    assert off0 is not None and off1 is not None
    base = (wall - _EPOCH_NAIVE) // _ONE_US
    if off0 >= off1:  # unambiguous (equal) or in a fold (fold=0 has the larger offset)
        return base - off0 // _ONE_US
    # In a gap: fold=0 uses the offset before the transition, fold=1 the one after, and the
    # transition instant T satisfies base - off1 < T <= base - off0. Bisect for it.
    after = off1 // _ONE_US
    lo = base - after
    hi = base - off0 // _ONE_US
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _from_us(mid).astimezone(tz).utcoffset() == off1:
            hi = mid
        else:
            lo = mid
    return hi


def _to_us(moment: datetime, name: str) -> int:
    if not isinstance(moment, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} is a naive datetime; give a timezone-aware one (for example in UTC)")
    return (moment - _EPOCH) // _ONE_US


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _seconds_to_us(seconds: float | int) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise TypeError(f"seconds must be an int or a float, got {type(seconds).__name__}")
    if isinstance(seconds, float) and not math.isfinite(seconds):
        raise ValueError(f"seconds must be finite, got {seconds!r}")
    if seconds < 0:
        raise ValueError(f"seconds must be >= 0, got {seconds!r}")
    if isinstance(seconds, int):
        return seconds * _US
    return timedelta(seconds=seconds) // _ONE_US


def _load_zone(name: object) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise CalendarError(f"time zone must be an IANA name such as 'America/New_York', got {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise CalendarError(f"unknown time zone {name!r}: use an IANA name such as 'America/New_York'") from None


def _weekday_index(key: object) -> int:
    if isinstance(key, str) and key.lower() in WEEKDAYS:
        return WEEKDAYS.index(key.lower())
    if isinstance(key, int) and not isinstance(key, bool) and 0 <= key <= 6:
        return key
    raise CalendarError(f"unknown weekday {key!r} in hours: use one of {', '.join(WEEKDAYS)} (or 0-6, Monday is 0)")


def _parse_week(hours: object) -> tuple[_Day, ...]:
    if not isinstance(hours, Mapping):
        raise CalendarError(f"hours must map weekdays to lists of [start, end] intervals, got {type(hours).__name__}")
    week: list[_Day | None] = [None] * 7
    for key, intervals in hours.items():
        index = _weekday_index(key)
        if week[index] is not None:
            raise CalendarError(f"weekday {WEEKDAYS[index]} is given more than once in hours")
        week[index] = _parse_day(WEEKDAYS[index], intervals)
    return tuple(day or () for day in week)


def _parse_day(day: str, intervals: object) -> _Day:
    if isinstance(intervals, str | bytes) or not isinstance(intervals, Iterable):
        raise CalendarError(
            f"{day}: working hours must be a list of [start, end] intervals such as "
            f'[["08:00", "12:00"]], got {intervals!r}'
        )
    parsed: list[tuple[int, int]] = []
    for interval in intervals:
        if isinstance(interval, str | bytes) or not isinstance(interval, Iterable):
            raise CalendarError(f"{day}: interval {interval!r} is not a [start, end] pair")
        pair = list(interval)
        if len(pair) != 2:
            raise CalendarError(f"{day}: interval {interval!r} is not a [start, end] pair")
        start = _parse_time(day, pair[0], is_end=False)
        end = _parse_time(day, pair[1], is_end=True)
        if end <= start:
            hint = " (write '24:00' for the end of the day)" if end == 0 else ""
            raise CalendarError(
                f"{day}: interval {_format_time(start)}-{_format_time(end)} is empty or reversed; "
                f"its end must be after its start{hint}"
            )
        parsed.append((start, end))
    parsed.sort()
    for (s1, e1), (s2, e2) in zip(parsed, parsed[1:], strict=False):
        if s2 < e1:
            raise CalendarError(
                f"{day}: intervals {_format_time(s1)}-{_format_time(e1)} and "
                f"{_format_time(s2)}-{_format_time(e2)} overlap"
            )
    return tuple(parsed)


def _parse_time(day: str, value: object, *, is_end: bool) -> int:
    """Seconds after local midnight; 86400 only for an interval end written '24:00'."""
    if isinstance(value, time):
        if value.tzinfo is not None:
            raise CalendarError(f"{day}: {value} has a time zone; interval times are wall-clock times")
        if value.microsecond:
            raise CalendarError(f"{day}: {value} has fractions of a second; use whole seconds")
        return value.hour * 3600 + value.minute * 60 + value.second
    if not isinstance(value, str):
        raise CalendarError(f"{day}: {value!r} is not a time; write 'HH:MM' (00:00 to 24:00)")
    match = _TIME_RE.fullmatch(value)
    if match is None:
        raise CalendarError(f"{day}: {value!r} is not a time; write 'HH:MM' (00:00 to 24:00)")
    h, m, s = int(match[1]), int(match[2]), int(match[3] or 0)
    if h == 24 and m == 0 and s == 0:
        if not is_end:
            raise CalendarError(f"{day}: 24:00 can only end an interval, not start one")
        return _DAY_SECONDS
    if h > 23 or m > 59 or s > 59:
        raise CalendarError(f"{day}: {value!r} is outside 00:00-24:00")
    return h * 3600 + m * 60 + s


def _format_time(seconds: int) -> str:
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h:02d}:{m:02d}" if s == 0 else f"{h:02d}:{m:02d}:{s:02d}"


def _parse_holidays(holidays: object) -> frozenset[date]:
    if isinstance(holidays, str | bytes) or not isinstance(holidays, Iterable):
        raise CalendarError(f"holidays must be a list of dates ('YYYY-MM-DD'), got {holidays!r}")
    parsed = set()
    for value in holidays:
        if isinstance(value, datetime):
            raise CalendarError(f"holiday {value!r} is a datetime; give the local date only")
        if isinstance(value, date):
            parsed.add(value)
            continue
        if isinstance(value, str) and _DATE_RE.fullmatch(value):
            try:
                parsed.add(date.fromisoformat(value))
                continue
            except ValueError:
                pass
        raise CalendarError(f"holiday {value!r} is not a date in YYYY-MM-DD form")
    return frozenset(parsed)


CALENDAR_24X7 = Calendar("UTC", {day: [("00:00", "24:00")] for day in WEEKDAYS})
"""Every instant is working time: for targets measured in calendar time."""

_DEFAULT = Calendar("America/New_York", {day: [("08:00", "18:00")] for day in WEEKDAYS[:5]})
