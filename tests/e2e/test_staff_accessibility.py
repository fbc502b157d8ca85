"""The staff pages in a real Chromium: axe-core (the runner the patient pages use) on
every agent, supervisor and admin page with no serious or critical violation; the list
shows 20+ rows on a 1366x768 screen; the reply-assign-close loop by keyboard alone, with
the documented shortcuts (never while typing in a field)."""

from __future__ import annotations

import json
import re

import pytest
from axe_playwright_python.sync_playwright import Axe

from helpdesk.kb import services as kb
from helpdesk.kb.models import ArticleStatus
from helpdesk.tickets import macros, services
from helpdesk.tickets.models import Status
from helpdesk.webhooks import services as webhooks
from tests.e2e.test_patient_accessibility import blocking_violations, focused, tab_to
from tests.factories import browser_sign_in

pytestmark = pytest.mark.e2e

VIEWPORT = {"width": 1366, "height": 768}

AGENT_PAGES = [
    "/agent/", "/agent/tickets", "/agent/tickets?status=any&sort=priority", "/agent/tickets?q=zzzz-no-match",
    "/agent/tickets/{ref}", "/agent/macros", "/kb/", "/kb/articles/{article_id}", "/kb/articles/new",
    "/notifications", "/clinical/alerts", "/account/security", "/account/password", "/settings/notifications",
]
SUPERVISOR_PAGES = [
    "/supervisor/dashboard", "/supervisor/breaches", "/supervisor/breaches?state=at_risk", "/supervisor/routing",
    "/kb/review", "/kb/stats", "/kb/articles/{article_id}/edit", "/admin/queues", "/admin/queues/{queue_id}/members",
    "/admin/on-call", "/agent/macros/{macro_id}",
]
ADMIN_PAGES = [
    "/admin/users", "/admin/unverified-accounts", "/admin/tokens", "/admin/audit", "/admin/system",
    "/admin/break-glass", "/admin/outbox", "/admin/mail", "/kb/editors",
    "/admin/sla-policies", "/admin/sla-policies/new", "/admin/queues/{queue_id}/settings",
    "/admin/webhooks", "/admin/webhooks/{webhook_id}",
]


def test_every_staff_page_passes_axe(browser, live_server, ctx, queues, agent, supervisor, admin, make_ticket, artifacts):
    webhook, _secret = webhooks.create_endpoint(actor=admin, url="http://127.0.0.1:9/nothing-listens",
                                                events=["ticket.created"])  # its log: a delivery being retried
    ticket = make_ticket()
    services.post_message(ticket, author=agent, body="We are checking the charge.")
    closed = make_ticket()
    services.update_ticket(closed, actor=agent, status=Status.CLOSED)
    macro = macros.create_macro(actor=supervisor, data={"title": "Greeting", "body": "Hello {{patient_first_name}}",
                                                        "scope": "billing"})
    article = kb.create_article(actor=supervisor, data={
        "title": "Understand your bill", "summary": "What each line of your statement means.",
        "body_md": "## Lines\n\nEach visit has a line.\n", "category": "Bills and payments", "queues": ["billing"],
        "audience": "public", "language": "en"})
    for step in (ArticleStatus.IN_REVIEW, ArticleStatus.PUBLISHED):
        kb.change_status(article, actor=supervisor, status=step)
    values = {"ref": ticket.reference, "article_id": article.id, "macro_id": macro.id,
              "queue_id": queues["billing"].id, "webhook_id": webhook.id}
    axe = Axe()
    found: dict[str, list[dict]] = {}
    checked: list[str] = []
    for user, pages in ((agent, AGENT_PAGES), (supervisor, SUPERVISOR_PAGES), (admin, ADMIN_PAGES)):
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        browser_sign_in(page, live_server, user)
        for path in pages:
            url = path.format(**values)
            response = page.goto(live_server + url)
            assert response.status == 200, (url, response.status)
            violations = blocking_violations(page, axe)
            checked.append(f"{user.role.value} {url}")
            if violations:
                found[f"{user.role.value} {url}"] = violations
                name = re.sub(r"[^a-z0-9]+", "-", url.lower()).strip("-") or "root"
                page.screenshot(path=str(artifacts / f"axe-staff-{name}.png"), full_page=True)
        if user is agent:  # the ticket page's error state and the shortcuts dialog, open
            page.goto(f"{live_server}/agent/tickets/{ticket.reference}")
            page.get_by_role("button", name="Send", exact=True).click()
            page.wait_for_load_state()
            checked.append("agent reply error")
            if violations := blocking_violations(page, axe):
                found["agent reply error"] = violations
            page.locator("body").press("?")
            page.locator("#shortcuts-help").wait_for()
            checked.append("agent shortcuts dialog")
            if violations := blocking_violations(page, axe):
                found["agent shortcuts dialog"] = violations
        context.close()
    (artifacts / "axe-staff.json").write_text(json.dumps({"checked": checked, "violations": found}, indent=2))
    assert len(checked) == len(AGENT_PAGES) + len(SUPERVISOR_PAGES) + len(ADMIN_PAGES) + 2
    assert not found, json.dumps(found, indent=2)


def test_the_list_shows_twenty_rows_on_a_laptop_screen(browser, live_server, ctx, agent, make_ticket, artifacts):
    for i in range(24):
        make_ticket(subject=f"Question about my bill number {i} and the charges that came with it last month")
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    browser_sign_in(page, live_server, agent)
    page.goto(f"{live_server}/agent/tickets")
    page.locator("table.tickets thead").evaluate("e => e.scrollIntoView()")
    visible = page.evaluate("""() => Array.from(document.querySelectorAll('table.tickets tbody tr'))
        .filter(r => { const b = r.getBoundingClientRect(); return b.top >= 0 && b.bottom <= window.innerHeight; })
        .length""")
    page.screenshot(path=str(artifacts / "agent-list-1366x768.png"))
    context.close()
    assert visible >= 20, f"{visible} rows fit on one 1366x768 screen"


def test_reply_assign_and_close_by_keyboard_alone(browser, live_server, ctx, agent, make_ticket):
    other = make_ticket(subject="Parking receipt")
    ticket = make_ticket(subject="Duplicate charge on my statement")
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    browser_sign_in(page, live_server, agent)
    page.goto(f"{live_server}/agent/tickets")

    page.keyboard.press("/")  # search
    assert focused(page)["id"] == "q"
    page.keyboard.type("duplicate charge")
    assert page.url.endswith("/agent/tickets")  # typing in the field fires no shortcut
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert other.reference not in page.content()
    page.keyboard.press("Escape")
    page.locator("#q").evaluate("e => e.blur()")
    page.keyboard.press("j")
    with page.expect_navigation():
        page.keyboard.press("o")
    assert page.url.endswith(f"/agent/tickets/{ticket.reference}")

    with page.expect_navigation():
        page.keyboard.press("a")  # assign to me
    page.get_by_text("You now own this request.").wait_for()
    page.keyboard.press("r")
    assert focused(page)["tag"] == "textarea"
    page.keyboard.type("We removed the duplicate charge.")
    tab_to(page, lambda f: f["id"] == "next_status")
    page.keyboard.press("End")  # the last status: Closed
    assert page.locator("#next_status").input_value() == "closed"
    tab_to(page, lambda f: f["tag"] == "button" and f["text"] == "Send")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.get_by_text("Reply sent to the patient.").wait_for()
    context.close()
    from helpdesk.extensions import db

    db.session.expire_all()
    assert ticket.assignee_id == agent.id and ticket.status == Status.CLOSED
    assert ticket.messages[-1].body == "We removed the duplicate charge."
