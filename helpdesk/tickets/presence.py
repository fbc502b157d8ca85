"""Who else has a ticket open, and did a message arrive while you were writing?

Presence is a heartbeat the ticket page sends every few seconds ("viewing" or
"typing"). With REDIS_URL it lives in Redis (one hash per ticket, expiring on its
own); without Redis, in the ``ticket_presence`` table. A heartbeat older than
``TTL_SECONDS`` no longer counts. Heartbeats are not audited: opening the ticket
already is (``ticket.viewed``), and a heartbeat reveals nothing more.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from helpdesk.auth.models import User
from helpdesk.db import unit_of_work
from helpdesk.errors import ValidationFailed
from helpdesk.extensions import db
from helpdesk.jobs import redis_connection
from helpdesk.tickets.models import Message, Ticket
from helpdesk.tickets.workspace_models import TicketPresence
from helpdesk.timeutil import utcnow

STATES = ("viewing", "typing")
TTL_SECONDS = 15
POLL_SECONDS = 4


def _redis():
    if current_app.config["HELPDESK"].redis_url is None:
        return None
    return redis_connection()


def _key(ticket_id: int) -> str:
    return f"helpdesk:presence:ticket:{ticket_id}"


def heartbeat(user: User, ticket: Ticket, state: Any) -> None:
    """Record that ``user`` has ``ticket`` open (the caller checked they may see it)."""
    if state not in STATES:
        raise ValidationFailed("Unknown presence state.", fields={"state": [f"One of: {', '.join(STATES)}."]})
    r = _redis()
    if r is not None:
        pipe = r.pipeline()
        pipe.hset(_key(ticket.id), str(user.id), json.dumps({"state": state, "at": time.time()}))
        pipe.expire(_key(ticket.id), TTL_SECONDS * 4)
        pipe.execute()
        return
    now = utcnow()
    for _ in range(2):
        try:
            with unit_of_work():
                row = db.session.scalar(sa.select(TicketPresence).where(
                    TicketPresence.ticket_id == ticket.id, TicketPresence.user_id == user.id))
                if row is None:
                    db.session.add(TicketPresence(ticket_id=ticket.id, user_id=user.id, state=state, seen_at=now))
                else:
                    row.state, row.seen_at = state, now
            break
        except IntegrityError:  # two tabs of the same user raced to insert: update instead
            continue
    with unit_of_work():  # forget long-gone viewers of this ticket now and then (cheap, indexed)
        db.session.execute(sa.delete(TicketPresence).where(
            TicketPresence.ticket_id == ticket.id, TicketPresence.seen_at < now - timedelta(hours=1)))


def others(user: User, ticket: Ticket) -> list[dict[str, str]]:
    """The other staff members with a fresh heartbeat on ``ticket``: name and state."""
    fresh: dict[int, str] = {}
    r = _redis()
    if r is not None:
        limit = time.time() - TTL_SECONDS
        for uid, raw in r.hgetall(_key(ticket.id)).items():
            try:
                data = json.loads(raw)
                if data["at"] >= limit:
                    fresh[int(uid)] = data["state"]
            except (ValueError, KeyError, TypeError):
                continue
    else:
        limit_dt = utcnow() - timedelta(seconds=TTL_SECONDS)
        for uid, state in db.session.execute(sa.select(TicketPresence.user_id, TicketPresence.state).where(
                TicketPresence.ticket_id == ticket.id, TicketPresence.seen_at >= limit_dt)):
            fresh[uid] = state
    fresh.pop(user.id, None)
    if not fresh:
        return []
    users = db.session.scalars(sa.select(User).where(User.id.in_(fresh), User.active.is_(True))).all()
    return sorted(({"name": u.display_name, "state": fresh[u.id]} for u in users if u.is_staff),
                  key=lambda d: (d["state"] != "typing", d["name"]))


def last_message_id(ticket: Ticket) -> int:
    return db.session.scalar(sa.select(sa.func.max(Message.id)).where(Message.ticket_id == ticket.id)) or 0


def unseen_messages(ticket: Ticket, user: User, last_seen: Any) -> list[Message]:
    """Messages that arrived on ``ticket`` after ``last_seen`` (the newest id the form was
    rendered with), written by someone else. ``None``/garbage means "not checked"."""
    if not isinstance(last_seen, str) or not last_seen.strip().isdigit():
        return []
    return list(db.session.scalars(
        sa.select(Message).where(Message.ticket_id == ticket.id, Message.id > int(last_seen),
                                 sa.or_(Message.author_id.is_(None), Message.author_id != user.id))
        .order_by(Message.created_at, Message.id)
    ))
