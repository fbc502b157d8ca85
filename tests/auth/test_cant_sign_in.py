"""The public "Can't sign in?" request: no account needed, nothing revealed, throttled,
flagged unverified for agents, and no account change before an identity check passes."""

from __future__ import annotations

import re
from datetime import date

import pytest
import sqlalchemy as sa

from helpdesk.audit import AuditEvent
from helpdesk.auth import identity, lockedout
from helpdesk.auth.models import User
from helpdesk.auth.password_models import AccessRequest, AuthThrottle, IdentityCheck, PasswordResetToken
from helpdesk.errors import Conflict
from helpdesk.extensions import db
from helpdesk.notify.models import OutgoingEmail
from helpdesk.tickets.models import Message, Ticket
from tests.factories import count, login

ES = {"Accept-Language": "es"}
URL = "/cant-sign-in"
FORM = {"name": "Rosa Díaz", "date_of_birth": "03/14/1984", "contact": "rosa.diaz@example.net",
        "details": "I changed my phone and lost my sign-in code."}
RIGHT = {"date_of_birth": "1984-03-14", "mrn": "mrn 204815"}


def form(**changes) -> dict[str, str]:
    return {**FORM, **changes}


def without_tokens(html: str) -> str:
    return re.sub(r'(<input[^>]*name="csrf_token"[^>]*>)', "", html)


@pytest.fixture
def on_file(ctx, patient):
    patient.date_of_birth, patient.mrn = date(1984, 3, 14), "MRN-204815"
    db.session.commit()
    return patient


def the_request() -> Ticket:
    return db.session.scalars(sa.select(Ticket)).one()


# ------------------------------------------------------------------ the page


def test_linked_from_sign_in_and_forgot_password_and_shows_the_phone(client, ctx, app):
    for page in ("/login", "/password/forgot"):
        assert 'href="/cant-sign-in"' in client.get(page).get_data(as_text=True)
    html = client.get(URL).get_data(as_text=True)
    number = app.config["HELPDESK"].helpdesk_phone
    tel = re.sub(r"[^\d+]", "", number)
    assert f'href="tel:{tel}"' in html and number in html
    assert 'name="website"' in html and 'class="hp-field" aria-hidden="true"' in html


def test_a_request_goes_to_account_access_unverified_and_attaches_to_no_account(client, ctx, queues, on_file):
    resp = client.post(URL, data=form(contact=on_file.email, name=on_file.display_name))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "We received your request" in html
    assert "We don't send a confirmation message" in html
    t = the_request()
    assert t.queue.slug == "account-access" and t.identity_unverified and t.emergency is None
    placeholder = t.requester
    assert placeholder.id != on_file.id and not placeholder.active and placeholder.password_hash is None
    assert placeholder.email.endswith("@unverified.invalid") and placeholder.date_of_birth is None
    given = db.session.scalars(sa.select(AccessRequest)).one()
    assert (given.name, given.date_of_birth, given.contact_email, given.contact_phone) == (
        on_file.display_name, date(1984, 3, 14), on_file.email, None)
    assert db.session.scalars(sa.select(Message)).one().body == FORM["details"]
    # nothing sent to anyone (the page says so), nothing linked to the existing account
    assert count(OutgoingEmail) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)
                             .where(Ticket.requester_id == on_file.id)) == 0
    audit = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "access_request.received")).one()
    assert audit.changes == {"contact_kind": "email", "placeholder_id": placeholder.id}
    # the placeholder can't be used to sign in
    assert client.post("/login", data={"email": placeholder.email, "password": ""}).status_code == 200
    assert client.get("/requests").status_code == 302


def test_the_answer_is_the_same_whether_or_not_the_person_has_an_account(app, configure, ctx, queues, on_file):
    known, unknown = app.test_client(), app.test_client()
    configure(WTF_CSRF_ENABLED=True)
    a = known.post(URL, data=form(name=on_file.display_name, contact=on_file.email,
                                  csrf_token=_token(known)))
    b = unknown.post(URL, data=form(name="Nobody Known", contact="nobody@example.net",
                                    csrf_token=_token(unknown)))
    assert a.status_code == b.status_code == 200
    assert without_tokens(a.get_data(as_text=True)) == without_tokens(b.get_data(as_text=True))
    assert count(Ticket) == 2


def _token(client) -> str:
    from flask import g

    from tests.conftest import csrf_from

    g.pop("csrf_token", None)  # flask-wtf caches the token in g, which the tests' app context shares
    return csrf_from(client.get(URL).get_data(as_text=True))


def test_a_filled_honeypot_gets_the_same_answer_and_creates_nothing(client, ctx, queues):
    bot = client.post(URL, data=form(website="http://spam.example"))
    assert bot.status_code == 200
    assert count(Ticket) == 0 and count(User) == 0 and count(AccessRequest) == 0
    person = client.post(URL, data=form(contact="someone.else@example.net"))
    assert without_tokens(bot.get_data(as_text=True)) == without_tokens(person.get_data(as_text=True))
    assert count(Ticket) == 1


# ------------------------------------------------------------------ throttling


def test_throttled_per_contact_across_spellings_of_a_phone_number(client, ctx, queues, app):
    spellings = ["(555) 010-0199", "555.010.0199", "555 010 0199"]
    for contact in spellings:
        assert client.post(URL, data=form(contact=contact)).status_code == 200
    refused = client.post(URL, data=form(contact="555-010-0199"), environ_base={"REMOTE_ADDR": "10.9.9.9"})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 429 and "several requests for this contact" in html
    assert app.config["HELPDESK"].helpdesk_phone in html and FORM["details"] in html  # typed text kept
    assert count(Ticket) == 3
    # the count lives in the database (every host sees it), under a hash of the contact
    row = db.session.scalars(sa.select(AuthThrottle).where(AuthThrottle.key.startswith("help:"))).one()
    assert "0199" not in row.key and row.locked_until is not None
    # another contact from the same address is not affected by this contact's limit
    assert client.post(URL, data=form(contact="other@example.net")).status_code == 200


def test_throttled_per_client_address(client, ctx, queues, app):
    for i in range(5):
        assert client.post(URL, data=form(contact=f"person{i}@example.net")).status_code == 200
    refused = client.post(URL, data=form(contact="person9@example.net"))
    html = refused.get_data(as_text=True)
    assert refused.status_code == 429 and "many requests from this connection" in html
    assert app.config["HELPDESK"].helpdesk_phone in html
    assert count(Ticket) == 5
    other_host = client.post(URL, data=form(contact="person9@example.net"), environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert other_host.status_code == 200


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(("typed", "message"), [
    ("31/02/1984", "We couldn&#39;t read that date"),
    ("sometime in 84", "We couldn&#39;t read that date"),
    ("2999-01-01", "That date is in the future"),
])
def test_a_bad_date_of_birth_keeps_the_typed_text_and_creates_nothing(client, ctx, queues, typed, message):
    resp = client.post(URL, data=form(date_of_birth=typed))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and message in html
    assert f'value="{typed}"' in html and 'id="date_of_birth-error"' in html
    assert FORM["details"] in html and 'value="rosa.diaz@example.net"' in html
    assert count(Ticket) == 0 and count(User) == 0


@pytest.mark.parametrize("contact", ["not a contact", "12", "rosa@", "555-CALL-NOW"])
def test_a_bad_contact_is_refused(client, ctx, queues, contact):
    resp = client.post(URL, data=form(contact=contact))
    assert resp.status_code == 422 and "Enter an e-mail address or a phone number" in resp.get_data(as_text=True)
    assert count(Ticket) == 0


def test_empty_fields_are_refused(client, ctx, queues):
    resp = client.post(URL, data={"name": " ", "date_of_birth": "", "contact": "", "details": ""})
    assert resp.status_code == 422 and 'id="error-summary"' in resp.get_data(as_text=True)
    assert count(Ticket) == 0


def test_dates_in_the_ways_people_write_them(ctx, queues):
    for typed in ("1984-03-14", "3/14/1984", "March 14, 1984", "14 Mar 1984", "14/03/1984"):
        assert lockedout.parse_dob(typed, "en") == date(1984, 3, 14), typed
    for typed in ("14/03/1984", "14 de marzo de 1984", "14-3-1984"):
        assert lockedout.parse_dob(typed, "es") == date(1984, 3, 14), typed
    assert lockedout.parse_dob("03/04/1984", "es") == date(1984, 4, 3)  # day first on Spanish pages


# ------------------------------------------------------------------ Spanish and the emergency guard


def test_spanish_page_and_answer(client, ctx, queues, app):
    page = client.get(URL, headers=ES).get_data(as_text=True)
    assert "¿No puede iniciar sesión?" in page and "Fecha de nacimiento" in page and 'lang="es"' in page
    resp = client.post(URL, headers=ES, data=form(date_of_birth="14/03/1984"))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "Recibimos su solicitud" in html and "No enviamos un mensaje" in html
    assert db.session.scalars(sa.select(AccessRequest)).one().date_of_birth == date(1984, 3, 14)
    assert the_request().requester.language == "es"
    bad = client.post(URL, headers=ES, data=form(date_of_birth="31/02/1984")).get_data(as_text=True)
    assert "No pudimos leer esa fecha" in bad


def test_the_emergency_guard_applies(client, ctx, queues):
    resp = client.post(URL, data=form(details="My father has chest pain and can't breathe"))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "call 911" in html
    t = the_request()
    assert t.emergency and t.queue.slug == "clinical-escalation" and t.identity_unverified


# ------------------------------------------------------------------ agents


def test_agents_see_identity_not_verified_on_the_list_and_the_ticket(client, ctx, queues, agent):
    client.post(URL, data=FORM)
    t = the_request()
    login(client, agent)
    listing = client.get("/agent/tickets?queue=account-access").get_data(as_text=True)
    assert t.reference in listing and "Identity not verified" in listing
    page = client.get(f"/agent/tickets/{t.reference}").get_data(as_text=True)
    assert page.count("Identity not verified") >= 2
    assert "rosa.diaz@example.net" in page and "1984-03-14" in page and 'name="account_email"' in page


def test_no_account_change_before_an_identity_check_passes(client, ctx, queues, agent, on_file):
    client.post(URL, data=form(contact=on_file.email))
    t = the_request()
    login(client, agent)
    reset = f"/agent/tickets/{t.reference}/reset-link"
    check = f"/agent/tickets/{t.reference}/identity-check"
    refused = client.post(reset)
    assert refused.status_code == 409 and "Identity not verified" in refused.get_data(as_text=True)
    with pytest.raises(Conflict):
        identity.send_reset_link(agent=agent, ticket=t)
    # the check needs the account's address; a wrong identifier fails and links nothing
    assert client.post(check, data=RIGHT).status_code == 422
    client.post(check, data={**RIGHT, "mrn": "MRN-000000", "account_email": on_file.email})
    db.session.refresh(t)
    assert t.identity_unverified and t.requester_id != on_file.id
    assert client.post(reset).status_code == 409
    assert count(PasswordResetToken) == 0
    # a pass links the request to the account named, then the reset link may go
    ok = client.post(check, data={**RIGHT, "account_email": on_file.email.upper()}, follow_redirects=True)
    assert "now linked to the account" in ok.get_data(as_text=True)
    db.session.refresh(t)
    assert not t.identity_unverified and t.requester_id == on_file.id
    given = db.session.scalars(sa.select(AccessRequest)).one()
    assert given.verified_user_id == on_file.id and given.verified_by_id == agent.id
    linked = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "ticket.requester_verified")).one()
    assert linked.changes["requester_id"]["after"] == on_file.id
    assert client.post(reset).status_code == 302
    mail = db.session.scalars(sa.select(OutgoingEmail).where(OutgoingEmail.kind == "password_reset")).one()
    assert mail.to_addr == on_file.email
    assert [c.passed for c in db.session.scalars(sa.select(IdentityCheck).order_by(IdentityCheck.id))] == [False, True]


def test_an_unknown_account_address_is_refused_without_a_check(client, ctx, queues, agent):
    client.post(URL, data=FORM)
    t = the_request()
    login(client, agent)
    resp = client.post(f"/agent/tickets/{t.reference}/identity-check",
                       data={**RIGHT, "account_email": "nobody@example.net"})
    assert resp.status_code == 422 and "No patient account uses that e-mail address" in resp.get_data(as_text=True)
    # placeholders are not accounts either
    resp = client.post(f"/agent/tickets/{t.reference}/identity-check",
                       data={**RIGHT, "account_email": t.requester.email})
    assert resp.status_code == 422
    assert count(IdentityCheck) == 0
    db.session.refresh(t)
    assert t.identity_unverified
