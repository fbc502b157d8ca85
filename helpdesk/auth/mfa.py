"""TOTP second factor (RFC 6238, via pyotp) and single-use recovery codes.

Staff must use it; patients may opt in. A code is accepted once: the time step of the
last accepted code is remembered, and only later steps (within one step of clock
drift) are accepted. Recovery codes are stored as SHA-256 hashes and used once.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets

import pyotp
import segno
import sqlalchemy as sa

from helpdesk import audit
from helpdesk.auth import sessions
from helpdesk.auth.models import AuthSession, MfaRecoveryCode, User
from helpdesk.auth.sessions import end_all_sessions
from helpdesk.db import transactional
from helpdesk.errors import Conflict, Forbidden, ValidationFailed
from helpdesk.extensions import db
from helpdesk.i18n import N_
from helpdesk.permissions import can_sign_in, require_admin
from helpdesk.timeutil import utcnow

ISSUER = "Riverside Health Help Desk"
RECOVERY_CODE_COUNT = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
MAX_FAILURES = 5  # wrong codes in one session before it is ended (password again)


class Outcome(enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    LOCKED = "locked"  # too many wrong codes: the session was ended


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret)


def current_code(user: User) -> str:
    """The code an authenticator shows now (developer CLI and tests)."""
    if not user.mfa_secret:
        raise Conflict("This account has no authenticator set up.")
    return _totp(user.mfa_secret).at(utcnow())


def provisioning_uri(user: User) -> str:
    assert user.mfa_secret
    return _totp(user.mfa_secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_svg_data_uri(uri: str) -> str:
    """The QR code as an SVG data: URI, made here (no third-party service sees the secret)."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2)


def _clean_code(code: object) -> str:
    return "".join(str(code or "").split()).replace("-", "").lower()


def _matching_step(user: User, code: str) -> int | None:
    if not user.mfa_secret or len(code) != 6 or not code.isdigit():
        return None
    totp = _totp(user.mfa_secret)
    now_step = totp.timecode(utcnow())
    for step in (now_step - 1, now_step, now_step + 1):
        if user.mfa_last_step is not None and step <= user.mfa_last_step:
            continue  # already used (or older than the last used): a replay
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _hash_recovery(code: str) -> str:
    return hashlib.sha256(_clean_code(code).encode("utf-8")).hexdigest()


def _new_recovery_codes(user: User) -> list[str]:
    db.session.execute(sa.delete(MfaRecoveryCode).where(MfaRecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
        db.session.add(MfaRecoveryCode(user_id=user.id, code_hash=_hash_recovery(raw)))
    return codes


def unused_recovery_codes(user: User) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(MfaRecoveryCode).where(
        MfaRecoveryCode.user_id == user.id, MfaRecoveryCode.used_at.is_(None))) or 0


# ---------------------------------------------------------------- enrolment


@transactional
def begin_enrolment(user: User) -> str:
    """A secret for the authenticator (kept until confirmed, so a reload shows the same QR)."""
    if user.mfa_enabled:
        raise Conflict(N_("Two-step sign-in is already on."))
    if not user.mfa_secret:
        user.mfa_secret = pyotp.random_base32()
    return user.mfa_secret


@transactional
def confirm_enrolment(user: User, code: object, auth_session: AuthSession | None) -> list[str]:
    """Turn MFA on once the user proves their authenticator works; returns the recovery
    codes (shown once)."""
    if user.mfa_enabled:
        raise Conflict(N_("Two-step sign-in is already on."))
    if not user.mfa_secret:
        raise Conflict(N_("Start the set-up again."))
    step = _matching_step(user, _clean_code(code))
    if step is None:
        raise ValidationFailed(N_("That code didn't match. Enter the 6-digit code your app shows now."),
                               fields={"code": [N_("That code didn't match.")]})
    user.mfa_enabled_at = utcnow()
    user.mfa_last_step = step
    codes = _new_recovery_codes(user)
    if auth_session is not None:
        auth_session.mfa_passed = True
    audit.record("mfa.enrolled", "user", user.id, actor_id=user.id)
    return codes


@transactional
def provision(user: User) -> tuple[str, list[str]]:
    """Turn MFA on with a new secret without a confirming code — for the demo seed and
    the test-suite's sign-in helper, which print or use the secret. Audited."""
    if user.mfa_enabled:
        raise Conflict(N_("Two-step sign-in is already on."))
    user.mfa_secret = pyotp.random_base32()
    user.mfa_enabled_at = utcnow()
    user.mfa_last_step = None
    codes = _new_recovery_codes(user)
    audit.record("mfa.enrolled", "user", user.id, actor_id=None, changes={"via": "provisioned"})
    return user.mfa_secret, codes


# ---------------------------------------------------------------- sign-in step


@transactional
def verify(auth_session: AuthSession, code: object) -> Outcome:
    """The second sign-in step: a TOTP code or an unused recovery code."""
    user = auth_session.user
    cleaned = _clean_code(code)
    step = _matching_step(user, cleaned)
    if step is not None:
        user.mfa_last_step = step
        auth_session.mfa_passed = True
        auth_session.mfa_failures = 0
        return Outcome.PASSED
    if len(cleaned) == 10 and user.mfa_enabled:
        recovery = db.session.scalar(sa.select(MfaRecoveryCode).where(
            MfaRecoveryCode.user_id == user.id, MfaRecoveryCode.code_hash == _hash_recovery(cleaned),
            MfaRecoveryCode.used_at.is_(None)))
        if recovery is not None:
            recovery.used_at = utcnow()
            auth_session.mfa_passed = True
            auth_session.mfa_failures = 0
            audit.record("mfa.recovery_code_used", "user", user.id, actor_id=user.id,
                         changes={"left": unused_recovery_codes(user) - 1})
            return Outcome.PASSED
    auth_session.mfa_failures += 1
    audit.record("auth.mfa_failed", "user", user.id, actor_id=None, severity="warning")
    if auth_session.mfa_failures >= MAX_FAILURES:
        sessions.end(auth_session, "mfa_failed")
        return Outcome.LOCKED
    return Outcome.FAILED


# ---------------------------------------------------------------- turning it off


def _clear(user: User) -> None:
    user.mfa_secret = None
    user.mfa_enabled_at = None
    user.mfa_last_step = None
    db.session.execute(sa.delete(MfaRecoveryCode).where(MfaRecoveryCode.user_id == user.id))


@transactional
def disable(user: User, password: object) -> None:
    """A patient turns their own MFA off (password confirms it). Staff can't."""
    if user.mfa_required:
        raise Forbidden(N_("Staff accounts must keep two-step sign-in."))
    if not user.mfa_enabled:
        raise Conflict(N_("Two-step sign-in is already off."))
    if not isinstance(password, str) or not user.check_password(password):
        raise ValidationFailed(N_("That password is not right."), fields={"password": [N_("That password is not right.")]})
    _clear(user)
    audit.record("mfa.disabled", "user", user.id, actor_id=user.id)


@transactional
def reset(*, actor: User | None, user: User) -> None:
    """An admin clears a staff member's (or patient's) authenticator, e.g. a lost phone.
    Their sessions end; staff set MFA up again at their next sign-in."""
    require_admin(actor, "Only admins reset two-step sign-in.")
    if not can_sign_in(user):
        raise Conflict("Integration accounts don't sign in.")
    if not user.mfa_secret and not user.mfa_enabled:
        raise Conflict("This account has no two-step sign-in to reset.")
    _clear(user)
    end_all_sessions(user, reason="mfa_reset")
    audit.record("mfa.reset", "user", user.id, actor_id=actor.id if actor else None, severity="warning")


@transactional
def signed_in_key(user: User) -> str:
    """The cookie key of a new, fully signed-in session — for the test-suite and the
    benchmarks, which drive a test client without typing passwords and codes. Staff get an
    authenticator provisioned first (audited), since MFA is required of them."""
    if user.mfa_required and not user.mfa_enabled:
        provision(user)
    _row, key = sessions.open_session(user, mfa_passed=True)
    return key
