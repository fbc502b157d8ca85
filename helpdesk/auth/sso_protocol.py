"""Staff single sign-on, the provider's side: discovery, keys, the authorization URL, the
code exchange and the ID token's checks (steps 1 and 2 of :mod:`helpdesk.auth.sso`), and
the provider's sign-out address.

Kept apart from :mod:`helpdesk.auth.sso` because it loads Authlib, requests and joserfc
(~15 MB per process): the views import it when someone signs in or out through the
provider, so a deployment without single sign-on never loads them.
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

from helpdesk.auth.sso import LEEWAY_SECONDS, METADATA_TTL_SECONDS, PENDING_TTL_SECONDS, Pending, SsoRefused
from helpdesk.config import Settings

log = logging.getLogger(__name__)


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
    except (InvalidKeyIdError, BadSignatureError):  # the provider may have rotated its keys: read them once more
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
