"""Every access rule in one place.

Coarse gates are decorators (``role_required``); object rules are functions
(``can_view_ticket``). Another patient's object — or a ticket outside a staff
member's queues — is *not found*, never *forbidden*, so existence is not revealed.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import g, has_app_context, redirect, url_for
from flask_login import current_user

from helpdesk.access.models import BreakGlassGrant
from helpdesk.auth.models import ApiToken, Role, Scope, User
from helpdesk.clinical.queries import clinical_queue, is_recipient
from helpdesk.errors import Forbidden, NotFound
from helpdesk.extensions import db, login_manager
from helpdesk.kb.models import Article, ArticleStatus, Audience
from helpdesk.tickets.models import QueueMembership, Ticket
from helpdesk.timeutil import utcnow

F = TypeVar("F", bound=Callable[..., Any])

STAFF = (Role.AGENT, Role.SUPERVISOR, Role.ADMIN)


def role_required(*roles: Role) -> Callable[[F], F]:
    """Signed-in users with one of ``roles`` pass; other roles get 403."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = acting_user()
            if user is None:
                return login_manager.unauthorized()
            if user.role not in roles:
                raise Forbidden("You don't have access to this page.")
            if email_unconfirmed(user):
                if g.get("api_user") is not None:
                    raise Forbidden("Confirm your e-mail address first (open the link we sent you).")
                return redirect(url_for("auth.verify_email_page"))
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def email_unconfirmed(user: User) -> bool:
    """A self-registered patient who hasn't opened the activation link yet: they may
    not submit or read requests (``helpdesk.auth.activation``)."""
    return user.role == Role.PATIENT and user.email_verified_at is None


def email_unconfirmed_clause() -> sa.ColumnElement[bool]:
    """The SQL form of ``email_unconfirmed``."""
    return sa.and_(User.role == Role.PATIENT, User.email_verified_at.is_(None))


MANAGERS = (Role.SUPERVISOR, Role.ADMIN)


def is_patient(user: Any) -> bool:
    """A patient account: their own requests, the patient pages, the language choice.
    (``user`` may be None or the signed-out visitor: not a patient.)"""
    return getattr(user, "role", None) == Role.PATIENT


def is_manager(user: Any) -> bool:
    """Supervisors and admins: queue members, dashboards, routing, the on-call roster."""
    return getattr(user, "role", None) in MANAGERS


def is_admin(user: Any) -> bool:
    """The administrator role: accounts, roles, queues, API tokens, two-step resets,
    knowledge-base editor grants, every queue on the dashboards."""
    return getattr(user, "role", None) == Role.ADMIN


def can_manage_sla(user: Any) -> bool:
    """SLA policies and queue settings (pages, API, and the CLI as the system): admins."""
    return is_admin(user) and bool(getattr(user, "active", False))


def require_admin(actor: User | None, message: str) -> None:
    """Admin-only service actions. ``actor`` None is the system (CLI, seeds, jobs)."""
    if actor is not None and not is_admin(actor):
        raise Forbidden(message)


def can_sign_in(user: User) -> bool:
    """Integration accounts authenticate with API tokens only: no password, no
    interactive sign-in, no two-step setup, no password reset."""
    return user.role != Role.INTEGRATION


def can_manage_accounts(user: User | None) -> bool:
    """Staff and integration accounts (the Users page and /api/v1/admin/users): active admins."""
    return is_admin(user) and user.active  # type: ignore[union-attr]


def can_change_roles(user: User | None) -> bool:
    return is_admin(user) and user.active  # type: ignore[union-attr]


def can_review_break_glass(user: User) -> bool:
    return user.active and is_admin(user)


def dashboard_queue_ids(user: User) -> set[int] | None:
    """The queues a dashboard (SLA, routing, queue admin) covers for ``user``: every
    queue (None) for admins, the member queues for everyone else."""
    return None if is_admin(user) else member_queue_ids(user)


def can_create_for_patients(user: User) -> bool:
    """Integration tokens (the portal) create requests on a patient's behalf."""
    return user.role == Role.INTEGRATION


def token_has_scope(token: ApiToken, scope: Scope) -> bool:
    """May this API token do what ``scope`` covers (docs/api.md, "Tokens and scopes")?
    Scopes only narrow what the token's account may do: every other rule still applies."""
    return scope.value in token.scope_set
def can_issue_patient_links(user: User) -> bool:
    """The portal (an active integration account) asks for a patient's one-use sign-in link."""
    return user.role == Role.INTEGRATION and user.active


def acting_user() -> User | None:
    """The user behind this request: an API token's user, else the session's."""
    user = g.get("api_user")
    if user is not None:
        return user
    if current_user and current_user.is_authenticated:
        return current_user._get_current_object()  # type: ignore[attr-defined]
    return None


def member_queue_ids(user: User) -> set[int]:
    """The one definition of "which queues may this staff member work in"."""
    if not user.is_staff:
        return set()
    cache = g.setdefault("_member_queue_ids", {}) if _has_g() else {}
    if user.id not in cache:
        cache[user.id] = set(
            db.session.scalars(
                sa.select(QueueMembership.queue_id).where(QueueMembership.user_id == user.id)
            )
        )
    return cache[user.id]


def _has_g() -> bool:
    return has_app_context()


def forget_memberships() -> None:
    if _has_g():
        g.pop("_member_queue_ids", None)


def ticket_scope(user: User) -> sa.ColumnElement[bool]:
    """A WHERE clause selecting exactly the tickets ``user`` may see."""
    if user.role == Role.PATIENT:
        return sa.false() if email_unconfirmed(user) else Ticket.requester_id == user.id
    if user.role == Role.INTEGRATION:
        return Ticket.created_by_id == user.id
    ids = scope_queue_ids(user)
    if ids is not None:
        return Ticket.queue_id.in_(ids) if ids else sa.false()
    return sa.false()


def scope_queue_ids(user: User) -> set[int] | None:
    """For staff, the queues ``ticket_scope`` amounts to ("a ticket of one of these
    queues"); None for everyone else (their scope is not a set of queues)."""
    return member_queue_ids(user) if user.is_staff else None


def can_view_ticket(user: User, ticket: Ticket) -> bool:
    if not user.active:
        return False
    if user.role == Role.PATIENT:
        return ticket.requester_id == user.id and not email_unconfirmed(user)
    if user.role == Role.INTEGRATION:
        return ticket.created_by_id == user.id
    if user.is_staff:
        return ticket.queue_id in member_queue_ids(user) or has_break_glass(user, ticket)
    return False


# --- break-glass ------------------------------------------------------------------
# A supervisor may open one ticket outside their queues by giving a reason: a
# time-limited grant to that ticket only (lists still follow ``ticket_scope``). Every
# grant is a high-severity audit event that an admin reviews at /admin/break-glass.

BREAK_GLASS_ROLES = (Role.SUPERVISOR,)


def break_glass_grant(user: User, ticket: Ticket) -> Any:
    """``user``'s unexpired break-glass grant to ``ticket`` (the latest), or None."""
    if not user.active or user.role not in BREAK_GLASS_ROLES or ticket.id is None:
        return None
    return db.session.scalar(
        sa.select(BreakGlassGrant).where(
            BreakGlassGrant.user_id == user.id, BreakGlassGrant.ticket_id == ticket.id,
            BreakGlassGrant.expires_at > utcnow(),
        ).order_by(BreakGlassGrant.expires_at.desc()).limit(1)
    )


def has_break_glass(user: User, ticket: Ticket) -> bool:
    """An unexpired break-glass grant of ``user`` to ``ticket``."""
    return break_glass_grant(user, ticket) is not None


def break_glass_candidate(user: User | None, reference: str) -> Ticket | None:
    """The ticket ``reference`` when ``user`` may break glass to open it (a supervisor
    outside the ticket's queues, without a live grant); None otherwise."""
    if user is None or not user.active or user.role not in BREAK_GLASS_ROLES:
        return None
    ticket = db.session.scalar(sa.select(Ticket).where(Ticket.reference == reference.upper()[:20]))
    if ticket is None or can_view_ticket(user, ticket):
        return None
    return ticket


def can_read_internal_notes(user: User) -> bool:
    """Internal notes (and the files on them) are for staff; patients and integrations
    see the public thread only."""
    return user.is_staff


def can_write_internal_note(user: User) -> bool:
    """Internal notes, and a status change with a reply, are written by staff; anyone
    else (a patient, or the portal as the patient) sends public replies only."""
    return user.is_staff


def can_correct_message(user: User) -> bool:
    """Staff correct messages (their own only: the service checks the author)."""
    return user.is_staff


def can_see_sla(user: User | None) -> bool:
    """A ticket's SLA clock (the API's ``sla`` field): staff only, null for everyone else."""
    return user is not None and user.is_staff


def can_check_identity(user: User | None) -> bool:
    """The identity-check panel on a ticket page is for staff."""
    return user is not None and user.is_staff


def can_receive_notifications(user: User | None) -> bool:
    """In-app notifications (the unread count) are for staff."""
    return user is not None and user.is_staff


def can_set_availability(user: User) -> bool:
    """Staff mark themselves available for automatic assignment; nobody else has an availability."""
    return user.is_staff


def can_be_queue_member(user: User) -> bool:
    return user.is_staff


def can_view_message(user: User, message: Any) -> bool:
    """A message (and its files) on a ticket ``user`` may see: public ones, and internal
    notes for staff."""
    return message.public or can_read_internal_notes(user)


def can_write_as(actor: User, author: User, ticket: Ticket) -> bool:
    """Who may write on ``ticket`` as ``author``: anyone as themselves; the portal
    (an integration) as the ticket's patient, never as anyone else."""
    return actor is author or (actor.role == Role.INTEGRATION and author.id == ticket.requester_id)


def message_author(actor: User, ticket: Ticket) -> User:
    """Whom a message ``actor`` sends through the API is from: the portal writes as the
    ticket's patient; everyone else as themselves (``can_write_as`` holds for both)."""
    return ticket.requester if actor.role == Role.INTEGRATION else actor


def can_view_identifiers(user: User, ticket: Ticket) -> bool:
    """The patient's identifiers on file: staff who may see the ticket, one view at a time."""
    return user.is_staff and can_view_ticket(user, ticket)


def can_work_ticket(user: User, ticket: Ticket) -> bool:
    """Staff actions: reply, note, assign, status, priority, move."""
    return user.is_staff and can_view_ticket(user, ticket)


def can_manage_queue_members(user: User, queue_id: int) -> bool:
    if user.role == Role.ADMIN:
        return True
    return user.role == Role.SUPERVISOR and queue_id in member_queue_ids(user)


def can_be_assigned(user: User, ticket: Ticket) -> bool:
    return user.active and user.is_staff and ticket.queue_id in member_queue_ids(user)


def get_visible_ticket(user: User, reference: str) -> Ticket:
    """The ticket ``reference`` if ``user`` may see it, else NotFound."""
    ticket = db.session.scalar(sa.select(Ticket).where(Ticket.reference == reference.upper()))
    if ticket is None or not can_view_ticket(user, ticket):
        raise NotFound("No request with that reference.")
    return ticket


def require_staff_ticket(user: User, reference: str) -> Ticket:
    if not user.is_staff:
        raise Forbidden("Only staff can do this.")
    return get_visible_ticket(user, reference)


# --- knowledge base -------------------------------------------------------------
# Articles are not patient data, but internal articles are for staff only: to a
# patient or a signed-out visitor an internal, unpublished or unknown article is
# simply "not found". Staff read every article; editors write, review and publish;
# agents propose drafts (and may edit their own drafts until they are submitted).


def is_kb_editor(user: User | None) -> bool:
    """Supervisors always; agents and admins when an admin granted it."""
    if user is None or not user.active or not user.is_staff:
        return False
    return is_kb_editor_by_role(user) or bool(user.kb_editor)


def is_kb_editor_by_role(user: User) -> bool:
    """The role that edits the knowledge base without a grant (shown as "Always")."""
    return user.role == Role.SUPERVISOR


def can_read_internal_articles(user: User | None) -> bool:
    return user is not None and user.active and user.is_staff


def is_public_article(article: Any) -> bool:
    """Published and for the public: what a patient or a signed-out visitor may read."""
    return article.status == ArticleStatus.PUBLISHED and article.audience == Audience.PUBLIC


def public_article_clause() -> sa.ColumnElement[bool]:
    """The SQL form of ``is_public_article``."""
    return sa.and_(Article.status == ArticleStatus.PUBLISHED, Article.audience == Audience.PUBLIC)


def can_view_article(user: User | None, article: Any) -> bool:
    if can_read_internal_articles(user):
        return True
    return is_public_article(article)


def can_propose_article(user: User | None) -> bool:
    return can_read_internal_articles(user)


def can_edit_article(user: User | None, article: Any) -> bool:
    if is_kb_editor(user):
        return True
    return (
        can_propose_article(user)
        and article.author_id == user.id  # type: ignore[union-attr]
        and article.status == ArticleStatus.DRAFT
    )


def can_manage_kb_editors(user: User | None) -> bool:
    return user is not None and user.active and is_admin(user)


def can_be_granted_kb_editor(user: User) -> bool:
    """Agents and admins hold the editor permission when granted (supervisors always do)."""
    return user.role in (Role.AGENT, Role.ADMIN)


def can_record_deflection(user: User | None) -> bool:
    """"This answered my question" is a patient's answer."""
    return is_patient(user)


def can_choose_language(user: User | None) -> bool:
    """Patients choose the language of their pages (staff pages are English)."""
    return is_patient(user)


def get_visible_article(user: User | None, article_id: int) -> Any:
    """The article if ``user`` may read it, else NotFound (existence is not revealed)."""
    article = db.session.get(Article, article_id)
    if article is None or not can_view_article(user, article):
        raise NotFound("No article here.")
    return article


def get_public_article(slug: str) -> Any:
    """A published public article by its slug (the help centre's only way in)."""
    article = db.session.scalar(sa.select(Article).where(Article.slug == slug[:120]))
    if article is None or not is_public_article(article):
        raise NotFound("No article here.")
    return article


def require_kb_editor(user: User | None) -> None:
    if not is_kb_editor(user):
        raise Forbidden("Only knowledge-base editors can do this.")


# --- agent workspace: macros and saved views ----------------------------------------
# Every staff member keeps personal macros and views. Shared ones belong to a queue:
# every member of the queue uses them; supervisors and admins who are members of the
# queue create, edit and delete them. Someone else's personal item, or a queue's item
# outside your queues, is "not found".


def can_manage_shared_items(user: User, queue_id: int | None) -> bool:
    return (
        user.active and is_manager(user) and queue_id is not None
        and queue_id in member_queue_ids(user)
    )


def _can_see_owned(user: User, item: Any) -> bool:
    if not user.active or not user.is_staff:
        return False
    if item.owner_id is not None:
        return item.owner_id == user.id
    return item.queue_id in member_queue_ids(user)


def can_use_macro(user: User, macro: Any) -> bool:
    return _can_see_owned(user, macro)


def can_manage_macro(user: User, macro: Any) -> bool:
    if not can_use_macro(user, macro):
        return False
    return macro.owner_id == user.id or can_manage_shared_items(user, macro.queue_id)


def can_use_saved_view(user: User, view: Any) -> bool:
    return _can_see_owned(user, view)


def can_manage_saved_view(user: User, view: Any) -> bool:
    if not can_use_saved_view(user, view):
        return False
    return view.owner_id == user.id or can_manage_shared_items(user, view.queue_id)


def can_merge_tickets(user: User, tickets: list[Ticket]) -> bool:
    return user.is_staff and all(can_work_ticket(user, t) for t in tickets)


# --- clinical alerts and the on-call roster ----------------------------------------
# Supervisors and admins see the roster (who is on duty now) and the unacknowledged
# alerts; admins, and supervisors of the clinical-escalation queue, change the roster.
# An alert is acknowledged by someone it was sent to; to anyone else it is "not found".


def can_view_roster(user: User | None) -> bool:
    return user is not None and user.active and is_manager(user)


def can_manage_roster(user: User | None) -> bool:
    if user is None or not user.active:
        return False
    if user.role == Role.ADMIN:
        return True
    if user.role != Role.SUPERVISOR:
        return False
    queue = clinical_queue()
    return queue is not None and queue.id in member_queue_ids(user)


def can_receive_alerts(user: User | None) -> bool:
    """Clinical alerts (the banner, acknowledging) are for active staff."""
    return user is not None and user.active and user.is_staff


def can_be_on_call(user: User) -> bool:
    """Only active staff can be put on the roster or be on duty (queue membership aside)."""
    return user.active and user.is_staff


def get_staff_member(user_id: int) -> User:
    """The staff account the roster pages and API act on; anyone else is "not found"."""
    user = db.session.get(User, user_id)
    if user is None or not user.is_staff:
        raise NotFound("No such staff member.")
    return user


def can_acknowledge_alert(user: User | None, alert: Any) -> bool:
    if not can_receive_alerts(user):
        return False
    return is_recipient(user, alert)


# --- /metrics -----------------------------------------------------------------------
# Not for the public (the numbers describe the hospital's workload): with METRICS_TOKEN
# set, only a request bearing it; without one, nobody in production (the page is "not
# found"), anyone in development and tests.
def metrics_hidden(settings: Any) -> bool:
    """/metrics does not exist: production without a METRICS_TOKEN."""
    return settings.is_production and not settings.metrics_token


def may_scrape_metrics(settings: Any, secret: str | None) -> bool:
    """The scraper's bearer secret is METRICS_TOKEN (compared in constant time); no
    token set (outside production): open."""
    if not settings.metrics_token:
        return not settings.is_production
    return secret is not None and hmac.compare_digest(secret.encode(), settings.metrics_token.encode())


# --- templates ----------------------------------------------------------------------
# The predicates pages need, as Jinja globals (registered by helpdesk.core): a page
# shows a link or a button by the same rule the view enforces.
def can_use_staff_pages(user: Any) -> bool:
    """The staff navigation (queues, tickets, knowledge base, macros): what @role_required(*STAFF) admits."""
    return bool(getattr(user, "is_authenticated", False)) and user.role in STAFF


def can_change_role_of(actor: User, user: User) -> bool:
    """An admin changes anyone's role but their own; integration accounts keep theirs."""
    return can_change_roles(actor) and user.role != Role.INTEGRATION and user.id != actor.id


TEMPLATE_PREDICATES = (is_patient, is_manager, is_admin, is_public_article, can_manage_kb_editors,
                       can_be_granted_kb_editor, is_kb_editor_by_role, can_use_staff_pages, can_receive_alerts,
                       can_change_role_of)
