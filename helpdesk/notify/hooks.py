"""The ticket services' hook: derive notification events from a change and enqueue
one ``deliver`` job per event (ids and event names only; run after the commit)."""

from __future__ import annotations

import secrets
from typing import Any

from helpdesk import jobs
from helpdesk.tickets.models import Status

DELIVER = "helpdesk.notify.tasks.deliver"


def new_key() -> str:
    """The idempotency key of one event's delivery."""
    return secrets.token_hex(8)


def after_change(ticket: Any, before: dict[str, Any] | None, *, actor_id: int | None = None,
                 message: Any = None) -> list[str]:
    """Called inside the ticket service's transaction, after its change. ``before`` is
    the service's snapshot (None for a new ticket: the create path sends that event from
    its one follow-up job, ``helpdesk.tickets.tasks.after_create``)."""
    events: list[tuple[str, int]] = []
    if before is None:
        events.append(("request_received", 0))
    else:
        status_before, status_now = before.get("status"), ticket.status.value
        if message is not None and message.author_id == ticket.requester_id:
            events.append(("patient_replied", 0))
        if status_now != status_before and status_now == Status.PENDING_PATIENT.value:
            events.append(("waiting_for_reply", 0))
        elif status_now != status_before and status_now == Status.RESOLVED.value:
            events += [("resolved", 0), ("survey", 0)]
        elif message is not None and message.public and message.author_id != ticket.requester_id:
            events.append(("agent_replied", 0))
        assignee_now = ticket.assignee.id if ticket.assignee is not None else None
        if assignee_now is not None and assignee_now != before.get("assignee_id") and assignee_now != actor_id:
            events.append(("assigned", assignee_now))
    for event, user_id in events:
        # a random key per event: the job records it, so running it twice does nothing
        jobs.enqueue(DELIVER, event, ticket.id, user_id, new_key())
    return [e for e, _ in events]
