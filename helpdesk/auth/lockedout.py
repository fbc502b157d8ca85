"""Help for someone who can't sign in: the public "Can't sign in?" request.

Anyone may send one (no account): a name, a date of birth, a contact (e-mail address or
phone number) and what happened. It becomes a ticket in the account-access queue,
through the ticket service's one create path (so the emergency guard applies), flagged
``identity_unverified``.

Nothing here looks at the existing accounts: the answer can't depend on whether the
person, the address or the phone is known, so it tells nothing about them. The requester
is recorded as given: a *placeholder* patient row made for this one request, which can't
sign in (inactive, no password, an ``.invalid`` address that no mail goes to — the
notification job skips inactive requesters) and holds no identifiers on file; what was
typed is kept in ``AccessRequest``. An agent calls the person back, asks for the account's
e-mail address and identifiers and runs the identity check (``helpdesk.auth.identity``);
only a pass links the request to that account. Until then every account change is refused.

No acknowledgement is sent to the contact given (anyone could type someone else's
address); the reply page says so.

Throttled per client address (the view's flask-limiter limit, in the limiter's shared
storage) and per contact given (``throttle.contact_key``, in the database: across hosts).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import current_app

from helpdesk import audit
from helpdesk.auth import throttle
from helpdesk.auth.birthdate import BirthDateError, parse_birth_date
from helpdesk.auth.models import Role, User
from helpdesk.auth.password_models import AccessRequest, placeholder_ids  # noqa: F401  (re-exported)
from helpdesk.auth.services import clean_name, normalise_email
from helpdesk.db import unit_of_work
from helpdesk.errors import ValidationFailed
from helpdesk.extensions import db
from helpdesk.i18n import N_
from helpdesk.tickets import services as tickets
from helpdesk.tickets.models import Ticket

ACCESS_QUEUE = "account-access"
#: Staff-facing subject of every such request (the person's own words are the message).
SUBJECT = "Can't sign in: request from the sign-in page (identity not verified)"
PLACEHOLDER_DOMAIN = "unverified.invalid"  # RFC 2606: never deliverable

TOO_MANY = N_("We have already received several requests for this contact. Please wait for the help desk to "
              "contact you, or call us.")

_PHONE_OK = re.compile(r"^\+?[\d\s().\-]+$")

DOB_MESSAGES = {
    "empty": N_("Enter your date of birth."),
    "unreadable": N_("We couldn't read that date. Write it like 03/14/1984 or March 14, 1984."),
    "future": N_("That date is in the future. Check the year."),
    "too_old": N_("Check the year of that date."),
}
CONTACT_MESSAGE = N_("Enter an e-mail address or a phone number (with area code).")


@dataclass(frozen=True)
class Contact:
    email: str | None = None
    phone: str | None = None

    @property
    def normalised(self) -> str:
        return self.email or self.phone or ""


def parse_contact(raw: object) -> Contact:
    text = raw.strip() if isinstance(raw, str) else ""
    if "@" in text:
        try:
            return Contact(email=normalise_email(text, "contact"))
        except ValidationFailed:
            raise ValidationFailed(CONTACT_MESSAGE, fields={"contact": [CONTACT_MESSAGE]}) from None
    digits = re.sub(r"\D", "", text)
    if not text or len(text) > 32 or not _PHONE_OK.match(text) or not 7 <= len(digits) <= 15:
        raise ValidationFailed(CONTACT_MESSAGE, fields={"contact": [CONTACT_MESSAGE]})
    return Contact(phone=("+" if text.startswith("+") else "") + digits)


def parse_dob(raw: object, language: str) -> date:
    try:
        return parse_birth_date(raw, language=language)
    except BirthDateError as err:
        message = DOB_MESSAGES[err.reason]
        raise ValidationFailed(message, fields={"date_of_birth": [message]}) from None


def _validate(*, name: object, date_of_birth: object, contact: object, details: object,
              language: str) -> tuple[str, date, Contact, str]:
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for field, parse in (("name", lambda: clean_name(name)), ("date_of_birth", lambda: parse_dob(date_of_birth, language)),
                         ("contact", lambda: parse_contact(contact)),
                         ("details", lambda: tickets.clean_text(details, "details",
                                                                max_len=current_app.config["HELPDESK"].max_body_chars))):
        try:
            values[field] = parse()
        except ValidationFailed as err:
            errors[field] = list((err.fields or {}).get(field) or [err.message])
    if errors:
        raise ValidationFailed(N_("Please check the form."), fields=errors)
    return values["name"], values["date_of_birth"], values["contact"], values["details"]


def submit(*, name: object, date_of_birth: object, contact: object, details: object, language: str = "en") -> Ticket:
    """Record a request from someone who can't sign in; one unit of work.

    Raises ``ValidationFailed`` (nothing created) for bad input, ``TooManyAttempts``
    when this contact already sent ``throttle.CONTACT.max_failures`` requests recently.
    """
    language = language if language in ("en", "es") else "en"
    display, dob, given, text = _validate(name=name, date_of_birth=date_of_birth, contact=contact, details=details,
                                          language=language)
    key = throttle.contact_key(given.normalised)
    wait = throttle.locked_for([key])
    if wait is not None:
        with unit_of_work():  # the refusal is kept: it is raised after this commit
            audit.record("access_request.throttled", "queue", ACCESS_QUEUE, actor_id=None, severity="warning")
        raise throttle.TooManyAttempts(wait, TOO_MANY)
    with unit_of_work():
        placeholder = User(email=f"unverified-{secrets.token_hex(12)}@{PLACEHOLDER_DOMAIN}", display_name=display,
                           role=Role.PATIENT, active=False, language=language)
        db.session.add(placeholder)
        db.session.flush()
        ticket = tickets.add_unverified_request(requester=placeholder, subject=SUBJECT, body=text,
                                                queue_slug=ACCESS_QUEUE)
        db.session.add(AccessRequest(ticket_id=ticket.id, placeholder_id=placeholder.id, name=display,
                                     date_of_birth=dob, contact_email=given.email, contact_phone=given.phone,
                                     language=language))
        throttle.record_failure([key])  # counts this request against the contact
        audit.record("access_request.received", "ticket", ticket.reference, actor_id=None,
                     changes={"contact_kind": "email" if given.email else "phone", "placeholder_id": placeholder.id})
    return ticket


def details_for(ticket: Ticket) -> AccessRequest | None:
    """What the person gave on the form (for staff who may work the ticket)."""
    return db.session.scalar(sa.select(AccessRequest).where(AccessRequest.ticket_id == ticket.id))
