"""In a real browser: a patient types a question on Get help, sees a suggested article
as they type, clicks "This answered my question" — a deflection is recorded and no
request is created. Also: the same flow without JavaScript.

The browsing runs in the Chromium thread of ``kb_browser`` (see tests/e2e/conftest.py); the database
is checked here, in the test's thread."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from helpdesk.extensions import db
from helpdesk.kb.models import Deflection
from helpdesk.tickets.models import Ticket
from tests.factories import PASSWORD, count

pytestmark = pytest.mark.e2e


def sign_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/requests"))


def test_typed_question_is_answered_by_a_suggestion_and_no_ticket_is_created(kb_browser, live_server, seeded, patient,
                                                                              artifacts):
    email, shot = patient.email, str(artifacts / "kb-suggestion-as-you-type.png")

    def script(browser) -> list[str]:
        context = browser.new_context()
        page = context.new_page()
        problems: list[str] = []
        page.on("console", lambda msg: problems.append(msg.text)
                if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)
        page.on("response", lambda r: problems.append(f"{r.status} {r.url}")
                if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
        sign_in(page, live_server, email)
        page.get_by_role("link", name="Get help").first.click()
        page.get_by_label("What do you need help with?").fill("forgot my pasword")
        page.get_by_label("Tell us more").press_sequentially("I can't sign in to the portal", delay=15)

        suggestions = page.locator("#kb-live-list")
        suggestions.get_by_role("link", name=re.compile("Reset your password")).wait_for(timeout=10_000)
        assert "may answer your question" in page.locator("#kb-live-status").text_content()
        page.screenshot(path=shot, full_page=True)

        suggestions.get_by_role("button", name=re.compile(r"This answered my question\W+Reset your password")).click()
        page.wait_for_url(re.compile(r"/help-centre/articles/reset-your-password"))
        assert page.get_by_text("No request was sent").is_visible()
        assert page.get_by_role("heading", name="Reset your password").is_visible()
        context.close()
        return problems

    problems = kb_browser.run(script)
    assert not problems, problems  # no CSP violations, script errors or failed requests
    db.session.expire_all()
    assert count(Ticket) == 0
    row = db.session.scalar(sa.select(Deflection))
    assert row.user_id == patient.id and row.source == "typeahead"
    assert row.query_length == len("forgot my pasword\nI can't sign in to the portal")


def test_without_javascript_the_suggestions_are_a_step_before_sending(kb_browser, live_server, seeded, patient):
    email = patient.email

    def script(browser) -> None:
        context = browser.new_context(java_script_enabled=False)
        page = context.new_page()
        sign_in(page, live_server, email)
        page.goto(f"{live_server}/help")
        page.get_by_label("What do you need help with?").fill("reschedual my apointment")
        page.get_by_label("Tell us more").fill("I need to move my visit next week to another day.")
        page.get_by_role("button", name="Send request").click()
        assert page.get_by_role("heading", name="These articles may answer your question").is_visible()
        assert page.get_by_role("link", name=re.compile("Reschedule or cancel an appointment")).first.is_visible()
        page.get_by_role("button", name="Send my request").click()
        page.wait_for_url(re.compile(r"/requests/HD-"))
        context.close()

    kb_browser.run(script)
    db.session.expire_all()
    assert count(Ticket) == 1 and count(Deflection) == 0
