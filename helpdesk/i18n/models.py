"""Names held in the database, in the other languages of the patient pages.

A queue's name and a help-centre topic (the ``category`` of the articles) are written
once, in English, where they are kept (``queues.name``, ``kb_articles.category``);
their Spanish (or any further language's) names are rows here, one per thing and
language. English needs no row: it is the name itself.
"""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.dbtypes import enum_type
from helpdesk.extensions import db
from helpdesk.timeutil import UTCDateTime, utcnow


class NameKind(enum.StrEnum):
    QUEUE = "queue"  # key: the queue's slug
    KB_TOPIC = "kb_topic"  # key: the topic as the articles store it (its English name)


class NameTranslation(db.Model):
    __tablename__ = "name_translations"
    __table_args__ = (sa.UniqueConstraint("kind", "key", "language", name="uq_name_translations_kind_key_language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[NameKind] = mapped_column(enum_type(NameKind, 16))
    key: Mapped[str] = mapped_column(sa.String(80))
    language: Mapped[str] = mapped_column(sa.String(8))
    name: Mapped[str] = mapped_column(sa.String(120))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"<NameTranslation {self.kind.value}:{self.key} {self.language}>"
