"""Queues, tickets and their threads."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from helpdesk.auth.models import User
from helpdesk.dbtypes import enum_type
from helpdesk.extensions import db
from helpdesk.timeutil import UTCDateTime, utcnow

# Crockford-style alphabet without 0/O, 1/I/L, U: readable aloud, hard to mistype.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
REFERENCE_LENGTH = 6


def new_reference() -> str:
    return "HD-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


class Status(enum.StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING_PATIENT = "pending_patient"
    RESOLVED = "resolved"
    CLOSED = "closed"

    @property
    def patient_label(self) -> str:
        return str(PATIENT_STATUS_LABELS[self])  # in the current request's language

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


PATIENT_STATUS_LABELS = {
    Status.NEW: lazy_gettext("Received"),
    Status.OPEN: lazy_gettext("We're working on it"),
    Status.PENDING_PATIENT: lazy_gettext("Waiting for your reply"),
    Status.RESOLVED: lazy_gettext("Resolved"),
    Status.CLOSED: lazy_gettext("Closed"),
}

# The workflow. Anything not listed is refused with InvalidTransition.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.OPEN, Status.PENDING_PATIENT, Status.RESOLVED, Status.CLOSED}),
    Status.OPEN: frozenset({Status.PENDING_PATIENT, Status.RESOLVED, Status.CLOSED}),
    Status.PENDING_PATIENT: frozenset({Status.OPEN, Status.RESOLVED, Status.CLOSED}),
    Status.RESOLVED: frozenset({Status.OPEN, Status.CLOSED}),
    Status.CLOSED: frozenset(),
}

ACTIVE_STATUSES = (Status.NEW, Status.OPEN, Status.PENDING_PATIENT)


class Priority(enum.StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"

    @property
    def rank(self) -> int:
        return PRIORITY_RANK[self]


PRIORITY_RANK = {Priority.LOW: 1, Priority.NORMAL: 2, Priority.HIGH: 3, Priority.URGENT: 4}


class Channel(enum.StrEnum):
    WEB = "web"
    API = "api"
    EMAIL = "email"


class Assignment(enum.StrEnum):
    MANUAL = "manual"
    ROUND_ROBIN = "round_robin"
    LEAST_LOADED = "least_loaded"


class Queue(db.Model):
    __tablename__ = "queues"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    description: Mapped[str] = mapped_column(sa.String(500), default="", server_default="")
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    assignment: Mapped[Assignment] = mapped_column(
        enum_type(Assignment), default=Assignment.MANUAL, server_default=Assignment.MANUAL.value
    )
    # round-robin position: the id of the user who got the last ticket (a cursor, not a link)
    last_assigned_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    memberships: Mapped[list[QueueMembership]] = relationship(
        back_populates="queue", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<Queue {self.slug}>"


class QueueMembership(db.Model):
    __tablename__ = "queue_memberships"
    __table_args__ = (sa.UniqueConstraint("user_id", "queue_id", name="uq_queue_memberships_user_queue"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    queue_id: Mapped[int] = mapped_column(sa.ForeignKey("queues.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User] = relationship(back_populates="memberships")
    queue: Mapped[Queue] = relationship(back_populates="memberships")


class Ticket(db.Model):
    __tablename__ = "tickets"
    __table_args__ = (
        sa.Index("ix_tickets_queue_status_created", "queue_id", "status", "created_at", "id"),
        sa.Index("ix_tickets_queue_created", "queue_id", "created_at", "id"),
        sa.Index("ix_tickets_queue_priority_created", "queue_id", "priority_rank", "created_at", "id"),
        # "sort by priority" over several queues: read in order, stopping at a page
        sa.Index("ix_tickets_priority_created", "priority_rank", "created_at", "id"),
        sa.Index("ix_tickets_assignee_status", "assignee_id", "status"),
        sa.Index("ix_tickets_requester_created", "requester_id", "created_at"),
        # the name search: a patient's tickets in the searcher's queues, index-only on PostgreSQL
        sa.Index("ix_tickets_requester_queue", "requester_id", "queue_id", postgresql_include=["id", "status"]),
        sa.Index("ix_tickets_created_by_created", "created_by_id", "created_at"),
        sa.Index("ix_tickets_status_created", "status", "created_at"),
        # the dashboard's live days and distinct patients served: index-only on PostgreSQL
        sa.Index("ix_tickets_created", "created_at", postgresql_include=["queue_id", "channel", "requester_id"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(16), unique=True, default=new_reference)
    subject: Mapped[str] = mapped_column(sa.String(200))
    requester_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    queue_id: Mapped[int] = mapped_column(sa.ForeignKey("queues.id"))
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    status: Mapped[Status] = mapped_column(enum_type(Status), default=Status.NEW)
    priority: Mapped[Priority] = mapped_column(enum_type(Priority), default=Priority.NORMAL)
    # Kept in step with ``priority`` so that lists can sort by it through an index.
    priority_rank: Mapped[int] = mapped_column(sa.SmallInteger, default=PRIORITY_RANK[Priority.NORMAL])
    channel: Mapped[Channel] = mapped_column(enum_type(Channel), default=Channel.WEB)
    follow_up_of_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tickets.id"))
    # Set at submission by the clinical-emergency guard (category name), never cleared.
    emergency: Mapped[str | None] = mapped_column(sa.String(40))
    # Sent from the public "Can't sign in?" form: the requester is who they *say* they
    # are (an AccessRequest holds what they gave). Cleared only when an agent's identity
    # check links the request to an account; until then no account change is allowed.
    identity_unverified: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # The external patient identifier the portal sent the request under (helpdesk.auth.portal);
    # None for requests made another way.
    patient_identifier_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("patient_identifiers.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    requester: Mapped[User] = relationship(foreign_keys=[requester_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    queue: Mapped[Queue] = relationship()
    follow_up_of: Mapped[Ticket | None] = relationship(remote_side=[id])
    messages: Mapped[list[Message]] = relationship(
        back_populates="ticket", order_by="Message.created_at, Message.id", cascade="all, delete-orphan"
    )

    @validates("priority")
    def _sync_rank(self, _key: str, value: Priority) -> Priority:
        value = Priority(value)
        self.priority_rank = value.rank
        return value

    # Not a column: the highlighted passage a search shows for this ticket on a list page
    # (set by ``helpdesk.tickets.search.attach_snippets``; escaped HTML, or None).
    search_snippet = None

    def __repr__(self) -> str:
        return f"<Ticket {self.reference}>"

    @property
    def public_messages(self) -> list[Message]:
        return [m for m in self.messages if m.public]


class Message(db.Model):
    __tablename__ = "messages"
    __table_args__ = (sa.Index("ix_messages_ticket_created", "ticket_id", "created_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(sa.Text)
    public: Mapped[bool] = mapped_column(default=True)
    channel: Mapped[Channel] = mapped_column(enum_type(Channel), default=Channel.WEB)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="messages")
    author: Mapped[User | None] = relationship()
    # Corrections (version 2, 3, …); ``body`` stays the original text for good.
    versions: Mapped[list[MessageVersion]] = relationship(
        back_populates="message", order_by="MessageVersion.version", lazy="selectin", cascade="all, delete-orphan"
    )

    @property
    def from_staff(self) -> bool:
        return self.author is not None and self.author.is_staff

    @property
    def edited(self) -> bool:
        return bool(self.versions)

    @property
    def current_body(self) -> str:
        """The text as it reads now: the latest correction, or the original."""
        return self.versions[-1].body if self.versions else self.body

    @property
    def version_count(self) -> int:
        return 1 + len(self.versions)


class MessageVersion(db.Model):
    """A correction of a message. The original stays in ``messages.body``; each
    correction adds a row here (version 2, 3, …); nothing is changed in place."""

    __tablename__ = "message_versions"
    __table_args__ = (sa.UniqueConstraint("message_id", "version", name="uq_message_versions_message_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(sa.ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    version: Mapped[int]
    body: Mapped[str] = mapped_column(sa.Text)
    editor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    message: Mapped[Message] = relationship(back_populates="versions")
    editor: Mapped[User | None] = relationship()


class MessageIsNotEditedInPlace(RuntimeError):
    pass


# Integrity guards, registered by helpdesk.listeners (from create_app).


def refuse_body_update(_mapper, _conn, target: Message) -> None:
    if sa.inspect(target).attrs.body.history.has_changes():
        raise MessageIsNotEditedInPlace("a message's text is never changed in place; add a MessageVersion")


def refuse_version_update(_mapper, _conn, target: MessageVersion) -> None:
    state = sa.inspect(target)
    if state.attrs.body.history.has_changes() or state.attrs.version.history.has_changes():
        raise MessageIsNotEditedInPlace("message versions are never changed")


def refuse_bulk_body_update(state) -> None:
    if state.is_orm_statement and state.is_update and any(
        m.class_ in (Message, MessageVersion) for m in state.all_mappers
    ) and "body" in state.statement.compile().params:
        raise MessageIsNotEditedInPlace("a message's text is never changed in place")


class RequestRead(db.Model):
    """How far a patient has read one of their requests: the newest public message they
    have seen on its page. A public staff message after it is an unread reply (internal
    notes never count: they are not public). Written when the patient opens the request."""

    __tablename__ = "request_reads"

    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    last_seen_message_id: Mapped[int] = mapped_column(default=0)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
