"""Notify jobs: plain functions taking ids, safe to run twice."""

from __future__ import annotations

from helpdesk.jobs import Item
from helpdesk.notify import mail
from helpdesk.notify.inbound import poll_imap
from helpdesk.notify.services import deliver as run


def send_email(mail_id: int) -> str | None:
    """Send one outgoing mail (enqueued after the commit that stored it)."""
    return mail.send_email(mail_id)


def send_email_batch(items: list[Item]) -> None:
    """The batch form (``helpdesk.jobs.BATCHED``): many mails over one SMTP connection."""
    mail.send_emails([int(item.args[0]) for item in items])


def sweep_mail_job() -> int:
    """Every minute (``flask scheduler``): send the mails whose retry is due."""
    return mail.sweep_mail()


def deliver(event: str, ticket_id: int, user_id: int = 0, key: str = "") -> int:
    """One ticket event's notices and mails (see ``helpdesk.notify.services``)."""
    return run(event, ticket_id, user_id, key)


def poll_imap_job() -> int:
    """Every minute (``flask scheduler``) when IMAP_HOST is set: fetch and ingest new mail."""
    return poll_imap()
