"""Webhook jobs: plain functions taking ids, safe to run twice."""

from __future__ import annotations

from helpdesk.webhooks import services


def deliver(uid: str) -> str | None:
    """Attempt one delivery (enqueued after the commit that recorded it, and for each retry)."""
    return services.deliver(uid)


def sweep_job() -> int:
    """Every minute (``flask scheduler``): deliveries whose retry is due."""
    return services.sweep()
