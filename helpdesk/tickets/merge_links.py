"""Reading merge pointers (which request a merged one now lives in): models only, so that
the ticket services follow them without depending on the merge action (tickets/merge.py)."""

from __future__ import annotations

import sqlalchemy as sa

from helpdesk.extensions import db
from helpdesk.tickets.models import Ticket
from helpdesk.tickets.workspace_models import TicketMerge

MAX_MERGE = 20


def merged_into(ticket: Ticket) -> Ticket | None:
    """The request this one was merged into (one step), if any."""
    return db.session.scalar(
        sa.select(Ticket).join(TicketMerge, TicketMerge.into_id == Ticket.id).where(TicketMerge.ticket_id == ticket.id)
    )


def survivor_of(ticket: Ticket) -> Ticket:
    """Follow merge pointers to the request that is still alive (the ticket itself if not merged)."""
    current = ticket
    for _ in range(MAX_MERGE):
        nxt = merged_into(current)
        if nxt is None:
            return current
        current = nxt
    return current


def merged_from(ticket: Ticket) -> list[Ticket]:
    return list(db.session.scalars(
        sa.select(Ticket).join(TicketMerge, TicketMerge.ticket_id == Ticket.id)
        .where(TicketMerge.into_id == ticket.id).order_by(Ticket.created_at)
    ))
