"""Bulk actions on the ticket list.

Every ticket is changed through the one update path (``services.update_ticket`` or
``macros.apply_macro``), each in its own transaction with its own audit rows: a ticket
that fails (not found, not yours, a transition its status does not allow) is left
unchanged and reported, and the others go ahead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from helpdesk.auth.models import User
from helpdesk.errors import DomainError, ValidationFailed
from helpdesk.permissions import get_visible_ticket
from helpdesk.tickets import macros, services

ACTIONS = ("assign", "status", "priority", "queue", "macro")
MAX_TICKETS = 100


@dataclass(frozen=True)
class Outcome:
    reference: str
    ok: bool
    message: str


def bulk_apply(actor: User, references: list[str], *, action: str, value: Any = None,
               reason: Any = None) -> list[Outcome]:
    """Apply ``action`` to each ticket; returns one outcome per reference, in order."""
    refs = list(dict.fromkeys(r.strip().upper() for r in references if isinstance(r, str) and r.strip()))
    if not refs:
        raise ValidationFailed("Select at least one request.", fields={"ref": ["Select at least one request."]})
    if len(refs) > MAX_TICKETS:
        raise ValidationFailed(f"Select at most {MAX_TICKETS} requests at a time.")
    if action not in ACTIONS:
        raise ValidationFailed("Choose an action.", fields={"action": [f"One of: {', '.join(ACTIONS)}."]})
    if value in (None, ""):
        raise ValidationFailed("Choose a value for the action.", fields={action: ["Choose a value."]})
    macro = macros.get_usable_macro(actor, value) if action == "macro" else None
    queue_id = None
    if action == "queue":
        if not str(value).isdigit():
            raise ValidationFailed("Unknown queue.", fields={"queue": ["Choose an active queue."]})
        queue_id = int(value)
        if not isinstance(reason, str) or not reason.strip():
            raise ValidationFailed("Say why the requests move to another queue.",
                                   fields={"reason": ["A reason is required."]})

    outcomes: list[Outcome] = []
    for ref in refs:
        try:
            ticket = get_visible_ticket(actor, ref)
            if action == "assign":
                assignee = actor.id if value == "me" else (None if value == "none" else _int(value))
                services.update_ticket(ticket, actor=actor, assignee_id=assignee, source="bulk")
            elif action == "status":
                services.update_ticket(ticket, actor=actor, status=value, source="bulk")
            elif action == "priority":
                services.update_ticket(ticket, actor=actor, priority=value, source="bulk")
            elif action == "queue":
                services.update_ticket(ticket, actor=actor, queue_id=queue_id, reason=reason, source="bulk")
            else:
                macros.apply_macro(ticket, macro, actor=actor)  # type: ignore[arg-type]
        except DomainError as err:  # that ticket's unit of work rolled back; the others go ahead
            outcomes.append(Outcome(ref, False, err.message))
        else:
            outcomes.append(Outcome(ref, True, "Done."))
    return outcomes


def _int(value: Any) -> int:
    if not str(value).isdigit():
        raise ValidationFailed("Choose someone from the list.", fields={"assignee": ["Unknown person."]})
    return int(value)
