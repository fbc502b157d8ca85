"""Queue names and help-centre topics in the page's language.

``display_name(kind, key, english)`` is what a patient page shows: the English name on
an English page, else the translation saved for the page's language (``NameTranslation``),
else the English name (a missing translation is listed by ``missing_names`` and
``flask i18n missing``, and fails the i18n test for the shipped data).

The translations of one kind are read once per request (``g``) and only for a page that
is not in English.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask, g, has_app_context

from helpdesk import audit
from helpdesk.auth.models import User
from helpdesk.db import transactional
from helpdesk.errors import Forbidden, ValidationFailed
from helpdesk.extensions import db
from helpdesk.i18n import DEFAULT_LANGUAGE, LANGUAGES, current_language
from helpdesk.i18n.models import NameKind, NameTranslation
from helpdesk.kb.models import Article, ArticleStatus, Audience
from helpdesk.permissions import is_admin
from helpdesk.tickets.models import Queue
from helpdesk.timeutil import utcnow

CACHE_KEY = "_name_translations"
MAX_NAME = 120


def names_of(kind: NameKind, language: str) -> dict[str, str]:
    """Every saved name of ``kind`` in ``language``, by key (cached for the request)."""
    cache = g.setdefault(CACHE_KEY, {}) if has_app_context() else {}
    if (kind, language) not in cache:
        rows = db.session.execute(sa.select(NameTranslation.key, NameTranslation.name)
                                  .where(NameTranslation.kind == kind, NameTranslation.language == language))
        cache[(kind, language)] = {key: name for key, name in rows}
    return cache[(kind, language)]


def display_name(kind: NameKind, key: str, english: str, language: str | None = None) -> str:
    language = language or current_language()
    if language == DEFAULT_LANGUAGE:
        return english
    return names_of(kind, language).get(key) or english


def topic_name(category: str, language: str | None = None) -> str:
    """A help-centre topic (an article's ``category``) in the page's language."""
    return display_name(NameKind.KB_TOPIC, category, category, language)


def queue_name(queue, language: str | None = None) -> str:
    """A queue's name in the page's language (staff pages are English: the name itself)."""
    return display_name(NameKind.QUEUE, queue.slug, queue.name, language)


def _forget() -> None:
    if has_app_context():
        g.pop(CACHE_KEY, None)


@transactional
def set_name(*, actor: User | None, kind: object, key: object, language: object, name: object) -> NameTranslation:
    """Save the name of a queue or a topic in another language (admins; ``actor`` None is
    the command line or the seed). An empty name removes the translation."""
    if actor is not None and not is_admin(actor):
        raise Forbidden("Only admins name queues and topics.")
    try:
        kind_v = NameKind(str(kind))
    except ValueError:
        raise ValidationFailed(f"Kind is one of: {', '.join(k.value for k in NameKind)}.") from None
    language_s = str(language or "")
    if language_s not in LANGUAGES or language_s == DEFAULT_LANGUAGE:
        others = ", ".join(code for code in LANGUAGES if code != DEFAULT_LANGUAGE)
        raise ValidationFailed(f"Language is one of: {others} (the English name is the name itself).")
    key_s = str(key or "").strip()
    if key_s not in known_keys(kind_v):
        raise ValidationFailed(f"No {kind_v.value.replace('_', ' ')} {key_s!r}.")
    name_s = " ".join(str(name or "").split())
    if len(name_s) > MAX_NAME:
        raise ValidationFailed(f"At most {MAX_NAME} characters.")
    row = db.session.scalar(sa.select(NameTranslation).where(
        NameTranslation.kind == kind_v, NameTranslation.key == key_s, NameTranslation.language == language_s))
    before = row.name if row is not None else None
    if not name_s:
        if row is not None:
            db.session.delete(row)
    elif row is None:
        row = NameTranslation(kind=kind_v, key=key_s, language=language_s, name=name_s)
        db.session.add(row)
    else:
        row.name, row.updated_at = name_s, utcnow()
    if before != (name_s or None):
        audit.record("i18n.name_set", kind_v.value, f"{key_s}:{language_s}", actor_id=actor.id if actor else None,
                     changes={"name": {"before": before, "after": name_s or None}})
    _forget()
    return row


def known_keys(kind: NameKind) -> dict[str, str]:
    """What can be named: every queue (slug → English name) or every topic of the articles."""
    if kind is NameKind.QUEUE:
        return {slug: name for slug, name in db.session.execute(sa.select(Queue.slug, Queue.name))}
    return {c: c for c in db.session.scalars(sa.select(Article.category).distinct())}


def missing_names() -> list[tuple[str, str, str, str]]:
    """(kind, key, English name, language) of every queue of patients' requests (active)
    and every topic of a published public article that has no name in a language."""
    active = db.session.execute(sa.select(Queue.slug, Queue.name).where(Queue.active))
    wanted = {NameKind.QUEUE: {slug: name for slug, name in active},
              NameKind.KB_TOPIC: {c: c for c in db.session.scalars(
                  sa.select(Article.category).distinct().where(Article.status == ArticleStatus.PUBLISHED,
                                                               Article.audience == Audience.PUBLIC))}}
    missing = []
    for language in (code for code in LANGUAGES if code != DEFAULT_LANGUAGE):
        for kind, keys in wanted.items():
            _forget()
            have = names_of(kind, language)
            missing += [(kind.value, key, english, language) for key, english in sorted(keys.items())
                        if key not in have]
    return missing


def init_app(app: Flask) -> None:
    """The template filters: a help-centre topic's and a queue's name in the page's language."""
    app.jinja_env.filters["topic_name"] = topic_name
    app.jinja_env.filters["queue_name"] = queue_name
