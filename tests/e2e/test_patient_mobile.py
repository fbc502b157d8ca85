"""Patient pages on a phone (390 × 844 and 320 × 640 CSS pixels), in English and Spanish
(longer words): nothing scrolls sideways, the header (everything above the main content)
takes at most 15 % of the screen's height, it offers 911 and the help desk's number as
tap-to-call links, and its controls are at least 44 × 44 px, folded menu open or closed.
A screenshot of each page is kept in test-artifacts/ (gitignored) for a person to look at."""

from __future__ import annotations

import re

import pytest

from helpdesk.i18n import services as i18n_services
from tests.e2e.patient_pages import STEPS, build_site, sign_in

pytestmark = pytest.mark.e2e

PHONES = {"390x844": (390, 844), "320x640": (320, 640)}
PHONE = {"viewport": {"width": 320, "height": 640}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
HEADER_SHARE = 0.15
TAP = 44
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


def header(page) -> dict:
    """The header as a patient sees it: how far down the main content starts, its tap-to-call
    links, and the size of every control in it that is showing."""
    return page.evaluate("""() => {
        const main = document.querySelector('main');
        const controls = [...document.querySelectorAll('header a, header button, header input:not([type=hidden])')]
            .filter(e => e.getClientRects().length && getComputedStyle(e).visibility !== 'hidden')
            .map(e => { const r = e.getBoundingClientRect();
                        return {text: (e.innerText || e.value || e.getAttribute('aria-label') || '').trim(),
                                width: r.width, height: r.height}; });
        const tel = [...document.querySelectorAll('header a[href^="tel:"]')]
            .map(e => ({href: e.getAttribute('href'), text: e.innerText.replace(/\\s+/g, ' ').trim()}));
        return {mainTop: main.getBoundingClientRect().top + window.scrollY, innerHeight: window.innerHeight,
                controls, tel};
    }""")


def tel_uri(number: str) -> str:
    return "tel:" + ("+" if number.strip().startswith("+") else "") + re.sub(r"\D", "", number)


def header_problems(page, phone_number: str) -> list[str]:
    measured = header(page)
    problems = []
    if measured["mainTop"] > HEADER_SHARE * measured["innerHeight"]:
        problems.append(f"header {measured['mainTop']:.0f}px of {measured['innerHeight']}px")
    small = [c for c in measured["controls"] if c["width"] < TAP or c["height"] < TAP]
    if small:
        problems.append(f"small tap targets {small}")
    hrefs = {t["href"]: t["text"] for t in measured["tel"]}
    if "tel:911" not in hrefs or "911" not in hrefs["tel:911"]:
        problems.append(f"no tap-to-call 911 link: {measured['tel']}")
    desk = hrefs.get(tel_uri(phone_number))
    if desk is None or phone_number not in desk or not re.fullmatch(r"tel:\+?\d+", tel_uri(phone_number)):
        problems.append(f"no tap-to-call link for the help desk's {phone_number}: {measured['tel']}")
    return problems


def open_menu_problems(page) -> list[str]:
    """Open the folded menu (the button, as a finger would): every control in it is big
    enough and nothing sticks out; then close it again."""
    toggle = page.locator("header .menu-toggle")
    if not toggle.is_visible():
        return ["no menu button on a phone"]
    toggle.tap()
    problems = []
    if toggle.get_attribute("aria-expanded") != "true" or not page.locator("#site-menu nav").is_visible():
        problems.append("the menu did not open")
    small = [c for c in header(page)["controls"] if c["width"] < TAP or c["height"] < TAP]
    if small:
        problems.append(f"small tap targets in the open menu {small}")
    measured = overflow(page)
    if measured["scrollWidth"] > measured["innerWidth"]:
        problems.append(f"the open menu scrolls sideways {measured}")
    toggle.tap()
    if toggle.get_attribute("aria-expanded") != "false":
        problems.append("the menu did not close")
    return problems


@pytest.mark.parametrize("phone", PHONES)
@pytest.mark.parametrize("language", ["en", "es"])
def test_patient_pages_fit_a_phone(browser, live_server, app, ctx, patient, agent, supervisor, artifacts, language,
                                   phone):
    site = build_site(live_server, patient, agent, supervisor)
    i18n_services.set_language(user=patient, language=language)
    width, height = PHONES[phone]
    number = app.config["HELPDESK"].helpdesk_phone
    too_wide, header_wrong = {}, {}
    shots = []
    for signed_in in (False, True):
        context = browser.new_context(locale={"en": "en-US", "es": "es-US"}[language],
                                      **{**PHONE, "viewport": {"width": width, "height": height}})
        page = context.new_page()
        if signed_in:
            sign_in(page, site)
        for step in (s for s in STEPS if s.signed_in == signed_in and s.name in MAIN_PAGES):
            step.visit(page, site)
            measured = overflow(page)
            assert measured["innerWidth"] == width
            if measured["scrollWidth"] > width:
                too_wide[step.name] = measured
            if problems := header_problems(page, number):
                header_wrong[step.name] = problems
            shot = artifacts / f"phone-{phone}-{language}-{step.name}.png"
            page.screenshot(path=str(shot), full_page=True)
            shots.append(shot)
        if problems := open_menu_problems(page):
            header_wrong["open menu" + (" (signed in)" if signed_in else "")] = problems
        page.locator("header .menu-toggle").tap()
        page.screenshot(path=str(artifacts / f"phone-{phone}-{language}-menu-{signed_in}.png"))
        context.close()
    assert len(shots) == len(MAIN_PAGES) and all(s.stat().st_size > 0 for s in shots)
    assert not too_wide, too_wide
    assert not header_wrong, header_wrong


def test_the_width_check_can_fail(browser, live_server, ctx):
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.goto(f"{live_server}/login")
    page.evaluate("""() => { const wide = document.createElement('div');
        wide.style.width = '600px'; wide.textContent = 'wide'; document.querySelector('main').appendChild(wide); }""")
    assert overflow(page)["scrollWidth"] > 320
    context.close()


def test_the_header_checks_can_fail(browser, live_server, app, ctx):
    """A tall header, a small control and a missing number are all caught."""
    number = app.config["HELPDESK"].helpdesk_phone
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.goto(f"{live_server}/login")
    assert header_problems(page, number) == []
    page.evaluate("""() => { const bar = document.querySelector('header .top-bar');
        const tall = document.createElement('p'); tall.textContent = 'a banner'; tall.style.height = '80px';
        bar.after(tall);
        const small = document.createElement('a'); small.href = '#'; small.textContent = 'x'; bar.appendChild(small);
        small.style.minHeight = '0'; small.style.minWidth = '0';
        document.querySelector('header a[href^="tel:"]:not([href="tel:911"])').remove(); }""")
    problems = header_problems(page, number)
    assert len(problems) == 3 and problems[0].startswith("header ") and "small tap targets" in problems[1]
    context.close()


def test_the_phone_finds_the_icons_and_the_manifest(browser, live_server, ctx):
    """What "add to home screen" fetches: the manifest and icons the page links, all 200
    with their types, and nothing the page loads is missing (no favicon 404)."""
    context = browser.new_context(**PHONE)
    page = context.new_page()
    failed = []
    page.on("response", lambda r: failed.append((r.status, r.url)) if r.status >= 400 else None)
    page.goto(f"{live_server}/login")
    links = {"link[rel=manifest]": "application/manifest+json", "link[rel=icon][sizes]": "image/vnd.microsoft.icon",
             "link[rel=icon][type]": "image/svg+xml", "link[rel=apple-touch-icon]": "image/png"}
    for selector, kind in links.items():
        resp = page.request.get(live_server + page.locator(selector).get_attribute("href"))
        assert resp.status == 200 and resp.headers["content-type"].split(";")[0] == kind, selector
    manifest = page.request.get(f"{live_server}/manifest.webmanifest").json()
    for icon in manifest["icons"]:
        resp = page.request.get(live_server + icon["src"])
        assert resp.status == 200 and resp.headers["content-type"].split(";")[0] == icon["type"]
    assert page.request.get(f"{live_server}/favicon.ico").status == 200
    assert not failed, failed
    context.close()
