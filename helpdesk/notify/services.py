"""Who hears about what, and how: in-app notices for staff, e-mail for patients (and
staff who opt in). Every notice carries a kind and a ticket reference — never patient text.

Events (``deliver`` job, enqueued by ``helpdesk.notify.hooks`` after the ticket
service's commit):

=====================  ==========================================  ===================
event                  who                                         how
=====================  ==========================================  ===================
request_received       the requester                               e-mail
agent_replied          the requester                               e-mail
waiting_for_reply      the requester                               e-mail
resolved               the requester                               e-mail
survey                 the requester (CSAT link)                   e-mail
assigned               the new assignee                            in-app (+ e-mail)
patient_replied        the assignee, else the queue's agents       in-app (+ e-mail)
sla_warning/breached   the assignee, else the queue's agents;      in-app (+ e-mail)
                       breaches also the queue's supervisors
=====================  ==========================================  ===================

E-mail goes to patients who left it on (the default) and to staff who turned it on;
it follows the recipient's language (en/es).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from helpdesk import audit
from helpdesk.auth.models import Role, User
from helpdesk.cache import MISSING, take
from helpdesk.db import conflict_insert, transactional
from helpdesk.errors import NotFound, ValidationFailed
from helpdesk.extensions import db
from helpdesk.notify import csat
from helpdesk.notify.mail import LANGUAGES, queue_email
from helpdesk.notify.models import Notification, NotifyDelivery, NotifyPreference, OutgoingEmail
from helpdesk.permissions import is_patient
from helpdesk.tickets.models import QueueMembership, Ticket
from helpdesk.timeutil import utcnow

log = logging.getLogger(__name__)

PATIENT_EVENTS = ("request_received", "agent_replied", "waiting_for_reply", "resolved", "survey")
STAFF_EVENTS = ("assigned", "patient_replied")
EVENTS = PATIENT_EVENTS + STAFF_EVENTS

KIND_LABELS = {
    "assigned": "Assigned to you",
    "patient_replied": "Patient replied",
    "sla_warning": "SLA warning",
    "sla_breached": "SLA breached",
}


def kind_label(kind: str) -> str:
    """'sla_breached_first_reply' → 'SLA breached: first reply'."""
    for prefix, label in KIND_LABELS.items():
        if kind == prefix:
            return label
        if kind.startswith(prefix + "_"):
            return f"{label}: {kind[len(prefix) + 1:].replace('_', ' ')}"
    return kind.replace("_", " ").capitalize()


# ----------------------------------------------------------------------------- preferences


def email_enabled(user: User) -> bool:
    pref = take("notify_preferences", user.id)  # read already for a batch of tickets
    if pref is MISSING:
        pref = db.session.get(NotifyPreference, user.id)
    if pref is not None and pref.email_enabled is not None:
        return pref.email_enabled
    return is_patient(user)


@transactional
def update_preferences(user: User, *, email: bool, language: str) -> None:
    """A user's own choices: e-mail notifications on/off and the language of mails."""
    if language not in LANGUAGES:
        raise ValidationFailed("Choose English or Spanish.", fields={"language": ["en or es"]})
    pref = db.session.get(NotifyPreference, user.id)
    before = {"email": email_enabled(user), "language": user.language}
    if pref is None:
        pref = NotifyPreference(user_id=user.id)
        db.session.add(pref)
    pref.email_enabled = bool(email)
    pref.updated_at = utcnow()
    user.language = language
    audit.record("notify.preferences", "user", user.id, actor_id=user.id,
                 changes=audit.diff(before, {"email": bool(email), "language": language}))


# ----------------------------------------------------------------------------- in-app


def add_notifications(user_ids: Iterable[int], kind: str, ticket, at: datetime | None = None) -> list[int]:
    """Add in-app notices (and staff e-mails where opted in) to the current transaction."""
    at = at or utcnow()
    ids = list(dict.fromkeys(user_ids))
    for user_id in ids:
        db.session.add(Notification(user_id=user_id, kind=kind[:40], ticket_id=ticket.id, created_at=at))
    if ids:
        for user in db.session.scalars(sa.select(User).where(User.id.in_(ids), User.active.is_(True))):
            if user.is_staff and email_enabled(user):
                _mail(user, "staff_notice", ticket, {"what": kind_label(kind), "kind": kind})
    return ids


def unread_count(user_id: int) -> int:
    return db.session.scalar(sa.select(sa.func.count(Notification.id)).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))) or 0


def notifications_page(user_id: int, before: int | None, size: int = 50):
    """(rows of (notification, reference), next cursor): newest first, keyset by id."""
    stmt = (sa.select(Notification, Ticket.reference).outerjoin(Ticket, Ticket.id == Notification.ticket_id)
            .where(Notification.user_id == user_id).order_by(Notification.id.desc()).limit(size + 1))
    if before is not None:
        stmt = stmt.where(Notification.id < before)
    rows = db.session.execute(stmt).all()
    return rows[:size], (rows[size - 1][0].id if len(rows) > size else None)


@transactional
def mark_read(user_id: int, notification_id: int) -> Notification:
    row = db.session.get(Notification, notification_id)
    if row is None or row.user_id != user_id:
        raise NotFound("No such notification.")
    if row.read_at is None:
        row.read_at = utcnow()
    return row


@transactional
def mark_all_read(user_id: int, at: datetime | None = None) -> int:
    n = db.session.execute(
        sa.update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=at or utcnow()).execution_options(synchronize_session=False)
    ).rowcount
    return n


# ----------------------------------------------------------------------------- recipients


def queue_agents(queue_id: int) -> list[int]:
    return list(db.session.scalars(
        sa.select(User.id).join(QueueMembership, QueueMembership.user_id == User.id)
        .where(QueueMembership.queue_id == queue_id, User.active.is_(True),
               User.role.in_([Role.AGENT, Role.SUPERVISOR]))
        .order_by(User.id)
    ))


def queue_supervisors(queue_id: int) -> list[int]:
    return list(db.session.scalars(
        sa.select(User.id).join(QueueMembership, QueueMembership.user_id == User.id)
        .where(QueueMembership.queue_id == queue_id, User.active.is_(True), User.role == Role.SUPERVISOR)
        .order_by(User.id)
    ))


def ticket_watchers(ticket) -> list[int]:
    """The assignee, or every agent of the ticket's queue when unassigned."""
    return [ticket.assignee_id] if ticket.assignee_id is not None else queue_agents(ticket.queue_id)


# ----------------------------------------------------------------------------- delivery


def recently_mailed(addresses: Iterable[str]) -> dict[str, int]:
    """Mails made for each address in the last hour (the per-address limit counts them)."""
    since = utcnow() - timedelta(hours=1)
    counts = dict.fromkeys(addresses, 0)
    rows = db.session.execute(
        sa.select(OutgoingEmail.to_addr, sa.func.count(OutgoingEmail.id))
        .where(OutgoingEmail.to_addr.in_(list(counts)), OutgoingEmail.created_at >= since)
        .group_by(OutgoingEmail.to_addr))
    counts.update({address: n for address, n in rows})
    return counts


def _recently_mailed(address: str) -> int:
    lent = take("recently_mailed", address)  # read already for a batch of tickets
    return recently_mailed([address])[address] if lent is MISSING else lent


def _mail(user: User, kind: str, ticket, extra: dict | None = None, *, secret: bool = False) -> OutgoingEmail | None:
    settings = current_app.config["HELPDESK"]
    if _recently_mailed(user.email) >= settings.mail_per_address_per_hour:
        # a loop (an auto-responder without the usual headers) or a flood: stop mailing
        log.warning("mail to user %s skipped: %d-per-hour limit reached", user.id, settings.mail_per_address_per_hour)
        return None
    base = settings.external_url
    context = {
        "reference": ticket.reference,
        "request_url": f"{base}/requests/{ticket.reference}" if is_patient(user)
        else f"{base}/agent/tickets/{ticket.reference}",
        **(extra or {}),
    }
    return queue_email(to=user.email, kind=kind, lang=user.language, context=context, ticket_id=ticket.id,
                       user_id=user.id, secret=secret, flush=False)


def delivery_key(key: str, event: str) -> str:
    return f"{key}:{event}"[:80]


def claim_deliveries(keys: list[str]) -> set[str]:
    """Claim these delivery keys in the current transaction (one statement); returns
    those that were free (the others were claimed by an earlier run)."""
    if not keys:
        return set()
    claim = conflict_insert(NotifyDelivery.__table__, db.engine.dialect.name).values(
        [{"key": k, "created_at": utcnow()} for k in dict.fromkeys(keys)])
    return set(db.session.scalars(claim.on_conflict_do_nothing().returning(NotifyDelivery.key)))


@transactional
def deliver(event: str, ticket_id: int, user_id: int = 0, key: str = "") -> int:
    """The job behind every ticket event: decide recipients, add notices and mails, commit.
    Returns how many notices/mails it made. Tolerates the ticket being gone; with a
    ``key`` (the hook's random one) a second run does nothing."""
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None or event not in EVENTS:
        return 0
    if key:
        # claimed in the same transaction as the notices and mails: one statement (or one
        # for a batch of tickets), and a second run (or a concurrent one, which waits for
        # this one's commit) finds it taken
        claimed = take("notify_claims", delivery_key(key, event))
        if claimed is MISSING:
            claimed = bool(claim_deliveries([delivery_key(key, event)]))
        if not claimed:
            return 0
    made = 0
    if event in PATIENT_EVENTS:
        patient = ticket.requester
        if patient.active and is_patient(patient):
            extra, secret = {}, False
            if event == "survey":
                token = csat.open_survey(ticket)
                if token is None:
                    return 0  # already answered: one answer per ticket
                extra, secret = {"survey_url": f"{current_app.config['HELPDESK'].external_url}/survey/{token}"}, True
            if email_enabled(patient) and _mail(patient, event, ticket, extra, secret=secret) is not None:
                made += 1
    elif event == "assigned":
        if user_id:
            made += len(add_notifications([user_id], "assigned", ticket))
    elif event == "patient_replied":
        made += len(add_notifications(ticket_watchers(ticket), "patient_replied", ticket))
    return made


def sla_event(ticket, kind: str, metric: str, at: datetime) -> None:
    """Called by the SLA engine inside its transaction: warning/breach notices for the
    ticket's watchers, and breaches also for the supervisors of its queue."""
    recipients = ticket_watchers(ticket)
    if kind == "breached":
        recipients += queue_supervisors(ticket.queue_id)
    add_notifications(recipients, f"sla_{kind}_{metric}", ticket, at)
