"""Staff single sign-on with the hospital's OpenID Connect provider.

The authorization-code flow with PKCE (S256), in three steps; the first two talk to the
provider and live in :mod:`helpdesk.auth.sso_protocol` (Authlib, requests, joserfc: loaded
only when someone signs in this way), the third is here:

1. ``begin`` reads the provider's discovery document (``<OIDC_ISSUER>/.well-known/
   openid-configuration``), makes a fresh ``state``, ``nonce`` and PKCE verifier for this
   browser (kept in its signed session cookie by the view) and returns the provider's
   authorization URL.
2. ``finish`` checks the callback's ``state``, exchanges the code (with the verifier and
   the client secret) at the token endpoint, and validates the ID token: signature with
   the provider's published keys (JWKS, re-read once when a key is unknown or does not
   verify, for key rotation), ``iss`` = the configured issuer, ``aud`` = our client id
   (``azp`` when there are several), ``exp``/``iat`` (one minute of leeway), ``nonce`` =
   the one sent in step 1 (used once: the view pops it from the session).
3. ``sign_in`` maps the groups claim to a role (``OIDC_ROLE_MAP``; the highest mapped
   role wins) and queue memberships (``OIDC_QUEUE_MAP``), and finds the account — by the
   ID token's issuer and subject, else by e-mail for an existing staff account (linked
   then), else creates one just in time. No mapped group: refused, no account created.

Every refusal raises ``SsoRefused`` with a reason code; ``record_refusal`` writes it to
the audit log (never a token, a code or the raw claims). Tokens are not kept: the ID
token is read once and dropped; sign-out at the provider uses ``client_id``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from helpdesk import audit
from helpdesk.auth.models import Role, SsoIdentity, User
from helpdesk.auth.services import normalise_email
from helpdesk.auth.sessions import end_all_sessions
from helpdesk.config import Settings
from helpdesk.db import transactional, unit_of_work
from helpdesk.errors import ValidationFailed
from helpdesk.extensions import db
from helpdesk.i18n import N_
from helpdesk.permissions import can_link_sso_account, forget_memberships
from helpdesk.tickets.models import Queue, QueueMembership
from helpdesk.timeutil import utcnow

log = logging.getLogger(__name__)

LEEWAY_SECONDS = 60  # clock skew allowed on exp / iat
METADATA_TTL_SECONDS = 3600  # discovery document and keys are re-read after this long
PENDING_TTL_SECONDS = 600  # a sign-in started more than 10 minutes ago is not finished
ROLE_RANK = {"agent": 1, "supervisor": 2, "admin": 3}
MAX_GROUPS_AUDITED = 20

# reason code -> what the person is told (the audit log keeps the code)
REASONS: dict[str, str] = {
    "provider_error": N_("The sign-in service did not sign you in."),
    "state_mismatch": N_("That sign-in link was not started in this browser, or it was already used. Start again."),
    "missing_code": N_("The sign-in service did not send a sign-in code."),
    "provider_unreachable": N_("The sign-in service can't be reached right now. Try again in a few minutes."),
    "token_error": N_("The sign-in service refused the sign-in code."),
    "bad_signature": N_("The sign-in could not be verified."),
    "wrong_issuer": N_("The sign-in could not be verified."),
    "wrong_audience": N_("The sign-in could not be verified."),
    "expired": N_("The sign-in expired. Start again."),
    "nonce_mismatch": N_("The sign-in could not be verified."),
    "invalid_token": N_("The sign-in could not be verified."),
    "missing_email": N_("Your account at the sign-in service has no e-mail address."),
    "email_unverified": N_("Your e-mail address at the sign-in service is not verified."),
    "unknown_group": N_("Your account is not in a group that may use the help desk. Ask the IT service desk."),
    "email_in_use": N_("Your e-mail address belongs to a help desk account that can't use single sign-on."),
    "account_deactivated": N_("Your help desk account is deactivated."),
}


class SsoRefused(Exception):
    """A sign-in through the provider that was refused: ``reason`` is a code of REASONS."""

    def __init__(self, reason: str, *, user_id: int | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.user_id = user_id
        self.details = details or {}

    @property
    def message(self) -> str:
        return REASONS.get(self.reason, REASONS["invalid_token"])


# ---------------------------------------------------------------- between the two steps


@dataclass(frozen=True)
class Pending:
    """What this browser must bring back: kept in its (signed) session between the two steps."""

    state: str
    nonce: str
    verifier: str
    started: float

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "nonce": self.nonce, "verifier": self.verifier, "started": self.started}

    @classmethod
    def from_dict(cls, raw: Any) -> Pending | None:
        if not isinstance(raw, dict):
            return None
        try:
            return cls(state=str(raw["state"]), nonce=str(raw["nonce"]), verifier=str(raw["verifier"]),
                       started=float(raw["started"]))
        except (KeyError, TypeError, ValueError):
            return None


# ---------------------------------------------------------------- 3. the account


@dataclass(frozen=True)
class Mapping:
    role: Role
    queues: tuple[str, ...]  # slugs the groups give
    managed: tuple[str, ...]  # every slug in OIDC_QUEUE_MAP: only these are added or removed


def groups_of(settings: Settings, claims: dict[str, Any]) -> list[str]:
    raw = claims.get(settings.oidc_groups_claim)
    if isinstance(raw, str):
        raw = raw.split()
    if not isinstance(raw, list):
        return []
    return [g for g in raw if isinstance(g, str)]


def map_groups(settings: Settings, groups: list[str]) -> Mapping | None:
    """The role (highest mapped) and queues the groups give; None when no group maps to a role."""
    member = set(groups)
    roles = [role for group, role in settings.oidc_role_map if group in member]
    if not roles:
        return None
    role = max(roles, key=ROLE_RANK.__getitem__)
    queues = tuple(dict.fromkeys(slug for group, slug in settings.oidc_queue_map if group in member))
    managed = tuple(dict.fromkeys(slug for _group, slug in settings.oidc_queue_map))
    return Mapping(role=Role(role), queues=queues, managed=managed)


def _email(claims: dict[str, Any]) -> str:
    raw = claims.get("email")
    if not isinstance(raw, str) or not raw.strip():
        raise SsoRefused("missing_email")
    if claims.get("email_verified") is False:
        raise SsoRefused("email_unverified")
    try:
        return normalise_email(raw)
    except ValidationFailed:  # not an address
        raise SsoRefused("missing_email") from None


def _display_name(claims: dict[str, Any], email: str) -> str:
    name = claims.get("name")
    if not isinstance(name, str) or not name.strip():
        parts = [claims.get("given_name"), claims.get("family_name")]
        name = " ".join(p for p in parts if isinstance(p, str) and p.strip())
    name = " ".join(str(name or "").split())[:120]
    return name or email.split("@", 1)[0]


@transactional
def sign_in(settings: Settings, claims: dict[str, Any]) -> User:
    """The staff account for validated claims: found, linked or created, its role and
    queues brought in line with the groups. One unit of work, audited."""
    issuer, subject = str(claims["iss"]), str(claims.get("sub") or "")
    if not subject or len(subject) > 255:
        raise SsoRefused("invalid_token", details={"claim": "sub"})
    groups = groups_of(settings, claims)
    identity = db.session.scalar(sa.select(SsoIdentity).where(SsoIdentity.issuer == issuer,
                                                              SsoIdentity.subject == subject))
    mapping = map_groups(settings, groups)
    if mapping is None:
        raise SsoRefused("unknown_group", user_id=identity.user_id if identity else None,
                         details={"groups": sorted(groups)[:MAX_GROUPS_AUDITED]})
    now = utcnow()
    if identity is not None:
        user = identity.user
    else:
        email = _email(claims)
        user = db.session.scalar(sa.select(User).where(User.email == email))
        if user is not None and not can_link_sso_account(user):
            raise SsoRefused("email_in_use", user_id=user.id)
        if user is not None and db.session.scalar(sa.select(SsoIdentity.id).where(
                SsoIdentity.user_id == user.id, SsoIdentity.issuer == issuer)) is not None:
            # already linked to another person at this provider: an address reused there takes nothing over
            raise SsoRefused("email_in_use", user_id=user.id, details={"linked": True})
        if user is None:
            user = User(email=email, display_name=_display_name(claims, email), role=mapping.role, active=True,
                        email_verified_at=now)
            db.session.add(user)
            db.session.flush()
            audit.record("user.created", "user", user.id, actor_id=None,
                         changes={"role": {"before": None, "after": mapping.role.value}, "via": "sso"})
        identity = SsoIdentity(user_id=user.id, issuer=issuer, subject=subject, created_at=now)
        db.session.add(identity)
        audit.record("auth.sso_linked", "user", user.id, actor_id=None, changes={"issuer": issuer})
    if not user.active:
        raise SsoRefused("account_deactivated", user_id=user.id)
    if user.role != mapping.role:
        before = user.role
        user.role = mapping.role
        end_all_sessions(user, reason="role_changed")  # other browsers carry the old role: they sign in again
        audit.record("user.role_changed", "user", user.id, actor_id=None,
                     changes={"role": {"before": before.value, "after": mapping.role.value}, "via": "sso"})
    _sync_queues(user, mapping)
    identity.last_login_at = now
    user.last_login_at = now
    audit.record("auth.sso_signed_in", "user", user.id, actor_id=user.id,
                 changes={"issuer": issuer, "role": mapping.role.value, "queues": list(mapping.queues)})
    return user


def _sync_queues(user: User, mapping: Mapping) -> None:
    """Memberships of the queues named in OIDC_QUEUE_MAP follow the groups; the others
    (given by a supervisor in the help desk) are left as they are."""
    if not mapping.managed:
        return
    queues = {q.slug: q for q in db.session.scalars(sa.select(Queue).where(Queue.slug.in_(mapping.managed)))}
    current = {m.queue.slug: m for m in user.memberships if m.queue.slug in mapping.managed}
    wanted = set(mapping.queues)
    changed = False
    for slug in sorted(wanted - current.keys()):
        queue = queues.get(slug)
        if queue is None:
            log.warning("sso: OIDC_QUEUE_MAP names a queue that does not exist: %s", slug)
            continue
        db.session.add(QueueMembership(queue=queue, user=user))
        audit.record("queue.member_added", "queue", slug, actor_id=None,
                     changes={"member": {"before": None, "after": user.id}, "via": "sso"})
        changed = True
    for slug in sorted(current.keys() - wanted):
        user.memberships.remove(current[slug])
        audit.record("queue.member_removed", "queue", slug, actor_id=None,
                     changes={"member": {"before": user.id, "after": None}, "via": "sso"})
        changed = True
    if changed:
        db.session.flush()
        forget_memberships()


def record_refusal(settings: Settings, refused: SsoRefused) -> None:
    """The audit row of a refused sign-in (its own unit of work: nothing else was kept)."""
    with unit_of_work():
        audit.record("auth.sso_refused", "user", refused.user_id, actor_id=None, severity="warning",
                     changes={"reason": refused.reason, "issuer": settings.oidc_issuer, **refused.details})
    log.info("sso: sign-in refused (%s)", refused.reason)


# ---------------------------------------------------------------- sign-out at the provider
