"""A short schedule for the scheduler tests, run by the real ``flask scheduler`` with
``PERIODIC_SCHEDULE=tests.jobs.short_schedule:SCHEDULE``: a job every second and one
every hour. Each run, on a real RQ worker, records its RQ job id (which names the job
and its period) in a Redis list."""

from __future__ import annotations

from rq import get_current_job

from helpdesk.periodic import Periodic

RUNS_KEY = "test:periodic:runs"


def _record() -> None:
    job = get_current_job()
    job.connection.rpush(RUNS_KEY, job.id)


def every_second() -> None:
    _record()


def every_hour() -> None:
    _record()


SCHEDULE = (Periodic(every_second, interval=1), Periodic(every_hour, interval=3600))
