"""Periodic work (helpdesk.periodic): one schedule, enqueued by the leased scheduler in production
(tests/jobs/test_scheduler_lease.py) and run by the in-process scheduler of inline mode
(``flask scheduler`` without Redis, started by ``make run``)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from helpdesk import periodic
from helpdesk.audit import AuditEvent
from helpdesk.extensions import db
from helpdesk.sla.models import Notification
from helpdesk.timeutil import simulated_clock, utcnow

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
def inline(configure) -> None:
    """Jobs inline, as in `make run`, also in a run that uses Redis."""
    configure(redis_url=None, jobs_inline=True)


def _events(action: str, reference: str) -> int:
    db.session.rollback()  # a fresh read: what the scheduler committed
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == action, AuditEvent.object_id == reference)) or 0


def _wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def test_the_schedule_table():
    by_name = {e.name.rpartition(".")[2]: (e.interval, e.cron, e.timeout) for e in periodic.SCHEDULE}
    assert len(by_name) == len(periodic.SCHEDULE)  # one line per job: a run's claim is keyed by its name
    # what `flask scheduler` ran before the schedule became one table, and the clinical-alert sweep
    assert by_name == {
        "audit_seal_job": (1, None, None),  # the audit log's batches, every second
        "sweep_outbox_job": (60, None, None), "sla_sweep_job": (60, None, None),
        "dashboard_rollup_job": (60, None, 600), "clinical_alert_sweep_job": (60, None, None),
        "mail_sweep_job": (60, None, None), "webhook_sweep_job": (60, None, None),
        "imap_poll_job": (60, None, None), "attachment_sweep_job": (None, "17 * * * *", None),
        "auth_throttle_prune_job": (3600, None, None), "prune_sessions_job": (3600, None, None),
        "idempotency_purge_job": (3600, None, None),
        "prune_patient_links_job": (3600, None, None),
        "weekly_retrain_job": (None, "0 3 * * 0", 1800), "audit_prune_job": (None, "0 4 * * 0", 1800),
    }


def test_an_entry_needs_exactly_one_of_interval_and_cron():
    with pytest.raises(ValueError):
        periodic.Periodic(periodic.sla_sweep_job)
    with pytest.raises(ValueError):
        periodic.Periodic(periodic.sla_sweep_job, interval=60, cron="* * * * *")


def test_in_make_run_a_ticket_gets_its_sla_warning_when_the_time_passes(app, ctx, inline, make_policy, make_ticket,
                                                                         agent):
    """The in-process scheduler runs the real schedule (intervals shortened to a second):
    nothing is run by hand, the warning comes when its time passes."""
    # calendar time: first reply due 8 s after creation, warning at half of it
    make_policy("Fast", position=1, first=8, nxt=3600, resolution=36000, business=False, warn_fraction=0.5)
    t = make_ticket()
    assert _events("sla.warning", t.reference) == 0
    schedule = [replace(e, interval=1) if e.interval else e for e in periodic.SCHEDULE]
    scheduler = periodic.InlineScheduler(app, schedule)
    runner = threading.Thread(target=scheduler.run, daemon=True)
    runner.start()
    try:
        assert _wait_for(lambda: _events("sla.warning", t.reference) == 1, 15), "no warning within 15 s"
        warned_at = utcnow()
        assert warned_at - t.created_at >= timedelta(seconds=4)  # not before its time
        notices = db.session.scalars(sa.select(Notification.kind).where(Notification.user_id == agent.id,
                                                                        Notification.ticket_id == t.id)).all()
        assert notices and all(k.startswith("sla_warning") for k in notices)
        assert _wait_for(lambda: _events("sla.breached", t.reference) == 1, 15), "no breach within 15 s"
    finally:
        scheduler.stop()
        runner.join(timeout=30)
    assert not runner.is_alive()
    assert scheduler.failures == 0 and scheduler.runs >= len([e for e in schedule if e.interval])


_calls: list[str] = []


def _raises() -> None:
    _calls.append("raises")
    raise RuntimeError("Maria Lopez, chest pain since Tuesday")  # patient text: must not be logged


def _counts() -> None:
    _calls.append("counts")


def test_a_job_that_raises_is_logged_by_type_only_and_the_scheduler_goes_on(app, caplog):
    _calls.clear()
    scheduler = periodic.InlineScheduler(app, [periodic.Periodic(_raises, interval=1),
                                               periodic.Periodic(_counts, interval=1)])
    runner = threading.Thread(target=scheduler.run, daemon=True)
    with caplog.at_level(logging.WARNING, logger="helpdesk.periodic"):
        runner.start()
        assert _wait_for(lambda: _calls.count("counts") >= 3, 10)
        scheduler.stop()
        runner.join(timeout=10)
    assert not runner.is_alive() and _calls.count("raises") >= 3 and scheduler.failures >= 3
    logged = caplog.text
    assert "RuntimeError" in logged and "test_periodic_scheduler._raises" in logged
    assert "Maria" not in logged and "chest" not in logged


def test_flask_scheduler_without_redis_runs_the_schedule_in_process_and_stops_on_sigterm(app, ctx, make_policy,
                                                                                     make_ticket, tmp_path):
    """The command `make run` starts beside the web server: a warning already owed is
    fired at start (interval jobs run at once), and SIGTERM ends it cleanly."""
    make_policy("Default", position=1000, first=3600, nxt=3600, resolution=36000, business=False)
    fifty_minutes_ago = utcnow() - timedelta(minutes=50)
    with simulated_clock(lambda: fifty_minutes_ago):
        t = make_ticket()  # its first reply passed the warning point 5 minutes ago
    settings = app.config["HELPDESK"]
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SECRET_KEY", "DATABASE_URL")}
    env.update(HELPDESK_ENV="testing", HELPDESK_INSTANCE_PATH=str(settings.instance_path),
               DATABASE_URL=settings.database_url, FLASK_APP="wsgi")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "flask"), "scheduler"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # a fresh process imports the whole app first: on a busy 2-core machine that alone can take 20 s
        assert _wait_for(lambda: _events("sla.warning", t.reference) == 1, 90), "flask scheduler fired no warning"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()  # also when the test failed: no unclosed pipe left for the next test
    assert proc.returncode == 0, out
    assert "in-process scheduler started" in out and "in-process scheduler stopped" in out
