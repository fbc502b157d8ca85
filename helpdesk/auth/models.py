"""Users, roles and API tokens."""

from __future__ import annotations

import contextlib
import enum
import hashlib
import secrets
from datetime import date, datetime

import sqlalchemy as sa
from argon2 import PasswordHasher
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

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    display_name: Mapped[str] = mapped_column(sa.String(120))
    role: Mapped[Role] = mapped_column(enum_type(Role), index=True)
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    language: Mapped[str] = mapped_column(sa.String(8), default="en", server_default="en")
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
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    memberships: Mapped[list[QueueMembership]] = relationship(  # noqa: F821
        back_populates="user", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:  # no PHI: id and role only
        return f"<User {self.id} {self.role.value}>"

    # flask-login: the id in the session embeds the session token, so rotating the
    # token invalidates every cookie issued before.
    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"

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


def _verify_dummy(password: str) -> None:
    with contextlib.suppress(VerifyMismatchError, VerificationError, InvalidHashError):
        _hasher.verify(_DUMMY_HASH, password)


def verify_dummy_password(password: str) -> None:
    """Spend the same time as a real verification (unknown account)."""
    _verify_dummy(password)


class ApiToken(db.Model):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()

    @property
    def active(self) -> bool:
        return self.revoked_at is None and self.user.active

    @staticmethod
    def generate() -> tuple[str, str]:
        """A new secret (shown once) and the hash that is stored."""
        secret = "hdk_" + secrets.token_urlsafe(32)
        return secret, hash_token(secret)


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
