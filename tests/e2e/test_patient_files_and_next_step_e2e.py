"""On a phone (390 × 844 and 320 × 640), in English and Spanish, in a real Chromium: a
patient sends a first request with a photo (the preview lists it, a too-large file is
caught before sending and the typed text stays), the request page says when to expect a
reply, the agent downloads the photo and answers, the patient's list marks the new
reply, and opening the request clears the mark."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from helpdesk.extensions import db
from helpdesk.i18n import services as i18n_services
from helpdesk.sla.models import Metric, SlaMetric
from helpdesk.tickets.models import Ticket
from helpdesk.tickets.next_step import NextStep, wording
from tests.e2e.test_patient_mobile import overflow
from tests.factories import browser_sign_in, run_jobs
from tests.notify.samples import pdf, png

pytestmark = pytest.mark.e2e

PHONES = {"390x844": (390, 844), "320x640": (320, 640)}
PHOTO = png(40, 30)
WORDS = {
    "en": {"too_big": "too-big.pdf is too large: each file can be at most 0.00390625 MB.",
           "heading": "What will be sent", "new_reply": "New reply", "new": "New",
           "replied": "We've replied. Your request stays open until it's solved."},
    "es": {"too_big": "too-big.pdf es demasiado grande: cada archivo puede tener como máximo 0.00390625 MB.",
           "heading": "Lo que se enviará", "new_reply": "Nueva respuesta", "new": "Nuevo",
           "replied": "Le hemos respondido. Su solicitud sigue abierta hasta que se resuelva."},
}


def _fits(page, width: int) -> None:
    measured = overflow(page)
    assert measured["innerWidth"] == width and measured["scrollWidth"] <= width, measured


def _download(page, link) -> bytes:
    with page.expect_download() as caught:
        link.click()
    return caught.value.path().read_bytes()


@pytest.mark.parametrize("phone", PHONES)
@pytest.mark.parametrize("language", ["en", "es"])
def test_first_request_with_a_photo_expected_reply_and_unread_mark(browser, live_server, app, ctx, configure, queues,
                                                                  patient, agent, artifacts, language, phone):
    configure(attachment_max_bytes=4096)
    i18n_services.set_language(user=patient, language=language)
    words = WORDS[language]
    width, height = PHONES[phone]
    context = browser.new_context(locale={"en": "en-US", "es": "es-US"}[language], viewport={"width": width,
                                  "height": height}, device_scale_factor=2, is_mobile=True, has_touch=True)
    p = context.new_page()
    browser_sign_in(p, live_server, patient)
    p.goto(f"{live_server}/help")
    p.fill("#subject", "Question about my bill")
    p.fill("#body", "I was charged twice for my visit, here is a photo of the statement.")

    # too large for this site: caught before sending, nothing is sent, the text stays
    p.set_input_files("#attachments", files=[{"name": "too-big.pdf", "mimeType": "application/pdf",
                                              "buffer": pdf(6000)}])
    assert p.locator("#file-preview-error").inner_text() == words["too_big"]
    p.locator("#get-help-form button.primary").tap()
    assert p.url.endswith("/help") and p.input_value("#subject") == "Question about my bill"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 0

    # the photo: listed with its size and a picture of it
    p.set_input_files("#attachments", files=[{"name": "bill-photo.png", "mimeType": "image/png", "buffer": PHOTO}])
    preview = p.locator("#file-preview")
    assert preview.is_visible() and preview.locator("h2").inner_text() == words["heading"]
    assert preview.locator(".file-name").all_inner_texts() == ["bill-photo.png"]
    assert preview.locator(".meta").inner_text().strip() == "(1 KB)"
    p.wait_for_function("() => document.querySelector('#file-preview img.thumb').naturalWidth === 40")
    assert p.locator("#file-preview-error").inner_text() == ""
    _fits(p, width)
    p.screenshot(path=str(artifacts / f"get-help-file-{phone}-{language}.png"), full_page=True)
    p.locator("#get-help-form button.primary").tap()
    p.wait_for_url(re.compile(r"/requests/HD-"))
    reference = p.url.rsplit("/", 1)[1]
    run_jobs()

    # when to expect a reply: the first-reply clock's due time, in the site's zone, named
    db.session.expire_all()
    ticket = db.session.scalar(sa.select(Ticket).where(Ticket.reference == reference))
    due = db.session.scalar(sa.select(SlaMetric.due_at).where(SlaMetric.ticket_id == ticket.id,
                                                              SlaMetric.metric == Metric.FIRST_REPLY))
    with force_locale(language):
        expected = wording(NextStep("expected", due))
    assert p.locator("#next-step").inner_text() == expected
    assert ("Eastern" in expected) if language == "en" else ("oriental" in expected)
    assert _download(p, p.get_by_role("link", name="bill-photo.png")) == PHOTO
    _fits(p, width)
    p.screenshot(path=str(artifacts / f"request-expected-{phone}-{language}.png"), full_page=True)

    # the agent (a desktop browser) gets the photo and answers
    staff = browser.new_context()
    a = staff.new_page()
    browser_sign_in(a, live_server, agent)
    a.goto(f"{live_server}/agent/tickets/{reference}")
    assert _download(a, a.get_by_role("link", name="bill-photo.png")) == PHOTO
    a.get_by_label("Message").fill("Thanks for the photo. We removed the duplicate charge.")
    a.get_by_role("button", name="Send").click()
    a.wait_for_selector("text=Reply sent to the patient.")
    staff.close()
    run_jobs()

    # the list marks the new reply; opening the request reads it
    p.goto(f"{live_server}/requests")
    card = p.locator("li.card", has=p.locator(f"text={reference}"))
    assert card.locator(".badge.unread").inner_text() == words["new_reply"]
    assert card.locator(".next-step").inner_text() == words["replied"]
    _fits(p, width)
    p.screenshot(path=str(artifacts / f"requests-unread-{phone}-{language}.png"), full_page=True)
    card.locator("a").first.tap()
    p.wait_for_url(re.compile(rf"/requests/{reference}$"))
    assert p.locator("li.msg.from-staff.unread .badge.unread").inner_text() == words["new"]
    _fits(p, width)
    p.goto(f"{live_server}/requests")
    assert p.locator("li.card", has=p.locator(f"text={reference}")).locator(".badge.unread").count() == 0
    context.close()
