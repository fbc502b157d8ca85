"""Server-side sign-in sessions.

The signed cookie carries only a random session key (in flask-login's ``_user_id``
field); the ``auth_sessions`` row holds its SHA-256, the user, when it was last used,
its absolute expiry and — once ended — when and why. Every request with a cookie is
checked against the row, so a copied cookie stops working the moment the session ends
on the server: sign-out, idle or absolute timeout, password change, deactivation.

Background requests (presence polling, the timeout warning's status check) send the
``X-Helpdesk-Background`` header: they are checked like any other request but do not
count as activity, so an unattended page doesn't keep a session alive.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app, flash, g, has_request_context, request, session
from flask_babel import ngettext
from sqlalchemy.orm import joinedload

from helpdesk import audit
from helpdesk.auth.models import AuthSession, User
from helpdesk.db import transactional, unit_of_work
from helpdesk.extensions import db
from helpdesk.i18n import SESSION_KEY, language_of, supported
from helpdesk.permissions import sso_session_skips_local_mfa
from helpdesk.proxy import client_address
from helpdesk.timeutil import utcnow

KEY_FIELD = "_user_id"  # flask-login's session field: holds our session key
BACKGROUND_HEADER = "X-Helpdesk-Background"
KEEP_ENDED_DAYS = 30  # ended/expired rows are pruned after this long


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _settings():
    return current_app.config["HELPDESK"]


def idle_limit(user: User) -> timedelta:
    s = _settings()
    minutes = s.session_idle_minutes_staff if user.is_staff else s.session_idle_minutes_patient
    return timedelta(minutes=minutes)


def max_lifetime() -> timedelta:
    return timedelta(hours=_settings().session_max_hours)


def is_background() -> bool:
    return has_request_context() and request.headers.get(BACKGROUND_HEADER) == "1"


def second_factor_needed(user: User) -> bool:
    """A new session must pass (or first set up) MFA: staff always, patients who opted in."""
    return user.mfa_enabled or user.mfa_required


PASSWORD, SSO = "password", "sso"  # how a browser signed in (AuthSession.method)


def open_session(user: User, *, ip: str | None = None, mfa_passed: bool | None = None,
                 method: str = PASSWORD) -> tuple[AuthSession, str]:
    """A new session row and its raw key (no commit: the caller commits). A session
    opened through single sign-on owes no local second factor (the provider asked)."""
    raw = secrets.token_urlsafe(32)
    now = utcnow()
    if mfa_passed is None:
        mfa_passed = sso_session_skips_local_mfa(method) or not second_factor_needed(user)
    row = AuthSession(
        key_hash=hash_key(raw), user_id=user.id, created_at=now, last_seen_at=now, expires_at=now + max_lifetime(),
        ip=(ip or "")[:45] or None, mfa_passed=mfa_passed, method=method,
    )
    db.session.add(row)
    db.session.flush()
    return row, raw


def signing_in_with(method: str) -> None:
    """The next ``login_user()`` of this request opens a session of this method
    (flask-login's signal carries no arguments of ours)."""
    g.sign_in_method = method


def start(user: User, *, mfa_passed: bool | None = None) -> AuthSession:
    """Sign-in: a new session with a new key in the cookie (never a reused one)."""
    method = g.pop("sign_in_method", PASSWORD)
    with unit_of_work():
        row, raw = open_session(user, ip=client_address(), mfa_passed=mfa_passed, method=method)
    session[KEY_FIELD] = raw
    g.auth_session = row
    return row


def owes_second_factor(row: AuthSession, user: User) -> bool:
    """This session must still pass (or first set up) the help desk's own second factor."""
    if sso_session_skips_local_mfa(row.method):
        return False
    return not row.mfa_passed or (user.mfa_required and not user.mfa_enabled)


def restart(user: User) -> AuthSession:
    """After this browser's user changed their password (every session ended): carry on
    in a new session with a new key; a second factor already passed here stays passed, and
    a single sign-on stays one."""
    old = current()
    passed = bool(old is not None and old.user_id == user.id and old.mfa_passed)
    session.pop(KEY_FIELD, None)
    if passed and old is not None and sso_session_skips_local_mfa(old.method):
        signing_in_with(old.method)
    return start(user, mfa_passed=True if passed else None)


def current() -> AuthSession | None:
    """The session row of this request (after the user was loaded)."""
    return g.get("auth_session")


def remaining_idle_seconds(row: AuthSession, user: User) -> int:
    left = (row.last_seen_at + idle_limit(user)) - utcnow()
    absolute = row.expires_at - utcnow()
    # rounded up: while the session is valid this is at least 1 (0 means it has ended)
    return max(0, math.ceil(min(left, absolute).total_seconds()))


def load(raw_key: str) -> User | None:
    """flask-login's user loader: the session's user if the session is still valid.

    Ends the session on the server when it timed out (audited), and counts this request
    as activity unless it is a background request."""
    if not raw_key or len(raw_key) > 128:
        return None
    row = db.session.scalar(sa.select(AuthSession).options(joinedload(AuthSession.user))  # one query for both
                            .where(AuthSession.key_hash == hash_key(raw_key)))
    if row is None or row.ended_at is not None:
        return None
    user = row.user
    now = utcnow()
    if not user.active:
        with unit_of_work():
            _end(row, "deactivated", now)
        return None
    if now >= row.expires_at:
        _timed_out(row, user, "absolute", now)
        return None
    if now - row.last_seen_at >= idle_limit(user):
        _timed_out(row, user, "idle", now)
        return None
    if not is_background() and now - row.last_seen_at >= touch_interval(user):
        with unit_of_work():
            row.last_seen_at = now
    g.auth_session = row
    return user


def touch_interval(user: User) -> timedelta:
    """How stale the recorded activity may get before a request writes it again: a
    tenth of the idle limit, at most 30 seconds (so a burst of requests writes once, not
    once each). The idle limit is counted from the recorded activity, so a session ends
    at most this much *earlier* than a limit counted from the very last request — never
    later."""
    return min(timedelta(seconds=30), idle_limit(user) / 10)


def _end(row: AuthSession, reason: str, now: datetime) -> None:
    row.ended_at = now
    row.end_reason = reason


def _timed_out(row: AuthSession, user: User, reason: str, now: datetime) -> None:
    with unit_of_work():
        _end(row, reason, now)
        audit.record("auth.session_timeout", "user", user.id, actor_id=user.id, changes={"reason": reason})
    g.session_timed_out = reason
    if has_request_context():
        session.pop(KEY_FIELD, None)
        _say_why(user, reason)


def _say_why(user: User, reason: str) -> None:
    """The sign-in page says why, in the patient's language (kept for this browser)."""
    if not user.is_staff and supported(user.language):
        session[SESSION_KEY] = user.language
    with language_of(user if not user.is_staff else None):
        if reason == "idle":
            minutes = max(1, math.ceil(idle_limit(user).total_seconds() / 60))
            flash(ngettext("You were signed out after %(num)d minute without activity.",
                           "You were signed out after %(num)d minutes without activity.", minutes), "info")
        else:
            hours = max(1, math.ceil(max_lifetime().total_seconds() / 3600))
            flash(ngettext("You were signed out because you signed in %(num)d hour ago. Please sign in again.",
                           "You were signed out because you signed in %(num)d hours ago. Please sign in again.",
                           hours), "info")


def end(row: AuthSession, reason: str) -> None:
    """End one session (no commit)."""
    if row.ended_at is None:
        _end(row, reason, utcnow())


def end_all_for(user_id: int, reason: str) -> int:
    """End every open session of a user (no commit). Returns how many."""
    result = db.session.execute(
        sa.update(AuthSession).where(AuthSession.user_id == user_id, AuthSession.ended_at.is_(None))
        .values(ended_at=utcnow(), end_reason=reason).execution_options(synchronize_session="fetch")
    )
    return result.rowcount or 0


@transactional
def prune(now: datetime | None = None) -> int:
    """Delete sessions that ended (or expired) more than KEEP_ENDED_DAYS ago. Commits."""
    cutoff = (now or utcnow()) - timedelta(days=KEEP_ENDED_DAYS)
    result = db.session.execute(
        sa.delete(AuthSession).where(sa.or_(AuthSession.ended_at < cutoff, AuthSession.expires_at < cutoff))
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def prune_job() -> None:
    """Periodic job (helpdesk.periodic): forget old ended sessions."""
    prune()


def end_all_sessions(user: User, reason: str = "ended_all") -> None:
    """End every session of the user on the server (no commit: the calling service
    commits). Password changes and resets, deactivation and MFA resets call it."""
    user.session_token = secrets.token_hex(16)
    end_all_for(user.id, reason)
