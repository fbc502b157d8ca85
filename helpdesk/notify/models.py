"""Notify tables: in-app notifications, outgoing mail, preferences, inbound mail,
attachments and satisfaction surveys. None of them holds patient text except the
inbound raw mail (in the storage, admin-only) and a survey's optional comment (agents only)."""

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


class NotifyDelivery(db.Model):
    """One ticket event already delivered (its job's random key): running the job again
    does nothing."""

    __tablename__ = "notify_deliveries"

    key: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


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
    # None: the default for the role (on for patients, off for staff, who have the bell)
    email_enabled: Mapped[bool | None]
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class InboundStatus(enum.StrEnum):
    THREADED = "threaded"    # added to an existing request
    CREATED = "created"      # started a new request
    HELD = "held"            # kept for staff: not the requester, malformed, too large, staff sender …
    IGNORED = "ignored"      # auto-reply / bulk / our own mail: never answered
    DUPLICATE = "duplicate"  # the same Message-ID was ingested before
    RELEASED = "released"    # a held mail an admin turned into a request
    DISMISSED = "dismissed"  # a held mail an admin dismissed


class InboundMail(db.Model):
    """One received message. The raw original is kept in the storage (helpdesk.storage,
    keyed by ``raw_sha256``); this row says what became of it. No patient text here."""

    __tablename__ = "inbound_mails"
    __table_args__ = (
        sa.Index("ix_inbound_mails_status_received", "status", "received_at", "id"),
        sa.Index("ix_inbound_mails_message_id", "message_id"),
        sa.Index("ix_inbound_mails_raw_sha256", "raw_sha256"),  # the storage sweep's "still referenced?"
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    source: Mapped[str] = mapped_column(sa.String(16))  # cli | imap | http
    message_id: Mapped[str | None] = mapped_column(sa.String(300))
    from_addr: Mapped[str | None] = mapped_column(sa.String(254))
    status: Mapped[InboundStatus] = mapped_column(enum_type(InboundStatus, 16))
    reason: Mapped[str | None] = mapped_column(sa.String(40))
    ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tickets.id", ondelete="SET NULL"))
    message_row_id: Mapped[int | None] = mapped_column(sa.ForeignKey("messages.id", ondelete="SET NULL"))
    raw_sha256: Mapped[str] = mapped_column(sa.String(64))
    raw_size: Mapped[int]
    note: Mapped[str | None] = mapped_column(sa.String(200))


class Attachment(db.Model):
    """A file attached to a message; the bytes are in the storage (helpdesk.storage) under their SHA-256."""

    __tablename__ = "attachments"
    __table_args__ = (
        sa.Index("ix_attachments_ticket", "ticket_id", "id"),
        sa.Index("ix_attachments_message", "message_id"),
        sa.Index("ix_attachments_sha256", "sha256"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(sa.ForeignKey("messages.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(sa.String(200))
    content_type: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CsatRating(enum.StrEnum):
    GOOD = "good"
    BAD = "bad"


class CsatSurvey(db.Model):
    """The satisfaction question of one ticket: at most one answer per ticket. The mail
    link carries a token whose hash is stored here; it works once and expires."""

    __tablename__ = "csat_surveys"
    __table_args__ = (sa.Index("ix_csat_surveys_answered", "answered_at", "rating"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"), unique=True)
    token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    rating: Mapped[CsatRating | None] = mapped_column(enum_type(CsatRating, 8))
    comment: Mapped[str | None] = mapped_column(sa.Text)  # patient text: shown to agents only
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answered_via: Mapped[str | None] = mapped_column(sa.String(8))  # link | page
