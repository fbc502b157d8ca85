"""Patient accounts for admins: find one, see its state, and the everyday fixes.

Find by name (any part, case-insensitive), e-mail address, medical record number (exact),
external patient identifier (the value exactly, or ``system:value``: ``helpdesk.auth.portal``)
or date of birth (exact). Results list name, e-mail and state only — never the
identifiers on file — and every search and every account page is an audited read
(``patient.accounts_searched`` with the ids shown, ``patient.account_viewed``), because
these pages show who is a patient here. The fixes are the ones a help desk is asked for:
unlock (forget the failed sign-ins that locked the address), force a password reset (the
password stops working at once, every session ends and a reset link is mailed),
deactivate and reactivate (``helpdesk.auth.services.set_active``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from helpdesk import audit
from helpdesk.audit import AuditEvent
from helpdesk.auth import throttle
from helpdesk.auth.models import ApiToken, AuthSession, Role, User
from helpdesk.auth.password_models import AuthThrottle, placeholder_ids
from helpdesk.auth.passwords import _void_open_tokens, issue_reset_link
from helpdesk.auth.portal import identifiers_of
from helpdesk.auth.portal_models import PatientIdentifier
from helpdesk.auth.sessions import end_all_sessions
from helpdesk.db import transactional
from helpdesk.errors import Conflict, NotFound, ValidationFailed
from helpdesk.extensions import db
from helpdesk.notify.mail import sends_mail
from helpdesk.tickets.models import Ticket
from helpdesk.timeutil import utcnow

PAGE = 50
SIGN_IN_ACTIONS = ("auth.signed_in", "auth.sign_in_failed", "auth.sign_in_throttled", "auth.signed_out",
                   "auth.session_timeout", "auth.mfa_failed", "auth.unlocked", "password.reset_requested",
                   "password.reset_forced", "password.reset_completed", "password.changed")


@dataclass(frozen=True)
class Query:
    text: str = ""
    birth_date: date | None = None

    @property
    def empty(self) -> bool:
        return not self.text.strip() and self.birth_date is None


def _patients() -> sa.Select:
    return sa.select(User).where(User.role == Role.PATIENT, User.id.not_in(placeholder_ids()))


@transactional
def search(q: Query, *, actor_id: int | None, after: int | None = None, limit: int = PAGE) -> tuple[list[User], int | None]:
    """One page (``limit`` accounts) of matching patient accounts by id, after the id ``after``,
    and the ``after`` of the next page (None: the last)."""
    if q.empty:
        return [], None
    stmt = _patients()
    text = q.text.strip()
    by: list[str] = []
    if text:
        if len(text) > 254:
            raise ValidationFailed("Search for at most 254 characters.", fields={"q": ["Too long."]})
        like = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(sa.or_(sa.func.lower(User.display_name).like(like, escape="\\"),
                                 sa.func.lower(User.email).like(like, escape="\\"),
                                 User.mrn == text, User.id.in_(_by_external_id(text))))
        by.append("text")
    if q.birth_date is not None:
        stmt = stmt.where(User.date_of_birth == q.birth_date)
        by.append("date_of_birth")
    if after is not None:
        stmt = stmt.where(User.id > after)
    rows = list(db.session.scalars(stmt.order_by(User.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    audit.record("patient.accounts_searched", "user", None, actor_id=actor_id,
                 changes={"by": by, "shown": [u.id for u in rows]})
    return rows, (rows[-1].id if more and rows else None)


def _by_external_id(text: str) -> sa.Select:
    """The accounts with an external identifier of value ``text`` (any system), or with
    ``system:value`` when ``text`` reads so."""
    match = PatientIdentifier.value == text
    system, sep, value = text.partition(":")
    if sep and system and value:
        match = sa.or_(match, sa.and_(PatientIdentifier.system == system.lower(), PatientIdentifier.value == value))
    return sa.select(PatientIdentifier.user_id).where(match)


def not_merged(user: User) -> None:
    """The fixes (unlock, reset, deactivate, reactivate) are for a live account, not a tombstone."""
    if user.merged_into_id is not None:
        raise Conflict("This account was merged into another and stays deactivated: use that account.")


def get_patient(user_id: int) -> User:
    user = db.session.scalar(_patients().where(User.id == user_id))
    if user is None:
        raise NotFound("No such patient account.")
    return user


def by_email(address: str) -> User | None:
    """The patient account with this e-mail address (any case), or None."""
    return db.session.scalar(_patients().where(sa.func.lower(User.email) == (address or "").strip().lower()))


@dataclass(frozen=True)
class Overview:
    user: User
    requests: list[Ticket]
    open_sessions: int
    locked_until: datetime | None
    recent_failures: int
    events: list[AuditEvent]
    merged_from: list[User]
    identifiers: list[PatientIdentifier]


@transactional
def overview(user: User, *, actor_id: int | None) -> Overview:
    """What an admin needs to help: requests, sign-in history, lock-out, sessions. Audited."""
    now = utcnow()
    requests = list(db.session.scalars(sa.select(Ticket).where(Ticket.requester_id == user.id)
                                       .order_by(Ticket.created_at.desc()).limit(100)))
    sessions = db.session.scalar(sa.select(sa.func.count()).select_from(AuthSession).where(
        AuthSession.user_id == user.id, AuthSession.ended_at.is_(None), AuthSession.expires_at > now)) or 0
    lock = db.session.get(AuthThrottle, throttle.account_key(user.email))
    locked_until = lock.locked_until if lock is not None and lock.locked_until and lock.locked_until > now else None
    events = list(db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.object_type == "user", AuditEvent.object_id == str(user.id), AuditEvent.action.in_(SIGN_IN_ACTIONS))
        .order_by(AuditEvent.id.desc()).limit(30)))
    audit.record("patient.account_viewed", "user", user.id, actor_id=actor_id)
    merged_from = list(db.session.scalars(sa.select(User).where(User.merged_into_id == user.id).order_by(User.id)))
    identifiers = identifiers_of(user)
    return Overview(user, requests, sessions, locked_until, lock.failures if lock is not None else 0, events,
                    merged_from, identifiers)


@transactional
def unlock(*, actor: User | None, user: User) -> None:
    """Forget the failed sign-ins on the account's address (the lock, if one runs, ends)."""
    key = throttle.account_key(user.email)
    row = db.session.get(AuthThrottle, key)
    if row is None:
        raise ValidationFailed("Nothing to unlock: no failed sign-ins are counted on this account.")
    before: dict[str, Any] = {"failures": row.failures,
                              "locked_until": row.locked_until.isoformat() if row.locked_until else None}
    throttle.clear(key)
    audit.record("auth.unlocked", "user", user.id, actor_id=actor.id if actor else None, changes={"before": before})


@transactional
def force_password_reset(*, actor: User | None, user: User) -> None:
    """The password stops working now, every session ends, and a reset link is mailed."""
    if not user.active:
        raise Conflict("This account is deactivated: reactivate it first, then send a reset.")
    user.password_hash = None
    end_all_sessions(user, reason="password_reset_forced")
    issue_reset_link(user, sent_by=actor)
    audit.record("password.reset_forced", "user", user.id, actor_id=actor.id if actor else None, severity="warning")


def reset_link_outcome() -> str:
    """What became of the link :func:`force_password_reset` made, for the page and the
    command to say (only what is true: without a mail server it is not e-mailed)."""
    if sends_mail():
        return "a reset link was e-mailed to the account's address"
    return ("a reset link was prepared but NOT e-mailed: no mail server is set up (SMTP_HOST), so it stays unsent "
            "in the outbox")


# ---------------------------------------------------------------- merging duplicate accounts

#: Columns that hold who a patient is or what they did, moved to the survivor on a merge.
MERGE_MOVES: tuple[str, ...] = (
    "tickets.requester_id", "tickets.created_by_id", "messages.author_id", "message_versions.editor_id",
    "attachments.uploaded_by_id", "notifications.user_id", "outgoing_emails.user_id",
    "identity_checks.patient_id", "access_requests.verified_user_id", "kb_article_feedback.user_id",
    "kb_deflections.user_id",
    # the portal's identifiers of the patient: the survivor is found by every one of them
    "patient_identifiers.user_id",
    # a legal hold on the duplicate keeps covering its requests where they now are
    "legal_holds.patient_id",
)
#: Columns left on the merged account, with why: its sign-in state ends with it, the audit
#: log is append-only (its rows keep their ids; the tombstone points to the survivor), and
#: the rest are staff-only roles a patient account never holds.
MERGE_STAYS: tuple[str, ...] = (
    "api_tokens.user_id", "auth_sessions.user_id", "mfa_recovery_codes.user_id", "password_reset_tokens.user_id",
    "notify_preferences.user_id", "audit_events.actor_id",
    # the API idempotency keys of its (revoked) tokens: forgotten within 24 hours
    "idempotency_keys.user_id",
    # the portal's sign-in links (two minutes long) sign in the account they name, or nobody
    "patient_links.user_id",
    # staff-only
    "dash_daily_agents.agent_id", "macros.owner_id", "macros.created_by_id", "oncall_members.user_id",
    "password_reset_tokens.sent_by_id", "queue_memberships.user_id", "saved_views.owner_id",
    "saved_views.created_by_id", "tickets.assignee_id", "access_requests.placeholder_id",
    "access_requests.verified_by_id", "break_glass_grants.user_id", "break_glass_grants.reviewed_by_id",
    "clinical_alerts.acknowledged_by_id", "identity_checks.agent_id", "kb_articles.author_id",
    "kb_articles.updated_by_id", "routing_labels.actor_id", "ticket_merges.actor_id", "ticket_presence.user_id",
    "clinical_alert_recipients.user_id", "kb_article_versions.author_id", "kb_ticket_links.linked_by_id",
    "users.merged_into_id", "sla_policy_versions.created_by_id", "sso_identities.user_id",
    "webhook_endpoints.created_by_id",
    # the integration account that asked for a sign-in link
    "patient_links.created_by_id",
    "legal_holds.created_by_id", "legal_holds.released_by_id",
    "retention_policies.updated_by_id", "retention_runs.actor_id",
    # read markers: the survivor has none on the moved requests, so their replies show as new once
    "request_reads.user_id",
)


@transactional
def merge(*, actor: User | None, duplicate: User, survivor: User) -> dict[str, int]:
    """Fold ``duplicate`` into ``survivor``: requests, messages and the rest of MERGE_MOVES
    now belong to the survivor; the duplicate is kept as a deactivated tombstone that points
    to it (``merged_into_id``), its sessions, tokens and reset links ended. Returns the rows
    moved per column (also in the audit rows written on both accounts)."""
    if duplicate.id == survivor.id:
        raise ValidationFailed("Choose two different accounts.")
    if duplicate.merged_into_id is not None or survivor.merged_into_id is not None:
        raise Conflict("One of these accounts was already merged; merge into the account it points to.")
    moved: dict[str, int] = {}
    for name in MERGE_MOVES:
        table_name, column = name.split(".")
        table = db.metadata.tables[table_name]
        result = db.session.execute(sa.update(table).where(table.c[column] == duplicate.id)
                                    .values({column: survivor.id}))
        if result.rowcount:
            moved[name] = int(result.rowcount)
    db.session.execute(sa.update(ApiToken).where(ApiToken.user_id == duplicate.id, ApiToken.revoked_at.is_(None))
                       .values(revoked_at=utcnow()))
    _void_open_tokens(duplicate.id)
    end_all_sessions(duplicate, reason="merged")
    duplicate.active = False
    duplicate.password_hash = None
    duplicate.merged_into_id = survivor.id
    db.session.flush()
    db.session.expire_all()  # the moves above went past the ORM: reload what was in hand
    audit.record("patient.merged_away", "user", duplicate.id, actor_id=actor.id if actor else None, severity="warning",
                 changes={"into": survivor.id, "moved": moved})
    audit.record("patient.merged_into", "user", survivor.id, actor_id=actor.id if actor else None, severity="warning",
                 changes={"from": duplicate.id, "moved": moved})
    return moved
