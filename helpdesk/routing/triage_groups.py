"""Recent triage requests grouped by the router's two best guesses, for labelling in bulk.

The router sends a request to *Triage* when it is unsure; requests it was unsure about in
the same way (the same first and second suggestion) tend to be the same kind of request,
so an agent can check a group at a glance and move it in one go. Moving goes through the
bulk action (the one update path), and every move is a labelled example the next retrain
learns from (:func:`helpdesk.routing.services.add_label`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from helpdesk.auth.models import User
from helpdesk.extensions import db
from helpdesk.permissions import ticket_scope
from helpdesk.routing.models import RoutingDecision
from helpdesk.tickets.models import ACTIVE_STATUSES, Queue, Ticket
from helpdesk.timeutil import utcnow

TRIAGE_SLUG = "triage"
DAYS = 14
MAX_TICKETS = 500  # the newest this many; a group shows how many it holds


@dataclass
class Member:
    reference: str
    subject: str
    confidence: float
    created_at: datetime


@dataclass
class Group:
    first: str | None  # the router's first suggestion (None: it had none, e.g. no model)
    second: str | None
    members: list[Member] = field(default_factory=list)

    @property
    def mean_confidence(self) -> float:
        return sum(m.confidence for m in self.members) / len(self.members) if self.members else 0.0


def _guesses(top3: object) -> tuple[str | None, str | None]:
    names = [str(item[0]) for item in top3 if isinstance(item, list | tuple) and item] if isinstance(top3, list) else []
    return (names[0] if names else None), (names[1] if len(names) > 1 else None)


def triage_groups(user: User, *, days: int = DAYS, limit: int = MAX_TICKETS) -> list[Group]:
    """The open triage requests of the last ``days`` days that ``user`` may see, newest
    ``limit`` of them, grouped by (first, second) suggestion; largest group first."""
    since = utcnow() - timedelta(days=days)
    rows = db.session.execute(
        sa.select(Ticket.reference, Ticket.subject, Ticket.created_at, RoutingDecision.top3, RoutingDecision.confidence)
        .join(Queue, Queue.id == Ticket.queue_id)
        .outerjoin(RoutingDecision, RoutingDecision.ticket_id == Ticket.id)
        .where(Queue.slug == TRIAGE_SLUG, Ticket.status.in_(ACTIVE_STATUSES), Ticket.created_at >= since,
               ticket_scope(user))
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(limit)
    ).all()
    groups: dict[tuple[str | None, str | None], Group] = {}
    for reference, subject, created_at, top3, confidence in rows:
        key = _guesses(top3)
        group = groups.setdefault(key, Group(*key))
        group.members.append(Member(reference, subject, float(confidence or 0.0), created_at))
    return sorted(groups.values(), key=lambda g: (-len(g.members), g.first or "~", g.second or "~"))


def target_queues() -> list[Queue]:
    """Where a triage request can be moved: every active queue but triage itself."""
    return list(db.session.scalars(
        sa.select(Queue).where(Queue.active.is_(True), Queue.slug != TRIAGE_SLUG).order_by(Queue.name)
    ))
