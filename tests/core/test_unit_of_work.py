"""The one unit of work (``helpdesk.db.unit_of_work`` / ``@transactional``): the outermost
block commits once, then dispatches the jobs enqueued inside it; nested blocks join it;
an exception anywhere rolls all of it back and forgets its jobs."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from helpdesk import db as uow
from helpdesk import jobs
from helpdesk.audit import AuditEvent
from helpdesk.db import UnitOfWorkRolledBack, transactional, unit_of_work
from helpdesk.errors import ValidationFailed
from helpdesk.extensions import db
from helpdesk.jobs import OutboxJob
from helpdesk.tickets import macros
from helpdesk.tickets.models import Message, Queue, Status
from tests.factories import count


@pytest.fixture
def commits(ctx) -> list[int]:
    """How many times the session committed (one entry per commit)."""
    seen: list[int] = []
    session = db.session()

    def on_commit(_session) -> None:
        seen.append(len(seen) + 1)

    event.listen(session, "after_commit", on_commit)
    yield seen
    event.remove(session, "after_commit", on_commit)


@pytest.fixture
def dispatched(commits, monkeypatch) -> list[dict]:
    """Each dispatch: the outbox ids handed over, how many commits had happened by then,
    and whether another connection already sees those rows (i.e. they are committed)."""
    calls: list[dict] = []
    real = jobs.dispatch_pending

    def record() -> None:
        rows = list(db.session.info.get(jobs._SESSION_KEY, []))
        ids = [r.id for r in rows]
        with db.engine.connect() as other:
            visible = other.scalar(sa.select(sa.func.count()).select_from(OutboxJob).where(OutboxJob.id.in_(ids)))
        calls.append({"ids": ids, "commits": len(commits), "visible": visible})
        real()

    monkeypatch.setattr(jobs, "dispatch_pending", record)
    return calls


def _queue(slug: str) -> Queue:
    q = Queue(slug=slug, name=slug.title())
    db.session.add(q)
    return q


def _committed_slugs() -> set[str]:
    with db.engine.connect() as other:  # what another connection sees: only committed rows
        return set(other.scalars(sa.select(Queue.slug)))


def test_the_outermost_unit_commits_once_and_nested_units_join_it(commits):
    with unit_of_work():
        _queue("outer-a")
        with unit_of_work():
            _queue("inner-b")
            with unit_of_work():
                _queue("inner-c")
            assert commits == []  # the nested ones did not commit
        assert uow.in_unit_of_work() and commits == []
        db.session.flush()
        assert not {"outer-a", "inner-b", "inner-c"} & _committed_slugs()
    assert len(commits) == 1
    assert not uow.in_unit_of_work()
    assert {"outer-a", "inner-b", "inner-c"} <= _committed_slugs()


def test_an_exception_in_a_nested_unit_rolls_back_the_whole_unit(commits):
    with pytest.raises(RuntimeError), unit_of_work():
        _queue("outer-a")
        db.session.flush()
        with unit_of_work():
            _queue("inner-b")
            raise RuntimeError("boom")
    assert commits == [] and not uow.in_unit_of_work()
    assert count(Queue) == 0 and not {"outer-a", "inner-b"} & _committed_slugs()


def test_a_swallowed_failure_of_a_nested_unit_still_rolls_back_everything(commits):
    with pytest.raises(UnitOfWorkRolledBack), unit_of_work():
        _queue("outer-a")
        try:
            with unit_of_work():
                _queue("inner-b")
                raise ValueError("swallowed below")
        except ValueError:
            pass
        _queue("after-c")  # would be half a unit: it is not committed either
    assert commits == [] and count(Queue) == 0
    with unit_of_work():  # the next unit starts clean
        _queue("next-d")
    assert _committed_slugs() == {"next-d"}


def test_jobs_are_dispatched_after_the_outer_commit_and_only_then(dispatched, commits):
    with unit_of_work():
        with unit_of_work():
            row = jobs.enqueue("helpdesk.sla.tasks.sweep")
        assert dispatched == []  # the nested unit ended: nothing dispatched yet
        db.session.flush()
        outbox_id = row.id
    assert len(dispatched) == 1
    assert dispatched[0] == {"ids": [outbox_id], "commits": 1, "visible": 1}  # committed before it was handed over


def test_a_rolled_back_unit_dispatches_nothing_and_forgets_its_jobs(dispatched, commits):
    with pytest.raises(ValidationFailed), unit_of_work():
        with unit_of_work():
            jobs.enqueue("helpdesk.sla.tasks.sweep")
        raise ValidationFailed("no")
    assert dispatched == [] and count(OutboxJob) == 0
    assert jobs._SESSION_KEY not in db.session.info
    with unit_of_work():  # a later unit does not carry the discarded job along
        _queue("later")
    assert dispatched == [{"ids": [], "commits": 1, "visible": 0}]


def test_transactional_is_the_decorator_form_and_joins_a_caller_unit(commits):
    @transactional
    def add(slug: str) -> Queue:
        assert uow.in_unit_of_work()
        return _queue(slug)

    add("alone")
    assert len(commits) == 1
    with unit_of_work():
        add("joined-1")
        add("joined-2")
    assert len(commits) == 2
    assert _committed_slugs() == {"alone", "joined-1", "joined-2"}


def test_commit_and_rollback_are_refused_inside_a_unit(commits):
    with pytest.raises(RuntimeError), unit_of_work():
        uow.commit()
    with pytest.raises(RuntimeError), unit_of_work():
        uow.rollback()
    assert commits == []


def test_a_macro_that_posts_and_updates_is_one_transaction(agent, supervisor, queues, make_ticket, dispatched,
                                                            commits):
    ticket = make_ticket()
    macro = macros.create_macro(actor=agent, data={
        "title": "Move", "body": "Hello {{patient_first_name}}, moving this on.", "set_status": "pending_patient",
        "set_queue_id": str(queues["scheduling"].id)})
    before_commits = len(commits)
    dispatched.clear()
    macros.apply_macro(ticket, macro, actor=agent)
    # the reply, the update and the macro's audit row: one commit, then the jobs
    assert dispatched[0]["commits"] == before_commits + 1
    db.session.expire_all()
    assert ticket.status == Status.PENDING_PATIENT and ticket.queue.slug == "scheduling"


def test_a_failure_in_the_macros_update_leaves_no_message(agent, queues, make_ticket, commits):
    ticket = make_ticket()
    macro = macros.create_macro(actor=agent, data={
        "title": "Move", "body": "Hello {{patient_first_name}}, moving this on.",
        "set_queue_id": str(queues["scheduling"].id)})
    queues["scheduling"].active = False  # the update will refuse the move, after the reply was written
    uow.commit()
    n_messages, n_audit, n_commits = count(Message), count(AuditEvent), len(commits)
    with pytest.raises(ValidationFailed):
        macros.apply_macro(ticket, macro, actor=agent)
    assert len(commits) == n_commits  # nothing was committed on the way
    db.session.expire_all()
    assert count(Message) == n_messages and count(AuditEvent) == n_audit
    assert ticket.queue.slug == "billing" and ticket.status in (Status.NEW, Status.OPEN)
