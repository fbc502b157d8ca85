"""Periodic work: one schedule, run by RQ's cron scheduler or in process.

:data:`SCHEDULE` is the one definition of what runs when. ``flask cron`` reads it:

* with ``REDIS_URL`` (production) it registers every entry with RQ's
  :class:`rq.cron.CronScheduler`, which enqueues each run for the RQ workers;
* without ``REDIS_URL`` (jobs inline, the embedded default of ``make run``) it runs
  :class:`InlineScheduler`, which calls each due function itself, in an app context,
  with the same timing rules (it uses RQ's own :class:`rq.cron.CronJob` for them).

Run exactly one ``flask cron`` per deployment (``make run`` and ``make worker`` each
start one); it never starts inside ``create_app``. Every function here takes no
arguments and is safe to run twice.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from flask import Flask, current_app
from rq.cron import CronJob
from rq.timeouts import JobTimeoutException, UnixSignalDeathPenalty
from rq.utils import now

from helpdesk import audit, jobs
from helpdesk.auth import sessions, throttle
from helpdesk.clinical.tasks import sweep_alerts
from helpdesk.extensions import db
from helpdesk.notify.attachments import sweep_orphans
from helpdesk.notify.tasks import poll_imap_job, sweep_mail_job
from helpdesk.sla.rollup import rollup_job
from helpdesk.sla.tasks import sweep_job

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


def audit_prune_job() -> None:
    """Delete audit events older than AUDIT_RETENTION_DAYS (the chain stays verifiable)."""
    audit.prune(retention_days=current_app.config["HELPDESK"].audit_retention_days)


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
    Periodic(sweep_outbox_job, interval=60),
    Periodic(sla_sweep_job, interval=60),
    Periodic(dashboard_rollup_job, interval=60, timeout=600),
    Periodic(clinical_alert_sweep_job, interval=60),
    Periodic(mail_sweep_job, interval=60),
    Periodic(imap_poll_job, interval=60),
    Periodic(attachment_sweep_job, cron="17 * * * *"),
    Periodic(auth_throttle_prune_job, interval=3600),
    Periodic(prune_sessions_job, interval=3600),
    Periodic(weekly_retrain_job, cron="0 3 * * 0", timeout=1800),
    Periodic(audit_prune_job, cron="0 4 * * 0", timeout=1800),
)


def register(scheduler, schedule: Iterable[Periodic] = SCHEDULE) -> None:
    """Register the schedule with RQ's ``CronScheduler`` (production: runs are enqueued
    for the workers)."""
    for entry in schedule:
        scheduler.register(entry.func, queue_name=jobs.QUEUE_NAME, interval=entry.interval, cron=entry.cron,
                           job_timeout=entry.timeout)


class InlineScheduler:
    """The scheduler of inline mode (no Redis): runs each due function in this process.

    Timing is RQ's (:class:`rq.cron.CronJob`: an interval job runs at start and then
    every interval, a cron job at its next time), so the schedule behaves as in
    production. Each run gets its own app context and database session; a job that
    raises is logged by its exception type only (the message could hold patient
    data), its session rolled back, and the loop goes on. In the main thread (``flask
    cron``) a run longer than its timeout is stopped (SIGALRM, as RQ's worker does).
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

    def stop(self) -> None:
        self._stop.set()

    def _on_signal(self, signum, frame) -> None:
        """First signal: finish the running job, then stop. A second one: stop now."""
        if self._stop.is_set():
            raise SystemExit(128 + signum)
        self.stop()

    def run(self, *, install_signal_handlers: bool = False) -> None:
        """Loop until :meth:`stop` (or SIGTERM/SIGINT when ``install_signal_handlers``)."""
        if install_signal_handlers:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, self._on_signal)
        log.info("in-process scheduler started: %d periodic job(s)", len(self.entries))
        while not self._stop.is_set():
            self.run_pending()
            self._stop.wait(self.seconds_to_next())
        log.info("in-process scheduler stopped")
