"""Background jobs: a transactional outbox in front of RQ.

A service calls ``enqueue("helpdesk.x.tasks.func", id)`` *before* it commits: that
adds an outbox row to the same transaction, so the job exists exactly when the data
it needs does. ``helpdesk.db.commit()`` then dispatches the new rows:

* without ``REDIS_URL`` (the embedded default) the job runs inline, right after the
  commit, in the web process;
* with ``REDIS_URL`` the row is pushed to RQ. If Redis is unreachable the row simply
  stays in the database and ``sweep_outbox`` (run every minute by ``flask cron`` and
  at worker start) pushes it again later. A Redis outage never loses or fails a
  submission.

Job functions take ids only (never patient text), re-read their rows, tolerate them
being gone and are safe to run twice.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.extensions import db
from helpdesk.timeutil import UTCDateTime, utcnow

log = logging.getLogger(__name__)

QUEUE_NAME = "helpdesk"
MAX_ATTEMPTS = 5
RETRY_INTERVALS = [10, 30, 120, 600, 1800]
# An enqueued job not finished after this long is presumed lost (Redis keeps nothing
# on disk here) and is pushed again; jobs are idempotent so a duplicate is harmless.
STALE_AFTER = timedelta(minutes=15)
_SESSION_KEY = "helpdesk_outbox"


class OutboxJob(db.Model):
    __tablename__ = "job_outbox"
    __table_args__ = (sa.Index("ix_job_outbox_state", "failed", "enqueued_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    func: Mapped[str] = mapped_column(sa.String(120))
    args: Mapped[list[Any]] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(default=0)
    failed: Mapped[bool] = mapped_column(default=False)
    last_error: Mapped[str | None] = mapped_column(sa.String(200))


def enqueue(func: str, *args: int | str, run_at: datetime | None = None) -> OutboxJob:
    """Add a job to the current transaction; it is dispatched after the commit."""
    for a in args:
        if not isinstance(a, int | str) or (isinstance(a, str) and len(a) > 64):
            raise TypeError("job arguments are ids only")
    row = OutboxJob(func=func, args=list(args), run_at=run_at)
    db.session.add(row)
    db.session.info.setdefault(_SESSION_KEY, []).append(row)
    return row


def dispatch_pending() -> None:
    """Dispatch the outbox rows added by the transaction that just committed."""
    rows: list[OutboxJob] = db.session.info.pop(_SESSION_KEY, [])
    if not rows:
        return
    ids = [r.id for r in rows if r.id is not None]
    if inline_mode():
        for job_id in ids:
            run_outbox_job(job_id)
    else:
        push_to_redis(ids)


def discard_pending() -> None:
    db.session.info.pop(_SESSION_KEY, None)


def inline_mode() -> bool:
    return current_app.config["HELPDESK"].redis_url is None


def resolve(func: str) -> Callable[..., Any]:
    if not func.startswith("helpdesk."):
        raise ValueError("jobs must live in the helpdesk package")
    module, _, name = func.rpartition(".")
    return getattr(importlib.import_module(module), name)


def run_outbox_job(job_id: int) -> None:
    """Execute one outbox job: the function RQ runs, and what inline mode calls."""
    row = db.session.get(OutboxJob, job_id)
    if row is None or row.failed:
        return  # already done (or given up): running twice is harmless
    func, args = row.func, list(row.args)
    try:
        resolve(func)(*args)
    except Exception as exc:
        db.session.rollback()
        row = db.session.get(OutboxJob, job_id)
        if row is None:
            return
        row.attempts += 1
        row.last_error = type(exc).__name__[:200]
        row.failed = row.attempts >= MAX_ATTEMPTS
        db.session.commit()
        # type and job name only: the exception text could carry patient data
        log.warning("job %s (%s) failed: %s (attempt %d)", job_id, func, type(exc).__name__, row.attempts)
        if not inline_mode():
            raise
        return
    db.session.execute(sa.delete(OutboxJob).where(OutboxJob.id == job_id))
    db.session.commit()


def redis_connection():
    from redis import Redis

    url = current_app.config["HELPDESK"].redis_url
    return Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)


def rq_queue(connection=None):
    from rq import Queue

    return Queue(QUEUE_NAME, connection=connection or redis_connection())


def push_to_redis(ids: list[int]) -> int:
    """Push outbox rows to RQ; rows that can't be pushed stay for the sweep."""
    if not ids:
        return 0
    from redis.exceptions import RedisError
    from rq import Retry

    pushed = 0
    try:
        queue = rq_queue()
        for job_id in ids:
            row = db.session.get(OutboxJob, job_id)
            if row is None:
                continue
            kwargs: dict[str, Any] = dict(
                job_id=f"outbox-{job_id}-{row.attempts}",
                retry=Retry(max=MAX_ATTEMPTS - 1, interval=RETRY_INTERVALS),
                result_ttl=60,
                failure_ttl=7 * 24 * 3600,
            )
            if row.run_at and row.run_at > utcnow():
                queue.enqueue_at(row.run_at, run_outbox_job, job_id, **kwargs)
            else:
                queue.enqueue(run_outbox_job, job_id, **kwargs)
            row.enqueued_at = utcnow()
            db.session.commit()
            pushed += 1
    except RedisError as exc:
        db.session.rollback()
        log.warning("redis unavailable, %d job(s) kept in the outbox: %s", len(ids) - pushed, type(exc).__name__)
    return pushed


def sweep_outbox(limit: int = 500) -> int:
    """Push outbox rows that were never enqueued, or enqueued long ago and never done."""
    stale = utcnow() - STALE_AFTER
    ids = list(
        db.session.scalars(
            sa.select(OutboxJob.id)
            .where(
                OutboxJob.failed.is_(False),
                sa.or_(OutboxJob.enqueued_at.is_(None), OutboxJob.enqueued_at < stale),
            )
            .order_by(OutboxJob.id)
            .limit(limit)
        )
    )
    if inline_mode():
        for job_id in ids:
            run_outbox_job(job_id)
        return len(ids)
    return push_to_redis(ids)


def outbox_counts() -> dict[str, int]:
    pending = db.session.scalar(sa.select(sa.func.count()).where(OutboxJob.failed.is_(False)))
    failed = db.session.scalar(sa.select(sa.func.count()).where(OutboxJob.failed.is_(True)))
    return {"pending": pending or 0, "failed": failed or 0}
