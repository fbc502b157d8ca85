"""Inviting staff by e-mail: the admin never chooses or sees their password.

The account is made without a password and a one-use link is mailed to the address (the
password-reset link, valid for ``INVITE_TTL``); opening it sets the first password, and
the first sign-in then asks for the authenticator (staff must use two-step sign-in).
An invitation can be sent again (the earlier link stops working).
"""

from __future__ import annotations

from datetime import timedelta

from helpdesk import audit
from helpdesk.auth import services
from helpdesk.auth.models import Role, User
from helpdesk.auth.passwords import issue_reset_link
from helpdesk.db import transactional
from helpdesk.errors import Conflict, ValidationFailed
from helpdesk.permissions import require_admin

INVITE_TTL = timedelta(hours=72)
STAFF_ROLES = (Role.AGENT, Role.SUPERVISOR, Role.ADMIN)


@transactional
def invite_staff(*, actor: User | None, email: object, name: object, role: Role | str) -> User:
    try:
        role = Role(role)
    except ValueError:
        role = None  # type: ignore[assignment]
    if role not in STAFF_ROLES:
        raise ValidationFailed("Choose a staff role.", fields={"role": ["One of: agent, supervisor, admin."]})
    user = services.create_user(actor=actor, email=email, name=name, role=role, password=None)
    issue_reset_link(user, sent_by=actor, ttl=INVITE_TTL, kind="staff_invite")
    audit.record("user.invited", "user", user.id, actor_id=actor.id if actor else None, changes={"role": role.value})
    return user


@transactional
def resend_invite(*, actor: User, user: User) -> None:
    """A new link for a staff member who has not set a password yet."""
    require_admin(actor, "Only admins invite staff.")
    if not user.is_staff or user.password_hash is not None or not user.active:
        raise Conflict("Only an active staff member who has not set a password yet can be invited again.")
    issue_reset_link(user, sent_by=actor, ttl=INVITE_TTL, kind="staff_invite")
    audit.record("user.invited", "user", user.id, actor_id=actor.id, changes={"role": user.role.value, "again": True})
