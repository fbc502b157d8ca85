"""Bearer tokens for the API: only the token's hash is stored."""

from __future__ import annotations

import sqlalchemy as sa
from flask import g, request

from helpdesk.auth.models import ApiToken, User, hash_token
from helpdesk.errors import DomainError
from helpdesk.extensions import db


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


def authenticate_request() -> User:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized("Send an API token as 'Authorization: Bearer <token>'.")
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == hash_token(secret.strip())))
    if token is None or not token.active:
        raise Unauthorized("That API token is not valid or was revoked.")
    from helpdesk.auth.services import record_token_use

    record_token_use(token)
    g.api_user = token.user
    return token.user
