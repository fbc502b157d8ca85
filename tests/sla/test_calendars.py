"""Business calendars admins keep: US federal holidays on their observed dates, in any time
zone, across DST; the admin page and CLI that edit and show them."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from helpdesk.audit import AuditEvent
from helpdesk.extensions import db
from helpdesk.sla import calendars, policies
from helpdesk.sla.clock import add_business_time, business_seconds_between
from helpdesk.sla.models import SlaCalendar
from tests.factories import count, login

# The federal holidays' OBSERVED weekdays, worked out by hand from 5 U.S.C. 6103 and the
# Saturday→Friday / Sunday→Monday rule (not from the library under test).
OBSERVED = {
    2026: ["2026-01-01", "2026-01-19", "2026-02-16", "2026-05-25", "2026-06-19", "2026-07-03", "2026-09-07",
           "2026-10-12", "2026-11-11", "2026-11-26", "2026-12-25"],
    2027: ["2027-01-01", "2027-01-18", "2027-02-15", "2027-05-31", "2027-06-18", "2027-07-05", "2027-09-06",
           "2027-10-11", "2027-11-11", "2027-11-25", "2027-12-24", "2027-12-31"],  # 1 Jan 2028 is a Saturday
    2028: ["2028-01-17", "2028-02-21", "2028-05-29", "2028-06-19", "2028-07-04", "2028-09-04", "2028-10-09",
           "2028-11-10", "2028-11-23", "2028-12-25"],
}
ALL_OBSERVED = {date.fromisoformat(d) for days in OBSERVED.values() for d in days}
WEEKDAY_HOURS = {d: [["08:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
ZONES = ("America/New_York", "America/Los_Angeles")


def _spec(zone: str, presets=("us-federal",), holidays=()) -> dict:
    return {"timezone": zone, "hours": WEEKDAY_HOURS, "holidays": list(holidays), "presets": list(presets)}


pure = pytest.mark.pure


@pure
@pytest.mark.parametrize("year", sorted(OBSERVED))
def test_the_weekdays_off_are_the_observed_federal_holidays(year):
    off = {d for d, _ in calendars.holidays_in(_spec("America/New_York"), year) if d.weekday() < 5}
    assert off == {date.fromisoformat(d) for d in OBSERVED[year]}


def _working_day(d: date, step: int) -> date:
    d += timedelta(days=step)
    while d.weekday() >= 5 or d in ALL_OBSERVED:
        d += timedelta(days=step)
    return d


@pure
@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("holiday", sorted(ALL_OBSERVED), ids=str)
def test_business_time_skips_each_observed_holiday_in_two_time_zones(holiday, zone):
    """Two business hours from 17:00 on the working day before the holiday end at 09:00 on the
    working day after it, in the calendar's own zone (DST included: some spans cross a change)."""
    tz = ZoneInfo(zone)
    cal = calendars.build(_spec(zone), around_year=2027)
    start = datetime.combine(_working_day(holiday, -1), time(17, 0), tz)
    due = add_business_time(start, 2 * 3600, cal)
    assert due.astimezone(tz).replace(tzinfo=None) == datetime.combine(_working_day(holiday, 1), time(9, 0))
    assert business_seconds_between(start, due, cal) == 2 * 3600


@pure
@pytest.mark.parametrize("zone", ZONES)
def test_dst_weekends_are_not_holidays_and_hours_stay_local(zone):
    tz = ZoneInfo(zone)
    cal = calendars.build(_spec(zone), around_year=2027)
    for friday in (date(2026, 3, 6), date(2026, 10, 30), date(2027, 3, 12), date(2028, 3, 10), date(2028, 11, 3)):
        start = datetime.combine(friday, time(17, 0), tz)
        due = add_business_time(start, 2 * 3600, cal).astimezone(tz)
        assert (due.date(), due.time()) == (friday + timedelta(days=3), time(9, 0))


@pure
def test_local_holidays_add_to_the_preset_and_a_calendar_without_preset_has_none():
    spec = _spec("America/Chicago", holidays=["2026-11-27"])
    names = dict(calendars.holidays_in(spec, 2026))
    assert names[date(2026, 11, 27)] == "Local holiday" and names[date(2026, 11, 26)] == "Thanksgiving Day"
    assert calendars.holidays_in(_spec("America/Chicago", presets=()), 2026) == []
    assert date(2026, 12, 25) not in calendars.build(_spec("America/Chicago", presets=())).holidays


@pure
@pytest.mark.parametrize("bad, field", [
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"hours": {"mon": "8-"}}, "hours_mon"),
    ({"hours": {"tue": "18:00-08:00"}}, "hours"),
    ({"hours": {}}, "hours"),
    ({"local_holidays": "2026-02-30"}, "holidays"),
])
def test_the_form_refuses_what_the_clock_cannot_use_and_names_the_field(bad, field):
    args = {"timezone": "America/New_York", "hours": {"mon": "08:00-18:00"}, "presets": [], "local_holidays": ""}
    args.update(bad)
    with pytest.raises(calendars.ValidationFailed) as err:
        calendars.spec_from_form(**args)
    assert field in err.value.fields


# ---------------------------------------------------------------- the admin page and the CLI

FORM = {"name": "Billing office (Chicago)", "timezone": "America/Chicago", "hours_mon": "08:00-12:00, 13:00-17:00",
        "hours_tue": "08:00-17:00", "hours_wed": "08:00-17:00", "hours_thu": "08:00-17:00", "hours_fri": "08:00-17:00",
        "hours_sat": "", "hours_sun": "", "us_federal": "y", "holidays": "2026-11-27\n2026-12-24"}


def test_an_admin_creates_a_calendar_sees_its_holidays_and_policies_use_it(client, ctx, admin):
    login(client, admin)
    assert client.get("/admin/calendars").status_code == 200
    resp = client.post("/admin/calendars", data=FORM)
    assert resp.status_code == 302
    cal = db.session.scalar(sa.select(SlaCalendar).where(SlaCalendar.name == FORM["name"]))
    assert cal.spec["timezone"] == "America/Chicago" and cal.spec["presets"] == ["us-federal"]
    assert cal.spec["hours"]["mon"] == [["08:00", "12:00"], ["13:00", "17:00"]]
    assert cal.spec["holidays"] == ["2026-11-27", "2026-12-24"]
    page = client.get(f"/admin/calendars/{cal.id}?year=2027").get_data(as_text=True)
    assert "New Year&#39;s Day (observed)" in page and "Fri 31 Dec 2027" in page
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "sla_calendar.created"))
    assert event.actor_id == admin.id and event.changes["spec"] == cal.spec
    # the SLA clock reads the stored calendar with its presets
    cal_used = policies.calendar_for(cal.id, True)
    assert date(2026, 11, 26) in cal_used.holidays and date(2026, 11, 27) in cal_used.holidays


def test_an_edit_is_audited_with_before_and_after_and_a_bad_edit_changes_nothing(client, ctx, admin):
    login(client, admin)
    client.post("/admin/calendars", data=FORM)
    cal = db.session.scalar(sa.select(SlaCalendar).where(SlaCalendar.name == FORM["name"]))
    before = dict(cal.spec)
    resp = client.post(f"/admin/calendars/{cal.id}", data={**FORM, "timezone": "Nowhere/Land", "holidays": "27/11/2026"})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and 'id="error-summary"' in page
    assert "write dates as YYYY-MM-DD" in page
    db.session.refresh(cal)
    assert cal.spec == before
    assert client.post(f"/admin/calendars/{cal.id}", data={**FORM, "us_federal": ""}).status_code == 302
    db.session.refresh(cal)
    assert "presets" not in cal.spec
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "sla_calendar.updated"))
    assert event.changes["spec"]["before"]["presets"] == ["us-federal"] and "presets" not in event.changes["spec"]["after"]
    n = count(AuditEvent)
    resp = client.post(f"/admin/calendars/{cal.id}", data={**FORM, "us_federal": ""})
    assert resp.status_code == 200 and "Nothing changed." in resp.get_data(as_text=True) and count(AuditEvent) == n


def test_names_are_unique_and_only_admins_see_calendars(client, ctx, admin, supervisor, agent, patient):
    login(client, admin)
    client.post("/admin/calendars", data=FORM)
    n = count(SlaCalendar)
    resp = client.post("/admin/calendars", data={**FORM, "name": FORM["name"].upper()})
    assert resp.status_code == 200 and "This name is taken." in resp.get_data(as_text=True) and count(SlaCalendar) == n
    assert client.get("/admin/calendars/999999").status_code == 404
    cal_id = db.session.scalar(sa.select(SlaCalendar.id).where(SlaCalendar.name == FORM["name"]))
    for user in (supervisor, agent, patient):
        login(client, user)
        assert client.get("/admin/calendars").status_code == 403
        assert client.post(f"/admin/calendars/{cal_id}", data={**FORM, "name": "Taken over"}).status_code == 403
    assert db.session.get(SlaCalendar, cal_id).name == FORM["name"]


def test_the_cli_lists_calendars_and_a_years_holidays(app, ctx, admin):
    cal = calendars.create(actor_id=admin.id, name="Clinical line 24x7",
                           spec={"timezone": "America/New_York", "hours": {d: [["00:00", "24:00"]] for d in
                                 ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}, "presets": ["us-federal"]})
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["sla", "calendars"])
    assert listed.exit_code == 0 and "Clinical line 24x7\tAmerica/New_York\tus-federal" in listed.output
    out = runner.invoke(args=["sla", "holidays", str(cal.id), "--year", "2027"])
    assert out.exit_code == 0
    assert "2027-12-31\tFri\tNew Year's Day (observed)" in out.output and "2027-12-25\tSat\tChristmas Day" in out.output
    assert runner.invoke(args=["sla", "holidays", "No such calendar"]).exit_code != 0
