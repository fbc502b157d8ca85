"""Jobs: enqueued after commit, inline without Redis, and never lost when Redis is down."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from helpdesk import jobs
from helpdesk.db import commit, unit_of_work
from helpdesk.extensions import db
from helpdesk.routing.models import RoutingDecision
from helpdesk.tickets import services
from helpdesk.tickets.models import Channel, Ticket


def test_inline_mode_runs_the_routing_job_right_after_commit(app, ctx, make_ticket):
    if app.config["HELPDESK"].redis_url:
        pytest.skip("this run uses Redis; the Redis path is tested below")
    t = make_ticket(queue=None)
    decision = db.session.scalar(sa.select(RoutingDecision).where(RoutingDecision.ticket_id == t.id))
    assert decision is not None and decision.model_version == "test-model"
    assert jobs.outbox_counts() == {"pending": 0, "failed": 0}


def test_jobs_refuse_anything_but_ids(ctx):
    with pytest.raises(TypeError):
        jobs.enqueue("helpdesk.routing.tasks.route_ticket", "my chest hurts and " * 10)
    db.session.rollback()


def test_a_job_for_a_deleted_row_is_harmless_and_running_twice_is_too(app, ctx, make_ticket):
    from helpdesk.routing.tasks import route_ticket

    route_ticket(987654)  # no such ticket
    t = make_ticket(queue=None)
    route_ticket(t.id)
    route_ticket(t.id)
    n = db.session.scalar(sa.select(sa.func.count()).where(RoutingDecision.ticket_id == t.id))
    assert n == 1


def test_a_new_ticket_makes_one_follow_up_job_that_routes_it_and_sends_the_notice(ctx, queues, patient):
    from helpdesk.notify.models import OutgoingEmail
    from helpdesk.tickets import tasks

    with unit_of_work():  # the outbox as the create leaves it, before the commit runs or pushes it
        t = services.create_ticket(requester=patient, subject="My bill is wrong", body="I was charged twice.",
                                   channel=Channel.WEB, created_by=patient)
        rows = db.session.scalars(sa.select(jobs.OutboxJob)).all()
        assert [r.func for r in rows] == ["helpdesk.tickets.tasks.after_create"] and rows[0].args[0] == t.id
        args = list(rows[0].args)
    for _ in range(2):  # safe to run twice (inline mode ran it once already)
        tasks.after_create(*args)
    assert db.session.scalar(sa.select(sa.func.count()).where(RoutingDecision.ticket_id == t.id)) == 1
    received = db.session.scalars(sa.select(OutgoingEmail).where(OutgoingEmail.kind == "request_received")).all()
    assert len(received) == 1


def test_a_worker_started_while_redis_is_down_waits_for_it(app, configure, own_redis):
    own_redis["stop"]()
    with configure(redis_url=f"redis://127.0.0.1:{own_redis['port']}/0"), app.app_context():
        timer = threading.Timer(1.5, own_redis["start"])
        timer.start()
        try:
            failures = jobs.wait_for_redis(first_delay=0.2, max_delay=0.5)
        finally:
            timer.join()
        assert failures >= 2  # it waited and retried, then went on
        assert jobs.redis_connection().ping()


def test_a_redis_outage_never_loses_a_submission(app, configure, own_redis, queues, patient):
    """Redis stops: the ticket still commits and its job waits in the outbox; Redis
    comes back: the sweep pushes the job and a real RQ worker runs it."""
    from rq import SimpleWorker

    # the same app, switched to "production mode" jobs: jobs.py reads the setting per call
    with configure(redis_url=f"redis://127.0.0.1:{own_redis['port']}/0"), app.test_request_context():
        patient_row = db.session.get(type(patient), patient.id)
        own_redis["stop"]()
        t = services.create_ticket(requester=patient_row, subject="My bill is wrong",
                                   body="I was charged twice for one visit.", channel=Channel.WEB,
                                   created_by=patient_row)
        ticket_id = t.id
        assert db.session.get(Ticket, ticket_id) is not None
        # one job: routing, then the "request received" notification
        assert jobs.outbox_counts()["pending"] == 1
        assert jobs.sweep_outbox(grace=timedelta(0)) == 0  # still down: nothing lost, nothing pushed

        own_redis["start"]()
        assert jobs.sweep_outbox() == 0  # within the grace period the request's own push owns it
        assert jobs.sweep_outbox(grace=timedelta(0)) == 1
        assert jobs.sweep_outbox(grace=timedelta(0)) == 0  # Redis holds it now: not pushed twice
        SimpleWorker([jobs.QUEUE_NAME], connection=jobs.redis_connection()).work(burst=True)
        db.session.expire_all()
        assert db.session.scalar(sa.select(RoutingDecision).where(RoutingDecision.ticket_id == ticket_id))
        assert jobs.outbox_counts() == {"pending": 0, "failed": 0}
        db.session.remove()


def test_a_failing_job_is_retried_then_marked_failed_not_lost(app, ctx, monkeypatch):
    row = jobs.enqueue("helpdesk.routing.tasks.route_ticket", 1)
    db.session.commit()
    jobs.discard_pending()

    def boom(_ticket_id):
        raise RuntimeError("patient text must not reach the log")

    import helpdesk.routing.tasks as tasks

    monkeypatch.setattr(tasks, "route_ticket", boom)
    monkeypatch.setattr(jobs, "inline_mode", lambda: True)
    for _ in range(jobs.MAX_ATTEMPTS):
        jobs.run_outbox_job(row.id)
    db.session.expire_all()
    again = db.session.get(jobs.OutboxJob, row.id)
    assert again.failed and again.attempts == jobs.MAX_ATTEMPTS and again.last_error == "RuntimeError"


def test_inline_mode_keeps_a_job_for_later_in_the_outbox_until_it_is_due(app, ctx, monkeypatch):
    """Without Redis a job with a ``run_at`` is not run at the commit: it waits in the
    outbox and the sweep (every minute from `flask scheduler`) runs it once it is due."""
    from helpdesk.timeutil import simulated_clock, utcnow

    monkeypatch.setattr(jobs, "inline_mode", lambda: True)
    start = utcnow()
    later = jobs.enqueue("helpdesk.routing.tasks.route_ticket", 987654, run_at=start + timedelta(minutes=10))
    now = jobs.enqueue("helpdesk.routing.tasks.route_ticket", 987655)
    commit()  # helpdesk.db.commit: commits, then dispatches
    later_id, now_id = later.id, now.id
    assert db.session.get(jobs.OutboxJob, now_id) is None  # ran right after the commit
    assert db.session.get(jobs.OutboxJob, later_id) is not None
    with simulated_clock(lambda: start + timedelta(minutes=9)):
        assert jobs.sweep_outbox() == 0
    assert db.session.get(jobs.OutboxJob, later_id) is not None
    with simulated_clock(lambda: start + timedelta(minutes=10, seconds=1)):
        assert jobs.sweep_outbox() == 1  # due: run, whatever the grace period of fresh rows
    db.session.expire_all()
    assert db.session.get(jobs.OutboxJob, later_id) is None
    assert jobs.outbox_counts() == {"pending": 0, "failed": 0}


def test_inline_mode_retries_a_failed_job_after_the_back_off_not_at_every_sweep(app, ctx, monkeypatch):
    import helpdesk.routing.tasks as tasks
    from helpdesk.timeutil import simulated_clock, utcnow

    calls = []

    def flaky(_ticket_id):
        calls.append(utcnow())
        if len(calls) == 1:
            raise ConnectionError("down")

    monkeypatch.setattr(jobs, "inline_mode", lambda: True)
    monkeypatch.setattr(tasks, "route_ticket", flaky)
    start = utcnow()
    with simulated_clock(lambda: start):
        row = jobs.enqueue("helpdesk.routing.tasks.route_ticket", 1)
        commit()  # runs at once and fails
        row_id = row.id
        assert len(calls) == 1
        db.session.expire_all()
        again = db.session.get(jobs.OutboxJob, row_id)
        assert again.attempts == 1 and again.run_at == start + timedelta(seconds=jobs.RETRY_INTERVALS[0])
    with simulated_clock(lambda: start + timedelta(seconds=jobs.RETRY_INTERVALS[0] - 1)):
        assert jobs.sweep_outbox(grace=timedelta(0)) == 0 and len(calls) == 1
    with simulated_clock(lambda: start + timedelta(seconds=jobs.RETRY_INTERVALS[0])):
        assert jobs.sweep_outbox() == 1 and len(calls) == 2
    db.session.expire_all()
    assert db.session.get(jobs.OutboxJob, row_id) is None


def test_a_job_for_a_row_not_written_yet_joins_the_outbox_once_a_flush_gives_the_row_its_id(ctx):
    from helpdesk.notify.mail import SEND_JOB, queue_email

    with pytest.raises(RuntimeError), unit_of_work():
        mail = queue_email(to="p@example.org", kind="request_received", lang="en", flush=False,
                           context={"reference": "HD-1", "request_url": "https://x.invalid/r"})
        assert mail.id is None  # not written: nothing forced a flush
        db.session.flush()
        assert mail.id is not None
        rows = db.session.scalars(sa.select(jobs.OutboxJob)).all()  # (this query's autoflush writes it)
        assert [(r.func, r.args) for r in rows] == [(SEND_JOB, [mail.id])]
        raise RuntimeError("roll back")
    assert db.session.scalars(sa.select(jobs.OutboxJob)).all() == []
    assert db.session.info.get("helpdesk_outbox_after_flush") is None  # nothing left for the next unit
