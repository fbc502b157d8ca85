"""Every access rule in one place.

Coarse gates are decorators (``role_required``); object rules are functions
(``can_view_ticket``). Another patient's object — or a ticket outside a staff
member's queues — is *not found*, never *forbidden*, so existence is not revealed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import g
from flask_login import current_user

from helpdesk.auth.models import Role, User
from helpdesk.errors import Forbidden, NotFound
from helpdesk.extensions import db, login_manager
from helpdesk.tickets.models import QueueMembership, Ticket

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
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


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
    from flask import has_app_context

    return has_app_context()


def forget_memberships() -> None:
    if _has_g():
        g.pop("_member_queue_ids", None)


def ticket_scope(user: User) -> sa.ColumnElement[bool]:
    """A WHERE clause selecting exactly the tickets ``user`` may see."""
    if user.role == Role.PATIENT:
        return Ticket.requester_id == user.id
    if user.role == Role.INTEGRATION:
        return Ticket.created_by_id == user.id
    if user.is_staff:
        ids = member_queue_ids(user)
        return Ticket.queue_id.in_(ids) if ids else sa.false()
    return sa.false()


def can_view_ticket(user: User, ticket: Ticket) -> bool:
    if not user.active:
        return False
    if user.role == Role.PATIENT:
        return ticket.requester_id == user.id
    if user.role == Role.INTEGRATION:
        return ticket.created_by_id == user.id
    if user.is_staff:
        return ticket.queue_id in member_queue_ids(user)
    return False


def can_work_ticket(user: User, ticket: Ticket) -> bool:
    """Staff actions: reply, note, assign, status, priority, move."""
    return user.is_staff and can_view_ticket(user, ticket)


def can_move_to_queue(user: User, queue_id: int) -> bool:
    """Staff may send a ticket to any active queue (a correction often leaves theirs)."""
    return user.is_staff


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
