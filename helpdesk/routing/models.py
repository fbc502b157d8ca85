"""Routing records: each ticket's decision, the labels agents give, model versions."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.dbtypes import enum_type
from helpdesk.extensions import db
from helpdesk.timeutil import UTCDateTime, utcnow


class RoutingDecision(db.Model):
    """What the router decided for a ticket (agents see it; patients never do)."""

    __tablename__ = "routing_decisions"
    __table_args__ = (sa.Index("ix_routing_decisions_created", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"), unique=True)
    predicted_queue: Mapped[str | None] = mapped_column(sa.String(40))
    confidence: Mapped[float] = mapped_column(default=0.0)
    top3: Mapped[list[Any]] = mapped_column(sa.JSON, default=list)
    model_version: Mapped[str | None] = mapped_column(sa.String(40))
    auto_routed: Mapped[bool] = mapped_column(default=False)
    # Why it was not auto-routed, when it wasn't: "unsure", "no_model", "emergency", …
    note: Mapped[str | None] = mapped_column(sa.String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LabelSource(enum.StrEnum):
    MOVE = "move"  # an agent moved the ticket to another queue
    TRIAGE = "triage"  # a triage agent chose the queue


class RoutingLabel(db.Model):
    """A human decision about where a ticket belongs: training data for retraining."""

    __tablename__ = "routing_labels"
    __table_args__ = (sa.Index("ix_routing_labels_created", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    from_queue: Mapped[str] = mapped_column(sa.String(40))
    queue: Mapped[str] = mapped_column(sa.String(40))
    source: Mapped[LabelSource] = mapped_column(enum_type(LabelSource))
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ModelVersion(db.Model):
    """A trained routing model: the compiled artefact the router loads (bytes of
    :func:`helpdesk.routing.compiled.dumps`) and its metadata, in the shared database so
    that every host loads the same model. At most one row is active (a partial unique
    index); activation goes through ``training.activate``, which also takes a row lock."""

    __tablename__ = "routing_models"
    __table_args__ = (
        sa.Index("uq_routing_models_one_active", "active", unique=True,
                 sqlite_where=sa.text("active"), postgresql_where=sa.text("active")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(sa.String(40), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    n_examples: Mapped[int] = mapped_column(default=0)
    metrics: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    active: Mapped[bool] = mapped_column(default=False)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The compiled model (numpy arrays in a zip; a few MB): loaded only when asked for.
    # NULL for a version whose file was missing when the models moved into the database.
    artefact: Mapped[bytes | None] = mapped_column(sa.LargeBinary, deferred=True)
    sha256: Mapped[str | None] = mapped_column(sa.String(64))
    size: Mapped[int | None] = mapped_column(sa.Integer)
    # Why a version has no usable artefact (set by the migration), else NULL.
    note: Mapped[str | None] = mapped_column(sa.String(300))
