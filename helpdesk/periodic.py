"""Periodic jobs, registered with RQ's cron scheduler by ``flask cron``."""

from __future__ import annotations

from helpdesk import jobs


def sweep_outbox_job() -> None:
    """Safety net: push outbox rows that never reached Redis."""
    jobs.sweep_outbox()


def weekly_retrain_job() -> None:
    """Retrain the router on the corpus plus agents' labels; promoted only if no regression."""
    from helpdesk.routing.training import retrain

    retrain()


def sla_sweep_job() -> None:
    """SLA warnings and breaches owed now (safety net for the scheduled timers)."""
    from helpdesk.sla.tasks import sweep_job

    sweep_job()


def dashboard_rollup_job() -> None:
    """Materialise finished days of the supervisors' dashboard (a month at most per run)."""
    from helpdesk.sla.rollup import rollup_job

    rollup_job()
def clinical_alert_sweep_job() -> None:
    """Clinical alerts not acknowledged in time: escalate each (idempotent; safety net for
    the escalation scheduled at each alert's due time)."""
    from helpdesk.clinical.tasks import sweep_alerts

    sweep_alerts()


def mail_sweep_job() -> None:
    """Outgoing mails whose retry is due (the timer in inline mode, safety net with Redis)."""
    from helpdesk.notify.tasks import sweep_mail_job

    sweep_mail_job()


def imap_poll_job() -> None:
    """Inbound mail from the IMAP folder (does nothing unless IMAP_HOST is set)."""
    from helpdesk.notify.tasks import poll_imap_job

    poll_imap_job()


def attachment_sweep_job() -> None:
    """Remove stored files no attachment or inbound mail refers to (after a rollback)."""
    from helpdesk.notify.attachments import sweep_orphans

    sweep_orphans()


def auth_throttle_prune_job() -> None:
    """Forget sign-in throttle rows that have been quiet for a day."""
    from helpdesk.auth.throttle import prune_job

    prune_job()


def prune_sessions_job() -> None:
    """Forget sign-in sessions that ended (or expired) more than 30 days ago."""
    from helpdesk.auth.sessions import prune_job

    prune_job()


def audit_prune_job() -> None:
    """Delete audit events older than AUDIT_RETENTION_DAYS (the chain stays verifiable)."""
    from flask import current_app

    from helpdesk import audit

    audit.prune(retention_days=current_app.config["HELPDESK"].audit_retention_days)


def register(scheduler) -> None:
    scheduler.register(sweep_outbox_job, queue_name=jobs.QUEUE_NAME, interval=60)
    scheduler.register(sla_sweep_job, queue_name=jobs.QUEUE_NAME, interval=60)
    scheduler.register(dashboard_rollup_job, queue_name=jobs.QUEUE_NAME, interval=60, job_timeout=600)
    scheduler.register(clinical_alert_sweep_job, queue_name=jobs.QUEUE_NAME, interval=60)
    scheduler.register(mail_sweep_job, queue_name=jobs.QUEUE_NAME, interval=60)
    scheduler.register(imap_poll_job, queue_name=jobs.QUEUE_NAME, interval=60)
    scheduler.register(attachment_sweep_job, queue_name=jobs.QUEUE_NAME, cron="17 * * * *")
    scheduler.register(auth_throttle_prune_job, queue_name=jobs.QUEUE_NAME, interval=3600)
    scheduler.register(prune_sessions_job, queue_name=jobs.QUEUE_NAME, interval=3600)
    scheduler.register(weekly_retrain_job, queue_name=jobs.QUEUE_NAME, cron="0 3 * * 0", job_timeout=1800)
    scheduler.register(audit_prune_job, queue_name=jobs.QUEUE_NAME, cron="0 4 * * 0", job_timeout=1800)
