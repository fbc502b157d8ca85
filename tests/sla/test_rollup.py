"""The dashboard's daily summary tables: the same figures as live aggregation, finished
days that change are recomputed live until refreshed, and the refresh job and command."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from helpdesk.extensions import db
from helpdesk.sla import dashboard, rollup
from helpdesk.sla import services as sla
from helpdesk.sla.dashboard import Period
from helpdesk.sla.rollup import DashDay, DashStaleDay, DashVolume
from helpdesk.tickets import services as tickets
from helpdesk.tickets.models import Status

DAY = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.fixture
def history(ctx, clock, make_policy, make_ticket, agent):
    """Day 1: three requests, two solved (one after a late first reply), one breached.
    Day 2: two more requests, one solved."""
    make_policy("Default", position=1000, first=3600, nxt=3600, resolution=36000, business=False)
    t1, t2, t3 = make_ticket(), make_ticket(), make_ticket()
    clock.advance(minutes=30)
    tickets.post_message(t1, author=agent, body="Refund on its way.", next_status=Status.RESOLVED)
    clock.advance(hours=2)
    tickets.post_message(t2, author=agent, body="Corrected.", next_status=Status.RESOLVED)
    sla.sweep()
    clock.set(DAY + timedelta(days=1, hours=15))
    t4, _t5 = make_ticket(), make_ticket()
    clock.advance(minutes=10)
    tickets.post_message(t4, author=agent, body="Done.", next_status=Status.RESOLVED)
    clock.set(DAY + timedelta(days=3, hours=12))
    sla.sweep()
    return t1, t2, t3


def _figures(p: Period) -> dict:
    return {name: dashboard.figure(name, p) for name in ("summary", "daily", "attainment", "agents", "adoption")}


def test_summary_tables_give_exactly_the_live_figures(history):
    p = Period(start=DAY - timedelta(days=1), end=DAY + timedelta(days=4))
    live = _figures(p)
    assert rollup.plan(p.start, p.end)[0] == []
    assert rollup.refresh() == 3  # the first ticket's day to yesterday
    rolled, live_ranges = rollup.plan(p.start, p.end)
    assert rolled == [(DAY + timedelta(days=i)).date() for i in range(3)]
    assert live_ranges == [(p.start, DAY), (DAY + timedelta(days=3), p.end)]  # before any ticket, and today
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DashVolume)) > 0
    assert _figures(p) == live
    assert live["summary"]["created"]["current"] == 5 and live["summary"]["solved"]["current"] == 3


def test_a_change_to_a_finished_day_is_counted_at_once_and_refreshed_later(history, agent):
    t1, _t2, _t3 = history
    rollup.refresh()
    day1 = Period(start=DAY, end=DAY + timedelta(days=1))
    assert dashboard.summary(day1)["solved"] == 2
    assert dashboard.summary(day1)["resolution"]["n"] == 2  # percentiles of a finished day: kept in memory
    tickets.update_ticket(t1, actor=agent, status="open")  # reopened two days later
    assert db.session.scalars(sa.select(DashStaleDay.day)).all() == [DAY.date()]
    assert rollup.plan(day1.start, day1.end) == ([], [(day1.start, day1.end)])
    assert dashboard.summary(day1)["solved"] == 1  # live for the stale day
    assert dashboard.summary(day1)["resolution"]["n"] == 1
    assert rollup.refresh() == 1
    assert dashboard.summary(day1)["resolution"]["n"] == 1  # summarised again: not the kept figure
    assert db.session.scalars(sa.select(DashStaleDay.day)).all() == []
    assert rollup.plan(day1.start, day1.end)[0] == [DAY.date()]
    assert dashboard.summary(day1)["solved"] == 1


def test_todays_work_marks_nothing_stale(ctx, clock, make_policy, make_ticket, agent):
    make_policy("Default", position=1000, business=False)
    t = make_ticket()
    tickets.post_message(t, author=agent, body="On it.", next_status=Status.RESOLVED)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DashStaleDay)) == 0


def test_refresh_is_bounded_newest_first_and_idempotent(history):
    assert rollup.refresh(max_days=1) == 1
    assert db.session.scalars(sa.select(DashDay.day)).all() == [(DAY + timedelta(days=2)).date()]
    assert rollup.refresh() == 2
    assert rollup.refresh() == 0


def test_the_rollup_command_shows_progress_and_summarises_days(history, app):
    result = app.test_cli_runner(mix_stderr=False).invoke(args=["sla", "rollup"]) if _mix_ok() else \
        app.test_cli_runner().invoke(args=["sla", "rollup"])
    assert result.exit_code == 0, result.output
    assert "3 day(s) summarised" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DashDay)) == 3


def _mix_ok() -> bool:
    import inspect

    from click.testing import CliRunner

    return "mix_stderr" in inspect.signature(CliRunner.__init__).parameters


# Every write path that changes a finished day marks it stale, explicitly, in its own unit
# of work (helpdesk.sla.rollup.mark_stale / ticket_created / ticket_moved): no ORM listener.


def _stale() -> set:
    db.session.expire_all()
    return set(db.session.scalars(sa.select(DashStaleDay.day)))


def _reply(h):
    tickets.post_message(h["t1"], author=h["agent"], body="One more thing.")  # the reply count of a solved day


def _patient_reopens(h):
    tickets.post_message(h["t1"], author=h["t1"].requester, body="It happened again.")


def _queue_move(h):
    tickets.update_ticket(h["t2"], actor=h["agent"], queue_id=h["queues"]["scheduling"].id, reason="Scheduling")


def _assign(h):
    tickets.update_ticket(h["t3"], actor=h["agent"], assignee_id=h["agent"].id)


def _bulk_queue_move(h):
    from helpdesk.tickets.bulk import bulk_apply

    [outcome] = bulk_apply(h["agent"], [h["t2"].reference], action="queue",
                           value=str(h["queues"]["scheduling"].id), reason="Scheduling")
    assert outcome.ok, outcome.message


def _merge(h):
    from helpdesk.tickets.merge import merge_tickets

    merge_tickets(h["make_ticket"](), [h["t3"].reference], actor=h["agent"])  # closes t3: its breach day changes


@pytest.mark.parametrize("change", [_reply, _patient_reopens, _queue_move, _assign, _bulk_queue_move, _merge])
def test_each_write_path_that_changes_a_finished_day_marks_it_stale(history, agent, queues, make_ticket, change):
    t1, t2, t3 = history
    rollup.refresh()
    assert _stale() == set()
    change({"t1": t1, "t2": t2, "t3": t3, "agent": agent, "queues": queues, "make_ticket": make_ticket})
    assert DAY.date() in _stale()
    rollup.refresh()
    assert _stale() == set()


def test_a_breach_recorded_after_midnight_marks_the_day_it_happened(ctx, clock, make_policy, make_ticket):
    make_policy("Default", position=1000, first=3600, nxt=3600, resolution=36000, business=False)
    clock.set(DAY + timedelta(hours=23, minutes=30))
    make_ticket()  # first reply due at 00:30 the next day
    clock.set(DAY + timedelta(days=3, hours=12))
    rollup.refresh()
    assert _stale() == set()
    assert sla.sweep() >= 1  # the breach is recorded two days late, at its due time
    assert (DAY + timedelta(days=1)).date() in _stale()


def test_a_back_dated_ticket_marks_the_day_it_is_dated(ctx, clock, make_policy, make_ticket, monkeypatch):
    make_policy("Default", position=1000, business=False)
    clock.set(DAY + timedelta(days=3, hours=12))
    make_ticket()
    rollup.refresh()
    monkeypatch.setattr(tickets, "utcnow", lambda: DAY + timedelta(hours=10))  # an import of an old request
    make_ticket()
    assert _stale() == {DAY.date()}
