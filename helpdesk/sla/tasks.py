"""SLA jobs: plain functions taking ids, safe to run twice or early."""

from __future__ import annotations

from helpdesk.sla import services


def check_ticket(ticket_id: int) -> int:
    """Scheduled (RQ ``enqueue_at``) for a ticket's next warning or breach."""
    return services.check_ticket(ticket_id)


def sweep_job() -> int:
    """Every minute (``flask scheduler``): the safety net, and the timer in inline mode."""
    return services.sweep()
