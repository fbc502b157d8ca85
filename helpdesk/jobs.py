"""Background jobs: a transactional outbox in front of RQ.

A service calls ``enqueue("helpdesk.x.tasks.func", id)`` inside its unit of work
(``helpdesk.db.unit_of_work``): that adds an outbox row to the same transaction, so the
job exists exactly when the data it needs does. The outermost unit commits, then
dispatches the new rows (``dispatch_pending``; a rolled-back unit discards them):

* without ``REDIS_URL`` (the embedded default) the job runs inline, right after the
  commit, in the web process; a job for later (``run_at``) stays in the outbox until
  it is due, then ``sweep_outbox`` runs it (every minute from ``flask scheduler``, which
  ``make run`` starts), and a job that failed waits out the same back-off as with RQ;
* with ``REDIS_URL`` the row is pushed to RQ as job ``outbox-<id>`` (no second write
  to the database: the row itself is the record that the work is owed, and the
  worker deletes it when the work is done). If Redis is unreachable the row simply
  stays, and ``sweep_outbox`` (every minute from ``flask scheduler``, and at worker start)
  pushes every row older than a grace period whose job Redis does not hold. A Redis
  outage never loses or fails a submission.

Job functions take ids only (never patient text), re-read their rows, tolerate them
being gone and are safe to run twice.

A job carries the id of the web request (or job) that enqueued it: the outbox row keeps
it (``request_id``), the RQ job has it in its meta, and the job's log lines carry it
(``helpdesk.logging_setup``), inline and in a worker alike (run a worker with ``Worker``,
which binds it for RQ's own lines too). A job that fails is counted in Redis
(``FAILURES_KEY``, per job function), read by ``/metrics`` on every host.

``enqueue_timer`` is the other, lighter kind: a best-effort RQ ``enqueue_at`` pushed
after the commit, with no outbox row, for idempotent checks that a periodic sweep also
covers (the SLA engine's next warning or breach). Inline, the sweep is the timer.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry, SimpleWorker
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.extensions import db
from helpdesk.logging_setup import bound, current_request_id
from helpdesk.timeutil import UTCDateTime, utcnow

log = logging.getLogger(__name__)

QUEUE_NAME = "helpdesk"
MAX_ATTEMPTS = 5
RETRY_INTERVALS = [10, 30, 120, 600, 1800]
# Rows younger than this are being dispatched by the request that made them.
GRACE = timedelta(seconds=30)
_SESSION_KEY = "helpdesk_outbox"
_TIMERS_KEY = "helpdesk_timers"
#: Redis hash: job function -> failed runs (every attempt), for /metrics.
FAILURES_KEY = "helpdesk:metrics:job_failures"


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
    # the web request (or job) that enqueued it: its log lines carry the same id
    request_id: Mapped[str | None] = mapped_column(sa.String(64))


def enqueue(func: str, *args: int | str, run_at: datetime | None = None) -> OutboxJob:
    """Add a job to the current transaction; it is dispatched after the commit."""
    for a in args:
        if not isinstance(a, int | str) or (isinstance(a, str) and len(a) > 64):
            raise TypeError("job arguments are ids only")
    row = OutboxJob(func=func, args=list(args), run_at=run_at, request_id=current_request_id())
    db.session.add(row)
    db.session.info.setdefault(_SESSION_KEY, []).append(row)
    return row


def enqueue_timer(func: str, arg: int, at: datetime, *, name: str, failure_ttl: int = 24 * 3600) -> None:
    """Run ``func(arg)`` at ``at`` through RQ, pushed after the commit (the latest call
    per function and argument wins). No outbox row: ``func`` must be idempotent and a
    periodic sweep must cover it, since a timer lost with Redis is not retried."""
    db.session.info.setdefault(_TIMERS_KEY, {})[(func, arg)] = (at, name, failure_ttl, current_request_id())


def dispatch_pending() -> None:
    """Dispatch the outbox rows (and timers) added by the transaction that just committed."""
    _push_timers(db.session.info.pop(_TIMERS_KEY, None) or {})
    rows: list[OutboxJob] = db.session.info.pop(_SESSION_KEY, [])
    if not rows:
        return
    pending = [(r.id, r.run_at, r.request_id) for r in rows if r.id is not None]
    if inline_mode():
        now = utcnow()
        for outbox_id, run_at, _request_id in pending:
            if run_at is None or run_at <= now:
                run_outbox_job(outbox_id)
            # else: kept in the outbox; the sweep runs it when it is due
    else:
        push_to_redis(pending)


def discard_pending() -> None:
    db.session.info.pop(_SESSION_KEY, None)
    db.session.info.pop(_TIMERS_KEY, None)


def _push_timers(timers: dict[tuple[str, int], tuple[datetime, str, int, str | None]]) -> None:
    if not timers or inline_mode():
        return  # inline: the periodic sweep is the timer (a job can't wait here)
    try:
        queue = rq_queue()
        for (func, arg), (when, name, failure_ttl, request_id) in timers.items():
            queue.enqueue_at(when, func, arg, job_id=f"{name}-{arg}-{int(when.timestamp() * 1000)}",
                             result_ttl=0, failure_ttl=failure_ttl, meta=_meta(request_id))
    except RedisError as exc:
        log.warning("redis unavailable, %d timer(s) left to the sweep: %s", len(timers), type(exc).__name__)


def inline_mode() -> bool:
    return current_app.config["HELPDESK"].redis_url is None


def resolve(func: str) -> Callable[..., Any]:
    if not func.startswith("helpdesk."):
        raise ValueError("jobs must live in the helpdesk package")
    module, _, name = func.rpartition(".")
    return getattr(importlib.import_module(module), name)


def run_outbox_job(job_id: int) -> None:
    """Execute one outbox job: the function RQ runs, and what inline mode calls.

    An entry point, outermost by nature: the job's own services are units of work that
    commit by themselves (a mail job commits its claim before it talks to SMTP), so the
    job does not run inside one. Its bookkeeping (delete the row on success, count the
    attempt on failure) commits here directly, since ``helpdesk.db.unit_of_work`` is
    built on this module (using it here would make an import circle)."""
    row = db.session.get(OutboxJob, job_id)
    if row is None or row.failed:
        return  # already done (or given up): running twice is harmless
    with bound(request_id=row.request_id, job=f"outbox-{job_id}"):
        _run(row, job_id)


def _run(row: OutboxJob, job_id: int) -> None:
    func, args = row.func, list(row.args)
    started = time.perf_counter()
    try:
        resolve(func)(*args)
    except Exception as exc:
        db.session.rollback()  # whatever the job left outside its units
        discard_pending()
        row = db.session.get(OutboxJob, job_id)
        if row is None:
            return
        row.attempts += 1
        row.last_error = type(exc).__name__[:200]
        row.failed = row.attempts >= MAX_ATTEMPTS
        if inline_mode() and not row.failed:
            # RQ's back-off (Retry intervals), kept by the outbox: the sweep retries it then
            row.run_at = utcnow() + timedelta(seconds=RETRY_INTERVALS[min(row.attempts, len(RETRY_INTERVALS)) - 1])
        db.session.commit()  # the job's bookkeeping (see the docstring)
        # type and job name only: the exception text could carry patient data
        log.warning("job %s (%s) failed: %s (attempt %d)", job_id, func, type(exc).__name__, row.attempts)
        if not inline_mode():
            count_failure(func)
            raise
        return
    db.session.execute(sa.delete(OutboxJob).where(OutboxJob.id == job_id))
    db.session.commit()  # the job's bookkeeping (see the docstring)
    log.info("job %s (%s) done in %.0f ms", job_id, func, (time.perf_counter() - started) * 1000)


def count_failure(func: str) -> None:
    """One more failed run of ``func`` in Redis (best effort: metrics never fail a job)."""
    with contextlib.suppress(RedisError):
        redis_connection().hincrby(FAILURES_KEY, func[:120], 1)


def _meta(request_id: str | None) -> dict[str, str]:
    return {"request_id": request_id} if request_id else {}


class Worker(SimpleWorker):
    """RQ's SimpleWorker (jobs run in this process, which holds the app context and its
    database pool); RQ's own log lines about a job carry the job's request id too."""

    def execute_job(self, job, queue):  # type: ignore[no-untyped-def]
        with bound(request_id=(job.meta or {}).get("request_id"), job=job.id):
            return super().execute_job(job, queue)

    def subscribe(self):  # type: ignore[no-untyped-def]
        """RQ's command channel, listened to with a 1-second poll instead of RQ's 60: on
        stopping, closing the channel waits for the listening thread's current read, which
        made a worker (and every burst run) take up to a minute to finish."""
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=1, daemon=True, exception_handler=self._pubsub_exception_handler)


_connections: dict[str, Any] = {}


def redis_connection():
    """One client (and connection pool) per Redis URL per process."""
    url = current_app.config["HELPDESK"].redis_url
    if url not in _connections:
        _connections[url] = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
    return _connections[url]


def wait_for_redis(*, first_delay: float = 0.5, max_delay: float = 15.0) -> int:
    """Block until Redis answers a PING, retrying with a growing delay (a worker started
    while Redis is down waits for it instead of exiting); returns the failed attempts."""
    delay, failures = first_delay, 0
    while True:
        try:
            redis_connection().ping()
            if failures:
                log.info("redis is back after %d failed attempt(s)", failures)
            return failures
        except RedisError as exc:
            failures += 1
            log.warning("redis unavailable (%s); retrying in %.1f s", type(exc).__name__, delay)
            time.sleep(delay)
            delay = min(max_delay, delay * 2)


def rq_queue(connection=None):
    return Queue(QUEUE_NAME, connection=connection or redis_connection())


def job_id(outbox_id: int) -> str:
    return f"outbox-{outbox_id}"


def push_to_redis(rows: list[tuple[int, datetime | None, str | None]], *, only_missing: bool = False) -> int:
    """Push outbox rows (id, run_at, request_id) to RQ; rows that can't be pushed stay
    for the sweep."""
    if not rows:
        return 0
    pushed = 0
    try:
        connection = redis_connection()
        queue = rq_queue(connection)
        for outbox_id, run_at, request_id in rows:
            if only_missing and connection.exists(f"rq:job:{job_id(outbox_id)}"):
                continue  # queued, running or retrying: Redis has it
            kwargs: dict[str, Any] = dict(
                job_id=job_id(outbox_id),
                retry=Retry(max=MAX_ATTEMPTS - 1, interval=RETRY_INTERVALS),
                result_ttl=0,
                failure_ttl=7 * 24 * 3600,
                meta=_meta(request_id),
            )
            if run_at and run_at > utcnow():
                queue.enqueue_at(run_at, run_outbox_job, outbox_id, **kwargs)
            else:
                queue.enqueue(run_outbox_job, outbox_id, **kwargs)
            pushed += 1
    except RedisError as exc:
        log.warning("redis unavailable, %d job(s) kept in the outbox: %s", len(rows) - pushed, type(exc).__name__)
    return pushed


def sweep_outbox(limit: int = 500, grace: timedelta = GRACE) -> int:
    """Safety net: push outbox rows past the grace period that Redis does not hold
    (never pushed, or lost with Redis); in inline mode, run those that are due (a job
    for later, or a retry, waits for its ``run_at``)."""
    now = utcnow()
    old_enough = OutboxJob.created_at <= now - grace
    if inline_mode():
        # a row with a run_at was left for later on purpose: due is due, whatever its age
        due = sa.or_(sa.and_(OutboxJob.run_at.is_(None), old_enough), OutboxJob.run_at <= now)
    else:
        due = old_enough
    rows = [
        (r.id, r.run_at, r.request_id)
        for r in db.session.execute(
            sa.select(OutboxJob.id, OutboxJob.run_at, OutboxJob.request_id)
            .where(OutboxJob.failed.is_(False), due)
            .order_by(OutboxJob.id)
            .limit(limit)
        )
    ]
    ids = [outbox_id for outbox_id, _, _ in rows]
    if inline_mode():
        for outbox_id in ids:
            run_outbox_job(outbox_id)
        return len(ids)
    pushed = push_to_redis(rows, only_missing=True)
    if pushed:
        db.session.execute(sa.update(OutboxJob).where(OutboxJob.id.in_(ids)).values(enqueued_at=utcnow()))
        db.session.commit()  # the sweep's bookkeeping: a periodic entry point, outermost by nature
    return pushed


def outbox_counts() -> dict[str, int]:
    pending = db.session.scalar(sa.select(sa.func.count()).where(OutboxJob.failed.is_(False)))
    failed = db.session.scalar(sa.select(sa.func.count()).where(OutboxJob.failed.is_(True)))
    return {"pending": pending or 0, "failed": failed or 0}
