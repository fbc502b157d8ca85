"""Periodic work: one schedule, enqueued by one leased scheduler or run in process.

:data:`SCHEDULE` is the one definition of what runs when. ``flask scheduler`` reads it:

* with ``REDIS_URL`` (production) it runs :class:`LeasedScheduler`: of all the
  ``flask scheduler`` processes of a deployment, the one holding a Redis lease
  (:class:`Lease`) enqueues each due run for the RQ workers; the others wait as
  standbys and one takes over when the lease runs out (its holder died). Each run is
  claimed in Redis for its period (``SET NX`` on the job's name and the period's
  start) before it is enqueued, so a job is enqueued at most once per period, also
  across a take-over or two schedulers that both believe they lead;
* without ``REDIS_URL`` (jobs inline, the embedded default of ``make run``) it runs
  :class:`InlineScheduler`, which calls each due function itself, in an app context,
  with RQ's timing rules (it uses RQ's own :class:`rq.cron.CronJob` for them).

Timing with Redis: an interval job runs once in every period aligned to the clock
(every minute at :00, every hour at the hour), and at once when its current period
has not run yet; a cron job at each of its times (server local time, as RQ reads
them), or late by at most :attr:`LeasedScheduler.catch_up` seconds after a take-over.
Workers (``flask worker``) never run this schedule. Every function here takes no
arguments and is safe to run twice.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from croniter import croniter
from flask import Flask, current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.cron import CronJob
from rq.timeouts import JobTimeoutException, UnixSignalDeathPenalty
from rq.utils import now

from helpdesk import audit, idempotency, jobs
from helpdesk.auth import portal, sessions, throttle
from helpdesk.clinical.tasks import sweep_alerts
from helpdesk.extensions import db
from helpdesk.notify.attachments import sweep_orphans
from helpdesk.notify.tasks import poll_imap_job, sweep_mail_job
from helpdesk.retention import services as retention
from helpdesk.sla.rollup import rollup_job
from helpdesk.sla.tasks import sweep_job
from helpdesk.webhooks.tasks import sweep_job as webhook_sweep

log = logging.getLogger(__name__)

# What RQ gives a job without a timeout of its own (rq.Queue.DEFAULT_TIMEOUT).
DEFAULT_TIMEOUT = 180


def sweep_outbox_job() -> None:
    """Safety net: push outbox rows that never reached Redis."""
    jobs.sweep_outbox()


def weekly_retrain_job() -> None:
    """Retrain the router on the corpus plus agents' labels; promoted only if no regression."""
    from helpdesk.routing.training import retrain  # lazy: training imports scikit-learn

    retrain()


def sla_sweep_job() -> None:
    """SLA warnings and breaches owed now (safety net for the scheduled timers)."""
    sweep_job()


def dashboard_rollup_job() -> None:
    """Materialise finished days of the supervisors' dashboard (a month at most per run)."""
    rollup_job()


def clinical_alert_sweep_job() -> None:
    """Clinical alerts not acknowledged in time: escalate each (idempotent; safety net for
    the escalation scheduled at each alert's due time)."""
    sweep_alerts()


def mail_sweep_job() -> None:
    """Outgoing mails whose retry is due (the timer in inline mode, safety net with Redis)."""
    sweep_mail_job()


def webhook_sweep_job() -> None:
    """Webhook deliveries whose retry is due (the timer in inline mode, safety net with Redis)."""
    webhook_sweep()


def imap_poll_job() -> None:
    """Inbound mail from the IMAP folder (does nothing unless IMAP_HOST is set)."""
    poll_imap_job()


def attachment_sweep_job() -> None:
    """Remove stored bytes no attachment or inbound mail refers to (a deleted ticket, a rollback)."""
    sweep_orphans()


def auth_throttle_prune_job() -> None:
    """Forget sign-in throttle rows that have been quiet for a day."""
    throttle.prune_job()


def prune_sessions_job() -> None:
    """Forget sign-in sessions that ended (or expired) more than 30 days ago."""
    sessions.prune_job()


def idempotency_purge_job() -> None:
    """Forget API idempotency keys (and the answers kept with them) older than 24 hours."""
    idempotency.purge()


def prune_patient_links_job() -> None:
    """Forget the portal's sign-in links that expired more than a day ago."""
    portal.prune_links()


def audit_seal_job() -> None:
    """Chain the audit events written since the last run into one sealed batch."""
    audit.seal()


def audit_prune_job() -> None:
    """Delete audit events older than AUDIT_RETENTION_DAYS (the chain stays verifiable)."""
    audit.prune(retention_days=current_app.config["HELPDESK"].audit_retention_days)


def retention_job() -> None:
    """Purge or de-identify what is past its retention period (nothing until an admin sets one)."""
    retention.nightly_job()


@dataclass(frozen=True)
class Periodic:
    """One line of the schedule: run ``func`` every ``interval`` seconds, or at the
    times of the ``cron`` expression (server local time, as RQ reads it), for at most
    ``timeout`` seconds."""

    func: Callable[[], object]
    interval: int | None = None
    cron: str | None = None
    timeout: int | None = None

    def __post_init__(self) -> None:
        if (self.interval is None) == (self.cron is None):
            raise ValueError("a periodic job needs an interval or a cron expression, not both")

    @property
    def name(self) -> str:
        return f"{self.func.__module__}.{self.func.__name__}"


SCHEDULE: tuple[Periodic, ...] = (
    Periodic(audit_seal_job, interval=1),
    Periodic(sweep_outbox_job, interval=60),
    Periodic(sla_sweep_job, interval=60),
    Periodic(dashboard_rollup_job, interval=60, timeout=600),
    Periodic(clinical_alert_sweep_job, interval=60),
    Periodic(mail_sweep_job, interval=60),
    Periodic(webhook_sweep_job, interval=60),
    Periodic(imap_poll_job, interval=60),
    Periodic(attachment_sweep_job, cron="17 * * * *"),
    Periodic(auth_throttle_prune_job, interval=3600),
    Periodic(prune_sessions_job, interval=3600),
    Periodic(idempotency_purge_job, interval=3600),
    Periodic(prune_patient_links_job, interval=3600),
    Periodic(weekly_retrain_job, cron="0 3 * * 0", timeout=1800),
    Periodic(audit_prune_job, cron="0 4 * * 0", timeout=1800),
    Periodic(retention_job, cron="30 2 * * *", timeout=3600),
)


def load_schedule(path: str) -> tuple[Periodic, ...]:
    """The schedule named by ``module:attribute`` (the ``PERIODIC_SCHEDULE`` setting)."""
    module, _, attribute = path.partition(":")
    schedule = tuple(getattr(importlib.import_module(module), attribute))
    if not all(isinstance(entry, Periodic) for entry in schedule):
        raise TypeError(f"{path} is not a sequence of Periodic entries")
    return schedule


class _StopOnSignal:
    """A scheduler loop's way out: :meth:`stop`, or SIGTERM/SIGINT once handlers are
    installed (the first signal lets the running step finish, a second one exits now)."""

    _stop: threading.Event

    def stop(self) -> None:
        self._stop.set()

    def _on_signal(self, signum, frame) -> None:
        if self._stop.is_set():
            raise SystemExit(128 + signum)
        self.stop()

    def _install_signal_handlers(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)


class InlineScheduler(_StopOnSignal):
    """The scheduler of inline mode (no Redis): runs each due function in this process.

    Timing is RQ's (:class:`rq.cron.CronJob`: an interval job runs at start and then
    every interval, a cron job at its next time). Each run gets its own app context and database session; a job that
    raises is logged by its exception type only (the message could hold patient
    data), its session rolled back, and the loop goes on. In the main thread (``flask
    scheduler``) a run longer than its timeout is stopped (SIGALRM, as RQ's worker does).
    """

    def __init__(self, app: Flask, schedule: Sequence[Periodic] = SCHEDULE) -> None:
        self.app = app
        self.entries = list(schedule)
        self._timing = [CronJob(queue_name=jobs.QUEUE_NAME, func=e.func, interval=e.interval, cron=e.cron)
                        for e in self.entries]
        self._stop = threading.Event()
        self.runs = 0
        self.failures = 0

    def run_pending(self) -> int:
        """Run every entry that is due now; returns how many ran."""
        ran = 0
        for entry, timing in zip(self.entries, self._timing, strict=True):
            if self._stop.is_set():
                break
            if not timing.should_run():
                continue
            timing.set_enqueue_time(now())
            self.run_one(entry)
            ran += 1
        return ran

    def run_one(self, entry: Periodic) -> bool:
        """Run one entry in a fresh app context; False when it raised."""
        with self.app.app_context():
            try:
                if threading.current_thread() is threading.main_thread():
                    with UnixSignalDeathPenalty(entry.timeout or DEFAULT_TIMEOUT, JobTimeoutException):
                        entry.func()
                else:
                    entry.func()
                self.runs += 1
                return True
            except Exception as exc:  # the loop must outlive any job
                db.session.rollback()  # outermost by nature: the scheduler loop, around a job's own units
                self.failures += 1
                # the type only: an exception's text could carry patient data
                log.warning("periodic job %s failed: %s", entry.name, type(exc).__name__)
                return False
            finally:
                db.session.remove()

    def seconds_to_next(self) -> float:
        """How long until the next entry is due (at most a minute, as RQ's scheduler)."""
        due = [t.next_enqueue_time for t in self._timing if t.next_enqueue_time]
        if not due:
            return 60.0
        return max(0.0, min(60.0, (min(due) - now()).total_seconds()))

    def run(self, *, install_signal_handlers: bool = False) -> None:
        """Loop until :meth:`stop` (or SIGTERM/SIGINT when ``install_signal_handlers``)."""
        if install_signal_handlers:
            self._install_signal_handlers()
        log.info("in-process scheduler started: %d periodic job(s)", len(self.entries))
        while not self._stop.is_set():
            self.run_pending()
            self._stop.wait(self.seconds_to_next())
        log.info("in-process scheduler stopped")


# ------------------------------------------------------------------ one scheduler per deployment

LEASE_KEY = "helpdesk:scheduler:lease"
CLAIM_PREFIX = "helpdesk:periodic:ran"

# Renew or release only a lease this process still holds (its token is the key's value).
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class Lease:
    """A lease in Redis: ``SET key token NX PX ttl``; renewed and released only by the
    holder of ``token``, gone by itself ``ttl`` seconds after the last renewal.

    :attr:`held` is this process's own, conservative view: the lease counts as held
    until ``ttl`` after the last acquire or renewal was *sent*, which is never later
    than Redis lets the key expire. Redis errors propagate (the caller decides).
    """

    def __init__(self, connection: Redis, ttl: float, *, key: str = LEASE_KEY) -> None:
        self.connection = connection
        self.key = key
        self.ttl = ttl
        # who holds it, for the logs (host, process, a random part): no PHI, no secret
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._renew = connection.register_script(_RENEW)
        self._release = connection.register_script(_RELEASE)
        self._valid_until = 0.0

    @property
    def _ttl_ms(self) -> int:
        return int(self.ttl * 1000)

    @property
    def held(self) -> bool:
        return time.monotonic() < self._valid_until

    def acquire(self) -> bool:
        """Take the lease if nobody holds it (or keep it if this process still does)."""
        sent = time.monotonic()
        if self.connection.set(self.key, self.token, nx=True, px=self._ttl_ms):
            self._valid_until = sent + self.ttl
            return True
        return self.renew()

    def renew(self) -> bool:
        """Extend the lease by ``ttl``; False (and not held) when another process has it."""
        sent = time.monotonic()
        if self._renew(keys=[self.key], args=[self.token, self._ttl_ms]):
            self._valid_until = sent + self.ttl
            return True
        self._valid_until = 0.0
        return False

    def release(self) -> bool:
        self._valid_until = 0.0
        return bool(self._release(keys=[self.key], args=[self.token]))

    def holder(self) -> str | None:
        value = self.connection.get(self.key)
        return value.decode() if isinstance(value, bytes) else value


def _local(at: float) -> datetime:
    """``at`` (epoch seconds) as the server's local wall-clock time, as cron reads it."""
    return datetime.fromtimestamp(at)  # noqa: DTZ006 - naive local time on purpose (cron fields)


def owed_period(entry: Periodic, at: float, catch_up: float) -> float | None:
    """The start (epoch seconds) of the period of ``entry`` whose run is owed at ``at``.

    An interval job's periods are aligned to the clock (a 60 s job: each minute from
    :00), and the current one is always owed. A cron job's period starts at its latest
    time; it is owed only for ``catch_up`` seconds (a scheduler started on Monday does
    not run Sunday's retrain; one that took over a minute late does run it)."""
    if entry.interval:
        return float(int(at) - int(at) % entry.interval)
    # croniter's get_prev skips a time equal to its base: start a microsecond later
    fire = croniter(entry.cron, _local(at) + timedelta(microseconds=1)).get_prev(datetime).timestamp()
    return fire if at - fire <= catch_up else None


def next_period(entry: Periodic, at: float) -> float:
    """When the next period of ``entry`` after ``at`` starts (epoch seconds)."""
    if entry.interval:
        return float(int(at) - int(at) % entry.interval + entry.interval)
    return croniter(entry.cron, _local(at)).get_next(datetime).timestamp()


def claim_key(entry: Periodic, start: float) -> str:
    return f"{CLAIM_PREFIX}:{entry.name}:{int(start)}"


def job_id(entry: Periodic, start: float) -> str:
    """The RQ job id of a run: the job and its period, readable in RQ's registries."""
    return f"periodic-{entry.name.replace('.', '_')}-{int(start)}"


class LeasedScheduler(_StopOnSignal):
    """The scheduler of production: lead while holding the lease, else stand by.

    While it holds the lease it claims each owed period of each entry in Redis
    (``SET NX``, kept a little longer than the period can be owed) and enqueues the run
    for the workers only when the claim is new, so whoever leads a period later does not
    enqueue it again. It renews the lease every third of its ``lease_seconds``; when a
    renewal finds the lease gone (or Redis unreachable until the lease would have run
    out) it stops enqueueing at once and goes back to standby. A standby tries to take
    the lease every ``retry_seconds``, so it leads at most ``lease_seconds +
    retry_seconds`` after its holder died. :meth:`stop` (SIGTERM/SIGINT) releases it.
    """

    def __init__(self, connection: Redis, schedule: Sequence[Periodic] = SCHEDULE, *,
                 lease_seconds: float = 30.0, retry_seconds: float = 5.0) -> None:
        self.connection = connection
        self.entries = list(schedule)
        self.lease = Lease(connection, lease_seconds)
        self.retry_seconds = retry_seconds
        # how late a cron run may still be enqueued: a take-over after its holder died
        self.catch_up = lease_seconds + retry_seconds + 60.0
        self.queue = Queue(jobs.QUEUE_NAME, connection=connection)
        self.leading = False
        self.enqueued = 0
        self._handled: dict[str, float] = {}  # entry name -> the last period claimed (by anyone)
        self._stop = threading.Event()

    @property
    def name(self) -> str:
        return self.lease.token

    def _claim_ttl_ms(self, entry: Periodic) -> int:
        return int(((entry.interval or 0) + self.catch_up + 60) * 1000)

    def enqueue_due(self, at: float | None = None) -> int:
        """Claim and enqueue every owed run not claimed yet; returns how many this call
        enqueued. Stops as soon as the lease is no longer held."""
        at = time.time() if at is None else at
        count = 0
        for entry in self.entries:
            if not self.lease.held or self._stop.is_set():
                break
            start = owed_period(entry, at, self.catch_up)
            if start is None or self._handled.get(entry.name) == start:
                continue
            key = claim_key(entry, start)
            if self.connection.set(key, self.lease.token, nx=True, px=self._claim_ttl_ms(entry)):
                try:
                    self.queue.enqueue(entry.func, job_id=job_id(entry, start), job_timeout=entry.timeout,
                                       description=entry.name)
                except RedisError:
                    self.connection.delete(key)  # not enqueued: the next attempt may claim it again
                    raise
                count += 1
            self._handled[entry.name] = start
        self.enqueued += count
        return count

    def seconds_to_next(self, at: float | None = None) -> float:
        """How long until some entry's next period starts (at most a minute)."""
        at = time.time() if at is None else at
        if not self.entries:
            return 60.0
        return max(0.0, min(60.0, min(next_period(e, at) for e in self.entries) - at))

    def _step_down(self, reason: str) -> None:
        self.leading = False
        log.warning("scheduler %s: lease lost (%s); stopped scheduling, back to standby", self.name, reason)

    def run(self, *, install_signal_handlers: bool = False) -> None:
        """Lead or stand by until :meth:`stop` (or SIGTERM/SIGINT when
        ``install_signal_handlers``); a held lease is released on the way out."""
        if install_signal_handlers:
            self._install_signal_handlers()
        renew_every = self.lease.ttl / 3
        log.info("scheduler %s started: %d periodic job(s), lease %gs", self.name, len(self.entries), self.lease.ttl)
        next_renewal = 0.0
        standby_logged = False
        try:
            while not self._stop.is_set():
                if not self.leading:
                    try:
                        self.leading = self.lease.acquire()
                        holder = None if self.leading else self.lease.holder()
                    except RedisError as exc:
                        log.warning("scheduler %s: Redis unreachable (%s); retrying", self.name,
                                    type(exc).__name__)
                        self._stop.wait(self.retry_seconds)
                        continue
                    if not self.leading:
                        if not standby_logged:
                            log.info("scheduler %s: standby, lease held by %s", self.name, holder)
                            standby_logged = True
                        self._stop.wait(self.retry_seconds)
                        continue
                    standby_logged = False
                    self._handled.clear()  # what ran while another scheduler led is in Redis
                    next_renewal = time.monotonic() + renew_every
                    log.info("scheduler %s: lease acquired; scheduling", self.name)
                if time.monotonic() >= next_renewal:
                    try:
                        renewed = self.lease.renew()
                    except RedisError as exc:
                        log.warning("scheduler %s: lease renewal failed (%s)", self.name, type(exc).__name__)
                        if not self.lease.held:
                            self._step_down("not renewed in time")
                            continue
                        next_renewal = time.monotonic() + min(self.retry_seconds, renew_every)
                    else:
                        if not renewed:
                            self._step_down("another scheduler holds it")
                            continue
                        next_renewal = time.monotonic() + renew_every
                try:
                    self.enqueue_due()
                except RedisError as exc:
                    log.warning("scheduler %s: enqueueing failed (%s)", self.name, type(exc).__name__)
                    self._stop.wait(min(self.retry_seconds, renew_every))
                    continue
                if not self.lease.held:
                    self._step_down("not renewed in time")
                    continue
                wait = min(self.seconds_to_next(), next_renewal - time.monotonic())
                self._stop.wait(max(0.05, wait))
        finally:
            if self.leading:
                self.leading = False
                try:
                    released = self.lease.release()
                except RedisError as exc:
                    log.warning("scheduler %s: lease not released (%s); it runs out by itself", self.name,
                                type(exc).__name__)
                else:
                    log.info("scheduler %s: lease %s", self.name, "released" if released else "already gone")
            log.info("scheduler %s stopped", self.name)
