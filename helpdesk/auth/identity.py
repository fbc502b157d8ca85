"""Agent-assisted password reset: check who is calling, then send the reset link.

An agent working a ticket whose requester is a patient types what the caller tells
them — date of birth, MRN, last 4 digits of the phone, ZIP. The check passes when at
least two typed values match those on file (compared normalised, in constant time).
Nothing typed is stored or logged: the audit row ``identity.check`` and the
``identity_checks`` row keep only *which* identifiers matched and the outcome.

A request from the public "Can't sign in?" form (``ticket.identity_unverified``) has no
account yet: its requester is a placeholder. There the agent also types the e-mail
address of the account the caller says is theirs; the identifiers are compared with that
account, and a pass links the request to it (the account becomes the requester, audited
as ``ticket.requester_verified``). Until a check passes, every account change on such a
request is refused.

Failed checks are limited per ticket (``MAX_FAILURES_PER_HOUR``). A pass lasts
``PASS_VALID`` for that agent and ticket and allows one thing: sending the usual reset
link to the e-mail address on file (``send_reset_link``). No endpoint lets staff set a
patient's password or change their address.
"""

from __future__ import annotations

import hmac
import re
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from helpdesk import audit
from helpdesk.auth.lockedout import details_for, placeholder_ids
from helpdesk.auth.models import Role, User
from helpdesk.auth.password_models import IdentityCheck
from helpdesk.auth.passwords import issue_reset_link
from helpdesk.auth.services import normalise_email
from helpdesk.auth.throttle import TooManyAttempts
from helpdesk.db import transactional, unit_of_work
from helpdesk.errors import Conflict, NotFound, ValidationFailed
from helpdesk.extensions import db
from helpdesk.permissions import can_work_ticket, is_patient
from helpdesk.tickets.models import Ticket
from helpdesk.tickets.services import link_verified_requester
from helpdesk.timeutil import utcnow

IDENTIFIERS = ("date_of_birth", "mrn", "phone_last4", "address_zip")
LABELS = {"date_of_birth": "date of birth", "mrn": "MRN", "phone_last4": "phone (last 4)", "address_zip": "ZIP"}
REQUIRED_MATCHES = 2
MAX_FAILURES_PER_HOUR = 3
PASS_VALID = timedelta(minutes=15)

_DIGITS = re.compile(r"\D+")
_ALNUM = re.compile(r"[^0-9A-Z]+")


# ------------------------------------------------------------------ normalising


def _norm_dob(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    for fmt in ("%Y-%m-%d", "%m/%d/%Y", "%m-%d-%Y"):
        try:
            return datetime.strptime(text, fmt).date().isoformat()  # noqa: DTZ007 (a calendar date)
        except ValueError:
            continue
    raise ValidationFailed("Enter the date of birth as YYYY-MM-DD or MM/DD/YYYY.",
                           fields={"date_of_birth": ["Use YYYY-MM-DD or MM/DD/YYYY."]})


def _norm_mrn(value: object) -> str | None:
    text = _ALNUM.sub("", str(value or "").upper())
    text = text.removeprefix("MRN")
    if len(text) > 32:
        raise ValidationFailed("That MRN is too long.", fields={"mrn": ["At most 32 characters."]})
    return text or None


def _norm_phone_last4(value: object, *, typed: bool) -> str | None:
    digits = _DIGITS.sub("", str(value or ""))
    if not digits:
        return None
    if typed and len(digits) != 4:
        raise ValidationFailed("Enter exactly the last 4 digits of the phone number.",
                               fields={"phone_last4": ["Exactly 4 digits."]})
    return digits[-4:] if len(digits) >= 4 else None


def _norm_zip(value: object, *, typed: bool) -> str | None:
    digits = _DIGITS.sub("", str(value or ""))
    if not digits:
        return None
    if typed and len(digits) not in (5, 9):
        raise ValidationFailed("Enter a 5-digit ZIP code.", fields={"address_zip": ["5 digits (or ZIP+4)."]})
    return digits[:5] if len(digits) >= 5 else None


def typed_identifiers(*, date_of_birth: object = None, mrn: object = None, phone_last4: object = None,
                      address_zip: object = None) -> dict[str, str | None]:
    return {
        "date_of_birth": _norm_dob(date_of_birth),
        "mrn": _norm_mrn(mrn),
        "phone_last4": _norm_phone_last4(phone_last4, typed=True),
        "address_zip": _norm_zip(address_zip, typed=True),
    }


def identifiers_on_file(user: User) -> dict[str, str | None]:
    return {
        "date_of_birth": user.date_of_birth.isoformat() if user.date_of_birth else None,
        "mrn": _norm_mrn(user.mrn),
        "phone_last4": _norm_phone_last4(user.phone, typed=False),
        "address_zip": _norm_zip(user.address_zip, typed=False),
    }


def _same(typed: str, on_file: str | None) -> bool:
    # Constant time whatever the values; an identifier missing on file never matches
    # (compared against a value the typed one can't equal, so the work is the same).
    other = on_file if on_file is not None else typed + "\x00"
    return hmac.compare_digest(typed.encode("utf-8"), other.encode("utf-8")) and on_file is not None


# ------------------------------------------------------------------ services


UNVERIFIED = ("Identity not verified: this request came from the \"Can't sign in?\" form. Run the identity "
              "check with the account's e-mail address first; no account change before it passes.")


def _patient_of(agent: User, ticket: Ticket) -> User:
    if not can_work_ticket(agent, ticket):
        raise NotFound("No request with that reference.")
    if ticket.identity_unverified:
        raise Conflict(UNVERIFIED)
    patient = ticket.requester
    if not is_patient(patient):
        raise Conflict("The requester of this ticket is not a patient account.")
    return patient


def recent_failures(ticket: Ticket, now: datetime | None = None) -> tuple[int, timedelta]:
    """Failed checks on this ticket in the last hour, and how long until the oldest of
    them drops out of the window (one query)."""
    now = now or utcnow()
    count, oldest = db.session.execute(
        sa.select(sa.func.count(), sa.func.min(IdentityCheck.created_at)).where(
            IdentityCheck.ticket_id == ticket.id, IdentityCheck.passed.is_(False),
            IdentityCheck.created_at > now - timedelta(hours=1),
        )
    ).one()
    return count or 0, (oldest + timedelta(hours=1) - now) if oldest is not None else timedelta(minutes=1)


def _claimed_account(agent: User, ticket: Ticket, account_email: object) -> User:
    """The account the caller of an unverified request says is theirs (by its e-mail)."""
    if not can_work_ticket(agent, ticket):
        raise NotFound("No request with that reference.")
    if not (isinstance(account_email, str) and account_email.strip()):
        raise ValidationFailed("Enter the e-mail address of the caller's account.",
                               fields={"account_email": ["Required on a request whose identity isn't verified."]})
    address = normalise_email(account_email, "account_email")
    patient = db.session.scalar(sa.select(User).where(
        User.email == address, User.role == Role.PATIENT, User.id.not_in(placeholder_ids())))
    if patient is None:
        with unit_of_work():  # the failed check is kept: it is raised after this commit
            audit.record("identity.check", "ticket", ticket.reference, actor_id=agent.id, severity="warning",
                         changes={"outcome": "no_account"})
        raise ValidationFailed("No patient account uses that e-mail address. Ask the caller to check it; don't "
                               "say whether an account exists.", fields={"account_email": ["No patient account."]})
    return patient


def check_identity(*, agent: User, ticket: Ticket, date_of_birth: object = None, mrn: object = None,
                   phone_last4: object = None, address_zip: object = None,
                   account_email: object = None) -> IdentityCheck:
    """Compare what the caller said with what is on file; record only the outcome. On
    an unverified request, ``account_email`` names the account to compare with, and a
    pass links the request to it."""
    unverified = ticket.identity_unverified
    patient = _claimed_account(agent, ticket, account_email) if unverified else _patient_of(agent, ticket)
    typed = typed_identifiers(date_of_birth=date_of_birth, mrn=mrn, phone_last4=phone_last4, address_zip=address_zip)
    provided = [k for k in IDENTIFIERS if typed[k]]
    if len(provided) < REQUIRED_MATCHES:
        raise ValidationFailed(f"Enter at least {REQUIRED_MATCHES} of the identifiers the caller gives you.")
    now = utcnow()
    failures, wait = recent_failures(ticket, now)
    if failures >= MAX_FAILURES_PER_HOUR:
        with unit_of_work():  # the refusal is kept: it is raised after this commit
            audit.record("identity.check_throttled", "ticket", ticket.reference, actor_id=agent.id,
                         severity="warning", changes={"patient_id": patient.id})
        raise TooManyAttempts(
            wait,
            "Too many failed identity checks on this request in the last hour. Escalate to a supervisor "
            "or try again later.",
        )
    on_file = identifiers_on_file(patient)
    matched = [k for k in provided if _same(typed[k] or "", on_file[k])]
    passed = len(matched) >= REQUIRED_MATCHES
    with unit_of_work():
        check = IdentityCheck(ticket_id=ticket.id, agent_id=agent.id, patient_id=patient.id, passed=passed,
                              matched=matched, created_at=now)
        db.session.add(check)
        db.session.flush()
        audit.record(
            "identity.check", "ticket", ticket.reference, actor_id=agent.id, severity="info" if passed else "warning",
            changes={
                "patient_id": patient.id,
                **({"unverified_request": True} if unverified else {}),
                "outcome": "pass" if passed else "fail",
                "matched": matched,
                "not_matched": [k for k in provided if k not in matched],
                "not_provided": [k for k in IDENTIFIERS if k not in provided],
            },
        )
        if passed and unverified:
            _link(ticket, patient=patient, agent=agent, check=check, now=now)
    return check


def _link(ticket: Ticket, *, patient: User, agent: User, check: IdentityCheck, now: datetime) -> None:
    link_verified_requester(ticket, patient=patient, agent=agent, check_id=check.id)
    request = details_for(ticket)
    if request is not None:
        request.verified_at, request.verified_by_id, request.verified_user_id = now, agent.id, patient.id


def valid_pass(agent: User, ticket: Ticket, now: datetime | None = None) -> IdentityCheck | None:
    """This agent's unused pass on this ticket from the last ``PASS_VALID``, if any."""
    since = (now or utcnow()) - PASS_VALID
    return db.session.scalar(
        sa.select(IdentityCheck).where(
            IdentityCheck.ticket_id == ticket.id, IdentityCheck.agent_id == agent.id,
            IdentityCheck.patient_id == ticket.requester_id, IdentityCheck.passed.is_(True),
            IdentityCheck.used_at.is_(None), IdentityCheck.created_at > since,
        ).order_by(IdentityCheck.created_at.desc()).limit(1)
    )


@transactional
def send_reset_link(*, agent: User, ticket: Ticket) -> None:
    """After a pass: mail the usual reset link to the patient's address on file."""
    patient = _patient_of(agent, ticket)
    check = valid_pass(agent, ticket)
    if check is None:
        raise Conflict("Check the caller's identity first (a check is valid for 15 minutes and sends one link).")
    if not patient.active:
        raise Conflict("This account is deactivated; an admin must reactivate it first.")
    check.used_at = utcnow()
    issue_reset_link(patient, sent_by=agent)
    audit.record("password.reset_sent_by_agent", "user", patient.id, actor_id=agent.id,
                 changes={"ticket": ticket.reference, "identity_check_id": check.id})


def panel(agent: User, ticket: Ticket) -> dict:
    """What the ticket page shows about identity checks (no identifiers)."""
    now = utcnow()
    applicable = is_patient(ticket.requester)
    if not applicable:
        return {"applicable": False}
    current = valid_pass(agent, ticket, now)
    failures, _wait = recent_failures(ticket, now)
    return {
        "applicable": True,
        "unverified": ticket.identity_unverified,
        "access_request": details_for(ticket),
        "pass": current,
        "pass_expires_at": current.created_at + PASS_VALID if current else None,
        "failures_left": max(0, MAX_FAILURES_PER_HOUR - failures),
        "prominent": ticket.queue is not None and ticket.queue.slug == "account-access",
    }
