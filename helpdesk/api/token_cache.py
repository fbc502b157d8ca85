"""API tokens kept per process for ``LOOKUP_CACHE_SECONDS``, revoked at once on every host.

Every API call names its token, and reading the token with its user is a statement per
call. This process keeps each token's and its user's column values for a few seconds,
but trusts them only while the **generation** kept in Redis (``GENERATION_KEY``) is the
one it read them under. Any change to a token (issued, revoked, rotated, expiry changed,
scopes), and any change of a user's ``active`` flag, role or merge, made through the ORM
(or the bulk ``UPDATE`` the merge of a patient makes), increments the generation after
its commit: every host reads the new generation on its next call and reloads the token.

Reading the generation *before* the token makes this safe against a revocation racing
a reload: a token read before the revocation's commit was read under the old
generation, which the revocation's increment then retires.

Without Redis (the embedded default, one host) or with ``LOOKUP_CACHE_SECONDS=0``,
nothing is cached. If Redis is unreachable when a change commits, other hosts follow
within ``LOOKUP_CACHE_SECONDS`` (the entries' own age limit); while it is unreachable,
every call reads the database.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import sqlalchemy as sa
from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from helpdesk import cache, jobs
from helpdesk.auth.models import ApiToken, User
from helpdesk.extensions import db

log = logging.getLogger(__name__)

GENERATION_KEY = "helpdesk:api-tokens:generation"
# the execution option of the statement that records a token's last use (not a change)
LAST_USE_ONLY = "helpdesk_token_last_use"
_CHANGED = "helpdesk_api_tokens_changed"
# the user columns a token's authority depends on
USER_COLUMNS = ("active", "role", "merged_into_id")

# token hash -> (monotonic time read, generation, token values, user values)
_entries: dict[str, tuple[float, bytes | None, dict[str, Any], dict[str, Any]]] = {}


def _load(token_hash: str) -> ApiToken | None:
    """The token and its user in one statement."""
    return db.session.scalar(sa.select(ApiToken).options(joinedload(ApiToken.user))
                             .where(ApiToken.token_hash == token_hash))


def _generation() -> bytes | None | bool:
    """The shared generation (None: never set), or False when there is none to trust."""
    if current_app.config["HELPDESK"].lookup_cache_seconds <= 0 or jobs.inline_mode():
        return False
    try:
        return jobs.redis_connection().get(GENERATION_KEY)
    except RedisError:
        return False


def lookup(token_hash: str) -> ApiToken | None:
    """The token with this hash, its user loaded (None: no such token)."""
    generation = _generation()
    if generation is False:
        return _load(token_hash)
    now = time.monotonic()
    hit = _entries.get(token_hash)
    if hit is not None and hit[1] == generation and now - hit[0] < current_app.config["HELPDESK"].lookup_cache_seconds:
        user = cache.in_session(User, hit[3])
        token = cache.in_session(ApiToken, hit[2])
        set_committed_value(token, "user", user)
        return token
    token = _load(token_hash)
    if token is not None:
        _entries[token_hash] = (now, generation, cache.row_values(token), cache.row_values(token.user))
    return token


def remember_use(token: ApiToken) -> None:
    """The token's last use was just recorded: the cached copy says so too (else every
    call within the cache's age would record it again)."""
    hit = _entries.get(token.token_hash)
    if hit is not None:
        hit[2]["last_used_at"] = token.last_used_at


# ----------------------------------------------------------------------------- changes


def _user_changed(user: User) -> bool:
    state = sa.inspect(user)
    return any(state.attrs[name].history.has_changes() for name in USER_COLUMNS)


def note_flush(session: Session, _context: Any) -> None:
    """``after_flush``: remember that this transaction changed what a token may do."""
    if any(isinstance(obj, ApiToken) for obj in (*session.new, *session.dirty, *session.deleted)) or any(
            isinstance(obj, User) and _user_changed(obj) for obj in session.dirty):
        session.info[_CHANGED] = True


def note_bulk(orm_execute_state: Any) -> None:
    """``do_orm_execute``: a bulk UPDATE/DELETE of tokens (other than their last use)."""
    if not (orm_execute_state.is_update or orm_execute_state.is_delete):
        return
    mapper = orm_execute_state.bind_mapper
    if mapper is None or mapper.class_ is not ApiToken:
        return
    if orm_execute_state.execution_options.get(LAST_USE_ONLY):
        return
    orm_execute_state.session.info[_CHANGED] = True


def publish(session: Session) -> None:
    """``after_commit``: a committed change retires every cached token on every host."""
    if not session.info.pop(_CHANGED, False):
        return
    _entries.clear()
    if jobs.inline_mode():
        return
    try:
        jobs.redis_connection().incr(GENERATION_KEY)
    except RedisError as exc:
        log.warning("redis unavailable: other hosts drop cached API tokens within LOOKUP_CACHE_SECONDS (%s)",
                    type(exc).__name__)


def forget(session: Session, *_args: Any) -> None:
    """``after_soft_rollback``: a rolled-back change retires nothing."""
    session.info.pop(_CHANGED, None)
