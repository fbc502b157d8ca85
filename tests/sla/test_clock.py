"""The business-hours clock: named examples, invalid calendars, and properties (hypothesis)."""

from __future__ import annotations

import ast
import math
import pickle
import time as stopwatch
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import helpdesk.sla.clock as clock_module
from helpdesk.sla.clock import (
    CALENDAR_24X7,
    WEEKDAYS,
    Calendar,
    CalendarError,
    add_business_time,
    business_seconds_between,
    default_calendar,
    is_working_time,
    next_working_moment,
)

pytestmark = pytest.mark.pure  # no app, no database: the per-test table reset is skipped

NY = ZoneInfo("America/New_York")
HOUR = 3600
US = timedelta(microseconds=1)

# database=None: no .hypothesis/ directory in the working tree.
PROPERTIES = settings(max_examples=200, deadline=None, database=None)

DEFAULT = default_calendar()
SPLIT = Calendar.from_spec(
    {
        "timezone": "America/New_York",
        "hours": {
            # Mon 00:00-01:00 joins Sun 23:00-24:00 across midnight.
            "mon": [["00:00", "01:00"], ["08:00", "12:00"], ["13:00", "18:00"]],
            "tue": [["08:00", "12:00"], ["13:00", "18:00"]],
            "wed": [["08:00", "12:00"], ["13:00", "18:00"]],
            "thu": [["08:00", "12:00"], ["13:00", "18:00"]],
            "fri": [["08:00", "12:00"], ["13:00", "18:00"]],
            "sat": [["10:00", "14:00"]],
            # 01:30-02:30 straddles both DST changes: 30 min on 2026-03-08, 2 h on 2026-11-01.
            "sun": [["01:30", "02:30"], ["23:00", "24:00"]],
        },
        "holidays": ["2025-12-25", "2026-01-01", "2026-03-09", "2026-11-02", "2026-11-26", "2026-12-25"],
    }
)
NY_24X7 = Calendar("America/New_York", {day: [("00:00", "24:00")] for day in WEEKDAYS})

# (calendar, seconds in one of its business days) for the properties.
CALENDARS = [
    pytest.param(DEFAULT, 10 * HOUR, id="default"),
    pytest.param(SPLIT, 9 * HOUR, id="split-with-holidays"),
    pytest.param(NY_24X7, 24 * HOUR, id="24x7-new-york"),
]


def ny(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=NY, fold=fold)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def real_seconds(a: datetime, b: datetime) -> float:
    """Real elapsed seconds (subtracting two datetimes of the same zone would use wall time)."""
    return (b.astimezone(UTC) - a.astimezone(UTC)).total_seconds()


def by_instant(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def interval_hours(cal: Calendar, day: date) -> list[float]:
    return [(e - s).total_seconds() / HOUR for s, e in cal.working_intervals(day)]


# -- named examples ------------------------------------------------------------------------


def test_friday_17_plus_two_hours_is_monday_09_new_york():
    result = add_business_time(ny(2026, 1, 9, 17), 2 * HOUR, DEFAULT)
    assert result == ny(2026, 1, 12, 9)
    assert result.tzinfo is UTC and result == utc(2026, 1, 12, 14)
    assert business_seconds_between(ny(2026, 1, 9, 17), result, DEFAULT) == 2 * HOUR


def test_the_lunch_gap_is_not_business_time():
    start = ny(2026, 1, 13, 11)  # a Tuesday
    assert add_business_time(start, 2 * HOUR, SPLIT) == ny(2026, 1, 13, 14)
    assert business_seconds_between(start, ny(2026, 1, 13, 14), SPLIT) == 2 * HOUR
    assert not is_working_time(ny(2026, 1, 13, 12, 30), SPLIT)
    assert next_working_moment(ny(2026, 1, 13, 12, 30), SPLIT) == ny(2026, 1, 13, 13)
    assert business_seconds_between(ny(2026, 1, 13, 12), ny(2026, 1, 13, 13), SPLIT) == 0


def test_a_holiday_is_skipped_and_the_original_calendar_is_unchanged():
    christmas = DEFAULT.with_holidays(["2026-12-25"])  # a Friday
    assert add_business_time(ny(2026, 12, 24, 17), 2 * HOUR, christmas) == ny(2026, 12, 28, 9)
    assert business_seconds_between(ny(2026, 12, 24, 18), ny(2026, 12, 28, 8), christmas) == 0
    assert add_business_time(ny(2026, 12, 24, 17), 2 * HOUR, DEFAULT) == ny(2026, 12, 25, 9)
    assert DEFAULT.holidays == frozenset() and christmas.holidays == {date(2026, 12, 25)}
    assert christmas.with_holidays([date(2026, 12, 25)]) == christmas


def test_spring_forward_week_keeps_08_to_18_at_ten_real_hours():
    # Fri 2026-03-06 is EST, Mon 2026-03-09 is EDT; the 02:00 change is outside 08-18.
    assert add_business_time(ny(2026, 3, 6, 17), 2 * HOUR, DEFAULT) == utc(2026, 3, 9, 13)
    assert business_seconds_between(ny(2026, 3, 2), ny(2026, 3, 9), DEFAULT) == 50 * HOUR
    assert business_seconds_between(ny(2026, 3, 6), ny(2026, 3, 10), DEFAULT) == 20 * HOUR


def test_spring_forward_day_is_23_real_hours_in_a_24h_new_york_calendar():
    day_start, next_day = ny(2026, 3, 8), ny(2026, 3, 9)
    assert real_seconds(day_start, next_day) == 23 * HOUR
    assert business_seconds_between(day_start, next_day, NY_24X7) == 23 * HOUR
    assert add_business_time(day_start, 23 * HOUR, NY_24X7) == next_day
    # 01:59 EST + 1 minute is 03:00 EDT.
    assert add_business_time(ny(2026, 3, 8, 1, 59), 60, NY_24X7) == ny(2026, 3, 8, 3)
    assert business_seconds_between(ny(2026, 3, 2), ny(2026, 3, 9), NY_24X7) == (7 * 24 - 1) * HOUR


def test_fall_back_day_is_25_real_hours_in_a_24h_new_york_calendar():
    day_start, next_day = ny(2026, 11, 1), ny(2026, 11, 2)
    assert business_seconds_between(day_start, next_day, NY_24X7) == 25 * HOUR
    assert add_business_time(day_start, 25 * HOUR, NY_24X7) == next_day
    # 01:30 happens twice; both are working time and an hour apart.
    first, second = ny(2026, 11, 1, 1, 30, fold=0), ny(2026, 11, 1, 1, 30, fold=1)
    assert is_working_time(first, NY_24X7) and is_working_time(second, NY_24X7)
    assert business_seconds_between(first, second, NY_24X7) == HOUR
    assert business_seconds_between(ny(2026, 10, 26), ny(2026, 11, 2), DEFAULT) == 50 * HOUR


def test_an_interval_across_02_00_measures_real_elapsed_time():
    sundays = Calendar("America/New_York", {"sun": [("01:00", "03:00")]})
    assert interval_hours(sundays, date(2026, 3, 1)) == [2.0]
    assert interval_hours(sundays, date(2026, 3, 8)) == [1.0]  # 01:00 EST -> 03:00 EDT
    assert interval_hours(sundays, date(2026, 11, 1)) == [3.0]  # 01:00 EDT (fold=0) -> 03:00 EST
    assert add_business_time(ny(2026, 11, 1), 3 * HOUR, sundays) == ny(2026, 11, 1, 3) == utc(2026, 11, 1, 8)
    assert business_seconds_between(ny(2026, 3, 7), ny(2026, 3, 9), sundays) == HOUR


def test_a_start_in_the_spring_forward_gap_is_the_first_instant_after_it():
    gap = Calendar("America/New_York", {"sun": [("02:00", "02:30"), ("02:30", "04:00")]})
    # 02:00-02:30 does not exist on 2026-03-08: empty; 02:30-04:00 starts at 03:00 EDT.
    assert gap.working_intervals(date(2026, 3, 8)) == [(utc(2026, 3, 8, 7), utc(2026, 3, 8, 8))]
    assert next_working_moment(ny(2026, 3, 8, 1, 30), gap) == utc(2026, 3, 8, 7)
    assert interval_hours(gap, date(2026, 3, 15)) == [0.5, 1.5]


def test_an_ambiguous_end_takes_the_first_occurrence():
    early = Calendar("America/New_York", {"sun": [("00:00", "01:30")]})
    assert early.working_intervals(date(2026, 11, 1)) == [(utc(2026, 11, 1, 4), utc(2026, 11, 1, 5, 30))]
    assert is_working_time(ny(2026, 11, 1, 1, 15, fold=0), early)
    assert not is_working_time(ny(2026, 11, 1, 1, 15, fold=1), early)
    assert not is_working_time(ny(2026, 11, 1, 1, 30, fold=0), early)  # the end is excluded


def test_an_interval_00_00_to_24_00():
    wednesdays = Calendar.from_spec({"timezone": "UTC", "hours": {"wed": [["00:00", "24:00"]]}})
    assert wednesdays.to_spec()["hours"] == {"wed": [["00:00", "24:00"]]}
    assert add_business_time(utc(2026, 1, 7, 23), 2 * HOUR, wednesdays) == utc(2026, 1, 14, 1)
    assert add_business_time(utc(2026, 1, 7), 24 * HOUR, wednesdays) == utc(2026, 1, 8)
    assert is_working_time(utc(2026, 1, 7, 23, 59, 59, 999999), wednesdays)
    assert not is_working_time(utc(2026, 1, 8), wednesdays)
    assert business_seconds_between(utc(2026, 1, 1), utc(2026, 2, 1), wednesdays) == 4 * 24 * HOUR


def test_calendar_24x7_is_calendar_time():
    start = ny(2026, 3, 8, 1, 59)
    assert add_business_time(start, 90.5, CALENDAR_24X7) == by_instant(start) + timedelta(seconds=90.5)
    assert business_seconds_between(start, ny(2026, 4, 17, 1, 59), CALENDAR_24X7) == (40 * 24 - 1) * HOUR
    assert CALENDAR_24X7.timezone == "UTC"


def test_default_calendar_is_weekdays_8_to_18_new_york():
    assert DEFAULT.to_spec() == {
        "timezone": "America/New_York",
        "hours": {day: [["08:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
        "holidays": [],
    }


def test_zero_seconds_returns_the_moment_unchanged_even_outside_working_time():
    saturday = ny(2026, 1, 10, 15)
    assert add_business_time(saturday, 0, DEFAULT) == saturday
    assert add_business_time(saturday, 0.0, DEFAULT).tzinfo is UTC
    assert add_business_time(saturday, 1e-6, DEFAULT) == ny(2026, 1, 12, 8) + US


def test_the_result_may_be_the_end_of_an_interval_not_the_next_start():
    assert add_business_time(ny(2026, 1, 9, 8), 10 * HOUR, DEFAULT) == ny(2026, 1, 9, 18)
    assert add_business_time(ny(2026, 1, 13, 8), 4 * HOUR, SPLIT) == ny(2026, 1, 13, 12)


def test_between_is_zero_when_b_is_not_after_a():
    a, b = ny(2026, 1, 12, 9), ny(2026, 1, 12, 11)
    assert business_seconds_between(b, a, DEFAULT) == 0.0
    assert business_seconds_between(a, a, DEFAULT) == 0.0


def test_working_time_and_next_working_moment():
    assert is_working_time(ny(2026, 1, 12, 8), DEFAULT)  # start included
    assert not is_working_time(ny(2026, 1, 12, 18), DEFAULT)  # end excluded
    assert next_working_moment(ny(2026, 1, 12, 18), DEFAULT) == ny(2026, 1, 13, 8)
    assert next_working_moment(ny(2026, 1, 12, 9, 15), DEFAULT) == ny(2026, 1, 12, 9, 15)
    assert next_working_moment(ny(2026, 1, 12, 9, 15), DEFAULT).tzinfo is UTC
    assert next_working_moment(ny(2026, 1, 10), DEFAULT) == ny(2026, 1, 12, 8)
    # Sun 23:00-24:00 runs straight into Mon 00:00-01:00 (and Mon 2026-03-09 is a holiday).
    assert add_business_time(ny(2026, 1, 11, 23, 30), HOUR, SPLIT) == ny(2026, 1, 12, 0, 30)
    assert add_business_time(ny(2026, 3, 8, 23, 30), HOUR, SPLIT) == ny(2026, 3, 10, 8, 30)


def test_naive_datetimes_are_refused():
    naive = datetime(2026, 1, 12, 9)
    aware = ny(2026, 1, 12, 9)
    for call in (
        lambda: add_business_time(naive, 60, DEFAULT),
        lambda: business_seconds_between(naive, aware, DEFAULT),
        lambda: business_seconds_between(aware, naive, DEFAULT),
        lambda: is_working_time(naive, DEFAULT),
        lambda: next_working_moment(naive, DEFAULT),
    ):
        with pytest.raises(ValueError, match="naive"):
            call()


@pytest.mark.parametrize("seconds", [-1, -0.5, math.nan, math.inf])
def test_bad_seconds_are_refused(seconds):
    with pytest.raises(ValueError, match="seconds"):
        add_business_time(ny(2026, 1, 12, 9), seconds, DEFAULT)


def test_wrong_types_are_refused():
    with pytest.raises(TypeError, match="calendar"):
        add_business_time(ny(2026, 1, 12, 9), 60, {"timezone": "UTC"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="seconds"):
        add_business_time(ny(2026, 1, 12, 9), "60", DEFAULT)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="datetime"):
        is_working_time(date(2026, 1, 12), DEFAULT)  # type: ignore[arg-type]


def test_spec_round_trip_equality_hash_and_immutability():
    spec = SPLIT.to_spec()
    assert Calendar.from_spec(spec) == SPLIT and hash(Calendar.from_spec(spec)) == hash(SPLIT)
    assert Calendar.from_spec(spec).to_spec() == spec
    for cal in (DEFAULT, NY_24X7, CALENDAR_24X7):
        assert Calendar.from_spec(cal.to_spec()) == cal
        assert pickle.loads(pickle.dumps(cal)) == cal  # noqa: S301 - bytes we just made
    # Order of intervals, weekday spelling, time objects and date objects normalise away.
    same = Calendar(
        "America/New_York",
        {0: [(time(13), time(18)), (time(8), "12:00")], "TUE": [("08:00", "18:00")]},
        [date(2026, 12, 25)],
    )
    assert same.to_spec() == {
        "timezone": "America/New_York",
        "hours": {"mon": [["08:00", "12:00"], ["13:00", "18:00"]], "tue": [["08:00", "18:00"]]},
        "holidays": ["2026-12-25"],
    }
    assert Calendar.from_spec({"timezone": "UTC", "hours": {"mon": [["08:00:30", "09:00"]]}}).to_spec()["hours"] == {
        "mon": [["08:00:30", "09:00"]]
    }
    assert DEFAULT != SPLIT and DEFAULT != "calendar"
    with pytest.raises(AttributeError):
        DEFAULT._timezone = "UTC"  # type: ignore[misc]


def test_ninety_business_days_take_under_5_ms():
    start = ny(2026, 1, 5, 9)
    timings = []
    for i in range(5):
        # A calendar never used before, so no per-day work is cached: the cold cost.
        cold = DEFAULT.with_holidays([date(1900 + i, 1, 1)])
        t0 = stopwatch.perf_counter()
        end = add_business_time(start, 90 * 10 * HOUR, cold)
        timings.append(stopwatch.perf_counter() - t0)
        assert end == ny(2026, 5, 11, 9)
    assert min(timings) < 0.005, timings


def test_the_clock_imports_only_the_standard_library():
    tree = ast.parse(Path(clock_module.__file__).read_text(encoding="utf-8"))
    imported = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported <= {"__future__", "collections", "datetime", "functools", "math", "re", "typing", "zoneinfo"}


# -- invalid calendars -------------------------------------------------------------------


def _spec(hours=None, **extra):
    return {"timezone": "America/New_York", "hours": {"mon": [["08:00", "18:00"]]} if hours is None else hours, **extra}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            _spec({"mon": [["08:00", "12:00"], ["11:00", "13:00"]]}),
            r"mon: intervals 08:00-12:00 and 11:00-13:00 overlap",
        ),
        (
            _spec({"tue": [["13:00", "18:00"], ["08:00", "13:30"]]}),
            r"tue: intervals 08:00-13:30 and 13:00-18:00 overlap",
        ),
        (_spec({"wed": [["18:00", "08:00"]]}), r"wed: interval 18:00-08:00 is empty or reversed"),
        (_spec({"thu": [["09:00", "09:00"]]}), r"thu: interval 09:00-09:00 is empty or reversed"),
        (_spec({"fri": [["22:00", "00:00"]]}), r"empty or reversed.*'24:00'"),
        ({"timezone": "America/Gotham", "hours": {"mon": [["08:00", "18:00"]]}}, r"unknown time zone 'America/Gotham'"),
        ({"timezone": "America", "hours": {"mon": [["08:00", "18:00"]]}}, r"unknown time zone 'America'"),
        ({"timezone": "../etc/passwd", "hours": {"mon": [["08:00", "18:00"]]}}, r"unknown time zone"),
        ({"timezone": "", "hours": {"mon": [["08:00", "18:00"]]}}, r"IANA name"),
        ({"timezone": None, "hours": {"mon": [["08:00", "18:00"]]}}, r"IANA name"),
        (_spec({"mon": [["08:00", "25:00"]]}), r"mon: '25:00' is outside 00:00-24:00"),
        (_spec({"mon": [["08:60", "12:00"]]}), r"'08:60' is outside 00:00-24:00"),
        (_spec({"mon": [["08:00", "24:30"]]}), r"'24:30' is outside 00:00-24:00"),
        (_spec({"mon": [["24:00", "24:00"]]}), r"24:00 can only end an interval"),
        (_spec({"mon": [["8am", "5pm"]]}), r"'8am' is not a time"),
        (_spec({"mon": [["-01:00", "05:00"]]}), r"'-01:00' is not a time"),
        (_spec({"mon": [["08:00"]]}), r"not a \[start, end\] pair"),
        (_spec({"mon": "08:00-18:00"}), r"list of \[start, end\] intervals"),
        (_spec({}), r"no working time in the week"),
        (_spec({"mon": [], "sat": []}), r"no working time in the week"),
        (_spec({"funday": [["08:00", "18:00"]]}), r"unknown weekday 'funday'"),
        (_spec(["mon"]), r"hours must map weekdays"),
        (_spec(holidays=["2026-02-30"]), r"holiday '2026-02-30' is not a date"),
        (_spec(holidays=["25/12/2026"]), r"holiday '25/12/2026' is not a date"),
        (_spec(holidays="2026-12-25"), r"holidays must be a list"),
        (_spec(tz="UTC"), r"unknown calendar setting\(s\) tz"),
        ({"hours": {"mon": [["08:00", "18:00"]]}}, r"missing 'timezone'"),
        ({"timezone": "UTC"}, r"missing 'hours'"),
        ([("timezone", "UTC")], r"must be a mapping"),
    ],
)
def test_invalid_calendars_are_refused_with_a_clear_message(spec, message):
    with pytest.raises(CalendarError, match=message):
        Calendar.from_spec(spec)


def test_invalid_calendars_built_directly_are_refused_too():
    assert issubclass(CalendarError, ValueError)
    with pytest.raises(CalendarError, match="given more than once"):
        Calendar("UTC", {"mon": [("08:00", "09:00")], 0: [("10:00", "11:00")]})
    with pytest.raises(CalendarError, match="empty or reversed.*'24:00'"):
        Calendar("UTC", {"mon": [(time(8), time(0))]})
    with pytest.raises(CalendarError, match="whole seconds"):
        Calendar("UTC", {"mon": [(time(8, 0, 0, 500), time(9))]})
    with pytest.raises(CalendarError, match="wall-clock"):
        Calendar("UTC", {"mon": [(time(8, tzinfo=UTC), time(9))]})
    with pytest.raises(CalendarError, match="local date only"):
        DEFAULT.with_holidays([ny(2026, 12, 25)])


# -- properties ----------------------------------------------------------------------------

ZONES = st.one_of(
    st.timezones(),
    st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=9, minutes=30))]),
)
# Any aware instant in 2025-2027, in any zone (nonexistent and ambiguous local times included).
INSTANTS = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31, 23, 59, 59), timezones=ZONES)
DST_EXAMPLES = [
    ny(2026, 3, 8, 1, 59, 59),
    ny(2026, 3, 8, 2, 30),  # does not exist: 03:30 EDT
    ny(2026, 11, 1, 1, 30, fold=1),
    ny(2026, 3, 6, 17, 59, 59, 999999),
]


BUSINESS_DAYS = st.floats(0, 30)  # how many of the calendar's business days to add


def _seconds(days: float, business_day: int, whole: bool) -> float | int:
    """An int number of seconds (``whole``) or a float with fractions of a microsecond."""
    return round(days * business_day) if whole else days * business_day


@pytest.mark.parametrize(("calendar", "business_day"), CALENDARS)
@PROPERTIES
@given(start=INSTANTS, days=BUSINESS_DAYS, whole=st.booleans())
@example(start=DST_EXAMPLES[0], days=1.0, whole=True)
@example(start=DST_EXAMPLES[1], days=0.0, whole=True)
@example(start=DST_EXAMPLES[2], days=0.3, whole=False)
def test_adding_then_measuring_gives_the_seconds_back(calendar, business_day, start, days, whole):
    seconds = _seconds(days, business_day, whole)
    end = add_business_time(start, seconds, calendar)
    assert end.tzinfo is UTC and end >= start
    assert abs(business_seconds_between(start, end, calendar) - seconds) <= 1e-6
    if end > start:  # lands inside a working interval or exactly at its end
        assert is_working_time(end - US, calendar)


@pytest.mark.parametrize(("calendar", "business_day"), CALENDARS)
@PROPERTIES
@given(start=INSTANTS, days=st.lists(BUSINESS_DAYS, min_size=2, max_size=2), whole=st.booleans())
def test_adding_is_monotonic_in_seconds(calendar, business_day, start, days, whole):
    s1, s2 = sorted(_seconds(d, business_day, whole) for d in days)
    assert add_business_time(start, s1, calendar) <= add_business_time(start, s2, calendar)


@pytest.mark.parametrize(("calendar", "business_day"), CALENDARS)
@PROPERTIES
@given(moments=st.lists(INSTANTS, min_size=3, max_size=3))
def test_measuring_is_additive_and_bounded_by_real_time(calendar, business_day, moments):
    a, b, c = sorted(moments, key=by_instant)  # not by wall time: folds and gaps
    ab, bc, ac = (business_seconds_between(x, y, calendar) for x, y in ((a, b), (b, c), (a, c)))
    assert abs(ac - (ab + bc)) <= 1e-6
    assert 0 <= ac <= real_seconds(a, c)
    assert business_seconds_between(c, a, calendar) == 0
    if calendar is NY_24X7:  # every instant is working time, DST days included
        assert ac == real_seconds(a, c)


@pytest.mark.parametrize(("calendar", "business_day"), CALENDARS)
@PROPERTIES
@given(moment=INSTANTS, fraction=st.floats(0, 1))
@example(moment=DST_EXAMPLES[1], fraction=0.5)
@example(moment=DST_EXAMPLES[2], fraction=0.5)
@example(moment=DST_EXAMPLES[3], fraction=1.0)
def test_nothing_is_counted_outside_working_intervals(calendar, business_day, moment, fraction):
    opening = next_working_moment(moment, calendar)
    assert opening >= moment and is_working_time(opening, calendar)
    inside_gap = by_instant(moment) + (opening - moment) * fraction  # real, not wall-clock, arithmetic
    assert moment <= inside_gap <= opening
    assert business_seconds_between(moment, inside_gap, calendar) == 0
    assert business_seconds_between(moment, opening, calendar) == 0
    # by_instant: PEP 495 makes == False across zones when one side is in a gap or fold.
    assert is_working_time(moment, calendar) == (opening == by_instant(moment))
    assert is_working_time(moment, calendar) == (
        business_seconds_between(moment, by_instant(moment) + US, calendar) > 0
    )


# Random calendars in zones with unusual DST: 30-minute changes (Lord_Howe), negative DST
# (Dublin), changes at midnight (Havana, Asuncion), +13:45 (Chatham).
RANDOM_ZONES = [
    "America/New_York",
    "America/Havana",
    "America/Asuncion",
    "America/Santiago",
    "Europe/Dublin",
    "Europe/London",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Asia/Kolkata",
    "UTC",
]


@st.composite
def calendars(draw: st.DrawFn) -> Calendar:
    hours = {}
    for day in WEEKDAYS:
        points = draw(st.lists(st.integers(0, 96).map(lambda q: q * 900), unique=True, max_size=6))
        points.sort()
        pairs = [[points[i], points[i + 1]] for i in range(0, len(points) - 1, 2)]
        hours[day] = [[f"{s // 3600:02d}:{s % 3600 // 60:02d}" for s in pair] for pair in pairs]
    if not any(hours.values()):
        hours["wed"] = [["09:00", "17:00"]]
    holidays = draw(st.lists(st.dates(date(2025, 1, 1), date(2028, 12, 31)), max_size=20))
    spec = {
        "timezone": draw(st.sampled_from(RANDOM_ZONES)),
        "hours": hours,
        "holidays": [d.isoformat() for d in holidays],
    }
    calendar = Calendar.from_spec(spec)
    assert Calendar.from_spec(calendar.to_spec()) == calendar
    return calendar


@PROPERTIES
@given(calendar=calendars(), start=INSTANTS, other=INSTANTS, weeks=st.floats(0, 6))
def test_random_calendars_keep_the_clock_exact(calendar, start, other, weeks):
    weekly = sum(
        int(e[:2]) * 3600 + int(e[3:]) * 60 - int(s[:2]) * 3600 - int(s[3:]) * 60
        for day in calendar.to_spec()["hours"].values()
        for s, e in day
    )
    seconds = weekly * weeks
    end = add_business_time(start, seconds, calendar)
    assert abs(business_seconds_between(start, end, calendar) - seconds) <= 1e-6
    if end > start:
        assert is_working_time(end - US, calendar)
    a, b, c = sorted([start, other, end], key=by_instant)
    ac = business_seconds_between(a, c, calendar)
    assert abs(ac - business_seconds_between(a, b, calendar) - business_seconds_between(b, c, calendar)) <= 1e-6
    assert ac <= real_seconds(a, c)
    opening = next_working_moment(start, calendar)
    assert is_working_time(opening, calendar) and business_seconds_between(start, opening, calendar) == 0
