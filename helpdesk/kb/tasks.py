"""Knowledge-base jobs (plain functions taking ids)."""

from __future__ import annotations

from helpdesk.kb.index import warm


def rebuild_index(article_id: int | None = None) -> None:
    """The published set changed (``article_id`` is the article that did): bring this
    process's search index up to date. Safe to run twice; a missing article is fine —
    the index is built from whatever is published now."""
    warm()
