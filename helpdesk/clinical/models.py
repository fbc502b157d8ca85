"""The on-call roster and clinical alerts."""

from __future__ import annotations

import enum
from datetime import datetime, time

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.auth.models import User
from helpdesk.dbtypes import enum_type
from helpdesk.extensions import db
from helpdesk.timeutil import UTCDateTime, utcnow


class DutyMode(enum.StrEnum):
    SHIFTS = "shifts"  # on duty during the member's shifts
    ON = "on"  # on duty whatever the time (explicit toggle)
    OFF = "off"  # off duty whatever the time


class OnCallMember(db.Model):
    """A clinician on the roster of the clinical-escalation queue."""

    __tablename__ = "oncall_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    mode: Mapped[DutyMode] = mapped_column(enum_type(DutyMode), default=DutyMode.SHIFTS,
                                           server_default=DutyMode.SHIFTS.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User] = relationship()
    shifts: Mapped[list[OnCallShift]] = relationship(
        back_populates="member", cascade="all, delete-orphan", order_by="OnCallShift.weekday, OnCallShift.start",
        lazy="selectin",
    )


class OnCallShift(db.Model):
    """A weekly shift in the site's local time; ``end <= start`` runs past midnight."""

    __tablename__ = "oncall_shifts"
    __table_args__ = (
        sa.CheckConstraint("weekday >= 0 AND weekday <= 6", name="weekday_range"),
        sa.UniqueConstraint("member_id", "weekday", "start", name="uq_oncall_shifts_member_day_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("oncall_members.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int] = mapped_column(sa.SmallInteger)
    start: Mapped[time] = mapped_column(sa.Time)
    end: Mapped[time] = mapped_column(sa.Time)

    member: Mapped[OnCallMember] = relationship(back_populates="shifts")


class AlertLevel(enum.StrEnum):
    CLINICIAN = "clinician"  # the on-duty clinician was alerted (and assigned)
    NOBODY_ON_DUTY = "nobody_on_duty"  # nobody on duty: supervisors and admins were alerted


class ClinicalAlert(db.Model):
    """An alert about a flagged request that needs a person's acknowledgement.

    ``round`` counts escalations (0 = the first alert); ``due_at`` is when the current
    round is escalated unless the alert is acknowledged first. The escalation claims a
    round with a conditional UPDATE on (id, round), so two sweeps never escalate twice.
    """

    __tablename__ = "clinical_alerts"
    __table_args__ = (sa.Index("ix_clinical_alerts_open_due", "acknowledged_at", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"), unique=True)
    level: Mapped[AlertLevel] = mapped_column(enum_type(AlertLevel))
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    round: Mapped[int] = mapped_column(default=0, server_default="0")
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    ticket = relationship("Ticket")
    acknowledged_by: Mapped[User | None] = relationship(foreign_keys=[acknowledged_by_id])
    recipients: Mapped[list[AlertRecipient]] = relationship(
        back_populates="alert", cascade="all, delete-orphan", order_by="AlertRecipient.id"
    )


class RecipientReason(enum.StrEnum):
    ON_DUTY = "on_duty"  # the on-duty clinician the request was assigned to
    NEXT_ON_DUTY = "next_on_duty"  # escalation: the next on-duty clinician
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class AlertRecipient(db.Model):
    """One person alerted in one round: when, why and how (banner always; e-mail and
    pager when they were queued)."""

    __tablename__ = "clinical_alert_recipients"
    __table_args__ = (
        sa.UniqueConstraint("alert_id", "round", "user_id", name="uq_clinical_alert_recipients_round_user"),
        sa.Index("ix_clinical_alert_recipients_user", "user_id", "alert_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(sa.ForeignKey("clinical_alerts.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    round: Mapped[int] = mapped_column(default=0)
    reason: Mapped[RecipientReason] = mapped_column(enum_type(RecipientReason))
    notified_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # how: the banner on every staff page always; the e-mail queued (its outbox row) and
    # the pager hook (queued/sent/failed) when configured
    email_queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    email_id: Mapped[int | None]  # the outgoing mail's id (a reference for admins, not a link)
    pager_status: Mapped[str | None] = mapped_column(sa.String(12))
    pager_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    alert: Mapped[ClinicalAlert] = relationship(back_populates="recipients")
    user: Mapped[User] = relationship()

    @property
    def channels(self) -> list[str]:
        out = ["banner"]
        if self.email_queued_at is not None:
            out.append("email")
        if self.pager_status is not None:
            out.append("pager")
        return out
