"""Tables of the agent workspace: macros, saved views, merges and presence."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.auth.models import User
from helpdesk.dbtypes import enum_type
from helpdesk.extensions import db
from helpdesk.tickets.models import Priority, Queue, Status, Ticket
from helpdesk.timeutil import UTCDateTime, utcnow


class Macro(db.Model):
    """A canned response. Personal (``owner_id`` set) or shared with a queue (``queue_id`` set)."""

    __tablename__ = "macros"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(120))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    # The language the text is written in ("en", "es"); None: any (no text, or both).
    # The ticket page offers the macros in the patient's language first.
    language: Mapped[str | None] = mapped_column(sa.String(8))
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    queue_id: Mapped[int | None] = mapped_column(sa.ForeignKey("queues.id", ondelete="CASCADE"), index=True)
    set_status: Mapped[Status | None] = mapped_column(enum_type(Status))
    set_priority: Mapped[Priority | None] = mapped_column(enum_type(Priority))
    set_queue_id: Mapped[int | None] = mapped_column(sa.ForeignKey("queues.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])
    queue: Mapped[Queue | None] = relationship(foreign_keys=[queue_id])
    set_queue: Mapped[Queue | None] = relationship(foreign_keys=[set_queue_id])

    @property
    def shared(self) -> bool:
        return self.queue_id is not None

    @property
    def actions(self) -> list[str]:
        out = []
        if self.set_status:
            out.append(f"status → {self.set_status.label}")
        if self.set_priority:
            out.append(f"priority → {self.set_priority.value}")
        if self.set_queue is not None:
            out.append(f"queue → {self.set_queue.name}")
        return out


class SavedView(db.Model):
    """A named filter + sort of the ticket list. Personal or shared with a queue."""

    __tablename__ = "saved_views"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    queue_id: Mapped[int | None] = mapped_column(sa.ForeignKey("queues.id", ondelete="CASCADE"), index=True)
    # the ticket list's query arguments (queue, status, priority, assignee, q, sort)
    args: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    queue: Mapped[Queue | None] = relationship(foreign_keys=[queue_id])


class TicketMerge(db.Model):
    """Ticket ``ticket_id`` was merged into ``into_id`` (its thread moved there)."""

    __tablename__ = "ticket_merges"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"), unique=True)
    into_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    ticket: Mapped[Ticket] = relationship(foreign_keys=[ticket_id])
    into: Mapped[Ticket] = relationship(foreign_keys=[into_id])


class TicketPresence(db.Model):
    """Who has a ticket open right now (used when REDIS_URL is not set)."""

    __tablename__ = "ticket_presence"
    __table_args__ = (
        sa.UniqueConstraint("ticket_id", "user_id", name="uq_ticket_presence_ticket_user"),
        sa.Index("ix_ticket_presence_ticket_seen", "ticket_id", "seen_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(sa.String(10), default="viewing")
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
