"""With Redis, new requests' follow-up work and outgoing mail run in batches: one drain
job per job function, rows claimed under a lease, a failed batch run again row by row."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from redis import Redis

from helpdesk import jobs
from helpdesk.extensions import db
from helpdesk.notify.models import MailStatus, OutgoingEmail
from helpdesk.routing.models import RoutingDecision
from helpdesk.tickets import services
from helpdesk.tickets.models import Channel, Ticket
from helpdesk.timeutil import utcnow

AFTER_CREATE = "helpdesk.tickets.tasks.after_create"
SEND = "helpdesk.notify.tasks.send_email"


@pytest.fixture
def with_redis(app, configure, own_redis):
    """The suite's app with jobs going to a Redis of the test's own."""
    with configure(redis_url=own_redis["url"]), app.test_request_context():
        yield Redis.from_url(own_redis["url"])
        db.session.remove()


def _new_requests(patient, n: int) -> list[int]:
    ids = []
    for i in range(n):
        t = services.create_ticket(requester=db.session.get(type(patient), patient.id), subject=f"My bill is wrong {i}",
                                   body="I was charged twice for one visit.", channel=Channel.WEB,
                                   created_by=db.session.get(type(patient), patient.id))
        ids.append(t.id)
    return ids


def _queued_jobs(redis: Redis) -> list[str]:
    return [j.decode() for j in redis.lrange(f"rq:queue:{jobs.QUEUE_NAME}", 0, -1)]


def _work() -> None:
    jobs.Worker([jobs.QUEUE_NAME], connection=jobs.redis_connection()).work(burst=True)


def test_many_new_requests_make_one_drain_job_that_routes_them_all_and_sends_their_notices(with_redis, queues,
                                                                                          patient):
    ids = _new_requests(patient, 5)
    queued = _queued_jobs(with_redis)
    assert len(queued) == 1 and queued[0].startswith("drain-")  # not five jobs
    assert jobs.outbox_counts()["pending"] == 5

    _work()
    db.session.expire_all()
    routed = db.session.scalars(sa.select(RoutingDecision.ticket_id)).all()
    assert sorted(routed) == ids
    assert all(db.session.get(Ticket, i).queue.slug == "billing" for i in ids)
    mails = db.session.scalars(sa.select(OutgoingEmail).where(OutgoingEmail.kind == "request_received")).all()
    assert sorted(m.ticket_id for m in mails) == ids
    assert {m.status for m in mails} == {MailStatus.STORED}  # no mail server here: kept, not sent
    assert jobs.outbox_counts() == {"pending": 0, "failed": 0}
    assert not with_redis.exists(jobs.DRAIN_KEY + AFTER_CREATE)


def test_a_batch_writes_the_same_as_one_by_one_in_a_number_of_statements_that_does_not_grow_with_it(
        with_redis, configure, queues, patient, make_user):
    """The follow-up of 3 and of 12 requests: the same rows per ticket (decision, move,
    clocks, audit event, notice and its mail), and the statements of a batch do not grow
    with its size (reads are made for the whole batch, writes are grouped per table) —
    with the production's short-lived caches of queues and SLA policies (the suite reads
    them every time)."""
    from helpdesk.audit import AuditEvent
    from helpdesk.sla.models import SlaMetric
    from helpdesk.tickets import tasks

    def run(n: int) -> tuple[list[int], list[str]]:
        others = [make_user(name=f"Batch Patient {i}") for i in range(n - 1)]
        ids = _new_requests(patient, 1) + [_new_requests(p, 1)[0] for p in others]
        with_redis.flushdb()
        items = [jobs.Item(r.id, list(r.args), r.request_id) for r in db.session.scalars(
            sa.select(jobs.OutboxJob).where(jobs.OutboxJob.func == AFTER_CREATE).order_by(jobs.OutboxJob.id))]
        seen: list[str] = []

        def record(conn, cursor, statement, params, context, executemany):
            seen.append(statement)

        sa.event.listen(db.engine, "before_cursor_execute", record)
        try:
            tasks.after_create_batch(items)
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", record)
        db.session.execute(sa.delete(jobs.OutboxJob))
        db.session.commit()
        return ids, seen

    with configure(lookup_cache_seconds=5, sla_policy_cache_seconds=5):
        small, small_statements = run(3)
        large, large_statements = run(12)
    db.session.expire_all()
    billing = queues["billing"].id
    for ids in (small, large):
        assert {db.session.get(Ticket, i).queue_id for i in ids} == {billing}
        assert sorted(db.session.scalars(sa.select(RoutingDecision.ticket_id).where(
            RoutingDecision.ticket_id.in_(ids)))) == ids
        assert {r.queue_id for r in db.session.scalars(sa.select(SlaMetric).where(SlaMetric.ticket_id.in_(ids)))} \
            == {billing}  # the clocks moved with the tickets
        refs = [db.session.get(Ticket, i).reference for i in ids]
        assert sorted(db.session.scalars(sa.select(AuditEvent.object_id).where(
            AuditEvent.action == "ticket.routed", AuditEvent.object_id.in_(refs)))) == sorted(refs)
        mails = db.session.scalars(sa.select(OutgoingEmail).where(OutgoingEmail.ticket_id.in_(ids))).all()
        assert sorted(m.ticket_id for m in mails) == ids
    send_rows = db.session.scalars(sa.select(jobs.OutboxJob)).all()  # each mail's send job, written after its id
    assert send_rows == [] or {r.func for r in send_rows} == {SEND}
    def reads(seen: list[str]) -> int:
        return sum(1 for s in seen if s.lstrip().upper().startswith("SELECT"))

    assert reads(large_statements) <= reads(small_statements)  # (the first also filled the caches)
    if db.engine.dialect.name == "postgresql":  # the rows of a table in one INSERT (SQLite: one each, in-process)
        assert len(large_statements) <= len(small_statements) + 2, (len(small_statements), len(large_statements))


def test_a_patient_with_several_requests_in_one_batch_still_gets_at_most_the_hourly_mails(
        with_redis, configure, queues, patient):
    with configure(mail_per_address_per_hour=2):
        ids = _new_requests(patient, 4)
        _work()
    db.session.expire_all()
    assert sorted(db.session.scalars(sa.select(RoutingDecision.ticket_id))) == ids  # every one routed
    mails = db.session.scalars(sa.select(OutgoingEmail).where(OutgoingEmail.kind == "request_received")).all()
    assert len(mails) == 2  # the loop guard counts the batch's own mails too


def test_a_request_whose_follow_up_fails_fails_alone_and_is_retried_after_the_back_off(with_redis, queues, patient,
                                                                                       monkeypatch):
    import helpdesk.routing.tasks as routing_tasks

    ids = _new_requests(patient, 4)
    bad = ids[2]
    real = routing_tasks.route_ticket

    def route(ticket_id: int) -> None:
        if ticket_id == bad:
            raise RuntimeError("patient text must not reach the log")
        real(ticket_id)

    monkeypatch.setattr(routing_tasks, "route_ticket", route)
    _work()
    db.session.expire_all()
    routed = sorted(db.session.scalars(sa.select(RoutingDecision.ticket_id)))
    assert routed == [i for i in ids if i != bad]  # the batch failed, then each ran alone
    left = db.session.scalars(sa.select(jobs.OutboxJob)).all()
    assert [(r.func, r.args[0]) for r in left] == [(AFTER_CREATE, bad)]
    row = left[0]
    assert row.attempts == 1 and not row.failed and row.last_error == "RuntimeError"
    assert row.run_at is not None and row.run_at > utcnow()  # waits out the back-off
    # …as a job of its own, scheduled for then
    assert with_redis.zscore(f"rq:scheduled:{jobs.QUEUE_NAME}", jobs.job_id(row.id)) is not None

    monkeypatch.setattr(routing_tasks, "route_ticket", real)
    jobs.run_outbox_job(row.id)  # what the scheduled job does when it is due
    _work()  # its notice's mail
    db.session.expire_all()
    assert db.session.scalar(sa.select(RoutingDecision.id).where(RoutingDecision.ticket_id == bad))
    assert jobs.outbox_counts() == {"pending": 0, "failed": 0}


def test_two_workers_claim_different_rows_and_a_dead_workers_rows_come_back_after_the_lease(app, with_redis,
                                                                                              queues, patient):
    _new_requests(patient, 6)
    got: list[list[int]] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        with app.app_context():
            barrier.wait()
            got.append([r.id for r in jobs.claim(AFTER_CREATE, 3)])
            db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(g) for g in got) == [3, 3]
    assert not set(got[0]) & set(got[1])  # never the same row twice
    assert jobs.claim(AFTER_CREATE, 10) == []  # all six are leased

    # the worker holding the first three died: once its lease has run out they are free again
    db.session.execute(sa.update(jobs.OutboxJob).where(jobs.OutboxJob.id.in_(got[0]))
                       .values(claimed_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert sorted(r.id for r in jobs.claim(AFTER_CREATE, 10)) == sorted(got[0])


def test_the_sweep_arms_one_drain_for_rows_redis_lost_and_it_runs_them(with_redis, queues, patient):
    ids = _new_requests(patient, 3)
    with_redis.flushdb()  # Redis lost the drain (a restart: it keeps nothing on disk)
    assert jobs.sweep_outbox() == 0  # within the grace period the requests' own dispatch owns them
    assert jobs.sweep_outbox(grace=timedelta(0)) == 3
    assert jobs.sweep_outbox(grace=timedelta(0)) == 0  # a drain is waiting: not armed twice
    assert len(_queued_jobs(with_redis)) == 1
    _work()
    db.session.expire_all()
    assert sorted(db.session.scalars(sa.select(RoutingDecision.ticket_id))) == ids
    assert jobs.outbox_counts() == {"pending": 0, "failed": 0}


def test_a_drain_that_spends_its_time_budget_hands_over_to_a_fresh_job(with_redis, queues, patient):
    ids = _new_requests(patient, 5)
    with_redis.delete(f"rq:queue:{jobs.QUEUE_NAME}")
    assert jobs.drain_outbox(AFTER_CREATE, batch_size=2, budget=0) == 2  # one batch, then over budget
    assert with_redis.exists(jobs.DRAIN_KEY + AFTER_CREATE)  # the rest is left to a fresh drain
    assert with_redis.exists(jobs.DRAIN_KEY + SEND)  # (and the two notices' mails to theirs)
    assert len(_queued_jobs(with_redis)) == 2
    _work()
    db.session.expire_all()
    assert sorted(db.session.scalars(sa.select(RoutingDecision.ticket_id))) == ids


def test_a_batch_of_mails_goes_out_over_one_connection_and_a_refused_one_fails_alone(ctx, smtp_server, use_smtp):
    from helpdesk.db import unit_of_work
    from helpdesk.notify import mail as mailer

    use_smtp(smtp_server.controller.port, mail_max_attempts=3)
    smtp_server.refuse_to = {"gone@example.org"}
    addresses = ["a@example.org", "gone@example.org", "b@example.org", "c@example.org"]
    with unit_of_work():
        ids = [mailer.queue_email(to=a, kind="request_received", lang="en",
                                  context={"reference": f"HD-{i}", "request_url": "https://x.invalid/r"}).id
               for i, a in enumerate(addresses)]
    if not jobs.inline_mode():  # with Redis the mails wait for a worker: send them here, as its batch does
        outcome = mailer.send_emails(ids)
    else:  # inline, each went out at its commit: queue the same again and send them as one batch
        assert len(smtp_server.messages) == 3
        smtp_server.messages.clear()
        smtp_server.sessions.clear()
        with unit_of_work():
            for m in db.session.scalars(sa.select(OutgoingEmail).where(OutgoingEmail.id.in_(ids))):
                m.status, m.attempts, m.next_attempt_at = MailStatus.QUEUED, 0, utcnow()
        jobs.discard_pending()
        outcome = mailer.send_emails(ids)
    assert outcome == {ids[0]: "sent", ids[1]: "failed", ids[2]: "sent", ids[3]: "sent"}
    assert sorted(m["To"] for m in smtp_server.messages) == ["a@example.org", "b@example.org", "c@example.org"]
    assert len(smtp_server.sessions) == 1  # one SMTP connection for the lot
    failed = db.session.get(OutgoingEmail, ids[1])
    assert failed.status == MailStatus.FAILED and failed.last_error.startswith("SMTPDataError 550")
    assert mailer.send_emails(ids) == {}  # nothing is sent twice
