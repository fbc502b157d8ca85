"""Accounts: registration, sign-in checks, staff and token administration."""

from __future__ import annotations

import re
from datetime import date, timedelta

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy.orm.attributes import set_committed_value

from helpdesk import audit, inserts
from helpdesk.auth import sessions, throttle
from helpdesk.auth.activation import send_link
from helpdesk.auth.models import ApiToken, AuthSession, Role, Scope, User, verify_dummy_password
from helpdesk.auth.password_rules import check_password
from helpdesk.auth.sessions import end_all_sessions
from helpdesk.db import transactional, unit_of_work
from helpdesk.errors import Conflict, Forbidden, NotFound, ValidationFailed
from helpdesk.extensions import db
from helpdesk.i18n import N_
from helpdesk.permissions import (
    can_be_queue_member,
    can_change_roles,
    can_manage_queue_members,
    can_set_availability,
    can_sign_in,
    can_use_local_password,
    forget_memberships,
    is_admin,
    is_patient,
    require_admin,
)
from helpdesk.tickets.models import Assignment, Queue, QueueMembership
from helpdesk.timeutil import utcnow
from helpdesk.viewer_time import valid_zone

MIN_PASSWORD = 8  # see helpdesk.auth.password_rules
MAX_PASSWORD = 128
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$")


def normalise_email(raw: object, field: str = "email") -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationFailed("Enter an email address.", fields={field: ["Enter an email address."]})
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise ValidationFailed("Enter a valid email address.", fields={field: ["Enter a valid email address."]}) from None


def check_password_rules(password: object, *, email: str | None = None, name: str | None = None) -> str:
    """NIST SP 800-63B rules (see ``helpdesk.auth.password_rules``)."""
    return check_password(password, email=email, name=name)


def clean_name(raw: object) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationFailed("Enter a name.", fields={"name": ["Enter a name."]})
    name = " ".join(raw.split())
    if len(name) > 120:
        raise ValidationFailed("That name is too long.", fields={"name": ["At most 120 characters."]})
    return name


def email_taken(email: str) -> bool:
    return db.session.scalar(sa.select(User.id).where(User.email == email)) is not None


def _new_user(email: str, name: str, role: Role, password: str | None) -> User:
    if email_taken(email):
        raise Conflict("An account with that email already exists.", fields={"email": ["Already registered."]})
    # Staff, the CLI and the portal vouch for the address; self-registration clears this.
    user = User(email=email, display_name=name, role=role, active=True, email_verified_at=utcnow())
    if password is not None:
        user.set_password(check_password_rules(password, email=email, name=name))
    db.session.add(user)
    db.session.flush()
    return user


@transactional
def register_patient(*, email: object, name: object, password: object, date_of_birth: date | None = None,
                     language: str = "en") -> User:
    address, display = normalise_email(email), clean_name(name)
    user = _new_user(address, display, Role.PATIENT, check_password_rules(password, email=address, name=display))
    user.date_of_birth = date_of_birth
    user.language = language if language in ("en", "es") else "en"  # the pages' language at sign-up
    user.email_verified_at = None  # until the activation link is opened (helpdesk.auth.activation)
    audit.record("user.registered", "user", user.id, actor_id=user.id, changes={"role": {"before": None, "after": "patient"}})
    send_link(user)
    return user


@transactional
def create_user(*, actor: User | None, email: object, name: object, role: Role | str, password: object | None) -> User:
    """An admin (or the CLI, actor None) creates an account of any role."""
    require_admin(actor, "Only admins create accounts.")
    try:
        role = Role(role)
    except ValueError:
        raise ValidationFailed("Unknown role.", fields={"role": [f"One of: {', '.join(r.value for r in Role)}."]}) from None
    user = _new_user(normalise_email(email), clean_name(name), role, password if password is None else str(password))
    audit.record(
        "user.created", "user", user.id, actor_id=actor.id if actor else None,
        changes={"role": {"before": None, "after": role.value}},
    )
    return user


def staff_accounts(*, after: tuple[str, str, int] | None = None, limit: int | None = None) -> list[User]:
    """Staff and integration accounts by role, name, then id: every one, or the ``limit``
    after the (role value, name, id) ``after`` (keyset, for the API's pages)."""
    stmt = sa.select(User).where(User.role != Role.PATIENT).order_by(User.role, User.display_name, User.id)
    if after is not None:
        role, name, ident = after
        bound = (sa.literal(Role(role), type_=User.role.type), sa.literal(name), sa.literal(ident))
        stmt = stmt.where(sa.tuple_(User.role, User.display_name, User.id) > sa.tuple_(*bound))
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(db.session.scalars(stmt))


@transactional
def set_active(*, actor: User | None, user: User, active: bool) -> User:
    require_admin(actor, "Only admins change accounts.")
    if actor is not None and actor.id == user.id and not active:
        raise Conflict("You can't deactivate your own account.")
    if user.active == active:
        raise ValidationFailed("Nothing changed.")
    user.active = active
    end_all_sessions(user, reason="deactivated")
    audit.record(
        "user.activated" if active else "user.deactivated", "user", user.id,
        actor_id=actor.id if actor else None, changes={"active": {"before": not active, "after": active}},
    )
    return user


ASSIGNABLE_ROLES = (Role.PATIENT, Role.AGENT, Role.SUPERVISOR, Role.ADMIN)


@transactional
def change_role(*, actor: User | None, user: User, role: Role | str) -> User:
    """An admin changes a person's role. Leaving staff removes the queue memberships
    (and the editor grant); every session of the user ends either way."""
    if actor is not None and not can_change_roles(actor):
        raise Forbidden("Only admins change roles.")
    try:
        new = Role(role)
    except ValueError:
        new = None
    if new not in ASSIGNABLE_ROLES:
        raise ValidationFailed("Unknown role.", fields={"role": [f"One of: {', '.join(r.value for r in ASSIGNABLE_ROLES)}."]})
    if not can_sign_in(user):
        raise ValidationFailed("Integration accounts keep their role.", fields={"role": ["Not for integration accounts."]})
    if actor is not None and actor.id == user.id:
        raise Conflict("You can't change your own role.")
    if user.role == new:
        raise ValidationFailed("Nothing changed.")
    before = user.role
    user.role = new
    removed: list[str] = []
    if not new.is_staff:
        for membership in list(user.memberships):
            removed.append(membership.queue.slug)
            audit.record("queue.member_removed", "queue", membership.queue.slug, actor_id=actor.id if actor else None,
                         changes={"member": {"before": user.id, "after": None}, "via": "role_change"})
            user.memberships.remove(membership)
        user.kb_editor = False
    end_all_sessions(user)
    changes: dict = {"role": {"before": before.value, "after": new.value}}
    if removed:
        changes["memberships_removed"] = sorted(removed)
    audit.record("user.role_changed", "user", user.id, actor_id=actor.id if actor else None, changes=changes)
    forget_memberships()
    return user


class LocalPasswordDisabled(Exception):
    """A staff account signing in with a password while OIDC_STAFF_LOCAL_PASSWORDS=false:
    staff use the hospital's single sign-on (helpdesk.auth.sso)."""


def authenticate(email: object, password: object) -> User | None:
    """The user if the credentials are right; the same work and answer otherwise.

    Guesses are throttled per account (also for unknown addresses) and per client IP
    (``helpdesk.auth.throttle``): a locked attempt raises ``TooManyAttempts`` without
    the password being checked at all.
    """
    pw = password if isinstance(password, str) else ""
    try:
        address: str | None = normalise_email(email)
    except ValidationFailed:
        address = None
    keys = [throttle.ip_key(), throttle.account_key(address) if address else None]
    user = db.session.scalar(sa.select(User).where(User.email == address)) if address else None
    wait = throttle.locked_for(keys)
    if wait is not None:
        with unit_of_work():  # kept: the refusal is raised after the commit
            audit.record("auth.sign_in_throttled", "user", user.id if user else None, actor_id=None, severity="warning")
        raise throttle.TooManyAttempts(wait)
    if user is not None and can_sign_in(user) and not can_use_local_password(user, current_app.config["HELPDESK"]):
        verify_dummy_password(pw)  # the same time as any other answer
        with unit_of_work():  # kept: the refusal is raised after the commit
            throttle.record_failure(keys)  # counted, so that addresses can't be probed freely
            audit.record("auth.sign_in_refused", "user", user.id, actor_id=None, severity="warning",
                         changes={"reason": "local_password_disabled"})
        raise LocalPasswordDisabled()
    if user is None or not can_sign_in(user):
        verify_dummy_password(pw)
        ok = False
    else:
        ok = user.check_password(pw) and user.active
    with unit_of_work():
        if not ok:
            throttle.record_failure(keys)
            audit.record("auth.sign_in_failed", "user", user.id if user else None, actor_id=None)
            return None
        assert user is not None and address is not None
        throttle.clear(throttle.account_key(address))
        if user.password_needs_rehash():
            user.set_password(pw)
        user.last_login_at = utcnow()
        audit.record("auth.signed_in", "user", user.id, actor_id=user.id)
    return user


@transactional
def sign_out(user: User, auth_session: AuthSession | None = None) -> None:
    """End this browser's session on the server: a copy of its cookie stops working.
    Without a session row (none known), every session of the user ends."""
    if auth_session is not None:
        sessions.end(auth_session, "signed_out")
    else:
        end_all_sessions(user, reason="signed_out")
    audit.record("auth.signed_out", "user", user.id, actor_id=user.id)


# ---------------------------------------------------------------- queues and membership


@transactional
def create_queue(*, actor: User | None, slug: object, name: object, description: object = "") -> Queue:
    require_admin(actor, "Only admins create queues.")
    slug_s = str(slug or "").strip().lower()
    if not SLUG_RE.match(slug_s):
        raise ValidationFailed(
            "Use 3-40 lowercase letters, digits and dashes for the slug.", fields={"slug": ["Invalid slug."]}
        )
    if db.session.scalar(sa.select(Queue.id).where(Queue.slug == slug_s)) is not None:
        raise Conflict("A queue with that slug exists.", fields={"slug": ["Already used."]})
    name_s = clean_name(name)
    desc = " ".join(str(description or "").split())[:500]
    queue = Queue(slug=slug_s, name=name_s, description=desc, active=True)
    db.session.add(queue)
    db.session.flush()
    audit.record("queue.created", "queue", queue.slug, actor_id=actor.id if actor else None)
    return queue


@transactional
def set_queue_active(*, actor: User, queue: Queue, active: bool) -> Queue:
    if not is_admin(actor):
        raise Forbidden("Only admins change queues.")
    if queue.slug == "triage" and not active:
        raise Conflict("The triage queue can't be deactivated: unsure requests go there.")
    if queue.active == active:
        raise ValidationFailed("Nothing changed.")
    queue.active = active
    audit.record("queue.updated", "queue", queue.slug, actor_id=actor.id,
                 changes={"active": {"before": not active, "after": active}})
    return queue


@transactional
def set_queue_assignment(*, actor: User, queue: Queue, assignment: str) -> Queue:
    """How the router assigns new tickets within the queue."""
    if not can_manage_queue_members(actor, queue.id):
        raise Forbidden("You can't manage this queue.")
    try:
        value = Assignment(assignment)
    except ValueError:
        raise ValidationFailed("Unknown assignment method.",
                               fields={"assignment": [f"One of: {', '.join(a.value for a in Assignment)}."]}) from None
    if queue.assignment == value:
        raise ValidationFailed("Nothing changed.")
    before = queue.assignment.value
    queue.assignment = value
    audit.record("queue.updated", "queue", queue.slug, actor_id=actor.id,
                 changes={"assignment": {"before": before, "after": value.value}})
    return queue


@transactional
def set_available(*, user: User, available: bool) -> User:
    """Staff mark themselves available (or not) for automatic assignment."""
    if not can_set_availability(user):
        raise Forbidden("Only staff have an availability.")
    if user.available == available:
        raise ValidationFailed("Nothing changed.")
    user.available = available
    audit.record("user.availability", "user", user.id, actor_id=user.id,
                 changes={"available": {"before": not available, "after": available}})
    return user


@transactional
def set_timezone(*, user: User, timezone: object) -> User:
    """The IANA time zone ``user`` reads times in; "" (or None) goes back to the site's zone."""
    zone = None if timezone in (None, "") else valid_zone(timezone)
    if timezone not in (None, "") and zone is None:
        raise ValidationFailed(N_("Choose a time zone from the list."),
                               fields={"timezone": ["An IANA time zone such as America/Chicago."]})
    if user.timezone != zone:
        audit.record("user.timezone_changed", "user", user.id, actor_id=user.id,
                     changes={"timezone": {"before": user.timezone, "after": zone}})
        user.timezone = zone
    return user


@transactional
def add_member(*, actor: User | None, queue: Queue, user: User) -> QueueMembership:
    if actor is not None and not can_manage_queue_members(actor, queue.id):
        raise Forbidden("You can't manage this queue.")
    if not can_be_queue_member(user):
        raise ValidationFailed("Only staff can be queue members.", fields={"user": ["Must be staff."]})
    existing = db.session.scalar(
        sa.select(QueueMembership).where(QueueMembership.queue_id == queue.id, QueueMembership.user_id == user.id)
    )
    if existing is not None:
        raise Conflict("Already a member of this queue.")
    membership = QueueMembership(queue=queue, user=user)
    db.session.add(membership)
    audit.record("queue.member_added", "queue", queue.slug, actor_id=actor.id if actor else None,
                 changes={"member": {"before": None, "after": user.id}})
    forget_memberships()
    return membership


@transactional
def remove_member(*, actor: User, queue: Queue, user: User) -> None:
    if not can_manage_queue_members(actor, queue.id):
        raise Forbidden("You can't manage this queue.")
    membership = db.session.scalar(
        sa.select(QueueMembership).where(QueueMembership.queue_id == queue.id, QueueMembership.user_id == user.id)
    )
    if membership is None:
        raise NotFound("Not a member of this queue.")
    db.session.delete(membership)
    audit.record("queue.member_removed", "queue", queue.slug, actor_id=actor.id,
                 changes={"member": {"before": user.id, "after": None}})
    forget_memberships()


# ---------------------------------------------------------------- API tokens


#: Longest lifetime an admin may give a token, and the longest overlap of a rotation.
TOKEN_MAX_DAYS = 730
ROTATION_MAX_OVERLAP_MINUTES = 24 * 60


def _scope_string(scopes: object) -> str:
    """``scopes`` (names, or None for all three) as stored: in Scope order."""
    if scopes is None:
        wanted = set(Scope)
    else:
        names = scopes.split() if isinstance(scopes, str) else list(scopes)  # type: ignore[call-overload]
        try:
            wanted = {Scope(str(n).strip().lower()) for n in names}
        except ValueError:
            raise ValidationFailed("Unknown scope: use read, create or manage.",
                                   fields={"scopes": ["Unknown scope."]}) from None
        if not wanted:
            raise ValidationFailed("Give the token at least one scope.", fields={"scopes": ["Required."]})
    return " ".join(s.value for s in Scope if s in wanted)


def _expiry(expires_in_days: object) -> timedelta | None:
    if expires_in_days is None:
        return None
    try:
        days = int(expires_in_days)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        days = 0
    if not 1 <= days <= TOKEN_MAX_DAYS:
        raise ValidationFailed(f"A token lasts 1 to {TOKEN_MAX_DAYS} days (or does not expire).",
                               fields={"expires_in_days": ["Out of range."]})
    return timedelta(days=days)


@transactional
def create_api_token(*, actor: User | None, name: object, user: User | None = None, scopes: object = None,
                     expires_in_days: object = None) -> tuple[ApiToken, str]:
    """A new bearer token; the secret is returned once and only its hash is stored.

    Without ``user`` the token belongs to an integration account of the same name
    (created on first use): the patient portal, say. ``scopes`` (read, create, manage;
    all three by default) narrow what the account may do through the API;
    ``expires_in_days`` None means the token does not expire.
    """
    require_admin(actor, "Only admins create API tokens.")
    label = " ".join(str(name or "").split())
    if not label or len(label) > 80:
        raise ValidationFailed("Give the token a name (at most 80 characters).", fields={"name": ["Required."]})
    lifetime = _expiry(expires_in_days)
    if user is None:
        slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-") or "integration"
        email = f"{slug}@integrations.invalid"
        user = db.session.scalar(sa.select(User).where(User.email == email))
        if user is None:
            user = User(email=email, display_name=label, role=Role.INTEGRATION, active=True)
            db.session.add(user)
            db.session.flush()
            audit.record("user.created", "user", user.id, actor_id=actor.id if actor else None,
                         changes={"role": {"before": None, "after": "integration"}})
    scope_string = _scope_string(scopes)
    token, secret = _new_token(name=label, user=user, scopes=scope_string,
                       expires_at=utcnow() + lifetime if lifetime else None)
    audit.record("api_token.created", "api_token", token.id, actor_id=actor.id if actor else None,
                 changes={"user_id": {"before": None, "after": user.id},
                          "scopes": {"before": None, "after": scope_string},
                          "expires_at": {"before": None, "after": token.expires_at.isoformat()
                                         if token.expires_at else None}})
    return token, secret


def _new_token(*, name: str, user: User, scopes: str, expires_at) -> tuple[ApiToken, str]:
    secret, digest = ApiToken.generate()
    token = ApiToken(name=name, user=user, token_hash=digest, prefix=secret[:10], scopes=scopes,
                     expires_at=expires_at)
    db.session.add(token)
    db.session.flush()
    return token, secret


@transactional
def rotate_api_token(*, actor: User | None, token: ApiToken, overlap_minutes: object = 0) -> tuple[ApiToken, str]:
    """A new secret for the same account, name and scopes (and the same lifetime from
    now, when the old one had one). The old secret is revoked at once
    (``overlap_minutes`` 0) or keeps working for at most ``overlap_minutes`` (up to a
    day) while the integration switches over; it then expires."""
    require_admin(actor, "Only admins rotate API tokens.")
    try:
        overlap = int(overlap_minutes)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        overlap = -1
    if not 0 <= overlap <= ROTATION_MAX_OVERLAP_MINUTES:
        raise ValidationFailed(f"The overlap is 0 to {ROTATION_MAX_OVERLAP_MINUTES} minutes.",
                               fields={"overlap_minutes": ["Out of range."]})
    if not token.active:
        raise Conflict("Only an active token can be rotated.")
    now = utcnow()
    lifetime = token.expires_at - token.created_at if token.expires_at else None
    new, secret = _new_token(name=token.name, user=token.user, scopes=token.scopes,
                     expires_at=now + lifetime if lifetime else None)
    token.replaced_by_id = new.id
    before = {"revoked_at": None, "expires_at": token.expires_at.isoformat() if token.expires_at else None}
    if overlap == 0:
        token.revoked_at = now
    else:
        ends = now + timedelta(minutes=overlap)
        token.expires_at = min(token.expires_at, ends) if token.expires_at else ends
    audit.record("api_token.rotated", "api_token", token.id, actor_id=actor.id if actor else None,
                 changes={"replaced_by": {"before": None, "after": new.id},
                          "revoked_at": {"before": before["revoked_at"],
                                         "after": token.revoked_at.isoformat() if token.revoked_at else None},
                          "expires_at": {"before": before["expires_at"],
                                         "after": token.expires_at.isoformat() if token.expires_at else None}})
    audit.record("api_token.created", "api_token", new.id, actor_id=actor.id if actor else None,
                 changes={"user_id": {"before": None, "after": new.user_id},
                          "scopes": {"before": None, "after": new.scopes}, "rotated_from": {"before": None,
                                                                                          "after": token.id}})
    return new, secret


@transactional
def record_token_use(token: ApiToken) -> None:
    """Remember when a token was last used — at most once a minute, so that the write
    does not cost every API call."""
    now = utcnow()
    if token.last_used_at is not None and (now - token.last_used_at).total_seconds() <= 60:
        return
    db.session.execute(sa.update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now)
                       .execution_options(helpdesk_token_last_use=True))  # not a change (api.token_cache)
    set_committed_value(token, "last_used_at", now)


@transactional
def revoke_api_token(*, actor: User | None, token: ApiToken) -> ApiToken:
    require_admin(actor, "Only admins revoke API tokens.")
    if token.revoked_at is not None:
        raise Conflict("This token is already revoked.")
    token.revoked_at = utcnow()
    audit.record("api_token.revoked", "api_token", token.id, actor_id=actor.id if actor else None)
    return token


def find_or_create_patient(*, email: object, name: object, actor: User) -> User:
    """The portal names a patient by e-mail; the account is created (without a
    password: they set one through a reset) when it is new. No commit: the caller's
    unit of work includes it."""
    address = normalise_email(email, "requester.email")
    user = db.session.scalar(sa.select(User).where(User.email == address))
    if user is not None:
        if not is_patient(user):
            raise ValidationFailed("That address doesn't belong to a patient.",
                                   fields={"requester": {"email": ["Not a patient account."]}})
        return user
    try:
        display = clean_name(name)
    except ValidationFailed:
        raise ValidationFailed("Give the patient's name.", fields={"requester": {"name": ["Required."]}}) from None
    # The portal integration has checked its user's address: trusted, as all it sends.
    user = User(email=address, display_name=display, role=Role.PATIENT, active=True, email_verified_at=utcnow())
    db.session.add(user)
    inserts.assign_ids(user)  # its id for the audit event: a flush, or the next of its sequence
    audit.record("user.created", "user", user.id, actor_id=actor.id,
                 changes={"role": {"before": None, "after": "patient"}, "via": "api"})
    return user
