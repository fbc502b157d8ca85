"""Patient pages at phone width (360 × 740 CSS pixels): nothing scrolls sideways, in
English and Spanish (longer words), and a screenshot of each page is kept in
test-artifacts/ (gitignored) for a person to look at."""

from __future__ import annotations

import pytest

from helpdesk.i18n import services as i18n_services
from tests.e2e.patient_pages import STEPS, build_site, sign_in

pytestmark = pytest.mark.e2e

PHONE = {"viewport": {"width": 360, "height": 740}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
MAIN_PAGES = {"sign-in", "cant-sign-in", "cant-sign-in-errors", "cant-sign-in-received", "register-errors", "help-centre", "help-centre-search", "article", "error-page",
              "my-requests", "request", "request-emergency", "get-help", "get-help-errors",
              "get-help-suggestion-step", "get-help-typed-suggestions", "survey", "survey-errors", "survey-thanks",
              "request-resolved-files-survey", "request-survey-errors", "request-attachment-error",
              "notification-settings"}


def overflow(page) -> dict:
    """How wide the document is, and the elements that stick out past the right edge."""
    return page.evaluate("""() => {
        const width = document.scrollingElement.scrollWidth;
        const wide = [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
            .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
                                  (e.className && typeof e.className === 'string' ? '.' + e.className : ''));
        return {scrollWidth: width, innerWidth: window.innerWidth, wide};
    }""")


@pytest.mark.parametrize("language", ["en", "es"])
def test_patient_pages_fit_a_phone(browser, live_server, ctx, patient, agent, supervisor, artifacts, language):
    site = build_site(live_server, patient, agent, supervisor)
    i18n_services.set_language(user=patient, language=language)
    too_wide = {}
    shots = []
    for signed_in in (False, True):
        context = browser.new_context(locale={"en": "en-US", "es": "es-US"}[language], **PHONE)
        page = context.new_page()
        if signed_in:
            sign_in(page, site)
        for step in (s for s in STEPS if s.signed_in == signed_in and s.name in MAIN_PAGES):
            step.visit(page, site)
            measured = overflow(page)
            assert measured["innerWidth"] == 360
            if measured["scrollWidth"] > 360:
                too_wide[step.name] = measured
            shot = artifacts / f"phone-360-{language}-{step.name}.png"
            page.screenshot(path=str(shot), full_page=True)
            shots.append(shot)
        context.close()
    assert len(shots) == len(MAIN_PAGES) and all(s.stat().st_size > 0 for s in shots)
    assert not too_wide, too_wide


def test_the_width_check_can_fail(browser, live_server, ctx):
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.goto(f"{live_server}/login")
    page.evaluate("""() => { const wide = document.createElement('div');
        wide.style.width = '600px'; wide.textContent = 'wide'; document.querySelector('main').appendChild(wide); }""")
    assert overflow(page)["scrollWidth"] > 360
    context.close()
