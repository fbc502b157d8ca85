"""In a real browser: a patient asks for help, an agent answers, the patient reads it."""

from __future__ import annotations

import re

import pytest

from helpdesk.auth.models import User
from tests.factories import browser_sign_in, run_jobs

pytestmark = pytest.mark.e2e


def sign_in(page, base: str, user: User) -> None:
    """Password, then the two-step code for staff (tests.factories.browser_sign_in)."""
    browser_sign_in(page, base, user)


def test_patient_submits_agent_replies_patient_sees_reply(browser, live_server, ctx, patient, agent, artifacts):
    patient_ctx = browser.new_context()
    p = patient_ctx.new_page()
    sign_in(p, live_server, patient)
    p.get_by_role("link", name="Get help").first.click()
    p.get_by_label("What do you need help with?").fill("Charged twice for one visit")
    p.get_by_label("Tell us more").fill("My statement shows the same charge two times. Can you fix my bill?")
    p.get_by_role("button", name="Send request").click()
    p.wait_for_url(re.compile(r"/requests/HD-"))
    reference = p.url.rsplit("/", 1)[1]
    assert p.get_by_text("Received").first.is_visible()
    run_jobs()

    agent_ctx = browser.new_context()
    a = agent_ctx.new_page()
    sign_in(a, live_server, agent)
    a.goto(f"{live_server}/agent/tickets")
    a.get_by_role("link", name=reference).click()
    a.get_by_label("Message").fill("Thanks for telling us. We removed the duplicate charge.")
    a.get_by_label("Then set status").select_option("resolved")
    a.get_by_role("button", name="Send").click()
    a.wait_for_selector("text=Reply sent to the patient.")

    p.reload()
    assert p.get_by_text("We removed the duplicate charge.").is_visible()
    assert p.get_by_text("Resolved").first.is_visible()
    p.screenshot(path=str(artifacts / "patient-sees-reply.png"), full_page=True)
    patient_ctx.close()
    agent_ctx.close()
