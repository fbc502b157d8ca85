"""Knowledge-base tables: articles and their versions, feedback, views, ticket links,
deflections, and the search index's generation."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.auth.models import User
from helpdesk.dbtypes import enum_type
from helpdesk.extensions import db
from helpdesk.tickets.models import Queue
from helpdesk.timeutil import UTCDateTime, utcnow

DEFAULT_REVIEW_INTERVAL_DAYS = 180


class ArticleStatus(enum.StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    PUBLISHED = "published"
    ARCHIVED = "archived"

    @property
    def label(self) -> str:
        return {"in_review": "In review"}.get(self.value, self.value.capitalize())


class Audience(enum.StrEnum):
    PUBLIC = "public"  # patients and staff
    INTERNAL = "internal"  # staff only

    @property
    def label(self) -> str:
        return "Public (patients)" if self is Audience.PUBLIC else "Internal (staff only)"


class Language(enum.StrEnum):
    EN = "en"
    ES = "es"

    @property
    def label(self) -> str:
        return {"en": "English", "es": "Español"}[self.value]


# The workflow. Anything not listed is refused with InvalidTransition.
ARTICLE_TRANSITIONS: dict[ArticleStatus, frozenset[ArticleStatus]] = {
    ArticleStatus.DRAFT: frozenset({ArticleStatus.IN_REVIEW}),
    ArticleStatus.IN_REVIEW: frozenset({ArticleStatus.DRAFT, ArticleStatus.PUBLISHED}),
    ArticleStatus.PUBLISHED: frozenset({ArticleStatus.ARCHIVED}),
    ArticleStatus.ARCHIVED: frozenset({ArticleStatus.DRAFT}),
}


class ArticleQueue(db.Model):
    """An article is related to the queues whose requests it answers."""

    __tablename__ = "kb_article_queues"
    __table_args__ = (sa.UniqueConstraint("article_id", "queue_id", name="uq_kb_article_queues_article_queue"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(sa.ForeignKey("kb_articles.id", ondelete="CASCADE"))
    queue_id: Mapped[int] = mapped_column(sa.ForeignKey("queues.id", ondelete="CASCADE"), index=True)

    queue: Mapped[Queue] = relationship()


class Article(db.Model):
    __tablename__ = "kb_articles"
    __table_args__ = (
        sa.Index("ix_kb_articles_updated", "updated_at", "id"),
        sa.Index("ix_kb_articles_status_updated", "status", "updated_at", "id"),
        sa.Index("ix_kb_articles_status_review_due", "status", "review_due_at"),
        sa.Index("ix_kb_articles_category_status", "category", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(120), unique=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    summary: Mapped[str] = mapped_column(sa.String(500))
    body_md: Mapped[str] = mapped_column(sa.Text)
    # Sanitised at save (helpdesk.kb.markdown); sanitised again when shown.
    body_html: Mapped[str] = mapped_column(sa.Text)
    category: Mapped[str] = mapped_column(sa.String(80))
    audience: Mapped[Audience] = mapped_column(enum_type(Audience, 16), default=Audience.PUBLIC)
    language: Mapped[Language] = mapped_column(enum_type(Language, 8), default=Language.EN)
    status: Mapped[ArticleStatus] = mapped_column(enum_type(ArticleStatus, 16), default=ArticleStatus.DRAFT)
    # Optimistic locking: bumped by every UPDATE; a form carries the value it was opened with.
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    # The number of the latest ArticleVersion (a content save).
    revision: Mapped[int] = mapped_column(default=1, server_default="1")
    review_interval_days: Mapped[int] = mapped_column(
        default=DEFAULT_REVIEW_INTERVAL_DAYS, server_default=str(DEFAULT_REVIEW_INTERVAL_DAYS)
    )
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    review_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    # "Article from ticket": where the draft came from (the ticket, never its text).
    source_ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tickets.id", ondelete="SET NULL"))
    # A translation names the article it translates (the original names none): "Insert"
    # on the ticket page picks the version in the patient's language (kb.services.in_language).
    translation_of_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("kb_articles.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    author: Mapped[User | None] = relationship(foreign_keys=[author_id])
    updated_by: Mapped[User | None] = relationship(foreign_keys=[updated_by_id])
    queue_links: Mapped[list[ArticleQueue]] = relationship(cascade="all, delete-orphan")
    versions: Mapped[list[ArticleVersion]] = relationship(
        back_populates="article", order_by="ArticleVersion.number.desc()", cascade="all, delete-orphan",
        passive_deletes=True,
    )

    __mapper_args__ = {"version_id_col": version}

    def __repr__(self) -> str:
        return f"<Article {self.id} {self.slug}>"

    @property
    def queue_slugs(self) -> list[str]:
        return sorted(link.queue.slug for link in self.queue_links)

    @property
    def is_public(self) -> bool:
        return self.audience == Audience.PUBLIC

    @property
    def is_published(self) -> bool:
        return self.status == ArticleStatus.PUBLISHED

    def review_overdue(self, now: datetime | None = None) -> bool:
        return (
            self.status == ArticleStatus.PUBLISHED
            and self.review_due_at is not None
            and self.review_due_at <= (now or utcnow())
        )


class ArticleVersion(db.Model):
    """Every save of an article's content, in full (restorable)."""

    __tablename__ = "kb_article_versions"
    __table_args__ = (sa.UniqueConstraint("article_id", "number", name="uq_kb_article_versions_article_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(sa.ForeignKey("kb_articles.id", ondelete="CASCADE"))
    number: Mapped[int]
    title: Mapped[str] = mapped_column(sa.String(200))
    summary: Mapped[str] = mapped_column(sa.String(500))
    body_md: Mapped[str] = mapped_column(sa.Text)
    # category, queues, audience, language, review_interval_days at that save
    meta: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    note: Mapped[str] = mapped_column(sa.String(200), default="", server_default="")
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    article: Mapped[Article] = relationship(back_populates="versions")
    author: Mapped[User | None] = relationship()


class ArticleFeedback(db.Model):
    """"Was this helpful?" — yes or no, and an optional reason."""

    __tablename__ = "kb_article_feedback"
    __table_args__ = (sa.Index("ix_kb_article_feedback_article_created", "article_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(sa.ForeignKey("kb_articles.id", ondelete="CASCADE"))
    helpful: Mapped[bool]
    reason: Mapped[str | None] = mapped_column(sa.String(500))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ArticleViewDay(db.Model):
    """Views per article and day: one counter row per day, aggregated in SQL."""

    __tablename__ = "kb_article_view_days"
    __table_args__ = (sa.UniqueConstraint("article_id", "day", name="uq_kb_article_view_days_article_day"),
                      sa.Index("ix_kb_article_view_days_day", "day"))

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(sa.ForeignKey("kb_articles.id", ondelete="CASCADE"))
    day: Mapped[date]
    views: Mapped[int] = mapped_column(default=0)


class TicketArticleLink(db.Model):
    """"Resolved with": an article that answered a ticket."""

    __tablename__ = "kb_ticket_links"
    __table_args__ = (
        sa.UniqueConstraint("ticket_id", "article_id", name="uq_kb_ticket_links_ticket_article"),
        sa.Index("ix_kb_ticket_links_article_created", "article_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"))
    article_id: Mapped[int] = mapped_column(sa.ForeignKey("kb_articles.id", ondelete="CASCADE"))
    linked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    article: Mapped[Article] = relationship()
    linked_by: Mapped[User | None] = relationship()


class Deflection(db.Model):
    """A patient's question answered by an article, no request sent. Never the text:
    only how long the question was."""

    __tablename__ = "kb_deflections"
    __table_args__ = (sa.Index("ix_kb_deflections_article_created", "article_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(sa.ForeignKey("kb_articles.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    query_length: Mapped[int] = mapped_column(default=0)
    source: Mapped[str] = mapped_column(sa.String(16), default="get_help")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class KbIndexState(db.Model):
    """One row: a random token replaced whenever the published set changes. Each
    process compares it with the token its cached search index was built from."""

    __tablename__ = "kb_index_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    generation: Mapped[str] = mapped_column(sa.String(32))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
