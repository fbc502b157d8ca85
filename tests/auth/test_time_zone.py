"""Times in the viewer's time zone: a per-person IANA zone on the account page, the
site's zone (SITE_TIMEZONE) by default, relative times with the absolute one in a title."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask import render_template_string

from helpdesk.audit import AuditEvent
from helpdesk.auth import services as accounts
from helpdesk.config import ConfigError, Settings
from helpdesk.extensions import db
from helpdesk.i18n import services as i18n_services
from tests.factories import login

JULY_1_4PM_UTC = datetime(2026, 7, 1, 16, 0, tzinfo=UTC)


def _render(app, template: str, **values) -> str:
    with app.test_request_context("/"):
        return render_template_string(template, **values)


def test_times_are_shown_in_the_site_zone_which_is_configuration(app, ctx, configure):
    assert _render(app, "{{ t|when }} {{ viewer_zone_name() }}", t=JULY_1_4PM_UTC) == \
        "Jul 1, 2026 12:00 PM America/New_York"
    configure(site_timezone="Asia/Tokyo")
    assert _render(app, "{{ t|when }} {{ viewer_zone_name() }}", t=JULY_1_4PM_UTC) == "Jul 2, 2026 1:00 AM Asia/Tokyo"
    with pytest.raises(ConfigError, match="SITE_TIMEZONE"):
        Settings.from_env({"HELPDESK_ENV": "development", "SITE_TIMEZONE": "Mars/Olympus_Mons"})


def test_relative_time_carries_the_absolute_time_and_zone_in_its_title(app, ctx):
    html = _render(app, "{{ t|ago }}", t=JULY_1_4PM_UTC)
    assert re.fullmatch(r'<time datetime="2026-07-01T16:00:00\+00:00" title="Jul 1, 2026 12:00 PM '
                        r'\(America/New_York\)">[^<]+ ago</time>', html) or "in " in html


def test_a_person_chooses_their_zone_on_the_account_page_and_it_is_audited(client, ctx, agent, make_ticket):
    t = make_ticket()
    login(client, agent)
    page = client.get("/account/security").get_data(as_text=True)
    assert "Times are shown in America/New_York." in page
    assert "The help desk's time zone (America/New_York)</option>" in page.replace("&#39;", "'")
    assert '<option value="Asia/Tokyo">Asia/Tokyo</option>' in page

    resp = client.post("/account/time-zone", data={"timezone": "Asia/Tokyo"})
    assert resp.status_code == 302
    db.session.refresh(agent)
    assert agent.timezone == "Asia/Tokyo"
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "user.timezone_changed"))
    assert event.actor_id == agent.id and event.changes == {"timezone": {"before": None, "after": "Asia/Tokyo"}}
    assert "Times are shown in Asia/Tokyo." in client.get("/account/security").get_data(as_text=True)
    listing = client.get("/agent/tickets").get_data(as_text=True)
    assert "Times in Asia/Tokyo." in listing
    tokyo = t.created_at.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo"))
    assert f'{tokyo.strftime("%b %d, %Y %I:%M %p").replace(" 0", " ")} (Asia/Tokyo)' in listing

    # blank: back to the site's zone
    client.post("/account/time-zone", data={"timezone": ""})
    db.session.refresh(agent)
    assert agent.timezone is None


@pytest.mark.parametrize("bad", ["Mars/Olympus_Mons", "../../etc/passwd", "x" * 300, "EST5EDT;DROP"])
def test_an_unknown_zone_is_refused_with_a_message_and_nothing_changes(client, ctx, patient, bad):
    login(client, patient)
    resp = client.post("/account/time-zone", data={"timezone": bad})
    assert resp.status_code == 422
    assert "Choose a time zone from the list." in resp.get_data(as_text=True)
    db.session.refresh(patient)
    assert patient.timezone is None


def test_the_service_validates_the_zone(ctx, patient):
    from helpdesk.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        accounts.set_timezone(user=patient, timezone="Not/AZone")
    assert accounts.set_timezone(user=patient, timezone="Europe/Madrid").timezone == "Europe/Madrid"


def test_a_spanish_patient_reads_relative_times_in_spanish_in_their_zone(client, ctx, patient, make_ticket):
    t = make_ticket()
    i18n_services.set_language(user=patient, language="es")
    accounts.set_timezone(user=patient, timezone="America/Mexico_City")
    login(client, patient)
    page = client.get(f"/requests/{t.reference}").get_data(as_text=True)
    assert re.search(r'<time datetime="[^"]+" title="[^"]+ \(America/Mexico_City\)">hace [^<]+</time>', page)
    page = client.get("/account/security").get_data(as_text=True)
    assert "Zona horaria" in page
