"""Record webhook deliveries in the transaction of the change they announce.

The services call these where each event happens (the ticket services' one update
path, the SLA engine's warning/breach, the clinical alert's raise and acknowledgement,
the survey's answer). Each adds one ``WebhookDelivery`` row per active endpoint that
subscribes to the event and enqueues its delivery job (``helpdesk.jobs``: an outbox row
in the same transaction, dispatched after the commit). A rolled-back change leaves no
delivery; a committed one always has its delivery (the outbox pattern).

Payloads carry ids, references, states, the queue, the priority and times; never what a
patient wrote. For an endpoint allowed PHI the sender adds the subject, the message and
a survey comment when it sends (``helpdesk.webhooks.services``), read from their rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app

from helpdesk import cache, jobs
from helpdesk.extensions import db
from helpdesk.timeutil import utcnow
from helpdesk.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

DELIVER_JOB = "helpdesk.webhooks.tasks.deliver"

TICKET_CREATED = "ticket.created"
TICKET_STATUS_CHANGED = "ticket.status_changed"
TICKET_ASSIGNED = "ticket.assigned"
SLA_WARNING = "sla.warning"
SLA_BREACH = "sla.breach"
EMERGENCY_RAISED = "emergency.raised"
EMERGENCY_ACKNOWLEDGED = "emergency.acknowledged"
CSAT_RECEIVED = "csat.received"

EVENTS: dict[str, str] = {
    TICKET_CREATED: "A request was made (web, portal, e-mail).",
    TICKET_STATUS_CHANGED: "A request's status changed.",
    TICKET_ASSIGNED: "A request was assigned to someone (by an agent, the router or the on-call roster).",
    SLA_WARNING: "An SLA clock passed its warning point.",
    SLA_BREACH: "An SLA target was missed.",
    EMERGENCY_RAISED: "A request was flagged as an emergency and a clinical alert raised.",
    EMERGENCY_ACKNOWLEDGED: "A clinical alert was acknowledged.",
    CSAT_RECEIVED: "A patient answered the satisfaction survey.",
}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def ticket_data(ticket: Any) -> dict[str, Any]:
    """A ticket as every payload shows it: ids and states only (no subject, no category
    of emergency: both come from what the patient wrote)."""
    return {
        "id": ticket.id,
        "reference": ticket.reference,
        "status": ticket.status.value,
        "priority": ticket.priority.value,
        "queue": ticket.queue.slug if ticket.queue is not None else None,
        # from the relationship: the foreign key column is only set at flush
        "assignee_id": ticket.assignee.id if ticket.assignee is not None else None,
        "requester_id": ticket.requester_id,
        "channel": ticket.channel.value,
        "emergency": bool(ticket.emergency),
        "created_at": _iso(ticket.created_at),
        "updated_at": _iso(ticket.updated_at),
    }


def _subscriptions() -> tuple[tuple[int, frozenset[str]], ...]:
    """(endpoint id, its events) of every active endpoint, in id order."""
    return tuple((eid, frozenset(events or ())) for eid, events in db.session.execute(
        sa.select(WebhookEndpoint.id, WebhookEndpoint.events).where(WebhookEndpoint.active.is_(True))
        .order_by(WebhookEndpoint.id)))


def _subscribers(event: str) -> list[int]:
    """The ids of the active endpoints subscribed to ``event`` (kept for
    ``LOOKUP_CACHE_SECONDS``, see ``helpdesk.cache``: a new ticket costs no query here)."""
    ttl = current_app.config["HELPDESK"].lookup_cache_seconds
    return [eid for eid, events in cache.cached("webhooks:subscriptions", _subscriptions, ttl) if event in events]


def emit(event: str, data: dict[str, Any] | Callable[[], dict[str, Any]], *,
         at: datetime | None = None) -> list[WebhookDelivery]:
    """One delivery per subscribed active endpoint, in the current transaction (no commit).
    ``data`` may be a function: it is called only when an endpoint subscribes."""
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    endpoints = _subscribers(event)
    if not endpoints:
        return []
    if callable(data):
        data = data()
    now = utcnow()
    occurred = at or now
    out = []
    for endpoint_id in endpoints:
        uid = uuid.uuid4().hex
        payload = {"id": uid, "event": event, "occurred_at": occurred.isoformat(), "data": data}
        row = WebhookDelivery(uid=uid, endpoint_id=endpoint_id, event=event, payload=payload, created_at=now,
                              status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now)
        db.session.add(row)
        jobs.enqueue(DELIVER_JOB, uid)  # the uid, not the row id: no flush needed here
        out.append(row)
    return out


# ----------------------------------------------------------------------------- the events


def ticket_created(ticket: Any, message: Any) -> None:
    emit(TICKET_CREATED, lambda: {"ticket": ticket_data(ticket), "message_id": message.id}, at=ticket.created_at)


def ticket_changed(ticket: Any, before: dict[str, Any], *, actor_id: int | None = None, message: Any = None,
                   at: datetime | None = None) -> None:
    """Compare the ticket service's snapshot with the ticket now: a status change, and an
    assignment to someone (a new, non-empty assignee), each become an event."""
    status_now = ticket.status.value
    assignee_now = ticket.assignee.id if ticket.assignee is not None else None
    snapshot = None
    if status_now != before.get("status"):
        snapshot = ticket_data(ticket)
        data: dict[str, Any] = {"ticket": snapshot, "from": before.get("status"), "to": status_now,
                                "actor_id": actor_id}
        if message is not None and message.public:
            data["message_id"] = message.id
        emit(TICKET_STATUS_CHANGED, data, at=at)
    if assignee_now is not None and assignee_now != before.get("assignee_id"):
        emit(TICKET_ASSIGNED, {"ticket": snapshot or ticket_data(ticket), "from_assignee_id": before.get("assignee_id"),
                               "assignee_id": assignee_now, "actor_id": actor_id}, at=at)


def sla_fired(ticket: Any, kind: str, *, metric: str, cycle: int, target_seconds: float, due_at: datetime | None,
              at: datetime) -> None:
    """``kind``: the SLA engine's ``warning`` or ``breached``."""
    emit(SLA_BREACH if kind == "breached" else SLA_WARNING, {
        "ticket": ticket_data(ticket), "metric": metric, "cycle": cycle, "target_seconds": target_seconds,
        "due_at": _iso(due_at)}, at=at)


def emergency_raised(alert: Any, ticket: Any) -> None:
    emit(EMERGENCY_RAISED, {
        "alert_id": alert.id, "ticket": ticket_data(ticket), "level": alert.level.value,
        "raised_at": _iso(alert.raised_at), "ack_due_at": _iso(alert.due_at)}, at=alert.raised_at)


def emergency_acknowledged(alert: Any, ticket: Any, *, user_id: int, at: datetime) -> None:
    emit(EMERGENCY_ACKNOWLEDGED, {
        "alert_id": alert.id, "ticket": ticket_data(ticket), "round": alert.round,
        "acknowledged_by_id": user_id, "raised_at": _iso(alert.raised_at), "acknowledged_at": _iso(at)}, at=at)


def csat_received(ticket: Any, *, rating: str, via: str, has_comment: bool, at: datetime) -> None:
    emit(CSAT_RECEIVED, {"ticket": ticket_data(ticket), "rating": rating, "via": via, "has_comment": has_comment},
         at=at)
