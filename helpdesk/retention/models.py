"""Retention periods, legal holds and the record of each retention run."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.extensions import db
from helpdesk.timeutil import UTCDateTime, utcnow


class RetentionPolicy(db.Model):
    """One row per kind an admin has set; no row (or ``days`` None) = kept for ever."""

    __tablename__ = "retention_policies"

    kind: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    days: Mapped[int | None]
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))


class LegalHold(db.Model):
    """A hold on one ticket or on every ticket of one patient: nothing it covers is purged
    while it is in force (``released_at`` None)."""

    __tablename__ = "legal_holds"
    __table_args__ = (
        sa.CheckConstraint("(ticket_id IS NULL) <> (patient_id IS NULL)", name="one_target"),
        sa.Index("ix_legal_holds_ticket_active", "ticket_id", "released_at"),
        sa.Index("ix_legal_holds_patient_active", "patient_id", "released_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"))
    patient_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    released_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))


class RetentionRun(db.Model):
    """One run of the retention job (a dry run or a real one) and what it counted per kind."""

    __tablename__ = "retention_runs"
    __table_args__ = (sa.Index("ix_retention_runs_dry_run_id", "dry_run", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dry_run: Mapped[bool]
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    via: Mapped[str] = mapped_column(sa.String(16))  # schedule | cli | admin | api
    counts: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)


class PurgedTicket(db.Model):
    """A closed ticket the retention job de-identified: its text is gone, the row stays."""

    __tablename__ = "retention_purged_tickets"

    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    purged_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("retention_runs.id", ondelete="SET NULL"))
