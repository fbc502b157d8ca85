"""Load the shipped articles (``content/*.md``) as published articles, and the names of
their topics in the other languages (``content/_topics.json``). Idempotent: an article
whose slug exists is skipped, a topic name already saved is kept."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from helpdesk.auth.models import User
from helpdesk.extensions import db
from helpdesk.i18n.models import NameKind
from helpdesk.i18n.names import known_keys, names_of, set_name
from helpdesk.kb import services
from helpdesk.kb.frontmatter import CONTENT_DIR, load_all
from helpdesk.kb.models import Article, ArticleStatus
from helpdesk.tickets.models import Queue


def seed_articles(author: User | None = None, *, directory=CONTENT_DIR,
                  echo: Callable[[str], None] | None = None) -> int:
    """Create the articles that don't exist yet; returns how many were created."""
    existing = set(db.session.scalars(sa.select(Article.slug)))
    known_queues = set(db.session.scalars(sa.select(Queue.slug)))
    created = 0
    for item in load_all(directory):
        if item.slug in existing:
            continue
        data = {
            "title": item.title, "summary": item.summary, "body_md": item.body_md, "category": item.category,
            "queues": [q for q in item.queues if q in known_queues], "audience": item.audience,
            "language": item.language,
        }
        # The author is recorded, but the shipped content is published by the loader
        # (actor None) as reviewed, trusted content.
        services.create_article(actor=None, author=author, data=data, status=ArticleStatus.PUBLISHED, slug=item.slug,
                                note=f"Loaded from {item.source}", warm_index=False)
        existing.add(item.slug)
        created += 1
    _link_translations(load_all(directory))
    seed_topic_names(directory / "_topics.json")
    if echo:
        echo(f"Knowledge base: {created} article(s) loaded.")
    return created


def _link_translations(items) -> None:
    """A shipped translation names its original by slug (``translation_of``): record it
    where not recorded yet (also for articles loaded before the key existed)."""
    wanted = {i.slug: i.translation_of for i in items if i.translation_of}
    if not wanted:
        return
    by_slug = {a.slug: a for a in db.session.scalars(
        sa.select(Article).where(Article.slug.in_(set(wanted) | set(wanted.values()))))}
    for slug, original_slug in wanted.items():
        article, original = by_slug.get(slug), by_slug.get(original_slug)
        if article is not None and original is not None and article.translation_of_id is None:
            services.set_translation_of(article, original, actor=None)


def seed_topic_names(path: Path) -> int:
    """The shipped names of the topics in other languages, for the topics that exist and
    have no name in that language yet; returns how many were saved."""
    if not path.exists():
        return 0
    shipped: dict[str, dict[str, str]] = json.loads(path.read_text(encoding="utf-8"))
    topics = known_keys(NameKind.KB_TOPIC)
    saved = 0
    for language, names in shipped.items():
        have = names_of(NameKind.KB_TOPIC, language)
        for topic, name in names.items():
            if topic in topics and topic not in have:
                set_name(actor=None, kind=NameKind.KB_TOPIC, key=topic, language=language, name=name)
                saved += 1
    return saved
