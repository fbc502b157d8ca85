"""What the agent ticket page and list page show from the workspace features (reads only)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from helpdesk.auth.models import User
from helpdesk.extensions import db
from helpdesk.permissions import can_manage_shared_items, can_work_ticket, member_queue_ids, ticket_scope
from helpdesk.tickets import macros, merge, presence
from helpdesk.tickets.models import Queue, Ticket

PATIENT_CONTEXT_SIZE = 8


def patient_context(user: User, ticket: Ticket) -> list[Ticket]:
    """The patient's other recent requests that ``user`` may see (newest first)."""
    return list(db.session.scalars(
        sa.select(Ticket)
        .where(Ticket.requester_id == ticket.requester_id, Ticket.id != ticket.id, ticket_scope(user))
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(PATIENT_CONTEXT_SIZE)
    ))


def ticket_context(user: User, ticket: Ticket) -> dict[str, Any]:
    offered = macros.for_ticket(user, ticket)
    return {
        "macros": [{"macro": m, "text": macros.render(m.body, ticket=ticket, agent=user)} for m in offered],
        "patient_context": patient_context(user, ticket),
        "merged_into": merge.merged_into(ticket),
        "merged_from": merge.merged_from(ticket),
        "last_message_id": presence.last_message_id(ticket),
        "can_work": can_work_ticket(user, ticket),
        "poll_seconds": presence.POLL_SECONDS,
    }


def shareable_queues(user: User) -> list[Queue]:
    ids = [qid for qid in member_queue_ids(user) if can_manage_shared_items(user, qid)]
    if not ids:
        return []
    return list(db.session.scalars(sa.select(Queue).where(Queue.id.in_(ids)).order_by(Queue.name)))
