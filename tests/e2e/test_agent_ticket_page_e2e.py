"""The agent's day in a real browser at 1366×768 (issue #18, "Done when"): find a request by a
misspelt surname, by its reference without the prefix and by two non-adjacent words of a reply;
on its page every property and the top of the reply box are within the first screen; insert a
help-centre article (a link and an excerpt); apply a macro, edit it, send; merge, confirmed."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from helpdesk.auth.models import Role
from helpdesk.extensions import db
from helpdesk.kb.models import TicketArticleLink
from helpdesk.tickets import macros, merge, services
from helpdesk.tickets.models import Priority, Status
from tests.e2e.test_patient_and_agent import sign_in

pytestmark = pytest.mark.e2e

VIEWPORT = {"width": 1366, "height": 768}
PROPERTIES = ("#status", "#priority", "#prop-queue", "#prop-assignee", "#prop-sla", "#prop-patient",
              "#prop-language", "#prop-identity", "#prop-open", "#prop-articles")


def _found(page, base: str, query: str) -> list[str]:
    page.goto(f"{base}/agent/tickets")
    box = page.get_by_label("Search", exact=True)
    box.fill(query)
    box.press("Enter")
    page.wait_for_load_state()
    assert f"q={query.replace(' ', '+')}" in page.url
    return page.locator("table.tickets tbody a.ref").all_text_contents()


def test_find_read_insert_apply_send_and_merge_at_1366x768(browser, live_server, ctx, make_user, agent, seeded,
                                                           make_ticket, artifacts):
    maria = make_user(Role.PATIENT, name="María Fernández")
    ticket = make_ticket(requester=maria)
    services.post_message(ticket, author=agent, body=(
        "Thanks for writing. We checked the statement: the second charge is a pre-authorisation that your "
        "bank releases within five days. Your cardiology referral is on file too."))
    services.post_message(ticket, author=maria, body="It is still there today. Can you check again?")
    older = make_ticket(requester=maria, subject="Charged twice again")
    macro = macros.create_macro(actor=agent, data={
        "title": "Refund on the way", "set_priority": "high",
        "body": "Hello {{patient_first_name}}, the refund is on its way."})
    code = ticket.reference.removeprefix("HD-")
    bctx = browser.new_context(viewport=VIEWPORT)
    problems: list[str] = []
    try:
        page = bctx.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        sign_in(page, live_server, agent)

        # three searches of the issue, typed in the list's search box
        assert ticket.reference in _found(page, live_server, "fernandes")  # a misspelt surname
        assert _found(page, live_server, code.lower()) == [ticket.reference]  # the reference without HD-
        assert _found(page, live_server, "cardiology releases") == [ticket.reference]  # two words, not adjacent
        page.get_by_role("link", name=ticket.reference, exact=True).click()
        page.wait_for_url(re.compile(rf"/agent/tickets/{ticket.reference}$"))

        # the first screen: every property of the side panel and the top of the reply box
        assert page.evaluate("window.scrollY") == 0
        for selector in PROPERTIES:
            box = page.locator(selector).bounding_box()
            assert box is not None and box["width"] > 0, selector
            assert box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"], (selector, box)
        reply = page.get_by_role("textbox", name="Message")
        box = reply.bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + 24 <= VIEWPORT["height"], box
        assert page.locator("#prop-patient").text_content().startswith("María Fernández")
        assert "English" in page.locator("#prop-language").text_content()
        assert older.reference in page.locator("#prop-open").text_content()
        page.screenshot(path=str(artifacts / "agent-ticket-1366x768.png"))

        # insert the first suggested help-centre article: a link (title) and an excerpt
        insert = page.locator("a.kb-insert").first
        article_id = int(insert.get_attribute("data-kb-article"))
        title = insert.get_attribute("data-kb-title")
        insert.click()
        text = reply.input_value()
        assert re.match(rf"\[{re.escape(title)}\]\(http://[^)]+/help-centre/articles/[a-z0-9-]+\)\n\S", text), text
        assert len(text.split("\n", 1)[1]) <= 241

        # apply a macro: a preview in the reply box (nothing sent), edited, then sent
        page.get_by_label("Macro", exact=True).select_option(value=str(macro.id))
        page.get_by_role("button", name="Apply (preview in reply)").click()
        assert page.locator("#macro-preview").is_visible()
        assert "Nothing has been sent" in page.locator("#macro-preview").text_content()
        assert reply.input_value().endswith("Hello María, the refund is on its way.")
        db.session.expire_all()
        assert len(ticket.messages) == 3 and ticket.priority != Priority.HIGH
        reply.press("End")
        reply.type(" It takes five working days.")
        page.get_by_role("button", name="Send", exact=True).click()
        page.wait_for_selector("text=Reply sent to the patient.")
        sent = page.locator("ol.thread li.msg").last
        assert sent.get_by_role("link", name=title).count() == 1  # the title shown as a link
        assert "refund is on its way. It takes five working days." in sent.text_content()
        assert title in page.locator("#prop-articles").text_content()
        db.session.expire_all()
        assert ticket.priority == Priority.HIGH
        assert db.session.scalar(sa.select(TicketArticleLink).where(
            TicketArticleLink.ticket_id == ticket.id, TicketArticleLink.article_id == article_id)) is not None

        # merge the patient's other request: a confirmation page first, nothing merged until confirmed
        page.get_by_label(f"Merge {older.reference} into this request").check()
        page.get_by_role("button", name="Merge selected into this request…").click()
        page.wait_for_selector("text=Nothing has been merged yet")
        db.session.expire_all()
        assert merge.merged_into(older) is None and older.status != Status.CLOSED
        page.get_by_role("button", name="Merge 1 request").click()
        page.wait_for_selector("text=Requests merged into this one.")
        db.session.expire_all()
        assert merge.merged_into(older).id == ticket.id and older.status == Status.CLOSED
        assert not problems, problems
    finally:
        bctx.close()
