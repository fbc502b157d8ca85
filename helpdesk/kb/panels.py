"""The knowledge-base panel on the agent's ticket page."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, url_for

from helpdesk import policy
from helpdesk.auth.models import User
from helpdesk.errors import NotFound
from helpdesk.kb import services
from helpdesk.kb.forms import LinkForm
from helpdesk.kb.index import suggest_for_ticket
from helpdesk.kb.models import Article
from helpdesk.permissions import can_work_ticket, get_visible_article, is_public_article
from helpdesk.tickets.models import Status, Ticket

log = logging.getLogger(__name__)


def insert_text(article: Article) -> str:
    """What "Insert" puts in the reply: the title, the help-centre link and the summary."""
    url = current_app.config["HELPDESK"].external_url + url_for("kb.article", slug=article.slug)
    return f"{article.title}\n{url}\n\n{policy.resolve_text(article.summary)}"


def ticket_panel(ticket: Ticket, user: User) -> dict[str, Any]:
    links = services.linked_articles(ticket)
    try:
        suggestions = suggest_for_ticket(ticket, limit=5)
    except Exception as exc:  # the ticket page must work even if search does not
        log.error("knowledge-base suggestions failed: %s", type(exc).__name__)
        suggestions = []
    return {
        "suggestions": suggestions,
        "links": links,
        "linked_ids": {link.article_id for link in links},
        "form": LinkForm(),
        "can_work": can_work_ticket(user, ticket),
        "can_draft": can_work_ticket(user, ticket) and ticket.status in (Status.RESOLVED, Status.CLOSED),
        "insert_text": insert_text,
    }


def reply_prefill(user: User, raw_article_id: str | None) -> str | None:
    """Without JavaScript, "Insert" reloads the page with ?kb_insert=<id>: the reply box
    is pre-filled with that public article (internal ones are never inserted)."""
    if not raw_article_id or not raw_article_id.isdigit():
        return None
    try:
        article = get_visible_article(user, int(raw_article_id))
    except NotFound:
        return None
    if not is_public_article(article):
        return None
    return insert_text(article)
