"""Merging requests of the same patient.

The survivor receives the merged requests' messages (re-pointed, so the combined
thread is in time order and each message keeps its author and time); each merged
request is closed through the update path and points to the survivor. Replies sent
later to a merged request (patient page, API, any caller of post_message) land in the survivor
(``services.post_message`` follows ``survivor_of``).
"""

from __future__ import annotations

from helpdesk import audit
from helpdesk.auth.models import User
from helpdesk.db import transactional
from helpdesk.errors import Conflict, NotFound, ValidationFailed
from helpdesk.extensions import db
from helpdesk.permissions import can_work_ticket, get_visible_ticket
from helpdesk.tickets import search, services
from helpdesk.tickets.merge_links import MAX_MERGE, merged_from, merged_into, survivor_of  # noqa: F401  (re-exported)
from helpdesk.tickets.models import Message, Status, Ticket
from helpdesk.tickets.workspace_models import TicketMerge
from helpdesk.timeutil import utcnow


def preview_merge(survivor: Ticket, references: list[str], *, actor: User) -> list[Ticket]:
    """The requests ``merge_tickets`` would merge, after the same checks — nothing is
    written (the confirmation step)."""
    return _checked(survivor, references, actor=actor)


def _checked(survivor: Ticket, references: list[str], *, actor: User) -> list[Ticket]:
    if not can_work_ticket(actor, survivor):
        raise NotFound("No request with that reference.")
    refs = list(dict.fromkeys(r.strip().upper() for r in references if isinstance(r, str) and r.strip()))
    refs = [r for r in refs if r != survivor.reference]
    if not refs:
        raise ValidationFailed("Name at least one other request to merge.",
                               fields={"references": ["Name at least one other request."]})
    if len(refs) > MAX_MERGE:
        raise ValidationFailed(f"Merge at most {MAX_MERGE} requests at a time.")
    if merged_into(survivor) is not None:
        raise Conflict("This request was itself merged; merge into the request it points to.")
    if survivor.status == Status.CLOSED:
        raise Conflict("A closed request can't receive others; reopen it or merge into another one.")
    others: list[Ticket] = []
    for ref in refs:
        other = get_visible_ticket(actor, ref)  # NotFound outside the agent's queues
        if not can_work_ticket(actor, other):
            raise NotFound("No request with that reference.")
        if other.requester_id != survivor.requester_id:
            raise Conflict(f"{other.reference} belongs to a different patient: only requests of the same "
                           "patient can be merged.")
        if merged_into(other) is not None:
            raise Conflict(f"{other.reference} was already merged into another request.")
        others.append(other)
    return others


@transactional
def merge_tickets(survivor: Ticket, references: list[str], *, actor: User) -> Ticket:
    """Merge the requests named by ``references`` into ``survivor``: all or nothing (one
    unit of work, which the update of each merged request joins)."""
    others = _checked(survivor, references, actor=actor)
    now = utcnow()
    moved: dict[str, list[int]] = {}
    for other in others:
        ids = []
        for message in list(other.messages):
            message.ticket = survivor
            ids.append(message.id)
        moved[other.reference] = ids
        db.session.add(TicketMerge(ticket_id=other.id, into_id=survivor.id, actor_id=actor.id, created_at=now))
        db.session.flush()
        if other.status != Status.CLOSED:
            services.update_ticket(other, actor=actor, status=Status.CLOSED, source="merge")
        audit.record("ticket.merged_into", "ticket", other.reference, actor_id=actor.id,
                     changes={"into": survivor.reference, "message_ids": ids})
    note = Message(ticket=survivor, author=actor, public=False, channel=services.Channel.WEB, created_at=now,
                   body="Merged into this request: " + ", ".join(o.reference for o in others) + ".")
    db.session.add(note)
    survivor.updated_at = now
    db.session.flush()
    audit.record("ticket.merged", "ticket", survivor.reference, actor_id=actor.id,
                 changes={"merged": [o.reference for o in others], "message_ids": moved, "note_id": note.id})
    search.reindex([survivor.id, *(o.id for o in others)])  # the messages moved
    return survivor
