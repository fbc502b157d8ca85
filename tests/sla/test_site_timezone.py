"""No hard-coded zone: business hours without a chosen calendar follow SITE_TIMEZONE."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from helpdesk.extensions import db
from helpdesk.sla import policies
from helpdesk.sla.clock import add_business_time
from helpdesk.sla.models import SlaCalendar
from tests.factories import login


def test_a_policy_without_a_calendar_counts_hours_in_the_site_zone(ctx, configure):
    configure(site_timezone="America/Los_Angeles")
    cal = policies.calendar_for(None, True)
    assert cal.timezone == "America/Los_Angeles"
    # Monday 2027-03-01 07:30 Pacific (15:30 UTC): the first business hour ends 09:00 Pacific
    due = add_business_time(datetime(2027, 3, 1, 15, 30, tzinfo=UTC), 3600, cal)
    assert due == datetime(2027, 3, 1, 17, 0, tzinfo=UTC)
    configure(site_timezone="America/Chicago")
    assert policies.calendar_for(None, True).timezone == "America/Chicago"


def test_the_seeded_calendar_and_the_new_calendar_form_use_the_site_zone(client, ctx, configure, queues, admin):
    configure(site_timezone="America/Denver")
    policies.seed_defaults()
    db.session.commit()
    cal = db.session.scalar(sa.select(SlaCalendar).where(SlaCalendar.name == policies.DEFAULT_CALENDAR_NAME))
    assert cal.spec["timezone"] == "America/Denver" and cal.spec["presets"] == ["us-federal"]
    policies.seed_defaults()  # idempotent
    assert db.session.scalar(sa.select(sa.func.count(SlaCalendar.id))) == 1
    db.session.delete(cal)
    db.session.commit()
    page = login(client, admin).get("/admin/calendars").get_data(as_text=True)
    assert 'value="America/Denver"' in page and "site's time zone (America/Denver" in page
