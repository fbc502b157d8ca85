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

Batches (with Redis): the functions in ``BATCHED`` — the follow-up of a new request and
the sending of mail, the bulk of all jobs — are not pushed one RQ job per row. After the
commit one *drain* job per function is armed (a Redis key set with NX: one waits at a
time, however many rows arrive); the drain claims up to ``BATCH_SIZE`` due rows of its
function at a time (``SELECT … FOR UPDATE SKIP LOCKED``, then a short lease in
``claimed_until``, so several workers share the work and never take the same row),
hands them to the function's batch form in one call and deletes them. A batch that
fails is rolled back and its rows run one by one, so one bad row fails alone (with the
usual attempts and back-off). A worker that dies mid-batch leaves rows whose lease runs
out; the sweep arms a drain for them. Rows for later (``run_at``) are not batched.

``enqueue_timer`` is the other, lighter kind: a best-effort RQ ``enqueue_at`` pushed
after the commit, with no outbox row, for idempotent checks that a periodic sweep also
covers (the SLA engine's next warning or breach). Inline, the sweep is the timer.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
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
_AFTER_FLUSH_KEY = "helpdesk_outbox_after_flush"
_TIMERS_KEY = "helpdesk_timers"
#: Redis hash: job function -> failed runs (every attempt), for /metrics.
FAILURES_KEY = "helpdesk:metrics:job_failures"
#: job functions run in batches with Redis: function -> its batch form, which takes the
#: rows (``Item``) and does what the function does for each of them (idempotently)
BATCHED: dict[str, str] = {
    "helpdesk.tickets.tasks.after_create": "helpdesk.tickets.tasks.after_create_batch",
    "helpdesk.notify.tasks.send_email": "helpdesk.notify.tasks.send_email_batch",
}
BATCH_SIZE = 100
#: a claimed batch is another worker's again after this long (a worker that died)
LEASE = timedelta(seconds=30)
#: a drain hands over to a fresh job after this long, so other jobs get their turn
DRAIN_BUDGET_SECONDS = 5.0
#: Redis key (+ function): a drain job is queued; expires in case the job is lost
DRAIN_KEY = "helpdesk:drain:"
DRAIN_ARMED_SECONDS = 60


@dataclass(frozen=True)
class Item:
    """One outbox row of a batch, as its batch function gets it."""

    outbox_id: int
    args: list[Any]
    request_id: str | None

    def bound(self) -> contextlib.AbstractContextManager[None]:
        """Log lines (and jobs enqueued) inside carry this row's request id and job."""
        return bound(request_id=self.request_id, job=job_id(self.outbox_id))


class OutboxJob(db.Model):
    __tablename__ = "job_outbox"
    __table_args__ = (
        sa.Index("ix_job_outbox_state", "failed", "enqueued_at"),
        sa.Index("ix_job_outbox_func", "func", "id"),
    )

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
    # a drain's lease on the row (batched functions, see the module docstring)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


def enqueue(func: str, *args: int | str, run_at: datetime | None = None) -> OutboxJob:
    """Add a job to the current transaction; it is dispatched after the commit."""
    for a in args:
        if not isinstance(a, int | str) or (isinstance(a, str) and len(a) > 64):
            raise TypeError("job arguments are ids only")
    row = OutboxJob(func=func, args=list(args), run_at=run_at, request_id=current_request_id())
    db.session.add(row)
    db.session.info.setdefault(_SESSION_KEY, []).append(row)
    return row


def enqueue_for(func: str, obj: Any) -> None:
    """``enqueue(func, obj.id)`` for a row added to the session but not written yet: the
    outbox row joins the transaction as soon as a flush (at the latest, the commit's) has
    given ``obj`` its id, so the caller need not flush on its own (and a batch's rows
    are written together)."""
    db.session.info.setdefault(_AFTER_FLUSH_KEY, []).append((func, obj, current_request_id()))


def enqueue_flushed(session: Any, _flush_context: Any) -> None:
    """After a flush (``helpdesk.listeners``): the outbox rows of ``enqueue_for`` whose
    objects now have their ids (written by the next flush: the commit flushes until
    nothing is left)."""
    waiting = session.info.get(_AFTER_FLUSH_KEY)
    if not waiting:
        return
    left = []
    for func, obj, request_id in waiting:
        if obj.id is None:
            left.append((func, obj, request_id))
            continue
        row = OutboxJob(func=func, args=[obj.id], request_id=request_id)
        session.add(row)
        session.info.setdefault(_SESSION_KEY, []).append(row)
    session.info[_AFTER_FLUSH_KEY] = left


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
    written = [r for r in rows if r.id is not None]
    if inline_mode():
        now = utcnow()
        for r in written:
            if r.run_at is None or r.run_at <= now:
                run_outbox_job(r.id)
            # else: kept in the outbox; the sweep runs it when it is due
    else:
        push_to_redis([(r.id, r.run_at, r.request_id) for r in written if not batched(r.func, r.run_at)])
        for func in sorted({r.func for r in written if batched(r.func, r.run_at)}):
            arm_drain(func)


def batched(func: str, run_at: datetime | None) -> bool:
    """Does a row of ``func`` run in a drain's batch (with Redis)? Not a row for later."""
    return run_at is None and func in BATCHED


def discard_pending() -> None:
    db.session.info.pop(_SESSION_KEY, None)
    db.session.info.pop(_AFTER_FLUSH_KEY, None)
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


def run_outbox_job(job_id: int, *, retry_by_outbox: bool | None = None) -> None:
    """Execute one outbox job: the function RQ runs, and what inline mode calls.

    An entry point, outermost by nature: the job's own services are units of work that
    commit by themselves (a mail job commits its claim before it talks to SMTP), so the
    job does not run inside one. Its bookkeeping (delete the row on success, count the
    attempt on failure) commits here directly, since ``helpdesk.db.unit_of_work`` is
    built on this module (using it here would make an import circle).

    A failure is retried by RQ (the exception goes up to it), or, inline and for a row
    of a failed batch (``retry_by_outbox``), by the outbox: the row waits out the
    back-off in ``run_at`` (with Redis, a job is pushed for that time)."""
    row = db.session.get(OutboxJob, job_id)
    if row is None or row.failed:
        return  # already done (or given up): running twice is harmless
    with bound(request_id=row.request_id, job=f"outbox-{job_id}"):
        _run(row, job_id, inline_mode() if retry_by_outbox is None else retry_by_outbox)


def _run(row: OutboxJob, job_id: int, retry_by_outbox: bool) -> None:
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
        if retry_by_outbox and not row.failed:
            # RQ's back-off (Retry intervals), kept by the outbox: the sweep retries it then
            row.run_at = utcnow() + timedelta(seconds=RETRY_INTERVALS[min(row.attempts, len(RETRY_INTERVALS)) - 1])
        retry, attempts = (row.id, row.run_at, row.request_id), row.attempts
        db.session.commit()  # the job's bookkeeping (see the docstring)
        # type and job name only: the exception text could carry patient data
        log.warning("job %s (%s) failed: %s (attempt %d)", job_id, func, type(exc).__name__, attempts)
        if not inline_mode():
            count_failure(func)
            if not retry_by_outbox:
                raise
            if retry[1] is not None:
                push_to_redis([retry])  # at the end of its back-off
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


def arm_drain(func: str) -> bool:
    """Queue a drain job for ``func`` unless one is already waiting (the Redis key, set
    with NX, says so; the drain deletes it when it starts, so rows committed after that
    arm the next one). True when this call queued one; with Redis down the rows wait
    for the sweep."""
    try:
        connection = redis_connection()
        if not connection.set(DRAIN_KEY + func, 1, nx=True, ex=DRAIN_ARMED_SECONDS):
            return False
        try:
            # no request id: a drain serves many requests, each row's lines carry its own
            rq_queue(connection).enqueue(drain_outbox, func, job_id=f"drain-{uuid.uuid4().hex}", result_ttl=0,
                                         failure_ttl=24 * 3600)
        except RedisError:
            with contextlib.suppress(RedisError):
                connection.delete(DRAIN_KEY + func)
            raise
        return True
    except RedisError as exc:
        log.warning("redis unavailable, %s jobs kept in the outbox: %s", func.rpartition(".")[2], type(exc).__name__)
        return False


def claim(func: str, limit: int = BATCH_SIZE) -> list[Any]:
    """Take up to ``limit`` due rows of ``func`` for this worker (oldest first): rows no
    other worker holds (row locks skipped, leases still running left alone), leased for
    ``LEASE``. Committed at once, so the lease is what keeps other workers off."""
    now = utcnow()
    pick = (
        sa.select(OutboxJob.id)
        .where(OutboxJob.func == func, OutboxJob.failed.is_(False), OutboxJob.run_at.is_(None),
               sa.or_(OutboxJob.claimed_until.is_(None), OutboxJob.claimed_until < now))
        .order_by(OutboxJob.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = db.session.execute(
        sa.update(OutboxJob).where(OutboxJob.id.in_(pick.scalar_subquery()))
        .values(claimed_until=now + LEASE)
        .returning(OutboxJob.id, OutboxJob.args, OutboxJob.request_id)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()  # the drain's bookkeeping: an entry point, outermost by nature
    return sorted(rows)


def drain_outbox(func: str, *, batch_size: int = BATCH_SIZE, budget: float = DRAIN_BUDGET_SECONDS) -> int:
    """The RQ job behind a batched function: run its due rows in batches until none is
    left (or the time budget is spent: then a fresh drain carries on). Returns how many
    rows it ran."""
    with contextlib.suppress(RedisError):
        redis_connection().delete(DRAIN_KEY + func)  # from now on a new row arms the next drain
    batch = resolve(BATCHED[func])
    started, done = time.perf_counter(), 0
    while rows := claim(func, batch_size):
        done += _run_batch(func, batch, rows)
        if time.perf_counter() - started > budget:
            arm_drain(func)
            break
    return done


def _run_batch(func: str, batch: Callable[[list[Item]], Any], rows: list[Any]) -> int:
    ids = [r.id for r in rows]
    items = [Item(r.id, list(r.args), r.request_id) for r in rows]
    started = time.perf_counter()
    try:
        with bound(job=f"batch-{ids[0]}"):
            batch(items)
    except Exception as exc:
        db.session.rollback()  # whatever the batch left outside its units
        discard_pending()
        # type and job name only: the exception text could carry patient data
        log.warning("a batch of %d %s jobs failed (%s): running them one by one", len(ids), func, type(exc).__name__)
        for outbox_id in ids:
            run_outbox_job(outbox_id, retry_by_outbox=True)
        return len(ids)
    db.session.execute(sa.delete(OutboxJob).where(OutboxJob.id.in_(ids)))
    db.session.commit()  # the drain's bookkeeping (see run_outbox_job)
    took = (time.perf_counter() - started) * 1000
    for item in items:  # one line per job, with its request's id, as when jobs ran one by one
        with item.bound():
            log.info("job %s (%s) done in %.0f ms (a batch of %d)", item.outbox_id, func, took, len(items))
    return len(ids)


def sweep_outbox(limit: int = 500, grace: timedelta = GRACE) -> int:
    """Safety net: push outbox rows past the grace period that Redis does not hold
    (never pushed, or lost with Redis), and arm a drain for rows of a batched function
    (counted as pushed when this call armed it); in inline mode, run those that are due
    (a job for later, or a retry, waits for its ``run_at``)."""
    now = utcnow()
    old_enough = OutboxJob.created_at <= now - grace
    if inline_mode():
        # a row with a run_at was left for later on purpose: due is due, whatever its age
        due = sa.or_(sa.and_(OutboxJob.run_at.is_(None), old_enough), OutboxJob.run_at <= now)
    else:
        due = old_enough
    found = db.session.execute(
        sa.select(OutboxJob.id, OutboxJob.run_at, OutboxJob.request_id, OutboxJob.func)
        .where(OutboxJob.failed.is_(False), due)
        .order_by(OutboxJob.id)
        .limit(limit)
    ).all()
    ids = [r.id for r in found]
    if inline_mode():
        for outbox_id in ids:
            run_outbox_job(outbox_id)
        return len(ids)
    pushed = push_to_redis([(r.id, r.run_at, r.request_id) for r in found if not batched(r.func, r.run_at)],
                           only_missing=True)
    for func in sorted({r.func for r in found if batched(r.func, r.run_at)}):
        if arm_drain(func):  # rows of a batched function: a drain runs them
            pushed += sum(1 for r in found if r.func == func and r.run_at is None)
    if pushed:
        db.session.execute(sa.update(OutboxJob).where(OutboxJob.id.in_(ids)).values(enqueued_at=utcnow()))
        db.session.commit()  # the sweep's bookkeeping: a periodic entry point, outermost by nature
    return pushed


def outbox_counts() -> dict[str, int]:
    pending = db.session.scalar(sa.select(sa.func.count()).where(OutboxJob.failed.is_(False)))
    failed = db.session.scalar(sa.select(sa.func.count()).where(OutboxJob.failed.is_(True)))
    return {"pending": pending or 0, "failed": failed or 0}
