"""The one update path for tickets (CONVENTIONS rule 5).

Pages, the API, the CLI, e-mail and jobs all change tickets through these functions.
Each public function is one unit of work: it checks the rules, writes audit rows and
commits once (``helpdesk.db.unit_of_work``: the outermost unit commits, then dispatches
jobs). They nest: a macro, a merge or an e-mail calls them inside its own unit, which
commits them all at once. Nothing is half-written on error.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from helpdesk import audit, cache, inserts, jobs
from helpdesk.auth import portal
from helpdesk.auth.models import Role, User
from helpdesk.auth.services import find_or_create_patient
from helpdesk.clinical.queries import CLINICAL_QUEUE as EMERGENCY_QUEUE
from helpdesk.clinical.services import raise_alert
from helpdesk.db import in_unit_of_work, new_rows_unit, transactional, unit_of_work
from helpdesk.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from helpdesk.extensions import db
from helpdesk.i18n import N_
from helpdesk.notify import attachments as files
from helpdesk.notify import hooks as notify_hooks
from helpdesk.permissions import (
    can_be_assigned,
    can_correct_message,
    can_view_ticket,
    can_work_ticket,
    can_write_as,
    can_write_internal_note,
    is_patient,
)
from helpdesk.routing.emergency import detect_emergency
from helpdesk.routing.models import RoutingDecision
from helpdesk.routing.services import add_label
from helpdesk.sla import rollup
from helpdesk.sla import services as sla
from helpdesk.tickets import search
from helpdesk.tickets.merge_links import survivor_of
from helpdesk.tickets.models import (
    TRANSITIONS,
    Assignment,
    Channel,
    Message,
    MessageVersion,
    Priority,
    Queue,
    QueueMembership,
    RequestRead,
    Status,
    Ticket,
    new_reference,
)
from helpdesk.timeutil import utcnow
from helpdesk.webhooks import events as webhooks

TRIAGE_QUEUE = "triage"
AFTER_CREATE = "helpdesk.tickets.tasks.after_create"  # a new request's one follow-up job
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
UNSET: Any = object()


# ---------------------------------------------------------------- validation helpers


def clean_text(value: Any, field: str, *, max_len: int, multiline: bool = True) -> str:
    """Normalise user text; refuse empty, whitespace-only, over-long or non-text values."""
    if not isinstance(value, str):
        raise ValidationFailed(f"{field.capitalize()} must be text.", fields={field: ["Must be text."]})
    text = unicodedata.normalize("NFC", value)
    text = _CONTROL.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    if not multiline:
        text = " ".join(text.split())
    text = text.strip()
    if not text:
        raise ValidationFailed(f"{field.capitalize()} can't be empty.", fields={field: ["Can't be empty."]})
    if len(text) > max_len:
        msg = f"Must be at most {max_len:,} characters."
        raise ValidationFailed(f"{field.capitalize()} is too long. {msg}", fields={field: [msg]})
    return text


def _limits() -> tuple[int, int]:
    s = current_app.config["HELPDESK"]
    return s.max_subject_chars, s.max_body_chars


def _queues_by_slug() -> dict[str, dict[str, Any]]:
    return {q.slug: cache.row_values(q) for q in db.session.scalars(sa.select(Queue))}


def _known_queue(*, slug: str | None = None, queue_id: int | None = None) -> Queue | None:
    """A queue by slug or id, read once per ``LOOKUP_CACHE_SECONDS`` (see
    ``helpdesk.cache``) and put into this session without a statement (None: no such queue)."""
    ttl = current_app.config["HELPDESK"].lookup_cache_seconds
    queues = cache.cached("queues:by-slug", _queues_by_slug, ttl)
    by_id = (v for v in queues.values() if v["id"] == queue_id)
    values = queues.get(slug) if slug is not None else next(by_id, None)
    return cache.in_session(Queue, values) if values is not None else None


def _queue_by_slug(slug: str) -> Queue:
    """The queue a new request starts in."""
    queue = _known_queue(slug=slug)
    if queue is None:
        raise Conflict(f"The '{slug}' queue does not exist; run the seed or create it.")
    return queue


def _snapshot(t: Ticket) -> dict[str, Any]:
    return {
        "status": t.status.value,
        "priority": t.priority.value,
        "queue": t.queue.slug if t.queue else None,
        # from the relationship: the foreign key column is only set at flush
        "assignee_id": t.assignee.id if t.assignee is not None else None,
    }


# ---------------------------------------------------------------- create


@dataclass(frozen=True)
class NewTicket:
    ticket: Ticket
    message: Message


def create_ticket(
    *,
    requester: User,
    subject: Any,
    body: Any,
    channel: Channel,
    created_by: User,
    priority: Priority | str | None = None,
    follow_up_of: Ticket | None = None,
    attachments: list[files.Upload] | None = None,
) -> Ticket:
    """A patient's new request: the ticket and its first message, then routing."""

    def create(check_reference: bool) -> Ticket:
        with new_rows_unit():
            return _new_ticket(
                requester=requester,
                subject=subject,
                body=body,
                channel=channel,
                created_by=created_by,
                priority=priority,
                follow_up_of=follow_up_of,
                attachments=attachments,
                check_reference=check_reference,
            ).ticket

    return _with_free_reference(create)


def _with_free_reference(create: Callable[[bool], Ticket]) -> Ticket:
    """Run ``create`` — one whole unit of work making one new request — so that the
    request gets a reference no other has, at the cost of no statement in the common case
    (and so that two first requests of one new patient at once both succeed).

    References are random (30^6 of them), so one can be taken already (about 1 in 700 at
    a million requests). Inside another unit of work the reference is looked up before
    the insert. Otherwise it is not: if it is taken, the insert fails on the unique
    constraint, the unit rolls back, and ``create`` runs again with a reference looked up
    first; nothing of the first try is kept."""
    if in_unit_of_work():
        return create(True)
    try:
        return create(False)
    except IntegrityError as exc:
        if not (_reference_taken(exc) or _patient_made_meanwhile(exc)):
            raise
    return create(True)


def _constraint(exc: IntegrityError) -> str | None:
    return getattr(getattr(exc.orig, "diag", None), "constraint_name", None)  # PostgreSQL


def _reference_taken(exc: IntegrityError) -> bool:
    return _constraint(exc) == "uq_tickets_reference" or "tickets.reference" in str(exc.orig)  # SQLite


def _patient_made_meanwhile(exc: IntegrityError) -> bool:
    """Two first requests of the same new patient at once: both looked the address up and
    found nobody, and the second to commit collides with the first's new account. Run
    again, it finds that account (committed: the collision is only raised once it is)."""
    return _constraint(exc) == "uq_users_email" or "users.email" in str(exc.orig)  # SQLite


def _new_ticket(
    *,
    requester: User,
    subject: Any,
    body: Any,
    channel: Channel,
    created_by: User,
    priority: Priority | str | None,
    follow_up_of: Ticket | None,
    attachments: list[files.Upload] | None = None,
    start_queue: str = TRIAGE_QUEUE,
    identity_unverified: bool = False,
    check_reference: bool = True,
) -> NewTicket:
    max_subject, max_body = _limits()
    subject_text = clean_text(subject, "subject", max_len=max_subject, multiline=False)
    body_text = clean_text(body, "body", max_len=max_body)
    checked_files = files.check(attachments or [])
    if not is_patient(requester):
        raise ValidationFailed("Requests are made for patients.", fields={"requester": ["Must be a patient."]})
    if created_by.id == requester.id and not requester.email_verified and not identity_unverified:
        raise Forbidden(N_("Confirm your e-mail address before you send a request."))
    try:
        prio = Priority(priority) if priority is not None else Priority.NORMAL
    except ValueError:
        raise ValidationFailed(
            "Unknown priority.", fields={"priority": [f"One of: {', '.join(p.value for p in Priority)}."]}
        ) from None
    now = utcnow()
    # The emergency guard runs before anything else and regardless of the model:
    # the patient must see the 911 message at once, and clinicians must see the ticket.
    emergency = detect_emergency(f"{subject_text}\n{body_text}")
    if emergency:
        start_queue = EMERGENCY_QUEUE
    if emergency:
        prio = Priority.URGENT
    ticket = Ticket(
        reference=_unused_reference() if check_reference else new_reference(),
        subject=subject_text,
        requester=requester,
        created_by=created_by,
        queue=_queue_by_slug(start_queue),
        emergency=emergency.category if emergency else None,
        identity_unverified=identity_unverified,
        status=Status.NEW,
        priority=prio,
        channel=channel,
        follow_up_of=follow_up_of,
        created_at=now,
        updated_at=now,
    )
    message = Message(ticket=ticket, author=requester, body=body_text, public=True, channel=channel, created_at=now)
    db.session.add_all([ticket, message])
    set_committed_value(message, "versions", [])  # a new message has no corrections: no query to say so
    inserts.assign_ids(ticket, message)  # a flush, or (new_rows_unit) the next ids of their sequences
    search.index_new(ticket, message)
    files.attach(message, checked_files, uploader_id=requester.id)
    sla.on_ticket_created(ticket, now)
    audit.record(
        "ticket.created",
        "ticket",
        ticket.reference,
        actor_id=created_by.id,
        changes={
            "status": {"before": None, "after": ticket.status.value},
            "priority": {"before": None, "after": prio.value},
            "queue": {"before": None, "after": start_queue},
            "emergency": {"before": None, "after": ticket.emergency},
            **({"identity_unverified": {"before": None, "after": True}} if identity_unverified else {}),
            "channel": {"before": None, "after": channel.value},
            "follow_up_of": {"before": None, "after": follow_up_of.reference if follow_up_of else None},
        },
    )
    webhooks.ticket_created(ticket, message)
    # (the router moves a ticket only out of triage: one sent straight to its queue stays)
    if emergency:
        # in this transaction: assigned to the on-duty clinician and an alert raised
        # (or, with nobody on duty, supervisors and admins alerted)
        raise_alert(ticket, now)
        webhooks.ticket_changed(ticket, {"status": ticket.status.value, "assignee_id": None}, at=now)
    rollup.ticket_created(ticket)  # a back-dated ticket changes a finished day of the dashboard
    # one job for all the follow-up work: routing, then the "request received" notice
    jobs.enqueue(AFTER_CREATE, ticket.id, notify_hooks.new_key())
    return NewTicket(ticket, message)


@transactional
def add_unverified_request(*, requester: User, subject: Any, body: Any, queue_slug: str) -> Ticket:
    """The ticket of a "Can't sign in?" request (``helpdesk.auth.lockedout``), inside the
    caller's unit of work (it joins it): the same create path as every request, so the
    emergency guard applies (an emergency goes to the clinical queue, not ``queue_slug``)."""
    return _new_ticket(requester=requester, subject=subject, body=body, channel=Channel.WEB, created_by=requester,
                       priority=None, follow_up_of=None, start_queue=queue_slug, identity_unverified=True).ticket


@transactional
def link_verified_requester(ticket: Ticket, *, patient: User, agent: User, check_id: int) -> None:
    """An agent's identity check passed on an unverified request: the account it named
    becomes the requester (joins the identity check's unit of work). Audited with
    the requester before and after, and the check that allowed it."""
    if not ticket.identity_unverified:
        raise Conflict("This request's requester is already verified.")
    if not can_work_ticket(agent, ticket):
        raise NotFound("No request with that reference.")
    before = ticket.requester_id
    ticket.requester = patient
    ticket.identity_unverified = False
    ticket.updated_at = utcnow()
    db.session.flush()
    audit.record("ticket.requester_verified", "ticket", ticket.reference, actor_id=agent.id,
                 changes={"requester_id": {"before": before, "after": patient.id},
                          "identity_unverified": {"before": True, "after": False},
                          "identity_check_id": check_id})


def _unused_reference() -> str:
    for _ in range(10):
        ref = new_reference()
        if db.session.scalar(sa.select(Ticket.id).where(Ticket.reference == ref)) is None:
            return ref
    raise Conflict("Could not allocate a reference; please try again.")


# ---------------------------------------------------------------- messages


@dataclass(frozen=True)
class Posted:
    """The message posted and the ticket it landed on (a new one if the old was closed)."""

    ticket: Ticket
    message: Message
    new_ticket: bool = False


@transactional
def post_message(
    ticket: Ticket,
    *,
    author: User,
    body: Any,
    public: bool = True,
    channel: Channel = Channel.WEB,
    next_status: Status | str | None = None,
    actor: User | None = None,
    attachments: list[files.Upload] | None = None,
) -> Posted:
    """Add to the thread. Patients reply; staff reply publicly or add internal notes.

    A patient reply reopens a ticket that waits for them or was resolved; a message
    to a closed ticket starts a new request linked to the old one.
    """
    actor = actor or author
    if not can_view_ticket(actor, ticket):
        raise NotFound("No request with that reference.")
    ticket = survivor_of(ticket)  # a reply to a merged request lands in the one it was merged into
    if not can_write_as(actor, author, ticket):
        raise Forbidden("Only the portal may write on a patient's behalf.")
    _, max_body = _limits()
    text = clean_text(body, "body", max_len=max_body)
    checked_files = files.check(attachments or [])
    now = utcnow()

    if not can_write_internal_note(author):
        if not public or next_status is not None:
            raise Forbidden("Patients can only send replies.")
        if ticket.status == Status.CLOSED:
            created = _new_ticket(
                requester=ticket.requester,
                subject=ticket.subject,
                body=text,
                channel=channel,
                created_by=actor,
                priority=ticket.priority,
                follow_up_of=ticket,
                attachments=attachments,
            )
            return Posted(created.ticket, created.message, new_ticket=True)
        message = Message(ticket=ticket, author=author, body=text, public=True, channel=channel, created_at=now)
        db.session.add(message)
        before = _snapshot(ticket)
        if ticket.status in (Status.PENDING_PATIENT, Status.RESOLVED):
            _set_status(ticket, Status.OPEN, now)
        sla.on_patient_message(ticket, now)
        ticket.updated_at = now
        db.session.flush()
        search.reindex([ticket.id])
        files.attach(message, checked_files, uploader_id=author.id)
        audit.record(
            "ticket.patient_replied",
            "ticket",
            ticket.reference,
            actor_id=actor.id,
            changes={"message_id": message.id, **audit.diff(before, _snapshot(ticket))},
        )
        _after_change(ticket, before, actor_id=actor.id, message=message)
        return Posted(ticket, message)

    if not can_work_ticket(author, ticket):
        raise NotFound("No request with that reference.")
    if ticket.status == Status.CLOSED:
        raise InvalidTransition("This request is closed; it can't be answered.")
    message = Message(ticket=ticket, author=author, body=text, public=public, channel=channel, created_at=now)
    db.session.add(message)
    before = _snapshot(ticket)
    if public:
        if ticket.first_response_at is None:
            ticket.first_response_at = now
        sla.on_agent_reply(ticket, now)
        target = Status(next_status) if next_status else (Status.OPEN if ticket.status == Status.NEW else None)
    else:
        target = Status(next_status) if next_status else None
    if target is not None and target != ticket.status:
        _transition(ticket, target, now)
    if ticket.assignee_id is None and public and can_be_assigned(author, ticket):
        ticket.assignee = author
    ticket.updated_at = now
    db.session.flush()
    search.reindex([ticket.id])
    files.attach(message, checked_files, uploader_id=author.id)
    audit.record(
        "ticket.replied" if public else "ticket.noted",
        "ticket",
        ticket.reference,
        actor_id=author.id,
        changes={"message_id": message.id, **audit.diff(before, _snapshot(ticket))},
    )
    _moved_on_dashboard(ticket, before)
    _after_change(ticket, before, actor_id=author.id, message=message)
    return Posted(ticket, message)


def correct_message(ticket: Ticket, message_id: int, *, editor: User, body: Any) -> Message:
    """An agent corrects their own reply or note. The original text stays; the
    correction is a new version, audited as ``message.corrected`` (without the text)."""
    with unit_of_work():
        return _correct(ticket, message_id, editor=editor, body=body)


def _correct(ticket: Ticket, message_id: int, *, editor: User, body: Any) -> Message:
    if not can_correct_message(editor):
        raise Forbidden("Only staff can correct messages.")
    if not can_work_ticket(editor, ticket):
        raise NotFound("No request with that reference.")
    message = db.session.get(Message, message_id)
    if message is None or message.ticket_id != ticket.id:
        raise NotFound("No such message on this request.")
    if message.author_id != editor.id:
        raise Forbidden("You can only correct your own replies and notes.")
    _, max_body = _limits()
    text = clean_text(body, "body", max_len=max_body)
    if text == message.current_body:
        raise ValidationFailed("The corrected text is the same as the current one.",
                               fields={"body": ["Nothing changed."]})
    version = MessageVersion(message=message, version=message.version_count + 1, body=text, editor=editor,
                             created_at=utcnow())
    db.session.add(version)
    db.session.flush()
    search.reindex([ticket.id])
    audit.record("message.corrected", "ticket", ticket.reference, actor_id=editor.id,
                 changes={"message_id": message.id, "version": version.version, "public": message.public})
    return message


# ---------------------------------------------------------------- field changes


@transactional
def update_ticket(
    ticket: Ticket,
    *,
    actor: User,
    status: Status | str | None = None,
    priority: Priority | str | None = None,
    queue_id: int | None = None,
    reason: Any = None,
    assignee_id: int | None = UNSET,
    source: str = "agent",
) -> Ticket:
    """Change status, priority, queue (with a reason) or assignee, and audit it."""
    if not can_view_ticket(actor, ticket):
        raise NotFound("No request with that reference.")
    now = utcnow()
    before = _snapshot(ticket)
    details: dict[str, Any] = {}

    if not can_work_ticket(actor, ticket):  # can_view_ticket holds: so this is "not staff"
        # A patient (or the portal on their behalf) may only close their request.
        if priority is not None or queue_id is not None or assignee_id is not UNSET:
            raise Forbidden("Only staff can change this.")
        if status is None:
            raise ValidationFailed("Nothing to change.")
        if _parse(Status, status, "status") != Status.CLOSED:
            raise Forbidden("You can only close your request.")
        if ticket.status == Status.CLOSED:
            raise InvalidTransition("This request is already closed.")
        _transition(ticket, Status.CLOSED, now)
    else:
        if not can_work_ticket(actor, ticket):
            raise NotFound("No request with that reference.")
        if queue_id is not None and queue_id != ticket.queue_id:
            target = db.session.get(Queue, queue_id)
            if target is None or not target.active:
                raise ValidationFailed("Unknown queue.", fields={"queue": ["Choose an active queue."]})
            why = clean_text(reason, "reason", max_len=500, multiline=False) if reason is not None else ""
            if not why:
                raise ValidationFailed(
                    "Say why the request moves to another queue.", fields={"reason": ["A reason is required."]}
                )
            details["move"] = {"from": ticket.queue.slug, "to": target.slug, "reason": why, "source": source}
            add_label(ticket, from_queue=ticket.queue.slug, to_queue=target.slug, actor_id=actor.id)
            ticket.queue = target
            db.session.flush()
            if ticket.assignee is not None and not _member_of(ticket.assignee, target.id):
                ticket.assignee = None
        if priority is not None:
            ticket.priority = _parse(Priority, priority, "priority")
        if assignee_id is not UNSET:
            if assignee_id is None:
                ticket.assignee = None
            else:
                assignee = db.session.get(User, assignee_id)
                if assignee is None or not can_be_assigned(assignee, ticket):
                    raise ValidationFailed(
                        "That person can't be assigned to this queue.",
                        fields={"assignee": ["Must be an active member of the ticket's queue."]},
                    )
                ticket.assignee = assignee
        if status is not None:
            target_status = _parse(Status, status, "status")
            if target_status != ticket.status:
                _transition(ticket, target_status, now)

    sla.on_ticket_changed(ticket, now)
    changes = audit.diff(before, _snapshot(ticket))
    if not changes:
        raise ValidationFailed("Nothing changed.")
    ticket.updated_at = now
    changes.update(details)
    action = "ticket.moved" if "move" in details else "ticket.updated"
    audit.record(action, "ticket", ticket.reference, actor_id=actor.id, changes=changes)
    _moved_on_dashboard(ticket, before)
    _after_change(ticket, before, actor_id=actor.id)
    return ticket


def _after_change(ticket: Ticket, before: dict[str, Any], *, actor_id: int | None = None,
                  message: Message | None = None) -> None:
    """What every change of a ticket owes, derived from the service's snapshot in its
    transaction: the notifications' jobs and the webhooks' deliveries."""
    notify_hooks.after_change(ticket, before, actor_id=actor_id, message=message)
    webhooks.ticket_changed(ticket, before, actor_id=actor_id, message=message, at=ticket.updated_at)


def _moved_on_dashboard(ticket: Ticket, before: dict[str, Any]) -> None:
    """A new queue or assignee moves the ticket's counts on the dashboard's finished days."""
    after = _snapshot(ticket)
    if (before["queue"], before["assignee_id"]) != (after["queue"], after["assignee_id"]):
        rollup.ticket_moved(ticket)


def _member_of(user: User, queue_id: int) -> bool:
    return (
        db.session.scalar(
            sa.select(QueueMembership.id).where(
                QueueMembership.user_id == user.id, QueueMembership.queue_id == queue_id
            )
        )
        is not None
    )


def _parse(enum_cls: Any, value: Any, field: str) -> Any:
    try:
        return enum_cls(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum_cls)
        raise ValidationFailed(f"Unknown {field}.", fields={field: [f"One of: {allowed}."]}) from None


def _transition(ticket: Ticket, target: Status, now) -> None:
    if target not in TRANSITIONS[ticket.status]:
        raise InvalidTransition(
            f"A request can't go from '{ticket.status.label}' to '{target.label}'.",
            fields={"status": [f"Allowed next: {', '.join(s.value for s in sorted(TRANSITIONS[ticket.status])) or 'none'}."]},
        )
    _set_status(ticket, target, now)


def _set_status(ticket: Ticket, target: Status, now) -> None:
    sla.on_status_change(ticket, target, now)
    if target == Status.RESOLVED:
        ticket.resolved_at = now
    elif target == Status.CLOSED:
        ticket.closed_at = now
        if ticket.resolved_at is None:
            ticket.resolved_at = now
    elif ticket.status == Status.RESOLVED:
        ticket.resolved_at = None  # reopened
    ticket.status = target


# ---------------------------------------------------------------- reads that are audited


@transactional
def record_staff_view(user: User, ticket: Ticket) -> None:
    """A staff member opened a ticket: an audit event of its own (reads are audited)."""
    if not user.is_staff:
        return
    audit.record("ticket.viewed", "ticket", ticket.reference, actor_id=user.id)


def create_ticket_for_requester(
    *,
    requester_email: Any,
    requester_name: Any,
    subject: Any,
    body: Any,
    channel: Channel,
    created_by: User,
    priority: Priority | str | None = None,
    attachments: list[files.Upload] | None = None,
) -> Ticket:
    """The portal (or e-mail) submits for a patient named by address; the patient's
    account is created when new. One transaction: nothing is kept if any part fails."""

    def create(check_reference: bool) -> Ticket:
        with new_rows_unit():
            requester = find_or_create_patient(email=requester_email, name=requester_name, actor=created_by)
            return _new_ticket(
                requester=requester, subject=subject, body=body, channel=channel, created_by=created_by,
                priority=priority, follow_up_of=None, attachments=attachments, check_reference=check_reference,
            ).ticket

    return _with_free_reference(create)


def create_ticket_for_patient(
    *,
    patient: dict[str, Any],
    subject: Any,
    body: Any,
    channel: Channel,
    created_by: User,
    priority: Priority | str | None = None,
    attachments: list[files.Upload] | None = None,
) -> Ticket:
    """The portal submits for a patient named by an external identifier (``patient``:
    system, value, and name and email for a patient not known yet; see
    ``helpdesk.auth.portal.resolve_patient``). The request records the identifier.
    One transaction: nothing is kept if any part fails."""

    def create(check_reference: bool) -> Ticket:
        with new_rows_unit():
            requester, identifier = portal.resolve_patient(
                system=patient.get("system"), value=patient.get("value"), name=patient.get("name"),
                email=patient.get("email"), actor=created_by)
            ticket = _new_ticket(
                requester=requester, subject=subject, body=body, channel=channel, created_by=created_by,
                priority=priority, follow_up_of=None, attachments=attachments, check_reference=check_reference,
            ).ticket
            ticket.patient_identifier_id = identifier.id
            return ticket

    return _with_free_reference(create)


# ---------------------------------------------------------------- routing (system changes)


def apply_routing(ticket: Ticket, decision: dict[str, Any]) -> Ticket:
    """Record the router's decision and, when it is sure, move the ticket out of
    triage and assign it within the queue. Idempotent: a ticket is routed once."""
    with unit_of_work():
        routed = cache.take("routed", ticket.id)  # read already for a batch of tickets
        if routed is cache.MISSING:
            routed = db.session.scalar(sa.select(RoutingDecision.id).where(RoutingDecision.ticket_id == ticket.id))
        if routed:
            return ticket
        note = decision.get("note")
        target: Queue | None = None
        current = _known_queue(queue_id=ticket.queue_id)
        if current is not None and "queue" in sa.inspect(ticket).unloaded:
            set_committed_value(ticket, "queue", current)  # the ticket's queue without a statement
        if ticket.emergency:
            note = "emergency"
        elif decision.get("auto_routed") and ticket.queue.slug == TRIAGE_QUEUE:
            target = _known_queue(slug=decision["queue"])
            if target is None or not target.active:
                target, note = None, "unknown_queue"
        db.session.add(RoutingDecision(
            ticket_id=ticket.id, predicted_queue=(decision["top3"][0][0] if decision.get("top3") else None),
            confidence=decision.get("confidence", 0.0), top3=decision.get("top3", []),
            model_version=decision.get("model_version"), auto_routed=target is not None, note=note,
        ))
        before = _snapshot(ticket)
        if target is not None:
            ticket.queue = target
            ticket.queue_id = target.id  # what the SLA clocks compare with, before any flush
        if ticket.assignee_id is None and not ticket.emergency:  # emergencies: the on-call roster decides
            agent = _pick_assignee(ticket.queue)
            if agent is not None:
                ticket.assignee = agent
                ticket.queue.last_assigned_id = agent.id
        changes = audit.diff(before, _snapshot(ticket))
        changes["routing"] = {"auto_routed": target is not None, "confidence": round(decision.get("confidence", 0.0), 4),
                              "model_version": decision.get("model_version"), "note": note}
        ticket.updated_at = utcnow()
        sla.on_ticket_changed(ticket, ticket.updated_at)
        audit.record("ticket.routed", "ticket", ticket.reference, actor_id=None, changes=changes)
        _moved_on_dashboard(ticket, before)
        _after_change(ticket, before)
    return ticket


def _pick_assignee(queue: Queue) -> User | None:
    if queue.assignment == Assignment.MANUAL:
        return None
    candidates = (
        sa.select(User)
        .join(QueueMembership, QueueMembership.user_id == User.id)
        .where(QueueMembership.queue_id == queue.id, User.active.is_(True), User.available.is_(True),
               User.role.in_([Role.AGENT, Role.SUPERVISOR]))
    )
    if queue.assignment == Assignment.ROUND_ROBIN:
        db.session.refresh(queue, ["last_assigned_id"])  # the cursor as stored now (the queue may be cached)
        after = queue.last_assigned_id or 0
        nxt = db.session.scalar(candidates.where(User.id > after).order_by(User.id).limit(1))
        return nxt or db.session.scalar(candidates.order_by(User.id).limit(1))
    load = (
        sa.select(sa.func.count(Ticket.id))
        .where(Ticket.assignee_id == User.id, Ticket.status.in_([Status.NEW, Status.OPEN, Status.PENDING_PATIENT]))
        .correlate(User)
        .scalar_subquery()
    )
    return db.session.scalar(candidates.order_by(load.asc(), User.id).limit(1))


# ---------------------------------------------------------------- the patient's read marker


def mark_request_read(user: User, ticket: Ticket) -> int:
    """The patient has opened ``ticket``: every public message on it so far is read
    (a later public staff reply is unread again). Returns what was seen before, the
    newest public message id (0 for none), so the page can mark the replies that were
    new. Writes only when something new was read; two views at once keep one row."""
    if not can_view_ticket(user, ticket) or not is_patient(user):
        raise NotFound("No request with that reference.")
    with unit_of_work():
        newest = db.session.scalar(sa.select(sa.func.max(Message.id)).where(
            Message.ticket_id == ticket.id, Message.public.is_(True))) or 0
        seen = db.session.scalar(sa.select(RequestRead.last_seen_message_id).where(
            RequestRead.ticket_id == ticket.id, RequestRead.user_id == user.id))
        if seen is None or seen < newest:
            dialect = db.session.get_bind().dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            stmt = insert(RequestRead).values(ticket_id=ticket.id, user_id=user.id, last_seen_message_id=newest,
                                              seen_at=utcnow())
            db.session.execute(stmt.on_conflict_do_update(
                index_elements=["ticket_id", "user_id"],
                set_={"last_seen_message_id": stmt.excluded.last_seen_message_id, "seen_at": stmt.excluded.seen_at},
            ))
    return seen or 0
