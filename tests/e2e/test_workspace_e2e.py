"""In a real browser: two staff members on one ticket see each other; shortcuts; macros; collision."""

from __future__ import annotations

import re

import pytest

from helpdesk.tickets import macros, services
from tests.e2e.test_patient_and_agent import sign_in

pytestmark = pytest.mark.e2e


def test_two_agents_see_each_other_and_the_collision_warning(browser, live_server, ctx, agent, supervisor, patient,
                                                             make_ticket, artifacts):
    ticket = make_ticket()
    url = f"{live_server}/agent/tickets/{ticket.reference}"
    a_ctx, s_ctx = browser.new_context(), browser.new_context()
    try:
        a = a_ctx.new_page()
        sign_in(a, live_server, agent)
        a.goto(url)
        s = s_ctx.new_page()
        sign_in(s, live_server, supervisor)
        s.goto(url)
        # each sees the other within a couple of polls
        s.wait_for_selector("text=Also here: Alex Agent (viewing)", timeout=15000)
        a.wait_for_selector("text=Also here: Sam Supervisor (viewing)", timeout=15000)
        # the supervisor starts typing a reply: the agent sees it
        s.get_by_label("Message").fill("Drafting an answer")
        a.wait_for_selector("text=Sam Supervisor (typing a reply)", timeout=15000)

        # a patient message arrives while the agent writes: a notice, then the server holds the reply
        a.get_by_label("Message").fill("We refunded the duplicate charge.")
        services.post_message(ticket, author=patient, body="Never mind, my insurer paid it.")
        a.wait_for_selector("text=A new message arrived since you opened this page", timeout=15000)
        a.screenshot(path=str(artifacts / "agent-collision.png"), full_page=True)
        a.get_by_role("button", name="Send", exact=True).click()
        a.wait_for_selector("text=New message since you opened this request")
        assert a.get_by_text("Your reply was").is_visible()
        assert a.get_by_role("textbox", name="Message").input_value() == "We refunded the duplicate charge."
        a.get_by_role("button", name="Send", exact=True).click()  # confirmed: sent
        a.wait_for_selector("text=Reply sent to the patient.")
    finally:
        a_ctx.close()
        s_ctx.close()


def test_shortcuts_and_macro_search(browser, live_server, ctx, agent, make_ticket):
    first, second = make_ticket(), make_ticket()
    macros.create_macro(actor=agent, data={"title": "Greeting", "body": "Hi {{patient_first_name}}, {{agent_name}} here."})
    macros.create_macro(actor=agent, data={"title": "Closing", "body": "Anything else?"})
    bctx = browser.new_context()
    try:
        p = bctx.new_page()
        sign_in(p, live_server, agent)
        p.goto(f"{live_server}/agent/tickets")
        p.keyboard.press("?")
        assert p.locator("#shortcuts-help").is_visible()
        p.keyboard.press("Escape")
        assert not p.locator("#shortcuts-help").is_visible()
        p.keyboard.press("j")
        p.keyboard.press("o")  # open the first row (newest: the second ticket)
        p.wait_for_url(re.compile(rf"/agent/tickets/{second.reference}$"))
        p.keyboard.press("j")  # next in the list
        p.wait_for_url(re.compile(rf"/agent/tickets/{first.reference}$"))
        p.keyboard.press("k")
        p.wait_for_url(re.compile(rf"/agent/tickets/{second.reference}$"))
        p.keyboard.press("n")
        assert p.get_by_label("Internal note (not shown to the patient)").is_checked()
        p.keyboard.type("j")  # typing in the box is typing, not a shortcut
        assert p.url.endswith(second.reference) and p.get_by_label("Message").input_value() == "j"
        p.get_by_label("Message").fill("")
        p.locator("body").click()
        p.keyboard.press("r")
        assert not p.get_by_label("Internal note (not shown to the patient)").is_checked()
        p.get_by_label("Search macros").fill("greet")
        p.get_by_role("button", name="Insert in reply").click()
        assert p.get_by_label("Message").input_value() == "Hi Maria, Alex Agent here."
        p.locator("body").click()
        p.keyboard.press("a")  # assign to me
        p.wait_for_selector("text=You now own this request.")
    finally:
        bctx.close()
