"""Periodic jobs, registered with RQ's cron scheduler by ``flask cron``."""

from __future__ import annotations

from helpdesk import jobs


def sweep_outbox_job() -> None:
    """Safety net: push outbox rows that never reached Redis."""
    jobs.sweep_outbox()


def register(scheduler) -> None:
    scheduler.register(sweep_outbox_job, queue_name=jobs.QUEUE_NAME, interval=60)
