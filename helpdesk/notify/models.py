"""Notify tables: in-app notifications, outgoing mail, preferences, inbound mail,
attachments and satisfaction surveys. None of them holds patient text except the
inbound raw mail (on disk, admin-only) and a survey's optional comment (agents only)."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.dbtypes import enum_type
from helpdesk.extensions import db
from helpdesk.timeutil import UTCDateTime, utcnow


class Notification(db.Model):
    """An in-app notice for a staff member: a kind and a ticket reference, never patient text."""

    __tablename__ = "notifications"
    __table_args__ = (sa.Index("ix_notifications_user_read_created", "user_id", "read_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(40))
    ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MailStatus(enum.StrEnum):
    QUEUED = "queued"      # waiting for its (next) attempt
    SENDING = "sending"    # claimed by a worker
    SENT = "sent"
    STORED = "stored"      # no SMTP server configured: kept for the admin outbox, not sent
    FAILED = "failed"      # gave up after the maximum number of attempts


class OutgoingEmail(db.Model):
    """One mail we send. ``message_id`` is the Message-ID header we generated: replies
    are threaded against it (In-Reply-To / References)."""

    __tablename__ = "outgoing_emails"
    __table_args__ = (
        sa.Index("ix_outgoing_emails_status_next", "status", "next_attempt_at"),
        sa.Index("ix_outgoing_emails_created", "created_at", "id"),
        sa.Index("ix_outgoing_emails_ticket", "ticket_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    to_addr: Mapped[str] = mapped_column(sa.String(254))
    kind: Mapped[str] = mapped_column(sa.String(40))
    lang: Mapped[str] = mapped_column(sa.String(8))
    subject: Mapped[str] = mapped_column(sa.String(300))
    body: Mapped[str] = mapped_column(sa.Text)
    message_id: Mapped[str] = mapped_column(sa.String(250), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tickets.id", ondelete="SET NULL"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    # the body holds a secret (e.g. a password-reset link): hidden on the admin page
    # and blanked once sent
    secret: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    status: Mapped[MailStatus] = mapped_column(enum_type(MailStatus, 16), default=MailStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(sa.String(200))
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class NotifyPreference(db.Model):
    """A user's notification choices (no row: the defaults, e-mail on)."""

    __tablename__ = "notify_preferences"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    email_enabled: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
