"""Break-glass grants: a supervisor's time-limited access to one ticket outside their queues."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.auth.models import User
from helpdesk.extensions import db
from helpdesk.tickets.models import Ticket
from helpdesk.timeutil import UTCDateTime, utcnow


class BreakGlassGrant(db.Model):
    __tablename__ = "break_glass_grants"
    __table_args__ = (
        sa.Index("ix_break_glass_grants_user_ticket", "user_id", "ticket_id", "expires_at"),
        sa.Index("ix_break_glass_grants_review", "reviewed_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"))
    # Written by the staff member (never patient text).
    reason: Mapped[str] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reviewed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    reviewed_by: Mapped[User | None] = relationship(foreign_keys=[reviewed_by_id])
    ticket: Mapped[Ticket] = relationship()

    def __repr__(self) -> str:
        return f"<BreakGlassGrant {self.id} user={self.user_id} ticket={self.ticket_id}>"
