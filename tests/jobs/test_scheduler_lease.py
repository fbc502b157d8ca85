"""One periodic scheduler per deployment: ``flask scheduler`` with Redis holds a lease,
a standby takes over when the holder dies, and every job is enqueued once per period
(helpdesk.periodic.LeasedScheduler). Each test runs its own Redis server."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue, SimpleWorker

from helpdesk import jobs, periodic
from tests.jobs import short_schedule

ROOT = Path(__file__).resolve().parent.parent.parent
FLASK = str(Path(sys.executable).parent / "flask")
LEASE, RETRY = 3.0, 0.5  # seconds, for the tests (production: 30 and 5)


def _wait_for(predicate, seconds: float, step: float = 0.05):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(step)
    return predicate()


@pytest.fixture
def redis(own_redis) -> Redis:
    connection = Redis.from_url(own_redis["url"])
    yield connection
    connection.close()


# ------------------------------------------------------------------ periods


def test_interval_periods_are_aligned_to_the_clock_and_the_current_one_is_owed():
    minute = periodic.Periodic(periodic.sla_sweep_job, interval=60)
    at = 1_700_000_123.4  # 2023-11-14 22:15:23.4 UTC
    assert periodic.owed_period(minute, at, catch_up=90) == 1_700_000_100
    assert periodic.next_period(minute, at) == 1_700_000_160
    assert periodic.owed_period(minute, 1_700_000_160, catch_up=90) == 1_700_000_160


def test_a_cron_time_is_owed_from_that_time_for_the_catch_up_window_only():
    retrain = periodic.Periodic(periodic.weekly_retrain_job, cron="0 3 * * 0")
    sunday_3am = datetime(2025, 1, 5, 3, 0).timestamp()  # server local time, as cron reads it
    assert periodic.owed_period(retrain, sunday_3am, catch_up=95) == sunday_3am
    assert periodic.owed_period(retrain, sunday_3am + 95, catch_up=95) == sunday_3am  # taken over late
    assert periodic.owed_period(retrain, sunday_3am + 96, catch_up=95) is None  # started on Monday: next week
    assert periodic.owed_period(retrain, sunday_3am - 1, catch_up=95) is None
    assert periodic.next_period(retrain, sunday_3am - 1) == sunday_3am
    assert periodic.next_period(retrain, sunday_3am) == datetime(2025, 1, 12, 3, 0).timestamp()


def test_the_schedule_setting_names_the_table_the_scheduler_runs(app):
    assert app.config["HELPDESK"].periodic_schedule == "helpdesk.periodic:SCHEDULE"
    assert periodic.load_schedule("helpdesk.periodic:SCHEDULE") == periodic.SCHEDULE
    assert periodic.load_schedule("tests.jobs.short_schedule:SCHEDULE") == short_schedule.SCHEDULE
    with pytest.raises(TypeError):
        periodic.load_schedule("helpdesk.periodic:LEASE_KEY")


# ------------------------------------------------------------------ the lease, in process


def test_only_one_process_holds_the_lease_and_only_its_holder_renews_or_releases_it(redis):
    a, b = periodic.Lease(redis, LEASE), periodic.Lease(redis, LEASE)
    assert a.token != b.token
    assert a.acquire() and a.held
    assert not b.acquire() and not b.held and b.holder() == a.token
    assert not b.renew() and not b.release() and a.holder() == a.token
    assert a.acquire()  # still its own: kept (after a Redis blip the holder asks again)
    assert 0 < redis.pttl(periodic.LEASE_KEY) <= LEASE * 1000
    assert a.release() and not a.held and redis.get(periodic.LEASE_KEY) is None
    assert b.acquire() and b.holder() == b.token


def test_a_run_claimed_for_its_period_is_not_enqueued_again_by_whoever_leads_next(redis):
    first = periodic.LeasedScheduler(redis, short_schedule.SCHEDULE, lease_seconds=LEASE, retry_seconds=RETRY)
    second = periodic.LeasedScheduler(redis, short_schedule.SCHEDULE, lease_seconds=LEASE, retry_seconds=RETRY)
    at = 1_700_000_123  # any second not at the end of an hour (claims last about a minute from now)
    assert first.lease.acquire()
    assert first.enqueue_due(at) == 2  # both jobs' current periods
    assert first.enqueue_due(at) == 0
    first.lease.release()
    assert second.lease.acquire()
    assert second.enqueue_due(at) == 0  # same periods: claimed by the first
    assert second.enqueue_due(at + 1) == 1  # the next second: only the every-second job
    queue = Queue(jobs.QUEUE_NAME, connection=redis)
    hour = at - at % 3600
    assert sorted(queue.job_ids) == sorted([
        f"periodic-tests_jobs_short_schedule_every_second-{at}",
        f"periodic-tests_jobs_short_schedule_every_second-{at + 1}",
        f"periodic-tests_jobs_short_schedule_every_hour-{hour}"])
    every_second = short_schedule.SCHEDULE[0]
    assert redis.get(periodic.claim_key(every_second, at)).decode() == first.lease.token
    assert redis.get(periodic.claim_key(every_second, at + 1)).decode() == second.lease.token


def test_a_scheduler_that_loses_its_lease_stops_enqueueing_at_once(redis, caplog):
    scheduler = periodic.LeasedScheduler(redis, short_schedule.SCHEDULE[:1], lease_seconds=LEASE,
                                         retry_seconds=RETRY)
    runner = threading.Thread(target=scheduler.run, daemon=True)
    with caplog.at_level(logging.INFO, logger="helpdesk.periodic"):
        runner.start()
        try:
            assert _wait_for(lambda: scheduler.enqueued >= 2, 10), "the scheduler enqueued nothing"
            # the lease ran out and another scheduler took it (as after a long pause of this one)
            redis.set(periodic.LEASE_KEY, "other-host:1:feedface", px=60_000)
            assert _wait_for(lambda: not scheduler.leading, LEASE / 3 + 1), "it did not notice"
            enqueued = scheduler.enqueued
            time.sleep(2.2)  # two more periods: owed, but not by this scheduler
            assert scheduler.enqueued == enqueued and scheduler.leading is False
        finally:
            scheduler.stop()
            runner.join(timeout=10)
    assert not runner.is_alive()
    assert redis.get(periodic.LEASE_KEY) == b"other-host:1:feedface"  # not released: not its own
    assert "lease acquired" in caplog.text and "lease lost" in caplog.text and "standby" in caplog.text


# ------------------------------------------------------------------ two real `flask scheduler` processes


class _BurstWorker(SimpleWorker):
    """RQ's worker without its command channel (stop or kill a job by pubsub), which
    nothing here uses: with redis-py 8.2, closing it can wait up to the channel's 60 s poll."""

    def subscribe(self) -> None:
        pass

    def unsubscribe(self) -> None:
        pass


def test_two_schedulers_one_leads_the_standby_takes_over_after_a_kill_and_each_job_runs_once_per_period(
        app, own_redis, redis, tmp_path):
    """Two `flask scheduler` processes (their own working directories and instance
    folders) on one Redis; the leader is killed (SIGKILL: no release); the standby leads
    within the lease; a real RQ worker then runs everything that was enqueued, and each
    job ran exactly once in each period: none twice, none skipped except while nobody led."""
    settings = app.config["HELPDESK"]
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SECRET_KEY", "DATABASE_URL")}
    env.update(HELPDESK_ENV="testing", DATABASE_URL=settings.database_url, REDIS_URL=own_redis["url"],
               FLASK_APP="wsgi", PYTHONPATH=str(ROOT), PERIODIC_SCHEDULE="tests.jobs.short_schedule:SCHEDULE",
               SCHEDULER_LEASE_SECONDS=str(LEASE), SCHEDULER_RETRY_SECONDS=str(RETRY))

    def start(host: str, *args: str) -> tuple[subprocess.Popen, Path]:
        home = tmp_path / host
        home.mkdir(exist_ok=True)
        log = home / "out.log"
        with log.open("w") as out:
            proc = subprocess.Popen([FLASK, *args], cwd=home, stdout=out, stderr=subprocess.STDOUT,
                                    env={**env, "HELPDESK_INSTANCE_PATH": str(home / "i")})
        return proc, log

    def holder_pid() -> int | None:
        token = redis.get(periodic.LEASE_KEY)
        return int(token.decode().split(":")[1]) if token else None

    procs: list[subprocess.Popen] = []
    try:
        a, log_a = start("host-a", "scheduler")
        b, log_b = start("host-b", "scheduler")
        procs += [a, b]
        assert _wait_for(holder_pid, 40), "no scheduler took the lease"
        leader, standby, standby_log = (a, b, log_b) if holder_pid() == a.pid else (b, a, log_a)
        assert {holder_pid(), standby.pid} == {a.pid, b.pid}
        assert _wait_for(lambda: "standby, lease held by" in standby_log.read_text(), 40), standby_log.read_text()
        leader_token = redis.get(periodic.LEASE_KEY).decode()
        time.sleep(3)  # the leader enqueues three or four periods of the every-second job

        leader.send_signal(signal.SIGKILL)  # dies holding the lease: nothing released
        killed_at = time.time()
        leader.wait(timeout=10)
        assert holder_pid() == leader.pid
        assert _wait_for(lambda: holder_pid() == standby.pid, LEASE + RETRY + 5, step=0.02)
        took_over_after = time.time() - killed_at
        assert took_over_after <= LEASE + RETRY + 1.0, f"standby took over after {took_over_after:.1f} s"
        standby_token = redis.get(periodic.LEASE_KEY).decode()
        time.sleep(2.5)

        standby.send_signal(signal.SIGTERM)  # a clean stop releases the lease
        assert standby.wait(timeout=20) == 0, standby_log.read_text()
        assert redis.get(periodic.LEASE_KEY) is None
        out = standby_log.read_text()
        assert "lease acquired" in out and "lease released" in out and "stopped" in out
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    # a real RQ worker runs what was enqueued (here, in the test's process)
    _BurstWorker([jobs.QUEUE_NAME], connection=redis).work(burst=True)
    runs = [r.decode() for r in redis.lrange(short_schedule.RUNS_KEY, 0, -1)]
    assert len(runs) == len(set(runs)), f"a period ran twice: {runs}"
    periods: dict[str, list[int]] = defaultdict(list)
    for job_id in runs:
        name, _, start_at = job_id.rpartition("-")
        periods[name].append(int(start_at))
    seconds = sorted(periods["periodic-tests_jobs_short_schedule_every_second"])
    every_second = short_schedule.SCHEDULE[0]
    claimed_by = {s: redis.get(periodic.claim_key(every_second, s)).decode() for s in seconds}
    before = [s for s in seconds if claimed_by[s] == leader_token]
    after = [s for s in seconds if claimed_by[s] == standby_token]
    assert len(before) >= 3 and len(after) >= 2 and before + after == seconds
    # every second ran while someone led: no gap but the one between the kill and the take-over
    assert before == list(range(before[0], before[-1] + 1))
    assert after == list(range(after[0], after[-1] + 1))
    assert before[-1] <= killed_at < after[0] <= killed_at + LEASE + RETRY + 1.0
    # the hourly job: once in each hour the run covered, however many schedulers led in it
    hours = sorted(periods["periodic-tests_jobs_short_schedule_every_hour"])
    assert hours == sorted({s - s % 3600 for s in seconds})
