"""The patient portal's identity: external patient identifiers and one-use sign-in links.

``patient_identifiers`` names a patient account by another system's identifier (a
``system`` such as ``portal`` or ``mrn`` and its ``value``), unique per system: one value
of one system is one account. ``patient_links`` records each sign-in link the portal was
given (its random id, whom it signs in, when it expires and when it was used), so a link
works once across every host (``helpdesk.auth.portal``).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.auth.models import User
from helpdesk.extensions import db
from helpdesk.timeutil import UTCDateTime, utcnow


class PatientIdentifier(db.Model):
    __tablename__ = "patient_identifiers"
    __table_args__ = (sa.UniqueConstraint("system", "value", name="uq_patient_identifiers_system_value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    system: Mapped[str] = mapped_column(sa.String(32))
    value: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User] = relationship()

    def __repr__(self) -> str:  # no identifier value: it names a patient
        return f"<PatientIdentifier {self.id} {self.system}>"


class PatientLink(db.Model):
    """One signed sign-in link. Usable once, until ``expires_at``; the signed token in the
    address carries only ``link_id`` (random), never who the patient is."""

    __tablename__ = "patient_links"
    __table_args__ = (sa.Index("ix_patient_links_user_created", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[str] = mapped_column(sa.String(43), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    identifier_id: Mapped[int | None] = mapped_column(sa.ForeignKey("patient_identifiers.id", ondelete="SET NULL"))
    # the integration account whose token asked for it
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(foreign_keys=[user_id])
