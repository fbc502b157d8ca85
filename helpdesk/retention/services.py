"""Retention: how long each kind of stored patient data is kept, legal holds, and the
nightly job that purges or de-identifies what has expired.

Kinds (``KINDS``) and what a purge does to each:

* ``closed_tickets`` — a request closed longer ago than the period is **de-identified**:
  its subject becomes ``REMOVED_SUBJECT``; its messages (with every earlier version),
  attachments (rows and stored bytes), the raw e-mails it came from, the satisfaction
  comment and the contact details of an access request are deleted; its search document
  is rebuilt (so ``ticket_search`` keeps no purged text). The row stays with reference,
  queue, status, priority, channel, requester and dates, for statistics
  (``retention_purged_tickets`` marks it).
* ``attachments`` — a file on a closed request, uploaded longer ago than the period: the
  attachment row and its stored bytes are deleted; the message stays.
* ``raw_mail`` — the original of an inbound e-mail (``inbound_mails`` and its stored
  bytes), received longer ago than the period: row and bytes deleted. The request it
  created or updated keeps its messages.

Audit exports are not a kind: the audit CSV is streamed to the admin's browser and never
stored on the server, so there is nothing to expire. The audit log itself is never touched
by this job (its own retention is ``AUDIT_RETENTION_DAYS``, ``flask audit prune``).

No period is set for any kind until an admin sets one: until then nothing is purged.

A **legal hold** on a ticket, or on a patient (all their tickets), keeps everything of those
tickets — the request, its attachments, its raw mails — out of every kind while it is in
force. Holds are placed and released by admins and supervisors with a reason (audited).

``run(dry_run=True)`` counts what a real run would purge, with the same queries; a real run
purges in batches of ``BATCH`` (one unit of work each, one ``retention.purged`` audit row
per item: kind and ids, never text), then deletes the stored bytes nothing refers to any
more (``helpdesk.storage``; bytes left by a crash in between go with the hourly sweep).
Each run is recorded (``retention_runs``) with its counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from helpdesk import audit, jobs, storage
from helpdesk.auth.models import User
from helpdesk.auth.password_models import AccessRequest
from helpdesk.db import transactional, unit_of_work
from helpdesk.errors import Conflict, NotFound, ValidationFailed
from helpdesk.extensions import db
from helpdesk.notify.models import Attachment, CsatSurvey, InboundMail
from helpdesk.permissions import is_patient
from helpdesk.retention.models import LegalHold, PurgedTicket, RetentionPolicy, RetentionRun
from helpdesk.tickets import search
from helpdesk.tickets.models import Message, MessageVersion, Status, Ticket
from helpdesk.timeutil import utcnow

REMOVED_SUBJECT = "[removed under the retention policy]"
BATCH = 200
MAX_DAYS = 36_500


@dataclass(frozen=True)
class Kind:
    name: str
    label: str
    rule: str


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("closed_tickets", "Closed requests",
         "Days after a request is closed: its subject, messages, attachments, raw e-mails and satisfaction "
         "comment are removed; the request row stays (reference, queue, status, dates) for statistics."),
    Kind("attachments", "Attachments",
         "Days after upload, for files on closed requests: the file is deleted; the message stays."),
    Kind("raw_mail", "Raw inbound e-mail",
         "Days after receipt: the original e-mail as received is deleted."),
)}

Progress = Callable[[str, int, int], None]


# ---------------------------------------------------------------- periods


def policies() -> dict[str, int | None]:
    """Every kind with its period in days (None: kept, no period set)."""
    rows = {p.kind: p.days for p in db.session.scalars(sa.select(RetentionPolicy))}
    return {kind: rows.get(kind) for kind in KINDS}


def parse_days(value: Any) -> int | None:
    """'' / None / 'off' → None; else whole days 1..MAX_DAYS, or ValidationFailed."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "off")):
        return None
    try:
        days = int(str(value).strip())
    except ValueError:
        raise ValidationFailed("Write the period as a whole number of days, or leave it empty for no period.",
                               fields={"days": ["A whole number of days."]}) from None
    if not 1 <= days <= MAX_DAYS:
        raise ValidationFailed(f"The period must be between 1 and {MAX_DAYS} days.",
                               fields={"days": [f"Between 1 and {MAX_DAYS}."]})
    return days


@transactional
def set_policy(*, actor_id: int | None, kind: str, days: int | None, via: str) -> bool:
    """Set (or with None, remove) the period of ``kind``; audited. False when unchanged."""
    if kind not in KINDS:
        raise NotFound(f"No retention kind {kind!r}.")
    if days is not None:
        days = parse_days(days)
    row = db.session.get(RetentionPolicy, kind)
    before = row.days if row is not None else None
    if before == days:
        return False
    if row is None:
        row = RetentionPolicy(kind=kind)
        db.session.add(row)
    row.days, row.updated_at, row.updated_by_id = days, utcnow(), actor_id
    audit.record("retention.policy_set", "retention", kind, actor_id=actor_id, severity="warning",
                 changes={"days": {"before": before, "after": days}, "via": via})
    return True


# ---------------------------------------------------------------- legal holds


def _held_ticket(ticket: Any = Ticket) -> sa.ColumnElement[bool]:
    """A hold in force on the ticket or on its requester."""
    return sa.exists().where(LegalHold.released_at.is_(None),
                             sa.or_(LegalHold.ticket_id == ticket.id, LegalHold.patient_id == ticket.requester_id))


def holds_for_ticket(ticket: Ticket) -> list[LegalHold]:
    """Holds in force on this ticket, directly or through its patient."""
    return list(db.session.scalars(sa.select(LegalHold).where(
        LegalHold.released_at.is_(None),
        sa.or_(LegalHold.ticket_id == ticket.id, LegalHold.patient_id == ticket.requester_id)).order_by(LegalHold.id)))


def holds_for_patient(user: User) -> list[LegalHold]:
    return list(db.session.scalars(sa.select(LegalHold).where(
        LegalHold.released_at.is_(None), LegalHold.patient_id == user.id).order_by(LegalHold.id)))


def active_holds(limit: int = 200, *, before: int | None = None) -> list[tuple[LegalHold, str | None, str | None]]:
    """Holds in force, newest first (the ``limit`` older than the hold id ``before``, when
    given), with the ticket reference or patient e-mail they cover."""
    patient = sa.orm.aliased(User)
    stmt = (sa.select(LegalHold, Ticket.reference, patient.email)
            .outerjoin(Ticket, Ticket.id == LegalHold.ticket_id)
            .outerjoin(patient, patient.id == LegalHold.patient_id)
            .where(LegalHold.released_at.is_(None)).order_by(LegalHold.id.desc()).limit(limit))
    if before is not None:
        stmt = stmt.where(LegalHold.id < before)  # keyset: the page after the one ending at ``before``
    return [(h, ref, email) for h, ref, email in db.session.execute(stmt)]


def is_purged(ticket: Ticket) -> bool:
    return db.session.get(PurgedTicket, ticket.id) is not None


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not 3 <= len(reason) <= 500:
        raise ValidationFailed("Give the reason for the hold (3 to 500 characters), e.g. the case or request "
                               "it is for.", fields={"reason": ["3 to 500 characters."]})
    return reason


@transactional
def place_hold(*, actor: User, reason: str, ticket: Ticket | None = None, patient: User | None = None) -> LegalHold:
    """A legal hold on one ticket or on one patient's tickets; audited (the reason is staff
    text about a case and goes in the hold row, not the audit row)."""
    if (ticket is None) == (patient is None):
        raise ValidationFailed("A hold is on one request or on one patient.")
    if patient is not None and not is_patient(patient):
        raise NotFound("No such patient account.")
    reason = _reason(reason)
    existing = db.session.scalar(sa.select(LegalHold).where(
        LegalHold.released_at.is_(None),
        LegalHold.ticket_id == ticket.id if ticket is not None else LegalHold.patient_id == patient.id))
    if existing is not None:
        raise Conflict("A legal hold is already in force on it.")
    hold = LegalHold(ticket_id=ticket.id if ticket else None, patient_id=patient.id if patient else None,
                     reason=reason, created_by_id=actor.id, created_at=utcnow())
    db.session.add(hold)
    db.session.flush()
    target = ("ticket", ticket.id) if ticket is not None else ("user", patient.id)
    audit.record("retention.hold_placed", target[0], target[1], actor_id=actor.id, severity="warning",
                 changes={"hold": hold.id})
    return hold


@transactional
def release_hold(*, actor: User, hold_id: int) -> LegalHold:
    hold = db.session.get(LegalHold, hold_id)
    if hold is None:
        raise NotFound("No such legal hold.")
    if hold.released_at is not None:
        raise Conflict("That legal hold was already released.")
    hold.released_at, hold.released_by_id = utcnow(), actor.id
    target = ("ticket", hold.ticket_id) if hold.ticket_id is not None else ("user", hold.patient_id)
    audit.record("retention.hold_released", target[0], target[1], actor_id=actor.id, severity="warning",
                 changes={"hold": hold.id})
    return hold


# ---------------------------------------------------------------- what has expired


def _cutoff(days: int | None, now: datetime) -> datetime | None:
    return None if days is None else now - timedelta(days=days)


def _expired_tickets(cutoff: datetime) -> sa.Select:
    return (sa.select(Ticket.id).where(Ticket.status == Status.CLOSED, Ticket.closed_at.is_not(None),
                                       Ticket.closed_at < cutoff, ~_held_ticket(),
                                       ~sa.exists().where(PurgedTicket.ticket_id == Ticket.id)))


def _expired_attachments(cutoff: datetime, ticket_cutoff: datetime | None) -> sa.Select:
    stmt = (sa.select(Attachment.id).join(Ticket, Ticket.id == Attachment.ticket_id)
            .where(Ticket.status == Status.CLOSED, Attachment.created_at < cutoff, ~_held_ticket()))
    if ticket_cutoff is not None:  # those go with their ticket, counted there
        stmt = stmt.where(Ticket.id.not_in(_expired_tickets(ticket_cutoff)))
    return stmt


def _expired_mail(cutoff: datetime, ticket_cutoff: datetime | None) -> sa.Select:
    stmt = (sa.select(InboundMail.id).outerjoin(Ticket, Ticket.id == InboundMail.ticket_id)
            .where(InboundMail.received_at < cutoff, sa.or_(Ticket.id.is_(None), ~_held_ticket())))
    if ticket_cutoff is not None:
        stmt = stmt.where(sa.or_(InboundMail.ticket_id.is_(None),
                                 InboundMail.ticket_id.not_in(_expired_tickets(ticket_cutoff))))
    return stmt


def _selections(now: datetime) -> dict[str, sa.Select]:
    """Per kind with a period: the ids a run purges now, in the order a run takes them."""
    periods = policies()
    ticket_cutoff = _cutoff(periods["closed_tickets"], now)
    out: dict[str, sa.Select] = {}
    if ticket_cutoff is not None:
        out["closed_tickets"] = _expired_tickets(ticket_cutoff)
    if (c := _cutoff(periods["attachments"], now)) is not None:
        out["attachments"] = _expired_attachments(c, ticket_cutoff)
    if (c := _cutoff(periods["raw_mail"], now)) is not None:
        out["raw_mail"] = _expired_mail(c, ticket_cutoff)
    return out


def _count(stmt: sa.Select) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0


# ---------------------------------------------------------------- purging


def _forget_blobs(keys: set[str]) -> int:
    """Delete the stored bytes of ``keys`` that no attachment or inbound mail refers to."""
    if not keys:
        return 0
    backend = storage.current()
    removed = 0
    with unit_of_work():
        still = set(db.session.scalars(sa.select(Attachment.sha256).where(Attachment.sha256.in_(keys)))) | set(
            db.session.scalars(sa.select(InboundMail.raw_sha256).where(InboundMail.raw_sha256.in_(keys))))
        for key in sorted(keys - still):
            backend.delete(key)
            removed += 1
    return removed


def _audit_purged(object_type: str, object_id: int, *, kind: str, run_id: int, **ids: Any) -> None:
    audit.record("retention.purged", object_type, object_id, actor_id=None, severity="warning",
                 changes={"kind": kind, "run": run_id, **ids})


def _delete_attachments(ids: list[int]) -> set[str]:
    keys = set(db.session.scalars(sa.select(Attachment.sha256).where(Attachment.id.in_(ids))))
    db.session.execute(sa.delete(Attachment).where(Attachment.id.in_(ids)).execution_options(
        synchronize_session=False))
    return keys


def _delete_mails(ids: list[int]) -> set[str]:
    keys = set(db.session.scalars(sa.select(InboundMail.raw_sha256).where(InboundMail.id.in_(ids))))
    db.session.execute(sa.delete(InboundMail).where(InboundMail.id.in_(ids)).execution_options(
        synchronize_session=False))
    return keys


def _purge_ticket(ticket_id: int, run_id: int) -> set[str]:
    """De-identify one closed ticket (see the module docstring); returns the blob keys freed."""
    ticket = db.session.get(Ticket, ticket_id)
    message_ids = list(db.session.scalars(sa.select(Message.id).where(Message.ticket_id == ticket_id)))
    attachment_ids = list(db.session.scalars(sa.select(Attachment.id).where(Attachment.ticket_id == ticket_id)))
    mail_ids = list(db.session.scalars(sa.select(InboundMail.id).where(sa.or_(
        InboundMail.ticket_id == ticket_id,
        InboundMail.message_row_id.in_(message_ids) if message_ids else sa.false()))))
    keys = _delete_attachments(attachment_ids) if attachment_ids else set()
    if mail_ids:
        keys |= _delete_mails(mail_ids)
    if message_ids:
        db.session.execute(sa.delete(MessageVersion).where(MessageVersion.message_id.in_(message_ids))
                           .execution_options(synchronize_session=False))
        db.session.execute(sa.delete(Message).where(Message.id.in_(message_ids))
                           .execution_options(synchronize_session=False))
    db.session.execute(sa.update(CsatSurvey).where(CsatSurvey.ticket_id == ticket_id).values(comment=None)
                       .execution_options(synchronize_session=False))
    db.session.execute(sa.update(AccessRequest).where(AccessRequest.ticket_id == ticket_id)
                       .values(contact_email=None, contact_phone=None).execution_options(synchronize_session=False))
    ticket.subject = REMOVED_SUBJECT
    db.session.add(PurgedTicket(ticket_id=ticket_id, purged_at=utcnow(), run_id=run_id))
    db.session.flush()
    db.session.expire(ticket, ["messages"])
    search.reindex([ticket_id])
    _audit_purged("ticket", ticket_id, kind="closed_tickets", run_id=run_id, messages=len(message_ids),
                  attachments=attachment_ids, inbound_mails=mail_ids)
    return keys


def _purge_batch(kind: str, ids: list[int], run_id: int) -> set[str]:
    with unit_of_work():
        if kind == "closed_tickets":
            keys: set[str] = set()
            for ticket_id in ids:
                keys |= _purge_ticket(ticket_id, run_id)
            return keys
        if kind == "attachments":
            keys = _delete_attachments(ids)
            for i in ids:
                _audit_purged("attachment", i, kind=kind, run_id=run_id)
            return keys
        keys = _delete_mails(ids)
        for i in ids:
            _audit_purged("inbound_mail", i, kind=kind, run_id=run_id)
        return keys


@dataclass
class RunResult:
    run_id: int
    dry_run: bool
    counts: dict[str, int | None]  # None: no period set for that kind
    blobs_deleted: int = 0


def run(*, dry_run: bool, actor_id: int | None = None, via: str = "schedule", now: datetime | None = None,
        progress: Progress | None = None, batch_size: int = BATCH) -> RunResult:
    """Count (``dry_run``) or purge what has expired; recorded in ``retention_runs`` and audited."""
    now = now or utcnow()
    with unit_of_work():
        row = RetentionRun(dry_run=dry_run, started_at=utcnow(), actor_id=actor_id, via=via)
        db.session.add(row)
        db.session.flush()
        run_id = row.id
        audit.record("retention.run_started", "retention", run_id, actor_id=actor_id,
                     changes={"dry_run": dry_run, "via": via})
    selections = _selections(now)
    counts: dict[str, int | None] = {kind: None for kind in KINDS}
    blobs = 0
    for kind in KINDS:  # closed tickets first: what goes with them is not counted twice
        stmt = selections.get(kind)
        if stmt is None:
            continue
        total = _count(stmt)
        if progress:
            progress(kind, 0, total)
        if dry_run:
            counts[kind] = total
            if progress:
                progress(kind, total, total)
            continue
        done = 0
        seen: set[int] = set()
        # a fresh query each batch: what was purged no longer matches
        while True:
            again = _selections(now)[kind]
            ids = [i for i in db.session.scalars(again.order_by(again.selected_columns[0]).limit(batch_size))
                   if i not in seen]
            if not ids:
                break
            seen.update(ids)
            blobs += _forget_blobs(_purge_batch(kind, ids, run_id))
            done += len(ids)
            if progress:
                progress(kind, done, max(total, done))
        counts[kind] = done
    with unit_of_work():
        row = db.session.get(RetentionRun, run_id)
        row.finished_at = utcnow()
        row.counts = {**counts, "blobs_deleted": blobs}
        audit.record("retention.run_finished", "retention", run_id, actor_id=actor_id,
                     changes={"dry_run": dry_run, "counts": counts, "blobs_deleted": blobs})
    return RunResult(run_id, dry_run, counts, blobs)


def last_runs() -> dict[str, RetentionRun | None]:
    """The last finished dry run and real run."""
    def last(dry: bool) -> RetentionRun | None:
        return db.session.scalar(sa.select(RetentionRun).where(RetentionRun.dry_run.is_(dry),
                                                               RetentionRun.finished_at.is_not(None))
                                 .order_by(RetentionRun.id.desc()).limit(1))
    return {"dry_run": last(True), "real": last(False)}


def nightly_job() -> None:
    """The scheduled run (a real one; does nothing until an admin sets a period)."""
    if any(days is not None for days in policies().values()):
        run(dry_run=False, via="schedule")


@transactional
def request_run(*, actor_id: int) -> None:
    """A real run now, as a background job (``run_job``); audited when asked for."""
    audit.record("retention.run_requested", "retention", None, actor_id=actor_id)
    jobs.enqueue("helpdesk.retention.services.run_job", actor_id)


def run_job(actor_id: int) -> None:
    """A real run an admin started from the retention page (the job takes the admin's id)."""
    run(dry_run=False, actor_id=actor_id, via="admin")
