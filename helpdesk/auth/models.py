"""Users, roles and API tokens."""

from __future__ import annotations

import contextlib
import enum
import hashlib
import secrets
from datetime import date, datetime

import sqlalchemy as sa
from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.dbtypes import enum_type
from helpdesk.extensions import db
from helpdesk.timeutil import UTCDateTime, utcnow

_hasher = PasswordHasher()
# A valid hash of a random password: verified against when the account does not
# exist, so that unknown accounts and wrong passwords take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class Role(enum.StrEnum):
    PATIENT = "patient"
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    INTEGRATION = "integration"

    @property
    def is_staff(self) -> bool:
        return self in (Role.AGENT, Role.SUPERVISOR, Role.ADMIN)


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (sa.Index("ix_users_role_verified_created", "role", "email_verified_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    display_name: Mapped[str] = mapped_column(sa.String(120))
    role: Mapped[Role] = mapped_column(enum_type(Role), index=True)
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    language: Mapped[str] = mapped_column(sa.String(8), default="en", server_default="en")
    # IANA time zone the person reads times in (helpdesk.templating); None = the site's
    # zone (SITE_TIMEZONE).
    timezone: Mapped[str | None] = mapped_column(sa.String(64))
    # Identifiers on file, used for identity checks; never shown in lists.
    date_of_birth: Mapped[date | None]
    mrn: Mapped[str | None] = mapped_column(sa.String(32))
    phone: Mapped[str | None] = mapped_column(sa.String(32))
    address_zip: Mapped[str | None] = mapped_column(sa.String(10))
    # Rotated to end every session of this user (sign-out everywhere, password change).
    session_token: Mapped[str] = mapped_column(
        sa.String(64), default=lambda: secrets.token_hex(16)
    )
    # Agents: may the router assign new tickets to them right now?
    available: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    # Knowledge base: may write, review and publish articles (supervisors always may;
    # see helpdesk.permissions.is_kb_editor). Granted to agents by an admin.
    kb_editor: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # When the owner proved the e-mail address is theirs (helpdesk.auth.activation).
    # Self-registered patients start without it and can't submit or read requests
    # until they open the activation link; accounts made by staff, the CLI or the
    # portal integration are set at creation (see docs/patients.md, "Confirming the e-mail address").
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # TOTP second factor (helpdesk.auth.mfa). The secret is set when enrolment starts;
    # MFA is on once mfa_enabled_at is set (the user confirmed a code).
    mfa_secret: Mapped[str | None] = mapped_column(sa.String(64))
    mfa_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The TOTP time step of the last code accepted: a code is never accepted twice.
    mfa_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    # A duplicate patient account merged by an admin: kept, deactivated, pointing to the
    # account that now holds its requests (helpdesk.admin.patients.merge).
    merged_into_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))

    memberships: Mapped[list[QueueMembership]] = relationship(  # noqa: F821
        back_populates="user", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:  # no PHI: id and role only
        return f"<User {self.id} {self.role.value}>"

    # flask-login stores get_id() in the cookie at login_user(); helpdesk.auth.sessions
    # replaces it at once with the key of a new server-side session (auth_sessions), so
    # this value alone never signs anyone in.
    def get_id(self) -> str:
        return str(self.id)

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def mfa_enabled(self) -> bool:
        return self.mfa_enabled_at is not None

    @property
    def mfa_required(self) -> bool:
        """Staff must use a second factor; patients may opt in."""
        return self.is_staff

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return self.active

    @property
    def is_staff(self) -> bool:
        return self.role.is_staff

    @property
    def first_name(self) -> str:
        return self.display_name.split()[0] if self.display_name.strip() else ""

    def set_password(self, password: str) -> None:
        self.password_hash = _hasher.hash(password)

    def check_password(self, password: str) -> bool:
        if not self.password_hash:
            _verify_dummy(password)
            return False
        try:
            return _hasher.verify(self.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def password_needs_rehash(self) -> bool:
        return bool(self.password_hash) and _hasher.check_needs_rehash(self.password_hash)


def use_cheap_hashing() -> None:
    """HELPDESK_ENV=testing only: argon2's cheapest profile. A test run hashes thousands of
    passwords (about 150 ms each with the default profile on two cores); production and
    development keep argon2-cffi's recommended parameters. The dummy hash follows, so
    unknown accounts and wrong passwords still take the same time."""
    global _hasher, _DUMMY_HASH
    _hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)
    _DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def _verify_dummy(password: str) -> None:
    with contextlib.suppress(VerifyMismatchError, VerificationError, InvalidHashError):
        _hasher.verify(_DUMMY_HASH, password)


def verify_dummy_password(password: str) -> None:
    """Spend the same time as a real verification (unknown account)."""
    _verify_dummy(password)


class Scope(enum.StrEnum):
    """What an API token may do (docs/api.md, "Tokens and scopes").

    read    GET: lists, requests, files, the roster
    create  POST that creates: requests, messages, files, roster entries
    manage  change or remove: PATCH a request, the roster's duty toggle and deletions
    """

    READ = "read"
    CREATE = "create"
    MANAGE = "manage"


ALL_SCOPES: tuple[Scope, ...] = tuple(Scope)


class ApiToken(db.Model):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(12))
    # Space-separated Scope values, in Scope order ("read create").
    scopes: Mapped[str] = mapped_column(sa.String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # None: does not expire. Rotation with an overlap sets it on the old token.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The token that replaced this one when it was rotated.
    replaced_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("api_tokens.id", ondelete="SET NULL"))

    user: Mapped[User] = relationship()

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())

    def expired(self, at: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (at or utcnow())

    @property
    def active(self) -> bool:
        return self.revoked_at is None and not self.expired() and self.user.active

    @property
    def state(self) -> str:
        """revoked, expired or active (for lists)."""
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expired() else "active"

    @staticmethod
    def generate() -> tuple[str, str]:
        """A new secret (shown once) and the hash that is stored."""
        secret = "hdk_" + secrets.token_urlsafe(32)
        return secret, hash_token(secret)


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class AuthSession(db.Model):
    """A signed-in browser. The cookie carries only the random key; the row holds its
    SHA-256, so a copy of the database can't be replayed as a cookie."""

    __tablename__ = "auth_sessions"
    __table_args__ = (sa.Index("ix_auth_sessions_user_id_ended_at", "user_id", "ended_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)  # absolute lifetime
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    end_reason: Mapped[str | None] = mapped_column(sa.String(32))
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    # The second factor was given (or isn't needed: a patient without MFA).
    mfa_passed: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    mfa_failures: Mapped[int] = mapped_column(default=0, server_default="0")

    user: Mapped[User] = relationship()

    def __repr__(self) -> str:
        return f"<AuthSession {self.id} user={self.user_id}>"


class MfaRecoveryCode(db.Model):
    """Single-use codes for when the authenticator is lost; only hashes are stored."""

    __tablename__ = "mfa_recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
