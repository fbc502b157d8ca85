"""Ticket jobs (plain functions taking ids)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from helpdesk.cache import batch_reads
from helpdesk.db import unit_of_work
from helpdesk.extensions import db
from helpdesk.jobs import Item
from helpdesk.notify import services as notify_services
from helpdesk.notify import tasks as notify_tasks
from helpdesk.notify.models import NotifyPreference
from helpdesk.routing import tasks as routing_tasks
from helpdesk.routing.models import RoutingDecision
from helpdesk.sla.models import SlaMetric, TicketSla
from helpdesk.tickets.models import Ticket

RECEIVED = "request_received"


def after_create(ticket_id: int, key: str) -> None:
    """A new request's follow-up work, one job per ticket: route it (classify, move,
    assign), then send the "request received" notice. Safe to run twice: routing happens
    once per ticket and the notice is recorded under ``key``; a retry after a failed
    notice finds the routing done."""
    routing_tasks.route_ticket(ticket_id)
    notify_tasks.deliver(RECEIVED, ticket_id, 0, key)


def after_create_batch(items: list[Item]) -> None:
    """The batch form (``helpdesk.jobs.BATCHED``): many new requests' follow-up work in
    one transaction (all of it, or none: a failed batch is run again one by one)."""
    ids = [int(item.args[0]) for item in items]
    with unit_of_work():
        # held: the session's identity map keeps only what is referenced
        held, reads = _load(ids, [str(item.args[1]) for item in items])
        with batch_reads(reads):
            for item in items:
                with item.bound():  # its lines and its mail's job carry its request's id
                    after_create(int(item.args[0]), str(item.args[1]))
        del held


def _load(ticket_ids: list[int], keys: list[str]) -> tuple[list[Any], dict[str, dict[Any, Any]]]:
    """What each ticket's follow-up reads, for the whole batch in a few statements: the
    tickets with their first messages and requesters, their SLA rows and clocks (objects
    the per-ticket code then finds in the session), and, lent to that code
    (``helpdesk.cache.batch_reads``), the clocks of each ticket, the days they were
    fulfilled on, which tickets are routed already, the requesters' notice preferences
    and how many mails each requester was sent in the last hour; and the notices' delivery
    keys are claimed, all in one statement."""
    tickets = list(db.session.scalars(
        sa.select(Ticket).where(Ticket.id.in_(ticket_ids))
        .options(selectinload(Ticket.messages), selectinload(Ticket.requester))
    ))
    slas = list(db.session.scalars(sa.select(TicketSla).where(TicketSla.ticket_id.in_(ticket_ids))))
    clocks: dict[int, list[SlaMetric]] = {t: [] for t in ticket_ids}
    for row in db.session.scalars(sa.select(SlaMetric).where(SlaMetric.ticket_id.in_(ticket_ids))
                                  .order_by(SlaMetric.ticket_id, SlaMetric.metric, SlaMetric.cycle)):
        clocks[row.ticket_id].append(row)
    routed = set(db.session.scalars(sa.select(RoutingDecision.ticket_id).where(
        RoutingDecision.ticket_id.in_(ticket_ids))))
    requesters = {t.requester_id for t in tickets}
    prefs: dict[int, NotifyPreference | None] = dict.fromkeys(requesters)
    prefs.update((p.user_id, p) for p in db.session.scalars(
        sa.select(NotifyPreference).where(NotifyPreference.user_id.in_(requesters))))
    reads = {
        "sla_rows": clocks,
        "solved_days": {t: [r.fulfilled_at for r in rows if r.fulfilled_at is not None] for t, rows in clocks.items()},
        "routed": {t: t in routed for t in ticket_ids},
        "notify_preferences": prefs,
        "recently_mailed": notify_services.recently_mailed({t.requester.email for t in tickets}),
    }
    wanted = [notify_services.delivery_key(key, RECEIVED) for key in keys]
    claimed = notify_services.claim_deliveries(wanted)
    reads["notify_claims"] = {k: k in claimed for k in wanted}
    return [*tickets, *slas, *(p for p in prefs.values() if p is not None)], reads
