"""What the agent ticket page and list page show from the workspace features (reads only)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from helpdesk.auth.models import User
from helpdesk.extensions import db
from helpdesk.permissions import can_manage_shared_items, can_work_ticket, member_queue_ids, ticket_scope
from helpdesk.tickets import macros, merge, presence
from helpdesk.tickets.models import Message, Queue, Status, Ticket

PATIENT_CONTEXT_SIZE = 8


def patient_context(user: User, ticket: Ticket) -> list[Ticket]:
    """The patient's other recent requests that ``user`` may see (newest first)."""
    return list(db.session.scalars(
        sa.select(Ticket)
        .where(Ticket.requester_id == ticket.requester_id, Ticket.id != ticket.id, ticket_scope(user))
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(PATIENT_CONTEXT_SIZE)
    ))


def unanswered_patient_message(ticket: Ticket) -> Message | None:
    """The patient's message that no public staff reply followed (the last public message
    of the thread, when the patient wrote it), else None."""
    last = db.session.scalar(
        sa.select(Message).where(Message.ticket_id == ticket.id, Message.public.is_(True),
                                 Message.author_id.is_not(None))
        .order_by(Message.created_at.desc(), Message.id.desc()).limit(1)
    )
    if last is None or last.from_staff:
        return None
    return last


def needs_close_confirmation(ticket: Ticket, target: Status | str | None, *, answering: bool = False) -> bool:
    """Closing with a patient message left unanswered asks the agent to confirm first —
    unless the action itself sends a public reply (``answering``)."""
    if target in (None, "") or Status(target) != Status.CLOSED or ticket.status == Status.CLOSED or answering:
        return False
    return unanswered_patient_message(ticket) is not None


def ticket_context(user: User, ticket: Ticket) -> dict[str, Any]:
    offered = macros.for_ticket(user, ticket)
    return {
        "macros": [{"macro": m, "text": macros.render(m.body, ticket=ticket, agent=user)} for m in offered],
        "patient_context": (context := patient_context(user, ticket)),
        "open_requests": [t for t in context if t.status not in (Status.RESOLVED, Status.CLOSED)],
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
