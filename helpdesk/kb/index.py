"""Search in the app: one cached index per process, rebuilt when the published set changes.

Every query reads the one-row ``kb_index_state`` (a random token replaced by each
publish, archive or edit of a published article, in the same transaction) and compares
it with the token the cached index was built from. When they differ the index is
rebuilt — synchronously while that is quick, otherwise in a background thread while the
previous index keeps answering (a few seconds at 5,000 articles, see bench/kb_search.py).

Whatever the index returns is checked again in SQL (published, and public unless the
caller may read internal articles), so a stale index can miss a new article for a
moment but can never show an archived or internal one to a patient.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
import sqlalchemy.orm
from flask import Flask, current_app

from helpdesk import policy
from helpdesk.extensions import db

if TYPE_CHECKING:  # scikit-learn is imported on the first search, not with the app:
    from helpdesk.kb.search import SearchIndex  # web workers stay small until they search
from helpdesk.kb.models import Article, ArticleQueue, ArticleStatus, Audience, KbIndexState
from helpdesk.permissions import public_article_clause
from helpdesk.tickets.models import Queue, Ticket

log = logging.getLogger(__name__)

EXTENSION_KEY = "helpdesk_kb_index"
#: Rebuild in the request only while a build takes less than this; beyond, in the background.
SYNC_BUILD_SECONDS = 0.5
#: Patient suggestions (Get help) need at least this relevance: below it an article is a
#: guess, and a wrong suggestion costs the patient time.
PATIENT_SUGGESTION_MIN_SCORE = 0.12
#: Agents' ticket suggestions: at most five, only above this floor (no padding: the
#: panel says "No matching article" instead). Measured with bench/kb_floor.py on the KB
#: evaluation set: 0.12 keeps 38/38 relevant query-article pairs and cuts 54/58
#: irrelevant ones (the former floor 0.03 cut 22/58).
AGENT_SUGGESTION_MIN_SCORE = 0.12
SEARCH_MIN_SCORE = 0.02
EMPTY_GENERATION = "empty"


@dataclass(frozen=True)
class Result:
    article: Article
    score: float


class IndexCache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.index: SearchIndex | None = None
        self.building = False

    def get(self) -> SearchIndex:
        generation = current_generation()
        index = self.index
        if index is not None and index.generation == generation:
            return index
        if index is not None and index.build_seconds > SYNC_BUILD_SECONDS:
            self._rebuild_in_background(current_app._get_current_object())  # type: ignore[attr-defined]
            return index
        with self.lock:
            index = self.index
            if index is None or index.generation != generation:
                index = self.index = build_index(generation)
        return index

    def _rebuild_in_background(self, app: Flask) -> None:
        with self.lock:
            if self.building:
                return
            self.building = True

        def run() -> None:
            try:
                with app.app_context():
                    try:
                        self.index = build_index(current_generation())
                    finally:
                        db.session.remove()
            except Exception as exc:  # keep serving the previous index
                log.error("knowledge-base index rebuild failed: %s", type(exc).__name__)
            finally:
                self.building = False

        threading.Thread(target=run, name="kb-index-rebuild", daemon=True).start()

    def reset(self) -> None:
        with self.lock:
            self.index = None


def cache(app: Flask | None = None) -> IndexCache:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    return app.extensions.setdefault(EXTENSION_KEY, IndexCache())


def current_generation() -> str:
    token = db.session.scalar(sa.select(KbIndexState.generation).where(KbIndexState.id == 1))
    return token or EMPTY_GENERATION


def build_index(generation: str) -> SearchIndex:
    """Read the published articles (both audiences and languages) and index them."""
    from helpdesk.kb.search import Doc, SearchIndex  # lazy: scikit-learn loads on the first search, not with the app

    rows = db.session.execute(
        sa.select(Article.id, Article.title, Article.summary, Article.category, Article.body_md,
                  Article.language, Article.audience)
        .where(Article.status == ArticleStatus.PUBLISHED).order_by(Article.id)
    ).all()
    queues: dict[int, list[str]] = {}
    for article_id, slug in db.session.execute(
        sa.select(ArticleQueue.article_id, Queue.slug).join(Queue, Queue.id == ArticleQueue.queue_id)
        .join(Article, Article.id == ArticleQueue.article_id).where(Article.status == ArticleStatus.PUBLISHED)
    ):
        queues.setdefault(article_id, []).append(slug)
    # The index holds what readers see: policy placeholders resolved with the running
    # configuration (each process builds its own index, after its configuration is read).
    docs = [
        Doc(id=r.id, title=r.title, summary=policy.resolve_text(r.summary), category=r.category,
            body=policy.resolve_text(r.body_md),
            language=r.language.value, public=r.audience == Audience.PUBLIC, queues=tuple(queues.get(r.id, ())))
        for r in rows
    ]
    index = SearchIndex(docs, generation=generation)
    log.info("knowledge-base index built: %d articles, %.2fs", index.size, index.build_seconds)
    return index


def warm() -> SearchIndex:
    return cache().get()


def search_articles(
    query: str,
    *,
    include_internal: bool = False,
    language: str | None = None,
    limit: int = 10,
    min_score: float = SEARCH_MIN_SCORE,
    boost_queues: Iterable[str] = (),
    exclude: Iterable[int] = (),
) -> list[Result]:
    """Published articles for ``query``, best first. Patients and signed-out visitors
    must get ``include_internal=False`` (the callers decide with helpdesk.permissions)."""
    if not isinstance(query, str) or not query.strip():
        return []
    limit = max(0, min(int(limit), 50))
    hits = cache().get().search(
        query, public_only=not include_internal, language=language, limit=limit, min_score=min_score,
        boost_queues=boost_queues, exclude=exclude,
    )
    if not hits:
        return []
    return _load([h.id for h in hits], [h.score for h in hits], include_internal=include_internal)


def _load(ids: Sequence[int], scores: Sequence[float], *, include_internal: bool) -> list[Result]:
    # Lists show the title and summary: the bodies stay in the database.
    stmt = (sa.select(Article).options(sa.orm.load_only(
        Article.id, Article.slug, Article.title, Article.summary, Article.category, Article.language,
        Article.audience, Article.status, Article.version))
        .where(Article.id.in_(list(ids)), Article.status == ArticleStatus.PUBLISHED))
    if not include_internal:
        stmt = stmt.where(public_article_clause())
    found = {a.id: a for a in db.session.scalars(stmt)}
    return [Result(found[i], s) for i, s in zip(ids, scores, strict=True) if i in found]


def suggest_for_patient(text: str, *, limit: int = 3) -> list[Result]:
    """Up to three public articles that may answer what a patient is typing."""
    return search_articles(text, include_internal=False, limit=limit, min_score=PATIENT_SUGGESTION_MIN_SCORE)


def ticket_search_text(ticket: Ticket) -> str:
    """Subject, the first message and the latest message from the patient."""
    parts = [ticket.subject]
    from_patient = [m for m in ticket.messages if m.public and m.author_id == ticket.requester_id]
    if from_patient:
        parts.append(from_patient[0].body[:2_000])
        if len(from_patient) > 1:
            parts.append(from_patient[-1].body[:1_000])
    return "\n".join(parts)


def suggest_for_ticket(ticket: Ticket, *, limit: int = 5, exclude: Iterable[int] = ()) -> list[Result]:
    """The best articles (public and internal) for a ticket, favouring its queue's."""
    return search_articles(
        ticket_search_text(ticket), include_internal=True, limit=limit, min_score=AGENT_SUGGESTION_MIN_SCORE,
        boost_queues=[ticket.queue.slug] if ticket.queue else (), exclude=exclude,
    )
