"""In Chromium, end to end: the portal asks for a sign-in link and sends the patient's
browser to it; the patient lands on their requests, signed in; the same link opened again
by a Spanish-speaking patient gets the refusal page in Spanish."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from helpdesk.auth.portal_models import PatientIdentifier
from helpdesk.extensions import db
from tests.factories import bearer

pytestmark = pytest.mark.e2e


def test_the_portal_signs_the_patient_in_with_a_link(browser, live_server, app, ctx, client, portal, patient,
                                                     make_ticket):
    _integration, secret = portal
    ticket = make_ticket(requester=patient)
    db.session.add(PatientIdentifier(user_id=patient.id, system="portal", value="P-77"))
    db.session.commit()
    resp = client.post("/api/v1/patient-links", json={"system": "portal", "value": "P-77"}, headers=bearer(secret))
    assert resp.status_code == 201
    url = resp.get_json()["url"]
    path = url[url.index("/patient-link/"):]  # EXTERNAL_URL is the development address: the live server's port

    first = browser.new_context(locale="en-US")
    page = first.new_page()
    page.goto(f"{live_server}{path}")
    page.wait_for_url(re.compile(r"/requests$"))
    assert page.get_by_text(ticket.reference).first.is_visible()
    page.goto(f"{live_server}/requests/{ticket.reference}")
    assert page.get_by_role("heading", name=ticket.subject).is_visible()
    first.close()
    patient.language = "es"  # the refusal page speaks the language of the patient the link names
    db.session.commit()

    again = browser.new_context(locale="es-ES")
    page = again.new_page()
    response = page.goto(f"{live_server}{path}")
    assert response is not None and response.status == 410
    assert page.get_by_role("heading", name="Este enlace para iniciar sesión no se puede usar").is_visible()
    assert "ya se usó" in page.locator("main").inner_text()
    page.locator("main").get_by_role("link", name="Iniciar sesión", exact=True).click()
    page.wait_for_url(re.compile(r"/login"))
    again.close()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PatientIdentifier)) == 1
