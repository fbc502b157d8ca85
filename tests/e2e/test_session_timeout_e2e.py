"""In a real browser, with a short idle timeout: the warning appears, "Stay signed in"
keeps the session, and without activity the page goes to the sign-in page."""

from __future__ import annotations

import re

import pytest

from tests.factories import browser_sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def short_sessions(configure):
    # 24 s without activity, warned 12 s before (the defaults are 30 min and 2 min)
    configure(session_idle_minutes_patient=0.4, session_warning_seconds=12)


def test_idle_warning_stay_signed_in_then_signed_out(browser, live_server, ctx, patient, short_sessions):
    context = browser.new_context()
    page = context.new_page()
    problems: list[str] = []
    # script errors only (the favicon's 404 and the expected 401 of the last status check are not)
    page.on("console", lambda msg: problems.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)
    browser_sign_in(page, live_server, patient)
    page.wait_for_url(re.compile(r"/requests$"))

    dialog = page.get_by_role("alertdialog", name="Are you still there?")
    assert not dialog.is_visible()
    dialog.wait_for(state="visible", timeout=20_000)
    stay = dialog.get_by_role("button", name="Stay signed in")
    assert stay.evaluate("el => el === document.activeElement")  # focus moved to the button
    assert "signed out in 1 minute" in dialog.inner_text()
    stay.press("Enter")  # keyboard: the keep-alive POST carries the CSRF token
    dialog.wait_for(state="hidden", timeout=5_000)
    assert page.locator("#session-timeout-status").inner_text() == "You are still signed in."
    assert page.url.endswith("/requests")

    # no more activity: warned again, then sent to the sign-in page with the reason
    dialog.wait_for(state="visible", timeout=20_000)
    page.wait_for_url(re.compile(r"/login\?next=%2Frequests"), timeout=25_000)
    assert page.get_by_text("You were signed out after 1 minute without activity.").is_visible()
    page.goto(f"{live_server}/requests")
    assert "/login" in page.url  # the session really ended on the server
    assert not problems, problems
    context.close()
