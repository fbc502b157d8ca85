"""Read-only questions about clinical escalation that the permission rules ask (models only,
so that permissions.py does not depend on the clinical services)."""

from __future__ import annotations

import sqlalchemy as sa

from helpdesk.auth.models import User
from helpdesk.clinical.models import AlertRecipient, ClinicalAlert
from helpdesk.extensions import db
from helpdesk.tickets.models import Queue

CLINICAL_QUEUE = "clinical-escalation"


def clinical_queue() -> Queue | None:
    return db.session.scalar(sa.select(Queue).where(Queue.slug == CLINICAL_QUEUE))


def is_recipient(user: User, alert: ClinicalAlert) -> bool:
    return db.session.scalar(sa.select(AlertRecipient.id).where(
        AlertRecipient.alert_id == alert.id, AlertRecipient.user_id == user.id).limit(1)) is not None
