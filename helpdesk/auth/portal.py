"""The patient portal's identity: patients named by an external identifier, and one-use
sign-in links.

**Identifiers.** A patient account may carry identifiers of other systems
(``PatientIdentifier``: ``system`` such as ``portal`` or ``mrn``, and ``value``); one
(system, value) names one account. The portal creates requests by identifier
(``resolve_patient``):

* a known identifier is its account (the ``name`` and ``email`` sent are not used to
  change it);
* an unknown one needs ``name`` and ``email``: the account with that e-mail address gets
  the identifier (the portal vouches for its user's address, as for every request it
  sends), else a new patient account is made for it;
* refused with 409: an address of a staff account, of a self-registered account whose
  address was never confirmed (anyone may register any address), or of a patient account
  that already has another identifier of the same system; a deactivated account.

Two requests racing to create the same identifier make one account: the second one's
insert fails on the unique (system, value) and it takes the identifier the first made.

**Sign-in links.** The portal (an integration token) asks for a link for a patient it
names by identifier (``issue_link``). The address carries a token signed with
HMAC-SHA256 (itsdangerous, ``PATIENT_LINK_SECRET`` or a key derived from ``SECRET_KEY``)
that holds only a random link id; the ``patient_links`` row says whom it signs in, until
when (``PATIENT_LINK_TTL_SECONDS``, 120 s by default) and whether it was used. Opening it
(``open_link``) marks the row used with one conditional UPDATE, so a link works once even
when two hosts receive it at the same moment. Every issue, use and refusal is audited.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.exc import IntegrityError

from helpdesk import audit
from helpdesk.auth.models import Role, User
from helpdesk.auth.portal_models import PatientIdentifier, PatientLink
from helpdesk.auth.services import clean_name, normalise_email
from helpdesk.db import transactional, unit_of_work
from helpdesk.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from helpdesk.extensions import db
from helpdesk.permissions import can_issue_patient_links, email_unconfirmed, is_patient
from helpdesk.timeutil import utcnow

#: A system is a short lower-case name; a value is an opaque id (no spaces).
SYSTEM_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,31}$"
VALUE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
_SYSTEM = re.compile(SYSTEM_PATTERN)
_VALUE = re.compile(VALUE_PATTERN)
SALT = "helpdesk.patient-link"
LINK_PATH = "/patient-link/"


def clean_identity(system: object, value: object, *, prefix: str = "patient.") -> tuple[str, str]:
    """The (system, value) pair, checked; ValidationFailed naming the fields otherwise."""
    errors: dict[str, list[str]] = {}
    if not isinstance(system, str) or not _SYSTEM.match(system):
        errors[f"{prefix}system"] = ["A lower-case name of 1-32 letters, digits, '.', '_' or '-'."]
    if not isinstance(value, str) or not _VALUE.match(value):
        errors[f"{prefix}value"] = ["1-64 letters, digits, '.', '_', ':' or '-'."]
    if errors:
        raise ValidationFailed("That patient identifier is not valid.", fields=_nested(errors))
    return system, value  # type: ignore[return-value]


def _nested(errors: dict[str, list[str]]) -> dict:
    """``{"patient.email": [...]}`` as the API shows nested fields: ``{"patient": {"email": [...]}}``."""
    out: dict = {}
    for key, messages in errors.items():
        head, dot, rest = key.partition(".")
        if dot:
            out.setdefault(head, {})[rest] = messages
        else:
            out[key] = messages
    return out


def find(system: str, value: str) -> PatientIdentifier | None:
    return db.session.scalar(sa.select(PatientIdentifier).where(PatientIdentifier.system == system,
                                                               PatientIdentifier.value == value))


def identifiers_of(user: User) -> list[PatientIdentifier]:
    return list(db.session.scalars(sa.select(PatientIdentifier).where(PatientIdentifier.user_id == user.id)
                                   .order_by(PatientIdentifier.system, PatientIdentifier.id)))


def _usable(user: User) -> None:
    if not is_patient(user):  # an account whose role an admin changed since
        raise Conflict("The account with that identifier is not a patient's.")
    if not user.active:
        raise Conflict("The patient account with that identifier is deactivated.")


def resolve_patient(*, system: object, value: object, actor: User, name: object = None,
                    email: object = None) -> tuple[User, PatientIdentifier]:
    """The patient account the identifier names, linked or created as the module says.
    No commit: the caller's unit of work includes it."""
    system, value = clean_identity(system, value)
    found = find(system, value)
    if found is not None:
        _usable(found.user)
        return found.user, found
    if email is None or name is None:
        missing = {f"patient.{f}": ["Required for a patient the help desk doesn't know yet."]
                   for f, v in (("email", email), ("name", name)) if v is None}
        raise ValidationFailed("No patient has that identifier yet: send name and email to create one.",
                               fields=_nested(missing))
    try:
        address = normalise_email(email)
    except ValidationFailed as err:
        raise ValidationFailed(err.message, fields={"patient": {"email": [err.message]}}) from None
    try:
        display = clean_name(name)
    except ValidationFailed:
        raise ValidationFailed("Give the patient's name.", fields={"patient": {"name": ["Required."]}}) from None
    user = db.session.scalar(sa.select(User).where(User.email == address))
    if user is not None:
        if not is_patient(user):
            raise Conflict("That e-mail address belongs to an account that is not a patient's.")
        _usable(user)
        if email_unconfirmed(user):  # whoever registered it never proved the address: not the portal's patient
            raise Conflict("That e-mail address belongs to an account whose address was never confirmed.")
        other = db.session.scalar(sa.select(PatientIdentifier.id).where(PatientIdentifier.user_id == user.id,
                                                                       PatientIdentifier.system == system))
        if other is not None:
            raise Conflict("That e-mail address belongs to a patient with another identifier in this system.")
    created = user is None
    try:
        with db.session.begin_nested():  # a racing request may insert the same identifier (or address)
            if user is None:
                user = User(email=address, display_name=display, role=Role.PATIENT, active=True,
                            email_verified_at=utcnow())  # the portal has checked its user's address
                db.session.add(user)
                db.session.flush()
            identifier = PatientIdentifier(user_id=user.id, system=system, value=value, created_at=utcnow())
            db.session.add(identifier)
            db.session.flush()
    except IntegrityError:
        raced = find(system, value)
        if raced is None:
            raise Conflict("Another request changed this patient at the same moment. Try again.") from None
        _usable(raced.user)
        return raced.user, raced
    if created:
        audit.record("user.created", "user", user.id, actor_id=actor.id,
                     changes={"role": {"before": None, "after": "patient"}, "via": "api"})
    audit.record("patient.identifier_added", "user", user.id, actor_id=actor.id,
                 changes={"system": system, "identifier_id": identifier.id, "via": "api"})
    return user, identifier


@transactional
def lookup(*, system: object, value: object, actor: User) -> User | None:
    """The patient account the identifier names (None: unknown). An audited read."""
    system, value = clean_identity(system, value, prefix="patient_")
    found = find(system, value)
    audit.record("patient.found_by_identifier", "user", found.user_id if found else None, actor_id=actor.id,
                 changes={"system": system, "found": found is not None})
    return found.user if found is not None else None


# ---------------------------------------------------------------- sign-in links


def _settings():
    return current_app.config["HELPDESK"]


def _serializer() -> URLSafeTimedSerializer:
    key = _settings().patient_link_secret or current_app.config["SECRET_KEY"]
    return URLSafeTimedSerializer(key, salt=SALT, signer_kwargs={"digest_method": hashlib.sha256})


@dataclass(frozen=True)
class IssuedLink:
    url: str
    expires_at: datetime
    expires_in: int


@transactional
def issue_link(*, actor: User, system: object, value: object) -> IssuedLink:
    """A one-use sign-in link for the patient the identifier names (integration tokens)."""
    if not can_issue_patient_links(actor):
        raise Forbidden("Only integration tokens ask for patient sign-in links.")
    system, value = clean_identity(system, value, prefix="")
    found = find(system, value)
    if found is None:
        raise NotFound("No patient has that identifier.")
    _usable(found.user)
    ttl = _settings().patient_link_ttl_seconds
    now = utcnow()
    link = PatientLink(link_id=secrets.token_urlsafe(32), user_id=found.user_id, identifier_id=found.id,
                       created_by_id=actor.id, created_at=now, expires_at=now + timedelta(seconds=ttl))
    db.session.add(link)
    db.session.flush()
    audit.record("patient.link_issued", "user", found.user_id, actor_id=actor.id,
                 changes={"system": system, "link": link.id, "expires_at": link.expires_at.isoformat()})
    return IssuedLink(f"{_settings().external_url}{LINK_PATH}{token_for(link)}", link.expires_at, ttl)


def token_for(link: PatientLink) -> str:
    """The signed token of a link's address: its random id, signed now."""
    return _serializer().dumps({"l": link.link_id})


class InvalidPatientLink(DomainError):
    """A link that can't sign anyone in. ``reason``: invalid (tampered or unknown),
    expired, used, or inactive; ``user`` when the link named one (for the page's language)."""

    status = 410
    code = "gone"

    def __init__(self, reason: str, user: User | None = None) -> None:
        super().__init__("This sign-in link can't be used.")
        self.reason = reason
        self.user = user


def _link_row(token: object) -> tuple[PatientLink | None, bool]:
    """The link a token names and whether its signature has expired; (None, False) when
    the token was not signed by us."""
    if not isinstance(token, str) or not 20 <= len(token) <= 400:
        return None, False
    serializer = _serializer()
    expired = False
    try:
        data = serializer.loads(token, max_age=_settings().patient_link_ttl_seconds)
    except SignatureExpired as exc:  # signed by us, but too long ago: which link, for the audit and the page
        expired = True
        try:
            data = serializer.load_payload(exc.payload) if exc.payload is not None else None
        except BadSignature:
            data = None
    except BadSignature:
        return None, False
    link_id = data.get("l") if isinstance(data, dict) else None
    if not isinstance(link_id, str):
        return None, False
    return db.session.scalar(sa.select(PatientLink).where(PatientLink.link_id == link_id)), expired


def open_link(token: object) -> User:
    """Use a link: its patient (the caller starts the session), or InvalidPatientLink
    (the refusal is audited and committed)."""
    link, expired = _link_row(token)
    reason: str | None = None
    user = link.user if link is not None else None
    now = utcnow()
    if link is None:
        reason = "invalid"
    elif link.used_at is not None:
        reason = "used"
    elif expired or now >= link.expires_at:
        reason = "expired"
    elif user is None or not user.active or not is_patient(user):
        reason = "inactive"
    with unit_of_work():
        if reason is None:
            assert link is not None and user is not None
            taken = db.session.execute(sa.update(PatientLink).where(PatientLink.id == link.id,
                                                                    PatientLink.used_at.is_(None))
                                       .values(used_at=now).execution_options(synchronize_session=False))
            if taken.rowcount == 1:
                user.last_login_at = now
                audit.record("auth.signed_in", "user", user.id, actor_id=user.id,
                             changes={"via": "patient_link", "link": link.id})
                return user
            reason = "used"  # another request (maybe on another host) used it a moment ago
        audit.record("auth.patient_link_refused", "user", user.id if user else None, actor_id=None,
                     severity="warning", changes={"reason": reason, "link": link.id if link else None})
    raise InvalidPatientLink(reason, user)


@transactional
def prune_links(now: datetime | None = None) -> int:
    """Forget links that expired more than a day ago (used or not). Commits."""
    cutoff = (now or utcnow()) - timedelta(days=1)
    result = db.session.execute(sa.delete(PatientLink).where(PatientLink.expires_at < cutoff)
                                .execution_options(synchronize_session=False))
    return result.rowcount or 0
