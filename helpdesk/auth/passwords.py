"""Password reset (self-service and sent by an agent) and password change.

A reset link carries a secret of 32 random bytes (``secrets.token_urlsafe(32)``); only
its SHA-256 is stored. A link lasts 30 minutes and works once; a newer link, a
completed reset or a password change voids the older ones. The mail goes only to the
address on file, in the user's language, with the link and nothing else. Completing a
reset ends every session of the user and mails "your password was changed".

The secret is never logged: it is not in any audit row, job argument or log line (the
access log redacts ``/password/reset/<secret>``, see ``helpdesk.logging_setup``).
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from helpdesk import audit
from helpdesk.auth import throttle
from helpdesk.auth.models import User, hash_token
from helpdesk.auth.password_models import PasswordResetToken
from helpdesk.auth.password_rules import check_password
from helpdesk.auth.services import end_all_sessions, normalise_email
from helpdesk.db import transactional, unit_of_work
from helpdesk.errors import DomainError, ValidationFailed
from helpdesk.extensions import db
from helpdesk.i18n import N_
from helpdesk.notify.mail import queue_email
from helpdesk.permissions import can_sign_in
from helpdesk.timeutil import utcnow

RESET_TTL = timedelta(minutes=30)
#: Self-service reset mails per account and hour; more requests get the same answer
#: page but no mail (the per-address limit; the per-IP limit is on the view).
MAX_SELF_SERVICE_MAILS_PER_HOUR = 3
RESET_PATH = "/password/reset/"

INVALID_LINK = N_("This link has expired or was already used. You can ask for a new one.")
WRONG_CURRENT = N_("Your current password isn't right.")


class InvalidResetLink(DomainError):
    status = 410
    code = "gone"


def _resettable(user: User | None) -> bool:
    return user is not None and user.active and can_sign_in(user)


def _void_open_tokens(user_id: int) -> None:
    now = utcnow()
    db.session.execute(
        sa.update(PasswordResetToken)
        .where(PasswordResetToken.user_id == user_id, PasswordResetToken.used_at.is_(None),
               PasswordResetToken.voided_at.is_(None))
        .values(voided_at=now)
    )


def reset_url(secret: str) -> str:
    return f"{current_app.config['HELPDESK'].external_url}{RESET_PATH}{secret}"


def issue_reset_link(user: User, *, sent_by: User | None = None, ttl: timedelta | None = None,
                     kind: str = "password_reset") -> PasswordResetToken:
    """Void the user's open links, store a new one and queue its mail (no commit). ``kind``
    is the mail template (``staff_invite`` for a new staff member's first password); ``ttl``
    defaults to RESET_TTL as it is when called (the policy can change it)."""
    ttl = ttl if ttl is not None else RESET_TTL
    _void_open_tokens(user.id)
    secret = secrets.token_urlsafe(32)
    token = PasswordResetToken(user_id=user.id, token_hash=hash_token(secret), expires_at=utcnow() + ttl,
                               sent_by_id=sent_by.id if sent_by else None)
    db.session.add(token)
    db.session.flush()
    queue_email(to=user.email, kind=kind, lang=user.language, user_id=user.id, secret=True,
                context={"reset_url": reset_url(secret), "minutes": int(ttl.total_seconds() // 60),
                         "hours": int(ttl.total_seconds() // 3600)})
    return token


@transactional
def request_reset(email: object) -> None:
    """Someone asked for a reset link for ``email``. The caller always shows the same
    answer; a link is mailed only to an existing, active account, at most
    ``MAX_SELF_SERVICE_MAILS_PER_HOUR`` times an hour. The typed address is never
    recorded."""
    try:
        address = normalise_email(email)
    except ValidationFailed:
        return
    user = db.session.scalar(sa.select(User).where(User.email == address))
    if not _resettable(user):
        return
    assert user is not None
    since = utcnow() - timedelta(hours=1)
    recent = db.session.scalar(
        sa.select(sa.func.count()).select_from(PasswordResetToken).where(
            PasswordResetToken.user_id == user.id, PasswordResetToken.sent_by_id.is_(None),
            PasswordResetToken.created_at > since,
        )
    ) or 0
    if recent >= MAX_SELF_SERVICE_MAILS_PER_HOUR:
        audit.record("password.reset_throttled", "user", user.id, actor_id=None, severity="warning")
        return
    issue_reset_link(user)
    audit.record("password.reset_requested", "user", user.id, actor_id=None)


def find_reset_token(secret: object) -> PasswordResetToken | None:
    """The usable link for ``secret`` (not used, not voided, not expired, account active)."""
    if not isinstance(secret, str) or not 20 <= len(secret) <= 100:
        return None
    token = db.session.scalar(sa.select(PasswordResetToken).where(PasswordResetToken.token_hash == hash_token(secret)))
    if token is None or not token.usable(utcnow()) or not _resettable(token.user):
        return None
    return token


def _password_changed(user: User, action: str, actor_id: int | None) -> None:
    _void_open_tokens(user.id)
    end_all_sessions(user)
    throttle.clear(throttle.account_key(user.email))
    queue_email(to=user.email, kind="password_changed", lang=user.language, user_id=user.id, context={})
    audit.record(action, "user", user.id, actor_id=actor_id)


@transactional
def complete_reset(secret: object, new_password: object) -> User:
    """Set a new password through a reset link; the link is used up, every session of
    the user ends and a "your password was changed" mail is queued."""
    token = find_reset_token(secret)
    if token is None:
        raise InvalidResetLink(INVALID_LINK)
    token = db.session.scalar(
        sa.select(PasswordResetToken).where(PasswordResetToken.id == token.id).with_for_update()
        .execution_options(populate_existing=True)
    )
    if token is None or not token.usable(utcnow()):  # a concurrent request used it first
        raise InvalidResetLink(INVALID_LINK)
    user = token.user
    user.set_password(check_password(new_password, email=user.email, name=user.display_name))
    token.used_at = utcnow()
    _password_changed(user, "password.reset_completed", actor_id=user.id)
    return user


def change_password(user: User, *, current_password: object, new_password: object) -> User:
    """A signed-in user changes their password (current one required). Every session
    ends; the view signs the current browser in again."""
    key = throttle.account_key(user.email)
    wait = throttle.locked_for([key, throttle.ip_key()])
    if wait is not None:
        with unit_of_work():  # the refusal is kept: it is raised after this commit
            audit.record("password.change_throttled", "user", user.id, actor_id=user.id, severity="warning")
        raise throttle.TooManyAttempts(wait)
    if not isinstance(current_password, str) or not user.check_password(current_password):
        with unit_of_work():  # the failed attempt is kept: it is raised after this commit
            throttle.record_failure([key, throttle.ip_key()])
            audit.record("password.change_failed", "user", user.id, actor_id=user.id, severity="warning")
        raise ValidationFailed(WRONG_CURRENT, fields={"current_password": [WRONG_CURRENT]})
    with unit_of_work():
        user.set_password(check_password(new_password, email=user.email, name=user.display_name))
        _password_changed(user, "password.changed", actor_id=user.id)
    return user
