"""The one authentication path of the API: ``Authorization: Bearer <secret>``.

API tokens (only the token's hash is stored) authenticate every /api operation;
the inbound-mail hook takes the INBOUND_MAIL_TOKEN setting through the same parser.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, g, request

from helpdesk.api import token_cache
from helpdesk.api.schemas import ErrorOut
from helpdesk.auth.models import Scope, User, hash_token
from helpdesk.auth.services import record_token_use
from helpdesk.errors import DomainError, Forbidden, NotFound
from helpdesk.permissions import token_has_scope
from helpdesk.proxy import rate_limit_key as client_rate_key

F = TypeVar("F", bound=Callable[..., Any])


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class InsufficientScope(Forbidden):
    code = "insufficient_scope"


def bearer_secret() -> str | None:
    """The secret of an ``Authorization: Bearer <secret>`` header, or None."""
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


def rate_limit_key() -> str:
    """flask-limiter's key under /api: the bearer token (by its hash), else the client's address."""
    secret = bearer_secret()
    return f"token:{hash_token(secret)[:32]}" if secret else f"address:{client_rate_key()}"


def authenticate_request() -> User:
    """The API token's user (also ``g.api_user``), else 401."""
    secret = bearer_secret()
    if secret is None:
        raise Unauthorized("Send an API token as 'Authorization: Bearer <token>'.")
    # the token and its user: one statement, or none while the cached copy is current
    token = token_cache.lookup(hash_token(secret))
    if token is not None and token.revoked_at is None and token.user.active and token.expired():
        raise Unauthorized("That API token has expired: ask an admin for a new one.")
    if token is None or not token.active:
        raise Unauthorized("That API token is not valid or was revoked.")
    record_token_use(token)
    token_cache.remember_use(token)
    g.api_user = token.user
    g.api_token = token
    return token.user


def requires_scope(blp: Any, scope: Scope) -> Callable[[F], F]:
    """The operation needs an API token with ``scope`` (else 403 ``insufficient_scope``,
    before the body is read). Put it above the flask-smorest decorators; it documents the
    scope (``x-required-scope`` and the description) and the 403."""

    def deco(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            token = g.get("api_token")
            if token is None or not token_has_scope(token, scope):
                raise InsufficientScope(f"This API token lacks the '{scope.value}' scope.")
            return view(*args, **kwargs)

        documented = blp.doc(**{"x-required-scope": scope.value})(wrapped)
        return blp.alt_response(403, description="Not allowed for this token (or it lacks the scope)",
                                schema=ErrorOut)(documented)

    return deco


def authenticate_inbound_mail() -> None:
    """The inbound-mail provider's call: 404 unless INBOUND_MAIL_TOKEN is set, else the
    bearer secret must equal it (compared in constant time)."""
    expected = current_app.config["HELPDESK"].inbound_token
    if not expected:
        raise NotFound("Inbound mail over HTTP is not enabled.")
    secret = bearer_secret()
    if secret is None or not hmac.compare_digest(secret.encode(), expected.encode()):
        raise Unauthorized("Send the inbound-mail token as 'Authorization: Bearer <token>'.")
