"""The knowledge-base panel on the agent's ticket page."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, url_for

from helpdesk import policy
from helpdesk.auth.models import User
from helpdesk.errors import DomainError, NotFound
from helpdesk.kb import services
from helpdesk.kb.forms import LinkForm
from helpdesk.kb.index import suggest_for_ticket
from helpdesk.kb.models import Article
from helpdesk.permissions import can_work_ticket, get_visible_article, is_public_article
from helpdesk.tickets.models import Status, Ticket

log = logging.getLogger(__name__)


EXCERPT_CHARS = 240


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The first ``limit`` characters, cut at a word, with an ellipsis when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


def article_url(article: Article) -> str:
    return current_app.config["HELPDESK"].external_url + url_for("kb.article", slug=article.slug)


def insert_text(article: Article, language: str | None = None) -> str:
    """What "Insert" puts in the reply: the title as a link to the public article
    (``[title](url)``, shown as a link on the patient's and the agent's page, see
    ``helpdesk.kb.views.message_body``) and a short excerpt of its summary — from the
    version in ``language`` when there is one."""
    chosen = services.in_language(article, language)
    return f"[{chosen.title}]({article_url(chosen)})\n{excerpt(policy.resolve_text(chosen.summary))}"


def insert_choice(article: Article, language: str | None) -> Article:
    """The article "Insert" uses: the version in the patient's language when there is one."""
    return services.in_language(article, language)


def ticket_panel(ticket: Ticket, user: User) -> dict[str, Any]:
    links = services.linked_articles(ticket)
    language = ticket.requester.language
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
        "insert_text": lambda article: insert_text(article, language),
        "insert_choice": lambda article: insert_choice(article, language),
    }


def insertable_article(user: User, raw_article_id: Any) -> Article | None:
    """A public article ``user`` may insert in a reply (internal ones are never inserted)."""
    if not isinstance(raw_article_id, str) or not raw_article_id.isdigit() or len(raw_article_id) > 12:
        return None
    try:
        article = get_visible_article(user, int(raw_article_id))
    except NotFound:
        return None
    return article if is_public_article(article) else None


def reply_prefill(user: User, ticket: Ticket, raw_article_id: str | None) -> tuple[str, Article] | None:
    """Without JavaScript, "Insert" reloads the page with ?kb_insert=<id>: the reply box
    is pre-filled with that public article, in the patient's language when it exists."""
    article = insertable_article(user, raw_article_id)
    if article is None:
        return None
    chosen = insert_choice(article, ticket.requester.language)
    return insert_text(chosen), chosen


def link_inserted(ticket: Ticket, user: User, raw_ids: list[str], body: str) -> list[Article]:
    """After a reply is sent: the inserted articles whose link is still in the text are
    linked to the ticket ("resolved with"); one the agent deleted from the text is not."""
    linked = []
    for raw in dict.fromkeys(raw_ids[:10]):
        article = insertable_article(user, raw)
        if article is None or article_url(article) not in body:
            continue
        try:
            services.link_ticket(ticket, article, actor=user)
        except DomainError as err:  # e.g. the agent may read but not work this ticket
            log.info("inserted article %s not linked: %s", article.id, err.code)
            continue
        linked.append(article)
    return linked
