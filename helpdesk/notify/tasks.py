"""Notify jobs: plain functions taking ids, safe to run twice."""

from __future__ import annotations

from helpdesk.notify import mail


def send_email(mail_id: int) -> str | None:
    """Send one outgoing mail (enqueued after the commit that stored it)."""
    return mail.send_email(mail_id)


def sweep_mail_job() -> int:
    """Every minute (``flask cron``): send the mails whose retry is due."""
    return mail.sweep_mail()
