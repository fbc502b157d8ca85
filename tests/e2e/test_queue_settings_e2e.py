"""In a real browser: an administrator sets a queue's name, Spanish name, business calendar
and automatic assignment without code, and a bad choice is refused at its field."""

from __future__ import annotations

import pytest

from helpdesk.extensions import db
from helpdesk.i18n import names
from helpdesk.sla import calendars as sla_calendars
from helpdesk.sla import policy_admin
from helpdesk.tickets.models import Assignment, Queue
from tests.e2e.test_patient_and_agent import sign_in

pytestmark = pytest.mark.e2e


def test_admin_sets_a_queues_calendar_assignment_and_names(browser, live_server, ctx, admin, queues, artifacts):
    cal = sla_calendars.create(actor_id=admin.id, name="Billing office (Chicago)",
                               spec={"timezone": "America/Chicago", "hours": {"mon": [["08:00", "17:00"]]}})
    billing = queues["billing"]
    bctx = browser.new_context()
    try:
        p = bctx.new_page()
        sign_in(p, live_server, admin)
        p.goto(f"{live_server}/admin/queues")
        p.get_by_role("link", name=f"Settings of {billing.name}").click()
        p.wait_for_selector("text=Save queue settings")
        p.get_by_label("Name", exact=True).fill("Billing and payments")
        p.get_by_label("Name in Spanish").fill("Facturación y pagos")
        p.get_by_label("Business calendar").select_option(label="Billing office (Chicago)")
        p.get_by_label("Automatic assignment").select_option(Assignment.ROUND_ROBIN.value)
        p.get_by_role("button", name="Save queue settings").click()
        p.wait_for_selector("text=Queue settings saved.")
        p.screenshot(path=str(artifacts / "admin-queue-settings.png"), full_page=True)
        db.session.expire_all()
        queue = db.session.get(Queue, billing.id)
        assert queue.name == "Billing and payments" and queue.assignment == Assignment.ROUND_ROBIN
        assert policy_admin.queue_settings(queue)["calendar_id"] == cal.id
        assert names.queue_name(queue, "es") == "Facturación y pagos"
        # an empty name is refused at the field and nothing changes
        p.get_by_label("Name", exact=True).fill("")
        p.get_by_role("button", name="Save queue settings").click()
        p.wait_for_selector("#name-error")
        db.session.expire_all()
        assert db.session.get(Queue, billing.id).name == "Billing and payments"
    finally:
        bctx.close()
