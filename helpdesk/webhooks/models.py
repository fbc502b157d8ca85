"""Webhook endpoints and their deliveries."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.dbtypes import enum_type
from helpdesk.extensions import db
from helpdesk.timeutil import UTCDateTime, utcnow


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"        # waiting for its (next) attempt
    SENDING = "sending"        # claimed by a worker
    DELIVERED = "delivered"    # the endpoint answered 2xx
    FAILED = "failed"          # gave up after the last retry (an admin may replay it)


class WebhookEndpoint(db.Model):
    """A URL that receives the events it subscribes to, signed with its secret.

    The secret is kept as written (the HMAC needs it), is shown once when made or
    rotated, and never again. ``allow_phi`` (off by default) lets deliveries carry
    patient-written text (the request's subject and message, a survey comment)."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(sa.String(500))
    description: Mapped[str] = mapped_column(sa.String(200), default="", server_default="")
    events: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    secret: Mapped[str] = mapped_column(sa.String(80))
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    allow_phi: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))


class WebhookDelivery(db.Model):
    """One event owed to one endpoint: its payload (ids and states, never patient text:
    that is added at send time for an endpoint allowed PHI) and where its attempts stand."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.Index("ix_webhook_deliveries_endpoint_id", "endpoint_id", "id"),
        sa.Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # the X-Helpdesk-Delivery header: the same on every attempt and replay (receivers dedupe)
    uid: Mapped[str] = mapped_column(sa.String(32), unique=True)
    endpoint_id: Mapped[int] = mapped_column(sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(sa.String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status: Mapped[DeliveryStatus] = mapped_column(enum_type(DeliveryStatus, 16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    response_code: Mapped[int | None]
    # what failed (exception type or HTTP status), never the response's body
    last_error: Mapped[str | None] = mapped_column(sa.String(200))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    endpoint: Mapped[WebhookEndpoint] = relationship()
