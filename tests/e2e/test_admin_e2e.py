"""In a real browser, the administrator's everyday jobs end to end: a business calendar
with its holidays, inviting a staff member who then signs in, deactivating them."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from helpdesk.extensions import db
from helpdesk.notify.models import OutgoingEmail
from helpdesk.sla.models import SlaCalendar
from tests.e2e.test_patient_and_agent import sign_in

pytestmark = pytest.mark.e2e


def test_admin_creates_a_calendar_and_sees_the_observed_holidays(browser, live_server, ctx, admin, artifacts):
    bctx = browser.new_context()
    try:
        p = bctx.new_page()
        sign_in(p, live_server, admin)
        p.goto(f"{live_server}/admin/calendars")
        p.get_by_label("Name", exact=True).fill("Clinical line (Chicago)")
        p.get_by_label("Time zone").fill("America/Chicago")
        p.get_by_label("Saturday").fill("09:00-13:00")
        p.get_by_label("Local holidays").fill("2027-12-24")
        p.get_by_role("button", name="Create calendar").click()
        p.wait_for_selector("text=Calendar Clinical line (Chicago) created.")
        cal = db.session.scalar(sa.select(SlaCalendar).where(SlaCalendar.name == "Clinical line (Chicago)"))
        assert cal.spec["timezone"] == "America/Chicago" and cal.spec["hours"]["sat"] == [["09:00", "13:00"]]
        p.goto(f"{live_server}/admin/calendars/{cal.id}?year=2027")
        holidays = p.locator("main").inner_text()
        # 2027: Independence Day falls on a Sunday, observed Monday 5 July; the local addition is listed
        assert "Mon 5 Jul 2027" in holidays and "Fri 24 Dec 2027" in holidays
        # a bad edit is refused at its field and changes nothing
        p.get_by_label("Time zone").fill("Mars/Olympus_Mons")
        p.get_by_role("button", name="Save calendar").click()
        p.wait_for_selector("text=unknown time zone")
        p.screenshot(path=str(artifacts / "admin-calendar-error.png"), full_page=True)
        db.session.refresh(cal)
        assert cal.spec["timezone"] == "America/Chicago"
    finally:
        bctx.close()


def test_admin_invites_a_staff_member_who_signs_in_and_is_then_deactivated(browser, live_server, ctx, admin, queues):
    admin_ctx, new_ctx = browser.new_context(), browser.new_context()
    try:
        a = admin_ctx.new_page()
        sign_in(a, live_server, admin)
        a.goto(f"{live_server}/admin/users")
        a.get_by_label("Name", exact=True).fill("Nina Newcomer")
        a.get_by_label("Email").fill("nina.newcomer@example.org")
        a.get_by_label("Role", exact=True).select_option("agent")
        a.get_by_role("button", name="Send invitation").click()
        a.wait_for_selector("text=nina.newcomer@example.org")

        mail = db.session.scalar(sa.select(OutgoingEmail).where(OutgoingEmail.kind == "staff_invite"))
        link = re.search(r"(/password/reset/[A-Za-z0-9_-]+)", mail.body).group(1)
        n = new_ctx.new_page()
        n.goto(f"{live_server}{link}")
        n.get_by_label("New password", exact=True).fill("violet harbour lantern 7")
        n.get_by_label("Repeat the new password").fill("violet harbour lantern 7")
        n.locator("main form button[type=submit]").click()
        n.wait_for_load_state()
        n.goto(f"{live_server}/login")
        n.fill("#email", "nina.newcomer@example.org")
        n.fill("#password", "violet harbour lantern 7")
        n.click("main form button[type=submit]")
        n.wait_for_url(re.compile(r"/mfa"))  # staff set up two-step sign-in before anything else

        a.goto(f"{live_server}/admin/users")
        a.get_by_role("button", name="Deactivate Nina Newcomer").click()
        a.wait_for_load_state()
        row = a.locator("tr", has_text="nina.newcomer@example.org")
        assert "Deactivated" in row.inner_text()
        n.goto(f"{live_server}/agent/")
        assert "/login" in n.url  # their session ended at once
    finally:
        admin_ctx.close()
        new_ctx.close()
