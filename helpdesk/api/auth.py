"""The one authentication path of the API: ``Authorization: Bearer <secret>``.

API tokens (only the token's hash is stored) authenticate every /api operation;
the inbound-mail hook takes the INBOUND_MAIL_TOKEN setting through the same parser.
"""

from __future__ import annotations

import hmac

import sqlalchemy as sa
from flask import current_app, g, request
from sqlalchemy.orm import joinedload

from helpdesk.auth.models import ApiToken, User, hash_token
from helpdesk.auth.services import record_token_use
from helpdesk.errors import DomainError, NotFound
from helpdesk.extensions import db


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


def bearer_secret() -> str | None:
    """The secret of an ``Authorization: Bearer <secret>`` header, or None."""
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


def authenticate_request() -> User:
    """The API token's user (also ``g.api_user``), else 401."""
    secret = bearer_secret()
    if secret is None:
        raise Unauthorized("Send an API token as 'Authorization: Bearer <token>'.")
    # the token and its user in one statement
    token = db.session.scalar(sa.select(ApiToken).options(joinedload(ApiToken.user))
                              .where(ApiToken.token_hash == hash_token(secret)))
    if token is None or not token.active:
        raise Unauthorized("That API token is not valid or was revoked.")
    record_token_use(token)
    g.api_user = token.user
    return token.user


def authenticate_inbound_mail() -> None:
    """The inbound-mail provider's call: 404 unless INBOUND_MAIL_TOKEN is set, else the
    bearer secret must equal it (compared in constant time)."""
    expected = current_app.config["HELPDESK"].inbound_token
    if not expected:
        raise NotFound("Inbound mail over HTTP is not enabled.")
    secret = bearer_secret()
    if secret is None or not hmac.compare_digest(secret.encode(), expected.encode()):
        raise Unauthorized("Send the inbound-mail token as 'Authorization: Bearer <token>'.")
