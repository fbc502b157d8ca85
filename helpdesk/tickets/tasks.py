"""Ticket jobs (plain functions taking ids)."""

from __future__ import annotations

from helpdesk.notify import tasks as notify_tasks
from helpdesk.routing import tasks as routing_tasks


def after_create(ticket_id: int, key: str) -> None:
    """A new request's follow-up work, one job per ticket: route it (classify, move,
    assign), then send the "request received" notice. Safe to run twice: routing happens
    once per ticket and the notice is recorded under ``key``; a retry after a failed
    notice finds the routing done."""
    routing_tasks.route_ticket(ticket_id)
    notify_tasks.deliver("request_received", ticket_id, 0, key)
