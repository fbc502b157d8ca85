"""Customer satisfaction: "How did we do? Good / Bad (+ comment)" once per ticket.

When a ticket is resolved the ``survey`` event opens the ticket's survey and mails a
link with a random token (only its SHA-256 is stored). The link needs no sign-in,
shows nothing of the ticket, works once and expires after ``CSAT_LINK_DAYS``. The
patient can also answer on the request page. One answer per ticket, whichever comes
first; agents see it on the ticket; ``csat()`` gives good ÷ rated for the dashboard.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from helpdesk import audit
from helpdesk.db import transactional
from helpdesk.errors import Conflict, DomainError, NotFound, ValidationFailed
from helpdesk.extensions import db
from helpdesk.i18n import N_
from helpdesk.notify.models import CsatRating, CsatSurvey
from helpdesk.tickets.models import Ticket
from helpdesk.timeutil import utcnow
from helpdesk.webhooks import events as webhooks

MAX_COMMENT = 2000
CHOOSE_RATING = N_("Choose Good or Bad.")


class LinkGone(DomainError):
    """A survey link that was used or has expired."""

    status = 410
    code = "gone"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def open_survey(ticket: Any) -> str | None:
    """Open (or re-open, with a new link) the ticket's survey; returns the link token, or
    None if it was already answered. No commit: the caller's transaction."""
    survey = db.session.scalar(sa.select(CsatSurvey).where(CsatSurvey.ticket_id == ticket.id))
    if survey is not None and survey.answered_at is not None:
        return None
    if survey is None:
        survey = CsatSurvey(ticket_id=ticket.id)
        db.session.add(survey)
    token = secrets.token_urlsafe(32)
    survey.token_hash = _hash(token)
    survey.expires_at = utcnow() + timedelta(days=current_app.config["HELPDESK"].csat_link_days)
    return token


def survey_for(ticket: Any) -> CsatSurvey | None:
    return db.session.scalar(sa.select(CsatSurvey).where(CsatSurvey.ticket_id == ticket.id))


def _clean(rating: Any, comment: Any) -> tuple[CsatRating, str | None]:
    try:
        value = CsatRating(rating)
    except ValueError:
        raise ValidationFailed(CHOOSE_RATING, fields={"rating": [CHOOSE_RATING]}) from None
    text = comment.strip() if isinstance(comment, str) else ""
    if len(text) > MAX_COMMENT:
        message = N_("The comment can be at most %(count)d characters.", count=MAX_COMMENT)
        raise ValidationFailed(message, fields={"comment": [message]})
    return value, (text or None)


@transactional
def _record(survey: CsatSurvey, rating: CsatRating, comment: str | None, via: str, actor_id: int | None) -> None:
    survey.rating, survey.comment, survey.answered_at, survey.answered_via = rating, comment, utcnow(), via
    survey.token_hash = None  # the link is spent
    survey.expires_at = None
    ticket = db.session.get(Ticket, survey.ticket_id)
    audit.record("csat.answered", "ticket", ticket.reference if ticket else survey.ticket_id, actor_id=actor_id,
                 changes={"rating": rating.value, "via": via, "comment": comment is not None})
    if ticket is not None:
        webhooks.csat_received(ticket, rating=rating.value, via=via, has_comment=comment is not None,
                               at=survey.answered_at)


def check_token(token: str) -> CsatSurvey:
    """The survey behind a link, if it can still be answered (404 unknown, 410 used/expired)."""
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        raise NotFound(N_("This link is not valid."))
    survey = db.session.scalar(sa.select(CsatSurvey).where(CsatSurvey.token_hash == _hash(token)))
    if survey is None:
        # a spent link's hash is cleared: unknown and used look alike (nothing leaks)
        raise LinkGone(N_("This link has already been used or is no longer valid."))
    if survey.expires_at is None or survey.expires_at <= utcnow():
        raise LinkGone(N_("This link has expired."))
    return survey


def answer_by_token(token: str, rating: Any, comment: Any = None) -> CsatSurvey:
    survey = check_token(token)
    value, text = _clean(rating, comment)
    _record(survey, value, text, "link", None)
    return survey


def check_answerable(user: Any, ticket: Any) -> CsatSurvey | None:
    """The ticket's survey (None if not opened yet) if ``user`` may answer it on the page now."""
    if ticket.requester_id != user.id:
        raise NotFound(N_("No request with that reference."))
    if ticket.resolved_at is None:
        raise Conflict(N_("You can tell us how we did once your request is resolved."))
    survey = survey_for(ticket)
    if survey is not None and survey.answered_at is not None:
        raise Conflict(N_("Thank you — you already told us how we did."))
    return survey


def answer_on_page(user: Any, ticket: Any, rating: Any, comment: Any = None) -> CsatSurvey:
    """The signed-in requester answers on the request page (the view checked access)."""
    survey = check_answerable(user, ticket)
    if survey is None:
        survey = CsatSurvey(ticket_id=ticket.id)
        db.session.add(survey)
    value, text = _clean(rating, comment)
    _record(survey, value, text, "page", user.id)
    return survey


def csat(start: datetime | None = None, end: datetime | None = None,
         queue_ids: set[int] | None = None) -> dict[str, Any]:
    """CSAT over answers given in [start, end): good ÷ rated, as a percentage (SQL aggregate)."""
    good = sa.func.sum(sa.case((CsatSurvey.rating == CsatRating.GOOD, 1), else_=0))
    stmt = sa.select(sa.func.count(CsatSurvey.id), good).where(CsatSurvey.answered_at.is_not(None))
    if start is not None:
        stmt = stmt.where(CsatSurvey.answered_at >= start)
    if end is not None:
        stmt = stmt.where(CsatSurvey.answered_at < end)
    if queue_ids is not None:
        stmt = stmt.join(Ticket, Ticket.id == CsatSurvey.ticket_id).where(Ticket.queue_id.in_(queue_ids or {-1}))
    rated, good_n = db.session.execute(stmt).one()
    rated, good_n = int(rated or 0), int(good_n or 0)
    return {"rated": rated, "good": good_n, "bad": rated - good_n,
            "csat_pct": round(100.0 * good_n / rated, 1) if rated else None}
