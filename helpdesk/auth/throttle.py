"""Throttling of password guesses, per account and per client IP, with back-off.

Kept in the database (table ``auth_throttles``), so it works the same on SQLite with
inline jobs and on PostgreSQL with Redis, and survives restarts and several workers.

* An *account* key is the SHA-256 of the normalised address — for unknown addresses
  too, so the answer never tells whether an account exists, and no typed address is
  stored. After ``ACCOUNT.max_failures`` failures within ``ACCOUNT.window`` the key is
  locked for ``base_lock``; every further lock-out doubles the wait, up to
  ``max_lock``. A quiet ``max_lock`` (no failure) forgets the lock-outs.
* An *IP* key counts every failure from one client address, with a higher threshold
  (one household or clinic may share an address).
* The same counters also limit things that are not password guesses but must hold
  across hosts: requests from the public "Can't sign in?" form per contact given
  (``help:`` keys, ``CONTACT``) and activation-link resends per account (``verify:``
  keys, ``RESEND``); each such request is counted with ``record_failure``.

Callers check ``locked_for`` *before* verifying a password (a locked attempt does not
get an answer about the password at all), and ``record_failure`` after a wrong one.
Nothing here commits: the calling service does.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from helpdesk.auth.password_models import AuthThrottle
from helpdesk.db import conflict_insert, transactional
from helpdesk.errors import DomainError
from helpdesk.extensions import db
from helpdesk.i18n import N_
from helpdesk.proxy import client_address
from helpdesk.timeutil import utcnow


@dataclass(frozen=True)
class Policy:
    max_failures: int
    window: timedelta
    base_lock: timedelta
    max_lock: timedelta

    def lock_for(self, lockouts: int) -> timedelta:
        """The wait of the (lockouts+1)-th lock-out: base, 2×base, 4×base, … up to max."""
        return min(self.base_lock * (2 ** min(lockouts, 20)), self.max_lock)


ACCOUNT = Policy(max_failures=5, window=timedelta(minutes=15), base_lock=timedelta(minutes=1),
                 max_lock=timedelta(hours=1))
IP = Policy(max_failures=20, window=timedelta(minutes=15), base_lock=timedelta(minutes=1),
            max_lock=timedelta(hours=1))

#: The public "Can't sign in?" form, per contact given (``contact_key``): 3 requests, then
#: a wait of an hour that doubles up to a day. Counted on every request that is created.
CONTACT = Policy(max_failures=3, window=timedelta(hours=24), base_lock=timedelta(hours=1),
                 max_lock=timedelta(hours=24))
#: Activation links a signed-in patient may ask for (``resend_key``): 3, then 15 minutes, doubling.
RESEND = Policy(max_failures=3, window=timedelta(hours=1), base_lock=timedelta(minutes=15),
                max_lock=timedelta(hours=24))

TOO_MANY = N_("Too many attempts. For your security, please try again in %(minutes)s min, or reset your password.")


class TooManyAttempts(DomainError):
    status = 429
    code = "too_many_requests"

    def __init__(self, wait: timedelta, message: str = TOO_MANY) -> None:
        super().__init__(message)
        self.wait = wait

    @property
    def minutes(self) -> int:
        return max(1, math.ceil(self.wait.total_seconds() / 60))


def account_key(address: str) -> str:
    return "acct:" + hashlib.sha256(address.strip().lower().encode("utf-8")).hexdigest()


def ip_key(ip: str | None = None) -> str | None:
    if ip is None:
        ip = client_address()
    return f"ip:{ip[:45]}" if ip else None


def contact_key(contact: str) -> str:
    """The normalised e-mail address or phone digits given on the "Can't sign in?" form."""
    return "help:" + hashlib.sha256(contact.strip().lower().encode("utf-8")).hexdigest()


def resend_key(user_id: int) -> str:
    return f"verify:{user_id}"


_POLICIES = {"ip:": IP, "help:": CONTACT, "verify:": RESEND}


def _policy(key: str) -> Policy:
    return next((p for prefix, p in _POLICIES.items() if key.startswith(prefix)), ACCOUNT)


def locked_for(keys: list[str | None], now: datetime | None = None) -> timedelta | None:
    """The longest wait left on any of ``keys``, or None when none is locked."""
    now = now or utcnow()
    wanted = [k for k in keys if k]
    if not wanted:
        return None
    until = db.session.scalar(
        sa.select(sa.func.max(AuthThrottle.locked_until)).where(
            AuthThrottle.key.in_(wanted), AuthThrottle.locked_until > now
        )
    )
    if until is None:
        return None
    if until.tzinfo is None:  # defensive: a driver that returns max() without the column type
        until = until.replace(tzinfo=UTC)
    return until - now


def _locked_row(key: str, now: datetime) -> AuthThrottle:
    """The key's row, created when missing, locked for this transaction (PostgreSQL)."""
    values = {"key": key, "failures": 0, "window_started_at": now, "lockouts": 0, "last_failure_at": now}
    insert = conflict_insert(AuthThrottle, db.session.get_bind().dialect.name)
    if insert is not None:
        db.session.execute(insert.values(**values).on_conflict_do_nothing(index_elements=["key"]))
    elif db.session.get(AuthThrottle, key) is None:
        db.session.add(AuthThrottle(**values))
        db.session.flush()
    row = db.session.scalar(
        sa.select(AuthThrottle).where(AuthThrottle.key == key).with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


def record_failure(keys: list[str | None], now: datetime | None = None) -> timedelta | None:
    """Count a failure on each key; the longest lock this started, if any."""
    now = now or utcnow()
    longest: timedelta | None = None
    for key in sorted(k for k in keys if k):  # a fixed order: no deadlock between two requests
        policy = _policy(key)
        row = _locked_row(key, now)
        quiet_since = max(row.last_failure_at, row.locked_until or row.last_failure_at)
        if now - quiet_since > policy.max_lock:
            row.lockouts = 0  # quiet for long enough after the last lock: start again from the base wait
        if now - row.window_started_at > policy.window:
            row.failures, row.window_started_at = 0, now
        row.failures += 1
        row.last_failure_at = now
        if row.failures >= policy.max_failures:
            wait = policy.lock_for(row.lockouts)
            row.lockouts += 1
            row.locked_until = now + wait
            row.failures, row.window_started_at = 0, now
            longest = max(longest or wait, wait)
    db.session.flush()
    return longest


def clear(key: str | None) -> None:
    """Forget the failures of a key (a successful sign-in or reset of that account)."""
    if key:
        db.session.execute(sa.delete(AuthThrottle).where(AuthThrottle.key == key))


#: Rows quiet (no failure, no lock running) for this long are deleted by ``prune``.
KEEP = timedelta(days=1)


def prune(now: datetime | None = None) -> int:
    """Delete the rows nobody needs any more (no commit); how many went."""
    now = now or utcnow()
    cutoff = now - KEEP
    result = db.session.execute(
        sa.delete(AuthThrottle).where(
            AuthThrottle.last_failure_at < cutoff,
            sa.or_(AuthThrottle.locked_until.is_(None), AuthThrottle.locked_until < now),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


@transactional
def prune_job() -> None:
    """Periodic (hourly, ``helpdesk.periodic``): safe to run twice."""
    prune()
