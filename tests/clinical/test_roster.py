"""Who is on duty: the pure rule, across midnight and daylight saving time."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from helpdesk.clinical.roster import Member, Shift, is_on_duty, local_wall_time, on_duty

pytestmark = pytest.mark.pure  # no app, no database: the per-test table reset is skipped

NY = ZoneInfo("America/New_York")
MON, FRI, SAT, SUN = 0, 4, 5, 6


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def day_shift(weekday: int) -> Shift:
    return Shift(weekday, time(9), time(17))


def test_a_day_shift_follows_local_time_in_winter_and_summer():
    nurse = Member(1, shifts=(day_shift(MON),))
    # Monday 2026-01-12: EST (UTC-5) -> 09:00 local is 14:00 UTC
    assert not is_on_duty(nurse, utc(2026, 1, 12, 13, 59), NY)
    assert is_on_duty(nurse, utc(2026, 1, 12, 14, 0), NY)
    assert is_on_duty(nurse, utc(2026, 1, 12, 21, 59), NY)
    assert not is_on_duty(nurse, utc(2026, 1, 12, 22, 0), NY)  # 17:00 local: the end is excluded
    # Monday 2026-07-13: EDT (UTC-4) -> 09:00 local is 13:00 UTC (an offset-naive rule would be an hour off)
    assert is_on_duty(nurse, utc(2026, 7, 13, 13, 0), NY)
    assert not is_on_duty(nurse, utc(2026, 7, 13, 21, 0), NY)


def test_the_monday_after_the_spring_change_uses_the_new_offset():
    nurse = Member(1, shifts=(day_shift(MON),))
    # DST began Sunday 2026-03-08; Monday 09:00 EDT = 13:00 UTC
    assert is_on_duty(nurse, utc(2026, 3, 9, 13, 0), NY)
    assert not is_on_duty(nurse, utc(2026, 3, 9, 12, 59), NY)
    # the Monday before (EST): 13:00 UTC is 08:00 local
    assert not is_on_duty(nurse, utc(2026, 3, 2, 13, 0), NY)


def test_a_night_shift_runs_past_midnight_into_the_next_day():
    nurse = Member(1, shifts=(Shift(FRI, time(22), time(6)),))  # Friday 22:00 - Saturday 06:00
    assert is_on_duty(nurse, datetime(2026, 1, 16, 23, 30, tzinfo=NY), NY)  # Friday night
    assert is_on_duty(nurse, datetime(2026, 1, 17, 5, 59, tzinfo=NY), NY)  # Saturday early morning
    assert not is_on_duty(nurse, datetime(2026, 1, 17, 6, 0, tzinfo=NY), NY)
    assert not is_on_duty(nurse, datetime(2026, 1, 16, 5, 0, tzinfo=NY), NY)  # Friday early morning: Thursday's
    assert not is_on_duty(nurse, datetime(2026, 1, 17, 23, 0, tzinfo=NY), NY)  # Saturday night


def test_a_night_shift_over_the_spring_change_is_an_hour_shorter():
    # Saturday 2026-03-07 22:00 EST -> Sunday 2026-03-08 06:00 EDT: 7 real hours
    nurse = Member(1, shifts=(Shift(SAT, time(22), time(6)),))
    start, end = utc(2026, 3, 8, 3, 0), utc(2026, 3, 8, 10, 0)  # 22:00 EST, 06:00 EDT
    assert (end - start).total_seconds() == 7 * 3600
    assert is_on_duty(nurse, start, NY)
    assert is_on_duty(nurse, utc(2026, 3, 8, 9, 59), NY)
    assert not is_on_duty(nurse, end, NY)
    assert not is_on_duty(nurse, utc(2026, 3, 8, 2, 59), NY)


def test_a_night_shift_over_the_autumn_change_is_an_hour_longer_and_the_repeated_hour_counts_twice():
    # Saturday 2026-10-31 22:00 EDT -> Sunday 2026-11-01 06:00 EST: 9 real hours
    nurse = Member(1, shifts=(Shift(SAT, time(22), time(6)),))
    assert is_on_duty(nurse, utc(2026, 11, 1, 2, 0), NY)  # 22:00 EDT
    first_130 = utc(2026, 11, 1, 5, 30)  # 01:30 EDT
    second_130 = utc(2026, 11, 1, 6, 30)  # 01:30 EST
    assert local_wall_time(first_130, NY) == local_wall_time(second_130, NY)
    assert is_on_duty(nurse, first_130, NY) and is_on_duty(nurse, second_130, NY)
    assert is_on_duty(nurse, utc(2026, 11, 1, 10, 59), NY)  # 05:59 EST
    assert not is_on_duty(nurse, utc(2026, 11, 1, 11, 0), NY)  # 06:00 EST


def test_sunday_night_runs_into_monday_across_the_week_boundary():
    nurse = Member(1, shifts=(Shift(SUN, time(20), time(8)),))
    assert is_on_duty(nurse, datetime(2026, 1, 19, 7, 0, tzinfo=NY), NY)  # Monday 07:00
    assert not is_on_duty(nurse, datetime(2026, 1, 19, 20, 0, tzinfo=NY), NY)  # Monday 20:00


def test_equal_start_and_end_is_a_whole_day():
    nurse = Member(1, shifts=(Shift(MON, time(0), time(0)),))
    assert is_on_duty(nurse, datetime(2026, 1, 12, 0, 0, tzinfo=NY), NY)
    assert is_on_duty(nurse, datetime(2026, 1, 12, 23, 59, tzinfo=NY), NY)
    assert not is_on_duty(nurse, datetime(2026, 1, 13, 0, 0, tzinfo=NY), NY)
    assert Shift(MON, time(0), time(0)).label() == "Monday 00:00 (24 hours)"
    assert Shift(FRI, time(22), time(6)).label() == "Friday 22:00–06:00 (next day)"


def test_the_toggle_overrides_the_shifts():
    at = datetime(2026, 1, 12, 3, 0, tzinfo=NY)  # Monday 03:00, outside the shift
    shifts = (day_shift(MON),)
    assert is_on_duty(Member(1, "on", shifts), at, NY)
    assert not is_on_duty(Member(1, "off", shifts), datetime(2026, 1, 12, 10, 0, tzinfo=NY), NY)
    assert not is_on_duty(Member(1, "shifts", ()), at, NY)


def test_on_duty_lists_the_members_in_order():
    at = datetime(2026, 1, 12, 10, 0, tzinfo=NY)
    members = [Member(3, shifts=(day_shift(MON),)), Member(1, "off"), Member(2, "on"), Member(4, shifts=(day_shift(SUN),))]
    assert on_duty(members, at, NY) == [3, 2]
    assert on_duty(members, at, ZoneInfo("Asia/Tokyo")) == [2]  # 00:00 Tuesday in Tokyo


def test_bad_values_are_refused():
    with pytest.raises(ValueError):
        Shift(7, time(9), time(17))
    with pytest.raises(ValueError):
        Member(1, "maybe")
    with pytest.raises(ValueError):
        is_on_duty(Member(1, "on"), datetime(2026, 1, 12, 10, 0), NY)  # naive
