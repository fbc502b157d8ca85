"""Issue #21 in a real browser: an admin edits an SLA policy, previews it on sample tickets,
saves it (version 2); a new ticket's page shows that policy and version, with the due
time the preview promised."""

from __future__ import annotations

import re

import pytest

from helpdesk.sla import policy_admin
from tests.e2e.test_patient_and_agent import sign_in
from tests.sla.conftest import MONDAY_9AM, Clock

pytestmark = pytest.mark.e2e


@pytest.fixture
def frozen(monkeypatch) -> Clock:
    """The ticket services and the SLA engine read this clock (as tests/sla's ``clock``)."""
    c = Clock(MONDAY_9AM)
    import helpdesk.sla.timesource as sla_timesource
    import helpdesk.tickets.services as ticket_services

    monkeypatch.setattr(ticket_services, "utcnow", c)
    monkeypatch.setattr(sla_timesource, "clock", c)
    return c


def test_edit_a_policy_with_preview_save_and_see_it_on_a_new_ticket(browser, live_server, ctx, frozen, queues,
                                                                  admin, agent, make_ticket, artifacts):
    policy = policy_admin.create_policy(actor_id=admin.id, data={
        "name": "Billing SLA", "queue_id": queues["billing"].id, "position": 10,
        "targets": {"*": {"first_reply": {"seconds": 3600, "business": True},
                          "resolution": {"seconds": 36000, "business": True}}}})
    older = make_ticket()  # a sample for the preview, under version 1
    bctx = browser.new_context(viewport={"width": 1366, "height": 900})
    problems: list[str] = []
    try:
        page = bctx.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        sign_in(page, live_server, admin)
        page.goto(f"{live_server}/admin/sla-policies")
        page.get_by_role("link", name="Billing SLA").click()
        page.wait_for_url(re.compile(rf"/admin/sla-policies/{policy.id}$"))

        # first reply for any priority: 1 h -> 3 h, warn 20 minutes before; preview first
        page.get_by_label("Any other priority first reply target (hours)").fill("3")
        page.locator("#t_any_first_reply_warn").fill("20")
        page.get_by_role("button", name="Preview on sample tickets").click()
        page.wait_for_load_state()
        preview = page.locator("#preview")
        assert preview.is_visible()
        assert preview.get_by_text(older.reference).first.is_visible()
        row = page.locator('tr.preview-row[data-label="New ticket now"][data-priority="normal"]'
                           '[data-metric="first_reply"]')
        promised = row.locator("td.draft-due").get_attribute("data-due")
        assert promised  # 09:00 New York + 3 business hours = 12:00 (17:00 UTC)
        assert promised.startswith("2026-03-02T17:00:00")
        page.screenshot(path=str(artifacts / "sla-policy-preview.png"), full_page=True)

        page.get_by_role("button", name="Save as a new version").click()
        page.wait_for_load_state()
        assert page.get_by_text("Policy saved as version 2").is_visible()

        # a new ticket, created at the moment of the preview, on the agent's page
        ticket = make_ticket()
        actx = browser.new_context(viewport={"width": 1366, "height": 900})
        agent_page = actx.new_page()
        agent_page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        sign_in(agent_page, live_server, agent)
        agent_page.goto(f"{live_server}/agent/tickets/{ticket.reference}")
        agent_page.locator("#sla-policy summary").click()
        panel = agent_page.locator("#sla-policy")
        assert panel.locator("#sla-policy-name").inner_text() == "Billing SLA"
        assert panel.locator("#sla-policy-version").inner_text() == "2"
        first = panel.locator('dl.sla-timer[data-metric="first_reply"]')
        assert "Target 3h 00m in business time" in first.inner_text()
        due = first.locator("time.sla-due").get_attribute("datetime")
        assert due is not None and due.startswith("2026-03-02T17:00:00")  # what the preview promised
        agent_page.screenshot(path=str(artifacts / "sla-policy-ticket-panel.png"), full_page=True)
        actx.close()
        assert problems == []
    finally:
        bctx.close()
