"""Clinical alerts: the roster of the clinical-escalation queue, alerts raised on flagged
requests, their escalation and acknowledgement, and what the patient is told.

* ``raise_alert`` runs inside the ticket service's transaction (no commit of its own):
  the flagged request is assigned to the on-duty clinician with the fewest open
  emergencies and an alert is raised for them; with nobody on duty, every active
  supervisor and admin is alerted and the request stays unassigned.
* Each person alerted gets a recipient row (when, why, how): the banner on every staff
  page, a PHI-free e-mail (reference and a generic sentence) and, when PAGER_WEBHOOK_URL
  is set, a signed pager POST (``helpdesk.clinical.pager``), both sent by jobs.
* ``escalate`` (a job scheduled at the due time, and the periodic ``sweep``): an alert
  not acknowledged within EMERGENCY_ACK_MINUTES re-alerts the next on-duty clinician and
  every active supervisor, and is due again one window later, until acknowledged. It
  checks the time itself (running early does nothing) and claims the round with a
  conditional UPDATE, so two sweeps at once escalate once.
* ``patient_notice`` tells the patient what the stored rows say happened, nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app, url_for
from flask_babel import gettext as _

from helpdesk import audit, jobs
from helpdesk.auth.models import Role, User
from helpdesk.clinical import roster as pure
from helpdesk.clinical.models import (
    AlertLevel,
    AlertRecipient,
    ClinicalAlert,
    DutyMode,
    OnCallMember,
    OnCallShift,
    RecipientReason,
)
from helpdesk.clinical.queries import CLINICAL_QUEUE, clinical_queue, is_recipient  # noqa: F401  (re-exported)
from helpdesk.db import unit_of_work
from helpdesk.errors import Conflict, NotFound, ValidationFailed
from helpdesk.extensions import db
from helpdesk.notify.mail import queue_email
from helpdesk.permissions import STAFF, can_acknowledge_alert, can_be_on_call, can_receive_alerts
from helpdesk.templating import tel_uri
from helpdesk.tickets.models import ACTIVE_STATUSES, QueueMembership, Ticket
from helpdesk.timeutil import utcnow
from helpdesk.webhooks import events as webhooks

ESCALATE_JOB = "helpdesk.clinical.tasks.escalate_alert"
PAGE_JOB = "helpdesk.clinical.tasks.page_recipient"
MAIL_KIND = "clinical_alert"


def _settings():
    return current_app.config["HELPDESK"]


def site_tz() -> ZoneInfo:
    return ZoneInfo(_settings().site_timezone)


def ack_window() -> timedelta:
    return timedelta(minutes=_settings().emergency_ack_minutes)


# ----------------------------------------------------------------------------- roster


def _queue_member_ids() -> set[int]:
    queue = clinical_queue()
    if queue is None:
        return set()
    return set(db.session.scalars(sa.select(QueueMembership.user_id).where(QueueMembership.queue_id == queue.id)))


def roster_members() -> list[OnCallMember]:
    return list(db.session.scalars(
        sa.select(OnCallMember).join(User, User.id == OnCallMember.user_id).order_by(User.display_name, User.id)
    ))


def as_pure(member: OnCallMember) -> pure.Member:
    return pure.Member(user_id=member.user_id, mode=member.mode.value,
                       shifts=tuple(pure.Shift(s.weekday, s.start, s.end) for s in member.shifts))


def eligible(member: OnCallMember, queue_members: set[int]) -> bool:
    """Only active staff who are still members of the clinical queue can be on duty."""
    return can_be_on_call(member.user) and member.user_id in queue_members


def on_duty_now(now: datetime | None = None) -> list[User]:
    """The clinicians on duty at ``now`` (the roster's pure rule, eligible members only)."""
    now = now or utcnow()
    queue_members = _queue_member_ids()
    members = [m for m in roster_members() if eligible(m, queue_members)]
    ids = set(pure.on_duty([as_pure(m) for m in members], now, site_tz()))
    return [m.user for m in members if m.user_id in ids]


def _member_for(user: User) -> OnCallMember:
    member = db.session.scalar(sa.select(OnCallMember).where(OnCallMember.user_id == user.id))
    if member is None:
        raise NotFound("That person is not on the on-call roster.")
    return member


def _mode(value: str) -> DutyMode:
    try:
        return DutyMode(value)
    except ValueError:
        raise ValidationFailed("Unknown duty mode.", fields={"mode": ["One of: shifts, on, off."]}) from None


def add_to_roster(*, actor: User | None, user: User, mode: str = "shifts") -> OnCallMember:
    """Put a staff member of the clinical-escalation queue on the roster."""
    with unit_of_work():
        duty = _mode(mode)
        if not can_be_on_call(user):
            raise ValidationFailed("Only active staff can be on call.", fields={"user": ["Must be active staff."]})
        if user.id not in _queue_member_ids():
            raise ValidationFailed("Add the person to the clinical-escalation queue first.",
                                   fields={"user": ["Must be a member of the clinical-escalation queue."]})
        if db.session.scalar(sa.select(OnCallMember.id).where(OnCallMember.user_id == user.id)) is not None:
            raise Conflict("That person is already on the roster.")
        member = OnCallMember(user_id=user.id, mode=duty, created_at=utcnow(), updated_at=utcnow())
        db.session.add(member)
        db.session.flush()
        audit.record("oncall.member_added", "user", user.id, actor_id=actor.id if actor else None,
                     changes={"mode": {"before": None, "after": duty.value}})
    return member


def remove_from_roster(*, actor: User | None, user: User) -> None:
    with unit_of_work():
        member = _member_for(user)
        shifts = [pure.Shift(s.weekday, s.start, s.end).label() for s in member.shifts]
        db.session.delete(member)
        audit.record("oncall.member_removed", "user", user.id, actor_id=actor.id if actor else None,
                     changes={"mode": {"before": member.mode.value, "after": None}, "shifts": shifts})


def set_mode(*, actor: User | None, user: User, mode: str) -> OnCallMember:
    """The explicit toggle: ``on`` / ``off`` whatever the time, or ``shifts``."""
    with unit_of_work():
        member = _member_for(user)
        duty = _mode(mode)
        before = member.mode.value
        member.mode = duty
        member.updated_at = utcnow()
        audit.record("oncall.mode_changed", "user", user.id, actor_id=actor.id if actor else None,
                     changes={"mode": {"before": before, "after": duty.value}})
    return member


def parse_time(value: object, field: str) -> time:
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0, tzinfo=None)
    text = str(value or "").strip()
    try:
        hours, minutes = text.split(":")
        if len(hours) not in (1, 2) or len(minutes) != 2:
            raise ValueError
        return time(int(hours), int(minutes))
    except ValueError:
        raise ValidationFailed("Times are HH:MM (24-hour clock).", fields={field: ["HH:MM, e.g. 07:30."]}) from None


def parse_weekday(value: object) -> int:
    text = str(value if value is not None else "").strip().lower()
    names = [d.lower() for d in pure.WEEKDAYS]
    if text in names:
        return names.index(text)
    if text[:3] in [n[:3] for n in names] and len(text) == 3:
        return [n[:3] for n in names].index(text)
    if text.isdigit() and 0 <= int(text) <= 6:
        return int(text)
    raise ValidationFailed("Unknown weekday.", fields={"weekday": ["0 (Monday) to 6 (Sunday), or a day name."]})


def add_shift(*, actor: User | None, user: User, weekday: object, start: object, end: object) -> OnCallShift:
    """A weekly shift in the site's local time; an end at or before the start runs past
    midnight (equal: 24 hours)."""
    with unit_of_work():
        member = _member_for(user)
        day = parse_weekday(weekday)
        begin, finish = parse_time(start, "start"), parse_time(end, "end")
        if any(s.weekday == day and s.start == begin for s in member.shifts):
            raise Conflict("That shift is already on the roster.")
        shift = OnCallShift(member=member, weekday=day, start=begin, end=finish)
        db.session.add(shift)
        member.updated_at = utcnow()
        db.session.flush()
        audit.record("oncall.shift_added", "user", user.id, actor_id=actor.id if actor else None,
                     changes={"shift": {"before": None, "after": pure.Shift(day, begin, finish).label()}})
    return shift


def remove_shift(*, actor: User | None, shift_id: int) -> None:
    with unit_of_work():
        shift = db.session.get(OnCallShift, shift_id)
        if shift is None:
            raise NotFound("No such shift.")
        member = shift.member
        user_id = member.user_id
        label = pure.Shift(shift.weekday, shift.start, shift.end).label()
        member.shifts.remove(shift)  # delete-orphan: deleted, and gone from the loaded collection
        member.updated_at = utcnow()
        audit.record("oncall.shift_removed", "user", user_id, actor_id=actor.id if actor else None,
                     changes={"shift": {"before": label, "after": None}})


def roster_view(now: datetime | None = None) -> list[dict]:
    """Every roster member with their shifts and whether they are on duty at ``now``."""
    now = now or utcnow()
    queue_members = _queue_member_ids()
    tz = site_tz()
    out = []
    for m in roster_members():
        ok = eligible(m, queue_members)
        out.append({
            "member": m, "user": m.user, "eligible": ok,
            "on_duty": ok and pure.is_on_duty(as_pure(m), now, tz),
            "shifts": [(s, pure.Shift(s.weekday, s.start, s.end).label()) for s in m.shifts],
        })
    return out


def roster_candidates() -> list[User]:
    """Staff of the clinical-escalation queue who are not on the roster yet."""
    queue = clinical_queue()
    if queue is None:
        return []
    return list(db.session.scalars(
        sa.select(User).join(QueueMembership, QueueMembership.user_id == User.id)
        .where(QueueMembership.queue_id == queue.id, User.active.is_(True),
               User.role.in_(STAFF),
               ~sa.exists().where(OnCallMember.user_id == User.id))
        .order_by(User.display_name)
    ))


# ----------------------------------------------------------------------------- alerts


def open_emergency_counts(user_ids: list[int]) -> dict[int, int]:
    if not user_ids:
        return {}
    rows = db.session.execute(
        sa.select(Ticket.assignee_id, sa.func.count(Ticket.id))
        .where(Ticket.assignee_id.in_(user_ids), Ticket.emergency.is_not(None), Ticket.status.in_(ACTIVE_STATUSES))
        .group_by(Ticket.assignee_id)
    )
    counts = {uid: 0 for uid in user_ids}
    counts.update({uid: n for uid, n in rows})
    return counts


def pick_clinician(candidates: list[User]) -> User | None:
    """The candidate with the fewest open emergencies (ties: the lowest id)."""
    if not candidates:
        return None
    counts = open_emergency_counts([u.id for u in candidates])
    return min(candidates, key=lambda u: (counts[u.id], u.id))


def _active_with_role(*roles: Role) -> list[User]:
    return list(db.session.scalars(
        sa.select(User).where(User.role.in_(roles), User.active.is_(True)).order_by(User.id)))


def _managers(*roles: Role, skip: User | None = None) -> list[tuple[User, RecipientReason]]:
    """Active supervisors (and admins, when asked) to alert, each with the reason stored on the alert."""
    return [(u, RecipientReason.SUPERVISOR if u.role == Role.SUPERVISOR else RecipientReason.ADMIN)
            for u in _active_with_role(*roles) if skip is None or u.id != skip.id]


def raise_alert(ticket: Ticket, now: datetime | None = None) -> ClinicalAlert:
    """Part of the ticket service's transaction (the caller commits): assign the flagged
    request to the on-duty clinician with the fewest open emergencies and alert them; with
    nobody on duty, alert every active supervisor and admin and leave it unassigned."""
    now = now or utcnow()
    clinician = pick_clinician(on_duty_now(now))
    if clinician is not None:
        ticket.assignee = clinician
        level = AlertLevel.CLINICIAN
        targets = [(clinician, RecipientReason.ON_DUTY)]
    else:
        level = AlertLevel.NOBODY_ON_DUTY
        targets = _managers(Role.SUPERVISOR, Role.ADMIN)
    alert = ClinicalAlert(ticket_id=ticket.id, level=level, raised_at=now, round=0, due_at=now + ack_window())
    db.session.add(alert)
    db.session.flush()
    audit.record("clinical.alert_raised", "clinical_alert", alert.id, actor_id=None, severity="high", changes={
        "ticket": ticket.reference, "level": level.value, "category": ticket.emergency,
        "assignee_id": {"before": None, "after": clinician.id if clinician else None},
        "due_at": alert.due_at.isoformat(),
    })
    webhooks.emergency_raised(alert, ticket)
    _notify(alert, ticket, targets, 0, now)
    jobs.enqueue(ESCALATE_JOB, alert.id, run_at=alert.due_at)
    return alert


def _notify(alert: ClinicalAlert, ticket: Ticket, targets: list[tuple[User, RecipientReason]], round_no: int,
            now: datetime) -> list[AlertRecipient]:
    """Recipient rows, the e-mail and the pager job for each person alerted in a round."""
    settings = _settings()
    base = settings.external_url
    out = []
    for user, reason in targets:
        recipient = AlertRecipient(alert_id=alert.id, user_id=user.id, round=round_no, reason=reason,
                                   notified_at=now)
        db.session.add(recipient)
        mail = queue_email(
            to=user.email, kind=MAIL_KIND, lang=user.language, ticket_id=ticket.id, user_id=user.id,
            context={"reference": ticket.reference, "request_url": f"{base}/agent/tickets/{ticket.reference}",
                     "alerts_url": f"{base}/clinical/alerts", "minutes": settings.emergency_ack_minutes},
        )
        recipient.email_id, recipient.email_queued_at = mail.id, now
        if settings.pager_webhook_url:
            recipient.pager_status = "queued"
        db.session.flush()
        if settings.pager_webhook_url:
            jobs.enqueue(PAGE_JOB, recipient.id)
        audit.record("clinical.alert_notified", "clinical_alert", alert.id, actor_id=None, changes={
            "user_id": user.id, "role": user.role.value, "round": round_no, "reason": reason.value,
            "channels": recipient.channels,
        })
        out.append(recipient)
    return out


def escalate(alert_id: int, now: datetime | None = None) -> bool:
    """Escalate an alert whose acknowledgement is overdue; False (and nothing changed)
    when it is gone, acknowledged or not yet due, or another sweep escalated it first."""
    now = now or utcnow()
    alert = db.session.get(ClinicalAlert, alert_id)
    if alert is None or alert.acknowledged_at is not None or alert.due_at > now:
        return False
    current = alert.round
    due = now + ack_window()
    with unit_of_work():
        claimed = db.session.execute(
            sa.update(ClinicalAlert)
            .where(ClinicalAlert.id == alert_id, ClinicalAlert.round == current,
                   ClinicalAlert.acknowledged_at.is_(None), ClinicalAlert.due_at <= now)
            .values(round=current + 1, due_at=due)
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed != 1:
            return False  # another sweep escalated it first: nothing changed
        db.session.refresh(alert)
        ticket = alert.ticket
        clinician = _next_clinician(alert, ticket, now)
        targets: list[tuple[User, RecipientReason]] = []
        if clinician is not None:
            targets.append((clinician, RecipientReason.NEXT_ON_DUTY))
        roles = (Role.SUPERVISOR,) if clinician is not None else (Role.SUPERVISOR, Role.ADMIN)
        targets += _managers(*roles, skip=clinician)
        audit.record("clinical.alert_escalated", "clinical_alert", alert.id, actor_id=None, severity="high", changes={
            "ticket": ticket.reference, "round": {"before": current, "after": current + 1},
            "next_clinician_id": clinician.id if clinician else None,
            "recipients": [u.id for u, _r in targets], "due_at": due.isoformat(),
        })
        _notify(alert, ticket, targets, current + 1, now)
        jobs.enqueue(ESCALATE_JOB, alert.id, run_at=due)
    return True


def _next_clinician(alert: ClinicalAlert, ticket: Ticket, now: datetime) -> User | None:
    """An on-duty clinician not yet alerted about this request (fewest open emergencies
    first); once every one of them was, the round goes round again, skipping whoever
    was alerted in the round just passed."""
    on_duty = on_duty_now(now)
    clinicians = {RecipientReason.ON_DUTY, RecipientReason.NEXT_ON_DUTY}
    alerted = {r.user_id for r in alert.recipients if r.reason in clinicians}
    fresh = [u for u in on_duty if u.id not in alerted and u.id != ticket.assignee_id]
    if fresh:
        return pick_clinician(fresh)
    last_round = {r.user_id for r in alert.recipients if r.round == alert.round - 1 and r.reason in clinicians}
    again = [u for u in on_duty if u.id not in last_round]
    return pick_clinician(again)


def sweep(now: datetime | None = None, limit: int = 200) -> int:
    """Escalate every overdue, unacknowledged alert (the periodic safety net)."""
    now = now or utcnow()
    with unit_of_work():  # ends the read: each escalation is its own unit of work
        ids = list(db.session.scalars(
            sa.select(ClinicalAlert.id)
            .where(ClinicalAlert.acknowledged_at.is_(None), ClinicalAlert.due_at <= now)
            .order_by(ClinicalAlert.due_at).limit(limit)
        ))
    return sum(1 for alert_id in ids if escalate(alert_id, now))


def get_alert_for(user: User, alert_id: int) -> ClinicalAlert:
    """The alert if ``user`` was alerted about it, else NotFound."""
    alert = db.session.get(ClinicalAlert, alert_id)
    if alert is None or not can_acknowledge_alert(user, alert):
        raise NotFound("No such alert.")
    return alert


def acknowledge(alert: ClinicalAlert, *, user: User, now: datetime | None = None) -> bool:
    """Stop the escalation. True when this call acknowledged it, False when it already was."""
    now = now or utcnow()
    with unit_of_work():
        done = db.session.execute(
            sa.update(ClinicalAlert).where(ClinicalAlert.id == alert.id, ClinicalAlert.acknowledged_at.is_(None))
            .values(acknowledged_at=now, acknowledged_by_id=user.id)
            .execution_options(synchronize_session=False)
        ).rowcount == 1
        if done:
            audit.record("clinical.alert_acknowledged", "clinical_alert", alert.id, actor_id=user.id, changes={
                "ticket": alert.ticket.reference, "round": alert.round,
                "seconds_after_raised": int((now - alert.raised_at).total_seconds()),
            })
            webhooks.emergency_acknowledged(alert, alert.ticket, user_id=user.id, at=now)
    db.session.refresh(alert)
    return done


def open_alerts_for(user: User) -> list[ClinicalAlert]:
    """Unacknowledged alerts ``user`` was alerted about (the banner), oldest first."""
    if not can_receive_alerts(user):
        return []
    return list(db.session.scalars(
        sa.select(ClinicalAlert)
        .where(ClinicalAlert.acknowledged_at.is_(None),
               ClinicalAlert.id.in_(sa.select(AlertRecipient.alert_id).where(AlertRecipient.user_id == user.id)))
        .order_by(ClinicalAlert.raised_at, ClinicalAlert.id).limit(50)
    ))


def unacknowledged(limit: int = 200) -> list[ClinicalAlert]:
    """Every unacknowledged alert, oldest first (supervisors' list and tile)."""
    return list(db.session.scalars(
        sa.select(ClinicalAlert).where(ClinicalAlert.acknowledged_at.is_(None))
        .order_by(ClinicalAlert.raised_at, ClinicalAlert.id).limit(limit)
    ))


def unacknowledged_count() -> int:
    return db.session.scalar(
        sa.select(sa.func.count(ClinicalAlert.id)).where(ClinicalAlert.acknowledged_at.is_(None))) or 0


def local_time(value: datetime, now: datetime | None = None) -> str:
    """HH:MM in the site's time zone, with the date when it is not today there."""
    tz = site_tz()
    local = value.astimezone(tz)
    today = (now or utcnow()).astimezone(tz).date()
    return f"{local:%H:%M}" if local.date() == today else f"{local:%H:%M} ({local:%Y-%m-%d})"


def alert_json(alert: ClinicalAlert, user: User, now: datetime | None = None) -> dict:
    """What the banner shows about one alert: no patient text (reference, category, times)."""
    now = now or utcnow()
    return {
        "id": alert.id, "reference": alert.ticket.reference,
        "category": (alert.ticket.emergency or "").replace("_", " "),
        "raised_at": alert.raised_at.isoformat(), "raised_local": local_time(alert.raised_at, now),
        "minutes_open": int((now - alert.raised_at).total_seconds() // 60),
        "round": alert.round, "level": alert.level.value,
        "ticket_url": url_for("agent.ticket_page", reference=alert.ticket.reference),
        "ack_url": url_for("clinical.acknowledge", alert_id=alert.id),
    }


# ----------------------------------------------------------------------------- the patient


@dataclass(frozen=True)
class PatientNotice:
    """What happened, read from the stored alert rows.

    ``status``: ``clinician_alerted`` (the on-duty clinician was alerted at ``alerted_at``),
    ``managers_alerted`` (nobody was on duty; supervisors/admins were alerted),
    ``nobody_alerted`` (nobody was on duty and nobody could be alerted) or ``no_alert``
    (no alert row, e.g. a request from before alerts existed): then nothing is claimed.
    """

    status: str
    alerted_at: datetime | None
    acknowledged_at: datetime | None
    phone: str

    @property
    def phone_uri(self) -> str:
        return tel_uri(self.phone)


def patient_notice(ticket: Ticket) -> PatientNotice | None:
    if not ticket.emergency:
        return None
    phone = _settings().helpdesk_phone
    alert = db.session.scalar(sa.select(ClinicalAlert).where(ClinicalAlert.ticket_id == ticket.id))
    if alert is None:
        return PatientNotice("no_alert", None, None, phone)
    first = [r for r in alert.recipients if r.round == 0]
    clinician = [r for r in first if r.reason == RecipientReason.ON_DUTY]
    if clinician:
        return PatientNotice("clinician_alerted", clinician[0].notified_at, alert.acknowledged_at, phone)
    if first:
        return PatientNotice("managers_alerted", min(r.notified_at for r in first), alert.acknowledged_at, phone)
    return PatientNotice("nobody_alerted", None, alert.acknowledged_at, phone)


def patient_sentences(notice: PatientNotice) -> list[str]:
    """The notice in the current request's language (what the page and the API say)."""
    out = []
    if notice.status == "clinician_alerted" and notice.alerted_at:
        out.append(_("The nurse on duty was alerted at %(time)s.", time=local_time(notice.alerted_at)))
    elif notice.status == "managers_alerted" and notice.alerted_at:
        out.append(_("No nurse is on duty right now, so we alerted the help desk's managers at %(time)s.",
                     time=local_time(notice.alerted_at)))
    elif notice.status == "nobody_alerted":
        out.append(_("No nurse is on duty right now, and we could not alert anyone."))
    if notice.acknowledged_at is not None:
        out.append(_("A member of our team acknowledged the alert at %(time)s.",
                     time=local_time(notice.acknowledged_at)))
    return out
