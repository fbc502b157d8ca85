"""In a real browser: a patient describes an emergency; the on-duty clinician's open page
shows the alert within 5 s without a reload; past the acknowledgement window the next
clinician and the supervisor are alerted; acknowledging stops it; the patient's page
says what really happened, in English and Spanish."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from helpdesk.auth.models import Role
from helpdesk.clinical import services as clinical
from helpdesk.clinical.models import AlertRecipient, ClinicalAlert
from helpdesk.extensions import db
from tests.factories import browser_sign_in

pytestmark = pytest.mark.e2e

BANNER_ITEM = "#clinical-alerts-list li:has-text('{ref}')"


def _hhmm(value) -> str:
    return value.astimezone(ZoneInfo("America/New_York")).strftime("%H:%M")


def test_an_emergency_reaches_the_on_duty_clinician_escalates_and_stops_when_acknowledged(
        browser, live_server, ctx, make_user, patient, supervisor, artifacts):
    ana = make_user(Role.AGENT, member_of=("clinical-escalation",), name="Ana Clinician")
    ben = make_user(Role.AGENT, member_of=("clinical-escalation",), name="Ben Clinician")
    for nurse in (ana, ben):
        clinical.add_to_roster(actor=None, user=nurse, mode="on")
    contexts = {name: browser.new_context() for name in ("patient", "ana", "ben", "sup")}
    try:
        pages = {name: c.new_page() for name, c in contexts.items()}
        for name, user in (("ana", ana), ("ben", ben), ("sup", supervisor)):
            browser_sign_in(pages[name], live_server, user)
            pages[name].goto(f"{live_server}/agent/tickets")  # their pages are open before the request comes in
            assert pages[name].locator("#clinical-alerts").is_hidden()

        p = pages["patient"]
        browser_sign_in(p, live_server, patient)
        p.goto(f"{live_server}/help")
        p.get_by_label("What do you need help with?").fill("Please help")
        p.get_by_label("Tell us more").fill("my father has chest pain and can't breathe")
        p.get_by_role("button", name="Send request").click()
        p.wait_for_url(re.compile(r"/requests/HD-"))
        reference = p.url.rsplit("/", 1)[1]

        # Ana (on duty, no open emergencies, lowest id) sees it within 5 s, without a reload
        a = pages["ana"]
        url_before = a.url
        a.wait_for_selector(BANNER_ITEM.format(ref=reference), timeout=5000)
        assert a.url == url_before
        assert a.locator("#clinical-alerts").is_visible()
        a.screenshot(path=str(artifacts / "clinical-alert-banner.png"), full_page=True)
        assert pages["ben"].locator(BANNER_ITEM.format(ref=reference)).count() == 0
        assert pages["sup"].locator(BANNER_ITEM.format(ref=reference)).count() == 0

        # the patient's page says who was alerted, and when
        db.session.expire_all()
        alert = db.session.scalar(sa.select(ClinicalAlert))
        alerted_at = db.session.scalar(sa.select(AlertRecipient.notified_at).where(AlertRecipient.user_id == ana.id))
        notice = p.locator("#emergency-notice")
        assert f"The nurse on duty was alerted at {_hhmm(alerted_at)}." in notice.inner_text()
        assert "911" in notice.inner_text()
        assert notice.locator("a[href^='tel:']").inner_text() == "(555) 010-0100"
        assert "A nurse has been alerted to your request" not in p.content()

        # time passes the acknowledgement window: the sweep escalates to Ben and the supervisor
        assert clinical.sweep(now=alert.due_at + timedelta(seconds=1)) == 1
        for name in ("ben", "sup"):
            pages[name].wait_for_selector(BANNER_ITEM.format(ref=reference), timeout=5000)
        assert "escalated 1 time" in pages["sup"].locator(BANNER_ITEM.format(ref=reference)).inner_text()

        # Ben acknowledges from the banner: everyone's banner clears, escalation stops
        b = pages["ben"]
        b.locator(BANNER_ITEM.format(ref=reference)).get_by_role("button", name=re.compile("Acknowledge")).click()
        b.wait_for_selector("text=acknowledged. Escalation stopped.")
        assert b.locator("#clinical-alerts").is_hidden()
        for name in ("ana", "sup"):
            pages[name].wait_for_selector("#clinical-alerts", state="hidden", timeout=5000)
        db.session.expire_all()
        alert = db.session.get(ClinicalAlert, alert.id)
        assert alert.acknowledged_by_id == ben.id
        assert clinical.sweep(now=alert.due_at + timedelta(hours=1)) == 0

        # the patient's page, in English then Spanish
        p.reload()
        text = p.locator("#emergency-notice").inner_text()
        assert f"The nurse on duty was alerted at {_hhmm(alerted_at)}." in text
        assert f"A member of our team acknowledged the alert at {_hhmm(alert.acknowledged_at)}." in text
        p.locator("form.lang-switch button[value=es]").click()
        p.wait_for_load_state()
        text = p.locator("#emergency-notice").inner_text()
        assert "Si es una emergencia, llame al 911" in text
        assert f"Se avisó al personal de enfermería de guardia a las {_hhmm(alerted_at)}." in text
        assert f"Un miembro de nuestro equipo confirmó la alerta a las {_hhmm(alert.acknowledged_at)}." in text
        assert "También puede llamar a la mesa de ayuda al (555) 010-0100." in text
        assert "Avisamos al personal de enfermería sobre su solicitud" not in p.content()
        p.set_viewport_size({"width": 390, "height": 844})
        p.screenshot(path=str(artifacts / "clinical-patient-notice-es.png"), full_page=True)
    finally:
        for c in contexts.values():
            c.close()
