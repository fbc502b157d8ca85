"""Password resets, sign-in throttling and agent identity checks.

Nothing here stores a secret or a typed value: reset tokens are kept as their SHA-256,
throttle keys are hashes of the normalised address (or the client IP), and an identity
check keeps only which identifiers matched.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.auth.models import User
from helpdesk.extensions import db
from helpdesk.timeutil import UTCDateTime, utcnow


class PasswordResetToken(db.Model):
    """One reset link. Valid until ``expires_at`` unless used or voided (a newer link or
    a completed reset voids the older ones)."""

    __tablename__ = "password_reset_tokens"
    __table_args__ = (sa.Index("ix_password_reset_tokens_user_created", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # An agent who sent the link after an identity check (None: the patient asked).
    sent_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))

    user: Mapped[User] = relationship(foreign_keys=[user_id])

    def usable(self, now: datetime) -> bool:
        return self.used_at is None and self.voided_at is None and now < self.expires_at


class AuthThrottle(db.Model):
    """Failed attempts for one key: ``acct:<sha256 of the normalised address>`` (known
    or not) or ``ip:<address>``. After too many failures in the window the key is
    locked; each lock-out doubles the wait, up to a ceiling."""

    __tablename__ = "auth_throttles"

    key: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0, server_default="0")
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    lockouts: Mapped[int] = mapped_column(default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class IdentityCheck(db.Model):
    """An agent checked a patient's identity on a ticket. Only the outcome and the
    *names* of the identifiers that matched are kept — never what was typed."""

    __tablename__ = "identity_checks"
    __table_args__ = (sa.Index("ix_identity_checks_ticket_created", "ticket_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"))
    agent_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    passed: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    matched: Mapped[list[Any]] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # A pass allows one reset link; sending it uses the pass up.
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AccessRequest(db.Model):
    """A request from the public "Can't sign in?" form, by someone who is not signed in.

    The ticket's requester is a *placeholder* made for this request alone: a patient
    row that can't sign in (inactive, no password, an address under ``.invalid`` that
    no mail is ever sent to) and carries no identifiers on file. What the person typed
    is kept here, as given, for the agent who calls them back. Nothing links the request
    to an existing account until an agent's identity check passes
    (``helpdesk.auth.identity``), which records the account in ``verified_user_id``
    and makes it the ticket's requester.
    """

    __tablename__ = "access_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"), unique=True)
    placeholder_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    date_of_birth: Mapped[date]
    contact_email: Mapped[str | None] = mapped_column(sa.String(254))
    contact_phone: Mapped[str | None] = mapped_column(sa.String(32))
    language: Mapped[str] = mapped_column(sa.String(8), default="en")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    verified_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    verified_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))

    verified_user: Mapped[User | None] = relationship(foreign_keys=[verified_user_id])

    @property
    def contact(self) -> str:
        return self.contact_email or self.contact_phone or ""


def placeholder_ids() -> sa.Select:
    """The placeholder requesters (not accounts: nobody signs in with them)."""
    return sa.select(AccessRequest.placeholder_id)
