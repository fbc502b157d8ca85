"""Confirming a patient's e-mail address after self-registration.

Registering queues a mail to the address given with an activation link: a token signed
with the app's ``SECRET_KEY`` by itsdangerous (``URLSafeTimedSerializer``, its own salt)
that names the account and the address, and expires after ``LINK_TTL``. Nothing is
stored for it: changing the address or the key voids every link. It is single-use in
effect: once the address is confirmed the link changes nothing ("already confirmed").
The secret link is never logged (the access log redacts ``/account/verify-email/…``)
and the mail is flagged ``secret`` (hidden in the admin outbox, blanked once sent).

Until the address is confirmed the account can't submit or read requests
(``helpdesk.permissions``): every patient page leads to a page that explains why and
offers a new link (at most ``throttle.RESEND.max_failures`` an hour per account, plus a
per-address limit on the view).

Accounts made another way are confirmed when they are made: by an admin or the CLI
(staff vouch for the address) and by the portal integration API (the portal has already
checked its user's address: we trust the integration, as for everything it sends).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from helpdesk import audit
from helpdesk.auth import throttle
from helpdesk.auth.models import User
from helpdesk.auth.password_models import placeholder_ids
from helpdesk.db import transactional, unit_of_work
from helpdesk.errors import Conflict, DomainError
from helpdesk.extensions import db
from helpdesk.i18n import N_
from helpdesk.notify.mail import queue_email
from helpdesk.permissions import email_unconfirmed, email_unconfirmed_clause, is_patient
from helpdesk.timeutil import utcnow

LINK_TTL = timedelta(hours=48)
SALT = "helpdesk.email-verification"
VERIFY_PATH = "/account/verify-email/"

INVALID_LINK = N_("This link isn't valid or has expired. Sign in and ask for a new one.")
ALREADY = N_("Your e-mail address is already confirmed.")
TOO_MANY = N_("You asked for several links recently. Please wait %(minutes)s min and check your inbox and spam "
              "folder.")


class InvalidActivationLink(DomainError):
    status = 410
    code = "gone"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def make_token(user: User) -> str:
    return _serializer().dumps({"u": user.id, "e": user.email})


def activation_url(token: str) -> str:
    return f"{current_app.config['HELPDESK'].external_url}{VERIFY_PATH}{token}"


def needs_verification(user: User | None) -> bool:
    return user is not None and email_unconfirmed(user)


def send_link(user: User) -> None:
    """Queue the activation mail (no commit: the caller's unit of work)."""
    queue_email(to=user.email, kind="email_verification", lang=user.language, user_id=user.id, secret=True,
                context={"verify_url": activation_url(make_token(user)),
                         "hours": int(LINK_TTL.total_seconds() // 3600)})


def account_for(token: object) -> User:
    """The account a link names (confirmed or not); ``InvalidActivationLink`` when the
    link is tampered with, expired, or names an address the account no longer has."""
    if not isinstance(token, str) or not 10 <= len(token) <= 400:
        raise InvalidActivationLink(INVALID_LINK)
    try:
        data = _serializer().loads(token, max_age=int(LINK_TTL.total_seconds()))
    except (SignatureExpired, BadSignature):
        raise InvalidActivationLink(INVALID_LINK) from None
    if not isinstance(data, dict):
        raise InvalidActivationLink(INVALID_LINK)
    user = db.session.get(User, data.get("u")) if isinstance(data.get("u"), int) else None
    if user is None or user.email != data.get("e") or not user.active or not is_patient(user):
        raise InvalidActivationLink(INVALID_LINK)
    return user


@transactional
def confirm(token: object) -> tuple[User, bool]:
    """Confirm the address a link names; (account, whether this call confirmed it)."""
    user = account_for(token)
    if user.email_verified:
        return user, False
    user.email_verified_at = utcnow()
    audit.record("user.email_verified", "user", user.id, actor_id=user.id)
    return user, True


def resend(user: User) -> None:
    """A signed-in, unconfirmed patient asks for a new link (throttled per account)."""
    if user.email_verified:
        raise Conflict(ALREADY)
    key = throttle.resend_key(user.id)
    wait = throttle.locked_for([key])
    if wait is not None:
        with unit_of_work():  # the refusal is kept: it is raised after this commit
            audit.record("user.activation_throttled", "user", user.id, actor_id=user.id, severity="warning")
        raise throttle.TooManyAttempts(wait, TOO_MANY)
    with unit_of_work():
        throttle.record_failure([key])
        send_link(user)
        audit.record("user.activation_sent", "user", user.id, actor_id=user.id)


# ------------------------------------------------------------------ the admins' list


def _unconfirmed() -> list[sa.ColumnElement[bool]]:
    return [email_unconfirmed_clause(), User.id.not_in(placeholder_ids())]


def unconfirmed_counts(now: datetime | None = None) -> dict[str, int]:
    """How many patient accounts wait for confirmation: in all, for more than a day,
    for more than a week (one query)."""
    now = now or utcnow()
    day, week = now - timedelta(days=1), now - timedelta(days=7)
    total, over_day, over_week = db.session.execute(
        sa.select(sa.func.count(), sa.func.count().filter(User.created_at < day),
                  sa.func.count().filter(User.created_at < week)).where(*_unconfirmed())
    ).one()
    return {"total": total or 0, "over_day": over_day or 0, "over_week": over_week or 0}


def unconfirmed_accounts(after_id: int = 0, limit: int = 50) -> tuple[list[User], int | None]:
    """Oldest first, a page at a time (keyset on the id); the id to continue after."""
    rows = list(db.session.scalars(
        sa.select(User).where(*_unconfirmed(), User.id > after_id).order_by(User.id).limit(limit + 1)))
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)
