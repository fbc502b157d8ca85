"""Idempotency keys: the stored first answer to a create, per account and key.

The API edge (``helpdesk.api.idempotency.idempotent``) looks a key up before the
operation runs and, when the operation succeeds, adds the row in the same transaction
as what it created: the unique constraint on ``(user_id, key)`` makes two concurrent
requests with one key create one thing on any number of hosts (the loser's insert
fails and its whole transaction, the ticket included, rolls back).

A row keeps the response (status, JSON body, ``Location``) for :data:`KEEP_HOURS`
hours; :func:`purge` (a periodic job) deletes older rows, and an expired row found by
a lookup is ignored and replaced. The body can hold what a patient wrote: it lives in
the database with the request itself, and only for a day.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.db import transactional
from helpdesk.extensions import db
from helpdesk.timeutil import UTCDateTime, utcnow

KEEP_HOURS = 24
KEY_MAX = 255


class IdempotencyKey(db.Model):
    __tablename__ = "idempotency_keys"
    __table_args__ = (sa.UniqueConstraint("user_id", "key", name="uq_idempotency_keys_user_id_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(sa.String(KEY_MAX))
    # SHA-256 of the method, the path and the body (helpdesk.api.idempotency.request_fingerprint)
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    status_code: Mapped[int]
    body: Mapped[bytes] = mapped_column(sa.LargeBinary)
    location: Mapped[str | None] = mapped_column(sa.String(400))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)

    def __repr__(self) -> str:  # no key, no body
        return f"<IdempotencyKey {self.id} user={self.user_id}>"


def cutoff(now: datetime | None = None) -> datetime:
    return (now or utcnow()) - timedelta(hours=KEEP_HOURS)


def find(user_id: int, key: str) -> IdempotencyKey | None:
    """The live row of this account and key (an expired one is deleted, unflushed
    work of the caller's unit). No commit."""
    row = db.session.scalar(sa.select(IdempotencyKey).where(IdempotencyKey.user_id == user_id,
                                                            IdempotencyKey.key == key))
    if row is not None and row.created_at <= cutoff():
        db.session.delete(row)
        db.session.flush()
        return None
    return row


def remember(*, user_id: int, key: str, request_hash: str, status_code: int, body: bytes,
             location: str | None) -> None:
    """Add the row in the caller's unit of work and flush it, so that a concurrent
    request with the same key fails here (IntegrityError) rather than at the commit."""
    db.session.add(IdempotencyKey(user_id=user_id, key=key, request_hash=request_hash, status_code=status_code,
                                  body=body, location=location))
    db.session.flush()


@transactional
def purge(now: datetime | None = None) -> int:
    """Delete the keys older than KEEP_HOURS; returns how many."""
    result = db.session.execute(sa.delete(IdempotencyKey).where(IdempotencyKey.created_at <= cutoff(now))
                                .execution_options(synchronize_session=False))
    return result.rowcount or 0
