"""SLA tables: calendars, ordered policies, per-ticket state, per ticket-metric clocks, notifications."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.dbtypes import enum_type
from helpdesk.extensions import db
from helpdesk.timeutil import UTCDateTime, utcnow


class Metric(enum.StrEnum):
    FIRST_REPLY = "first_reply"
    NEXT_REPLY = "next_reply"
    RESOLUTION = "resolution"


class MetricState(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    FULFILLED = "fulfilled"


class SlaCalendar(db.Model):
    """A business calendar (``helpdesk.sla.clock.Calendar.from_spec`` format)."""

    __tablename__ = "sla_calendars"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80), unique=True)
    spec: Mapped[dict[str, Any]] = mapped_column(sa.JSON)


class SlaPolicy(db.Model):
    """Ordered by ``position``: the first active policy whose conditions all match applies.

    ``targets`` maps a priority to its metrics: ``{"high": {"first_reply": {"seconds": 3600,
    "business": true}, ...}}``; a metric left out has no target.
    """

    __tablename__ = "sla_policies"
    __table_args__ = (sa.Index("ix_sla_policies_position", "active", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80), unique=True)
    position: Mapped[int] = mapped_column(default=100)
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    queue_id: Mapped[int | None] = mapped_column(sa.ForeignKey("queues.id", ondelete="CASCADE"))
    priority: Mapped[str | None] = mapped_column(sa.String(16))
    channel: Mapped[str | None] = mapped_column(sa.String(16))
    calendar_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sla_calendars.id", ondelete="SET NULL"))
    warn_fraction: Mapped[float] = mapped_column(default=0.75, server_default="0.75")
    targets: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # the current version (``sla_policy_versions``); calendar_id, warn_fraction and
    # targets above are that version's, kept here for matching
    version: Mapped[int] = mapped_column(default=1, server_default="1")


class SlaPolicyVersion(db.Model):
    """One saved state of a policy's targets, never changed: a ticket keeps the version
    it started under (``TicketSla.policy_version_id``); an edit adds the next version."""

    __tablename__ = "sla_policy_versions"
    __table_args__ = (sa.UniqueConstraint("policy_id", "version", name="uq_sla_policy_versions_policy_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_id: Mapped[int] = mapped_column(sa.ForeignKey("sla_policies.id", ondelete="CASCADE"))
    version: Mapped[int]
    name: Mapped[str] = mapped_column(sa.String(80))
    calendar_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sla_calendars.id", ondelete="SET NULL"))
    warn_fraction: Mapped[float] = mapped_column(default=0.75, server_default="0.75")
    targets: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))


class SlaQueueSettings(db.Model):
    """A queue's SLA settings: the business calendar of its policies that name none, and
    the policy its tickets get when no policy written for the queue matches (instead of
    the policies for any queue)."""

    __tablename__ = "sla_queue_settings"

    queue_id: Mapped[int] = mapped_column(sa.ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True)
    calendar_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sla_calendars.id", ondelete="SET NULL"))
    default_policy_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sla_policies.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TicketSla(db.Model):
    """The policy snapshot of one ticket and its soonest due time (for "due soonest")."""

    __tablename__ = "ticket_sla"
    __table_args__ = (sa.Index("ix_ticket_sla_next_due", "next_due_at", "ticket_id"),)

    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    policy_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sla_policies.id", ondelete="SET NULL"))
    policy_name: Mapped[str | None] = mapped_column(sa.String(80))
    # the policy version the ticket's clocks follow (None: the built-in default)
    policy_version_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sla_policy_versions.id", ondelete="SET NULL"))
    policy_version: Mapped[int | None]
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # counters for the dashboard (reopen rate, one-touch resolution)
    reopens: Mapped[int] = mapped_column(default=0, server_default="0")
    agent_replies: Mapped[int] = mapped_column(default=0, server_default="0")


class SlaMetric(db.Model):
    """One clock: a ticket's first reply, one next-reply cycle, or its resolution.

    ``elapsed_seconds`` is the business time accumulated up to ``running_since`` (or in
    total while paused/fulfilled); ``due_at``/``warn_at`` are set while the clock runs;
    ``next_check_at`` is the next moment a warning or breach is owed (the sweep's index).
    """

    __tablename__ = "sla_metrics"
    __table_args__ = (
        sa.UniqueConstraint("ticket_id", "metric", "cycle", name="uq_sla_metrics_ticket_metric_cycle"),
        sa.Index("ix_sla_metrics_next_check", "next_check_at"),
        sa.Index("ix_sla_metrics_queue_fulfilled", "queue_id", "fulfilled_at"),
        sa.Index("ix_sla_metrics_queue_breached", "queue_id", "breached_at"),
        sa.Index("ix_sla_metrics_state_due", "state", "due_at"),
        # covering on PostgreSQL: the dashboard's period aggregates are index-only scans
        sa.Index("ix_sla_metrics_metric_fulfilled", "metric", "fulfilled_at",
                 postgresql_include=["queue_id", "priority", "state", "breached", "elapsed_seconds", "ticket_id"]),
        sa.Index("ix_sla_metrics_metric_breached", "metric", "breached_at",
                 postgresql_include=["queue_id", "priority", "breached"]),
        # open clocks only (a small share of all): backlog, breached and at-risk lists
        sa.Index("ix_sla_metrics_open", "breached", "due_at", "id",
                 postgresql_include=["queue_id", "ticket_id", "metric", "priority", "state", "warn_at"],
                 postgresql_where=sa.text("state <> 'fulfilled'"), sqlite_where=sa.text("state <> 'fulfilled'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"))
    metric: Mapped[Metric] = mapped_column(enum_type(Metric, 16))
    cycle: Mapped[int] = mapped_column(default=1)
    queue_id: Mapped[int] = mapped_column(sa.ForeignKey("queues.id"))
    priority: Mapped[str] = mapped_column(sa.String(16))
    target_seconds: Mapped[int]
    business: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    calendar_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sla_calendars.id", ondelete="SET NULL"))
    warn_fraction: Mapped[float] = mapped_column(default=0.75, server_default="0.75")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    running_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    elapsed_seconds: Mapped[float] = mapped_column(default=0.0, server_default="0")
    state: Mapped[MetricState] = mapped_column(enum_type(MetricState, 16), default=MetricState.ACTIVE)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    warned: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    breached: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    fulfilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def achieved(self) -> bool:
        return self.state == MetricState.FULFILLED and not self.breached


# In-app notifications live in helpdesk.notify (the one notification facility); the
# name stays importable from here for the SLA code.
from helpdesk.notify.models import Notification  # noqa: E402,F401
