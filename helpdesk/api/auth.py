"""Bearer tokens for the API: only the token's hash is stored."""

from __future__ import annotations

import sqlalchemy as sa
from flask import g, request

from helpdesk.auth.models import ApiToken, User, hash_token
from helpdesk.errors import DomainError
from helpdesk.extensions import db
from helpdesk.timeutil import utcnow


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
    now = utcnow()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        # at most once a minute: a write per request would slow every call down
        db.session.execute(sa.update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))
        db.session.commit()
    g.api_user = token.user
    return token.user
