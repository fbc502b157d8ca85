"""In Chromium, end to end: someone who can't sign in asks for help from a phone without
an account; the answer reveals nothing; an agent sees "Identity not verified", can't
change the account until the identity check passes, then sends the reset link; the
same contact and the same connection are throttled."""

from __future__ import annotations

import re
from datetime import date

import pytest
import sqlalchemy as sa

from helpdesk.auth.password_models import AccessRequest, PasswordResetToken
from helpdesk.extensions import db
from helpdesk.notify.models import OutgoingEmail
from helpdesk.tickets.models import Ticket
from tests.factories import browser_sign_in, run_jobs

pytestmark = pytest.mark.e2e

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


def fits(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def fill(page, *, dob: str, contact: str, details: str = "I changed my phone and lost my sign-in code.") -> None:
    page.get_by_label("Your full name").fill("Maria Lopez")
    page.get_by_label("Date of birth").fill(dob)
    page.get_by_label("E-mail address or phone number where we can reach you").fill(contact)
    page.get_by_label("What happened?").fill(details)
    page.get_by_role("button", name="Send my request").click()


def test_locked_out_path_end_to_end(browser, live_server, app, ctx, queues, patient, agent, artifacts):
    patient.date_of_birth, patient.mrn = date(1984, 3, 14), "MRN-204815"
    db.session.commit()
    phone_number = app.config["HELPDESK"].helpdesk_phone

    visitor = browser.new_context(locale="en-US", **PHONE)
    p = visitor.new_page()
    p.goto(f"{live_server}/login")
    p.get_by_role("link", name="Can't sign in? Ask the help desk").click()
    p.wait_for_url(re.compile(r"/cant-sign-in$"))
    assert fits(p)
    box = p.locator("#website").bounding_box()  # the honeypot is not for people: off the screen
    assert box is not None and box["x"] + box["width"] <= 0
    assert p.locator("#website").get_attribute("tabindex") == "-1"

    # a date nobody was born on: a friendly message, what was typed stays, nothing is created
    fill(p, dob="31/02/1984", contact=patient.email)
    assert p.get_by_text("We couldn't read that date").first.is_visible()
    assert p.get_by_label("Date of birth").input_value() == "31/02/1984"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 0

    p.get_by_label("Date of birth").fill("March 14, 1984")
    p.get_by_role("button", name="Send my request").click()
    p.get_by_role("heading", name="We received your request").wait_for()
    assert fits(p)
    body = p.locator("main").inner_text()
    assert "contact you at the e-mail address or phone number you gave" in body
    assert "We don't send a confirmation message" in body
    assert patient.email not in body and "HD-" not in body and "account" not in body.split("phone number you gave")[0]
    tel = p.locator("main").get_by_role("link", name=phone_number)
    assert tel.get_attribute("href") == "tel:" + re.sub(r"[^\d+]", "", phone_number)
    p.screenshot(path=str(artifacts / "cant-sign-in-received-390.png"), full_page=True)
    run_jobs()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutgoingEmail)) == 0

    # the agent: flagged on the list and the page; no account change until the check passes
    staff = browser.new_context()
    a = staff.new_page()
    browser_sign_in(a, live_server, agent)
    a.goto(f"{live_server}/agent/tickets?queue=account-access")
    row = a.locator("tr", has_text="Identity not verified")
    row.first.wait_for()
    reference = db.session.scalars(sa.select(Ticket)).one().reference
    assert reference in row.first.inner_text()
    row.first.get_by_role("link", name=reference).click()
    a.wait_for_url(re.compile(rf"/agent/tickets/{reference}$"))
    assert a.locator(".unverified-banner").is_visible()
    assert a.get_by_role("button", name=re.compile("Send password reset link")).count() == 0
    a.get_by_label("Account e-mail address (as the caller gives it)").fill(patient.email)
    a.get_by_label("Date of birth").fill("03/14/1984")
    a.get_by_label("MRN").fill("204815")
    a.get_by_role("button", name="Check identity").click()
    a.get_by_text("now linked to the account").wait_for()
    assert a.locator(".unverified-banner").count() == 0
    a.get_by_role("button", name=f"Send password reset link to {patient.email}").click()
    a.get_by_text("Password reset link prepared but NOT e-mailed").wait_for()  # the e2e server has no SMTP_HOST
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PasswordResetToken)) == 1
    db.session.expire_all()
    assert db.session.scalars(sa.select(AccessRequest)).one().verified_user_id == patient.id

    # throttled: three requests per contact, then a wait; and per connection
    for _ in range(2):
        p.goto(f"{live_server}/cant-sign-in")
        fill(p, dob="1984-03-14", contact=patient.email)
        p.get_by_role("heading", name="We received your request").wait_for()
    p.goto(f"{live_server}/cant-sign-in")
    fill(p, dob="1984-03-14", contact=patient.email.upper())
    p.get_by_text("several requests for this contact").wait_for()
    assert p.locator("main").get_by_role("link", name=phone_number).is_visible()
    p.goto(f"{live_server}/cant-sign-in")
    fill(p, dob="1984-03-14", contact="someone.else@example.net")
    p.get_by_text("many requests from this connection").wait_for()
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 3
    visitor.close()
    staff.close()


def test_the_form_in_spanish_on_a_phone(browser, live_server, ctx, queues, artifacts):
    visitor = browser.new_context(locale="es-US", **PHONE)
    p = visitor.new_page()
    p.goto(f"{live_server}/password/forgot")
    p.get_by_role("link", name="¿No puede iniciar sesión? Pida ayuda a la mesa de ayuda").click()
    p.get_by_role("heading", name="¿No puede iniciar sesión?").wait_for()
    assert fits(p)
    p.get_by_label("Su nombre completo").fill("Rosa Díaz")
    p.get_by_label("Fecha de nacimiento").fill("14/03/1984")
    p.get_by_label("Correo electrónico o teléfono donde podamos comunicarnos con usted").fill("(555) 010-0177")
    p.get_by_label("¿Qué pasó?").fill("No recuerdo qué correo usé para la cuenta.")
    p.get_by_role("button", name="Send my request").or_(p.get_by_role("button", name="Enviar mi solicitud")).click()
    p.get_by_role("heading", name="Recibimos su solicitud").wait_for()
    assert fits(p)
    p.screenshot(path=str(artifacts / "cant-sign-in-received-390-es.png"), full_page=True)
    assert db.session.scalars(sa.select(AccessRequest)).one().date_of_birth == date(1984, 3, 14)
    visitor.close()
