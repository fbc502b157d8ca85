"""Clinical alert jobs: plain functions taking ids, safe to run twice."""

from __future__ import annotations

from flask import current_app

from helpdesk import audit
from helpdesk.clinical import pager
from helpdesk.clinical.models import AlertRecipient
from helpdesk.clinical.services import escalate, sweep
from helpdesk.db import unit_of_work
from helpdesk.extensions import db
from helpdesk.timeutil import utcnow


def escalate_alert(alert_id: int) -> bool:
    """Scheduled at the alert's due time; does nothing when run early or twice."""
    return escalate(alert_id)


def sweep_alerts() -> int:
    """Every minute: escalate every overdue alert (safety net for the scheduled jobs)."""
    return sweep()


def page_recipient(recipient_id: int) -> str:
    """POST the signed page for one alerted person to PAGER_WEBHOOK_URL."""
    settings = current_app.config["HELPDESK"]
    recipient = db.session.get(AlertRecipient, recipient_id)
    if recipient is None or recipient.pager_sent_at is not None:
        return "done"
    if not settings.pager_webhook_url:
        return "off"
    alert, now = recipient.alert, utcnow()
    payload = {
        "alert_id": alert.id, "ticket_reference": alert.ticket.reference, "level": alert.level.value,
        "round": recipient.round, "reason": recipient.reason.value,
        "recipient": {"user_id": recipient.user_id, "role": recipient.user.role.value},
        "raised_at": alert.raised_at.isoformat(), "notified_at": recipient.notified_at.isoformat(),
        "sent_at": now.isoformat(),
    }
    try:
        status = pager.post(settings.pager_webhook_url, settings.pager_webhook_secret or "", payload, now)
    except pager.PagerError:
        with unit_of_work():  # what the admin sees while the outbox retries the job
            recipient.pager_status = "retrying"
        raise
    with unit_of_work():
        recipient.pager_status, recipient.pager_sent_at = "sent", now
        audit.record("clinical.alert_paged", "clinical_alert", alert.id, actor_id=None,
                     changes={"user_id": recipient.user_id, "round": recipient.round, "http_status": status})
    return "sent"
