"""Ticket jobs (plain functions taking ids)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from helpdesk.db import unit_of_work
from helpdesk.extensions import db
from helpdesk.notify import tasks as notify_tasks
from helpdesk.notify.models import NotifyPreference
from helpdesk.routing import tasks as routing_tasks
from helpdesk.sla.models import TicketSla
from helpdesk.tickets.models import Ticket


def after_create(ticket_id: int, key: str) -> None:
    """A new request's follow-up work, one job per ticket: route it (classify, move,
    assign), then send the "request received" notice. Safe to run twice: routing happens
    once per ticket and the notice is recorded under ``key``; a retry after a failed
    notice finds the routing done."""
    routing_tasks.route_ticket(ticket_id)
    notify_tasks.deliver("request_received", ticket_id, 0, key)


def after_create_batch(arg_lists: list[list[int | str]]) -> None:
    """The batch form (``helpdesk.jobs.BATCHED``): many new requests' follow-up work in
    one transaction (all of it, or none: a failed batch is run again one by one)."""
    ids = [int(args[0]) for args in arg_lists]
    with unit_of_work():
        held = _load(ids)  # held here: the session's identity map keeps only what is referenced
        for ticket_id, key in arg_lists:
            after_create(int(ticket_id), str(key))
        del held


def _load(ticket_ids: list[int]) -> list[Any]:
    """What each ticket's follow-up reads by primary key, for the whole batch in a few
    statements (the tickets with their first messages and requesters, their SLA rows,
    the requesters' notice preferences): the per-ticket code then finds it in the session."""
    tickets = list(db.session.scalars(
        sa.select(Ticket).where(Ticket.id.in_(ticket_ids))
        .options(selectinload(Ticket.messages), selectinload(Ticket.requester))
    ))
    slas = list(db.session.scalars(sa.select(TicketSla).where(TicketSla.ticket_id.in_(ticket_ids))))
    prefs = list(db.session.scalars(sa.select(NotifyPreference).where(
        NotifyPreference.user_id.in_({t.requester_id for t in tickets}))))
    return [*tickets, *slas, *prefs]
