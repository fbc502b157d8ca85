"""Staff single sign-on with the hospital's OpenID Connect provider.

The authorization-code flow with PKCE (S256), in three steps:

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

import hmac
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests
import sqlalchemy as sa
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
)
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

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


# ---------------------------------------------------------------- the provider's metadata and keys


@dataclass
class _Cached:
    metadata: dict[str, Any]
    fetched_at: float
    keys: dict[str, Any] | None = None
    keys_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


_CACHE: dict[str, _Cached] = {}
_CACHE_LOCK = threading.Lock()


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def _get_json(url: str, settings: Settings) -> dict[str, Any]:
    try:
        response = requests.get(url, timeout=settings.oidc_timeout, headers={"Accept": "application/json"})
        response.raise_for_status()
        data = response.json()
    except (requests.RequestException, ValueError) as exc:
        log.warning("sso: %s unreachable or not JSON (%s)", url, type(exc).__name__)
        raise SsoRefused("provider_unreachable") from None
    if not isinstance(data, dict):
        raise SsoRefused("provider_unreachable")
    return data


def metadata(settings: Settings, *, force: bool = False) -> dict[str, Any]:
    """The provider's discovery document (cached per process for an hour). Its ``issuer``
    must be exactly OIDC_ISSUER (OpenID Connect Discovery, section 4.3)."""
    assert settings.oidc_issuer
    issuer = settings.oidc_issuer
    cached = _CACHE.get(issuer)
    if cached is not None and not force and time.monotonic() - cached.fetched_at < METADATA_TTL_SECONDS:
        return cached.metadata
    data = _get_json(discovery_url(issuer), settings)
    if data.get("issuer") != issuer:
        log.warning("sso: the discovery document names another issuer")
        raise SsoRefused("wrong_issuer")
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(data.get(key), str):
            raise SsoRefused("provider_unreachable", details={"missing": key})
    with _CACHE_LOCK:
        _CACHE[issuer] = _Cached(metadata=data, fetched_at=time.monotonic())
    return data


def _key_set(settings: Settings, *, force: bool = False) -> KeySet:
    meta = metadata(settings)
    cached = _CACHE[settings.oidc_issuer or ""]
    with cached.lock:
        if force or cached.keys is None or time.monotonic() - cached.keys_at >= METADATA_TTL_SECONDS:
            cached.keys = _get_json(meta["jwks_uri"], settings)
            cached.keys_at = time.monotonic()
        keys = cached.keys
    try:
        return KeySet.import_key_set(keys)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError):
        raise SsoRefused("provider_unreachable", details={"jwks": "unreadable"}) from None


def forget_provider() -> None:
    """Drop the cached discovery documents and keys (tests; after a provider change)."""
    with _CACHE_LOCK:
        _CACHE.clear()


# ---------------------------------------------------------------- 1. to the provider


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


def _client(settings: Settings, redirect_uri: str) -> OAuth2Session:
    return OAuth2Session(settings.oidc_client_id, settings.oidc_client_secret, scope=settings.oidc_scopes,
                         redirect_uri=redirect_uri, code_challenge_method="S256")


def begin(settings: Settings, redirect_uri: str) -> tuple[str, Pending]:
    """The provider's authorization URL and what to remember until the callback."""
    meta = metadata(settings)
    pending = Pending(state=generate_token(32), nonce=generate_token(32), verifier=generate_token(64),
                      started=time.time())
    with _client(settings, redirect_uri) as client:
        url, _state = client.create_authorization_url(meta["authorization_endpoint"], state=pending.state,
                                                      nonce=pending.nonce, code_verifier=pending.verifier)
    return url, pending


# ---------------------------------------------------------------- 2. back from the provider


def finish(settings: Settings, args: dict[str, str], pending: Pending | None, redirect_uri: str) -> dict[str, Any]:
    """The validated ID-token claims of this callback, or ``SsoRefused``."""
    if args.get("error"):
        raise SsoRefused("provider_error", details={"error": str(args["error"])[:64]})
    state = args.get("state") or ""
    if pending is None or not hmac.compare_digest(state.encode(), pending.state.encode()):
        raise SsoRefused("state_mismatch")
    if time.time() - pending.started > PENDING_TTL_SECONDS:
        raise SsoRefused("expired", details={"step": "authorization"})
    code = args.get("code")
    if not code:
        raise SsoRefused("missing_code")
    meta = metadata(settings)
    try:
        with _client(settings, redirect_uri) as client:
            token = client.fetch_token(meta["token_endpoint"], grant_type="authorization_code", code=code,
                                       code_verifier=pending.verifier, timeout=settings.oidc_timeout)
    except OAuth2Error as exc:
        raise SsoRefused("token_error", details={"error": str(exc.error or "")[:64]}) from None
    except (requests.RequestException, ValueError):
        raise SsoRefused("provider_unreachable", details={"step": "token"}) from None
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise SsoRefused("invalid_token", details={"missing": "id_token"})
    return validate_id_token(settings, id_token, nonce=pending.nonce, access_token=token.get("access_token"))


def _decode(settings: Settings, id_token: str, algorithms: list[str] | None) -> Any:
    registry = JWSRegistry(algorithms=algorithms or ["RS256"], strict_check_header=False)
    try:
        return jwt.decode(id_token, key=_key_set(settings), registry=registry)
    except (InvalidKeyIdError, BadSignatureError):
        pass  # the provider may have rotated its keys: read them once more
    return jwt.decode(id_token, key=_key_set(settings, force=True), registry=registry)


def validate_id_token(settings: Settings, id_token: str, *, nonce: str, access_token: str | None) -> dict[str, Any]:
    """Signature (JWKS), issuer, audience, expiry and nonce of an ID token."""
    meta = metadata(settings)
    algorithms = [a for a in meta.get("id_token_signing_alg_values_supported") or ["RS256"] if a != "none"]
    try:
        decoded = _decode(settings, id_token, algorithms)
    except (InvalidKeyIdError, BadSignatureError):
        raise SsoRefused("bad_signature") from None
    except (JoseError, ValueError, TypeError):
        raise SsoRefused("invalid_token", details={"step": "decode"}) from None
    params: dict[str, Any] = {"nonce": nonce, "client_id": settings.oidc_client_id}
    if access_token:
        params["access_token"] = access_token
    options = {"iss": {"essential": True, "value": settings.oidc_issuer},
               "aud": {"essential": True, "value": settings.oidc_client_id}}
    claims = CodeIDToken(decoded.claims, decoded.header, options, params)
    try:
        claims.validate(leeway=LEEWAY_SECONDS)
    except ExpiredTokenError:
        raise SsoRefused("expired") from None
    except ClaimError as exc:
        reason = {"iss": "wrong_issuer", "aud": "wrong_audience", "azp": "wrong_audience",
                  "nonce": "nonce_mismatch"}.get(exc.claim, "invalid_token")
        raise SsoRefused(reason, details={"claim": exc.claim}) from None
    if claims.get("iat", 0) > time.time() + LEEWAY_SECONDS:
        raise SsoRefused("invalid_token", details={"claim": "iat"})
    return dict(claims)


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


def logout_url(settings: Settings, post_logout_redirect_uri: str) -> str | None:
    """RP-initiated logout: the provider's end_session_endpoint, when it advertises one."""
    try:
        endpoint = metadata(settings).get("end_session_endpoint")
    except SsoRefused:
        return None  # the provider is down: the help desk's own session has ended anyway
    if not isinstance(endpoint, str) or not endpoint:
        return None
    query = urlencode({"client_id": settings.oidc_client_id, "post_logout_redirect_uri": post_logout_redirect_uri})
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"
