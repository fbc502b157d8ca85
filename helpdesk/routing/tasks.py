"""Routing jobs (plain functions taking ids)."""

from __future__ import annotations

from helpdesk.extensions import db
from helpdesk.routing.services import decide, ticket_text
from helpdesk.tickets.models import Ticket
from helpdesk.tickets.services import apply_routing


def route_ticket(ticket_id: int) -> None:
    """Classify a new ticket and route it; safe to run twice, tolerant of deletion."""
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None:
        return
    apply_routing(ticket, decide(ticket_text(ticket)))
