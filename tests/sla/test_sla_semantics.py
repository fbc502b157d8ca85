"""The SLA rules, one named test each (inline jobs; time moved with the injected clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from helpdesk.audit import AuditEvent
from helpdesk.auth.models import Role
from helpdesk.extensions import db
from helpdesk.sla import policies
from helpdesk.sla import services as sla
from helpdesk.sla.clock import add_business_time, default_calendar
from helpdesk.sla.models import Metric, MetricState, Notification, SlaMetric, TicketSla
from helpdesk.tickets import services as tickets
from helpdesk.tickets.models import Status
from tests.sla.conftest import MONDAY_9AM


def rows(ticket, metric: Metric | None = None) -> list[SlaMetric]:
    db.session.expire_all()
    stmt = sa.select(SlaMetric).where(SlaMetric.ticket_id == ticket.id).order_by(SlaMetric.metric, SlaMetric.cycle)
    if metric is not None:
        stmt = stmt.where(SlaMetric.metric == metric)
    return list(db.session.scalars(stmt))


def one(ticket, metric: Metric) -> SlaMetric:
    (row,) = rows(ticket, metric)
    return row


@pytest.fixture
def billing_policy(make_policy):
    make_policy("Default", position=1000, first=600, nxt=600, resolution=600, business=False)
    return make_policy("Billing", queue="billing", position=10, first=3600, nxt=7200, resolution=36000)


# ----------------------------------------------------------------------------- policies


def test_first_matching_policy_in_order_applies_and_the_default_comes_last(ctx, queues, make_policy):
    default = make_policy("Default", position=1000)
    urgent_billing = make_policy("Urgent billing", queue="billing", priority="urgent", position=5)
    billing = make_policy("Billing", queue="billing", position=10)
    web_only = make_policy("Web scheduling", queue="scheduling", channel="web", position=20)
    assert policies.match(queues["billing"].id, "urgent", "web").policy_id == urgent_billing.id
    assert policies.match(queues["billing"].id, "normal", "web").policy_id == billing.id
    assert policies.match(queues["scheduling"].id, "normal", "web").policy_id == web_only.id
    assert policies.match(queues["scheduling"].id, "normal", "email").policy_id == default.id
    assert policies.match(queues["general"].id, "low", "api").policy_id == default.id


def test_without_stored_policies_the_builtin_default_applies(ctx, clock, make_ticket):
    t = make_ticket()
    ts = db.session.get(TicketSla, t.id)
    assert ts.policy_id is None and ts.policy_name == policies.BUILTIN_NAME
    assert one(t, Metric.FIRST_REPLY).target_seconds == policies.BUILTIN_TARGETS["normal"]["first_reply"]["seconds"]


def test_the_applied_policy_is_snapshotted_on_the_ticket(ctx, clock, billing_policy, make_ticket):
    t = make_ticket()
    ts = db.session.get(TicketSla, t.id)
    assert (ts.policy_id, ts.policy_name) == (billing_policy.id, "Billing")
    fr = one(t, Metric.FIRST_REPLY)
    assert (fr.target_seconds, fr.business, fr.state) == (3600, True, MetricState.ACTIVE)
    billing_policy.targets = {"*": {"first_reply": {"seconds": 60, "business": True}}}
    db.session.commit()
    assert one(t, Metric.FIRST_REPLY).target_seconds == 3600  # a later policy edit does not rewrite tickets


def test_a_priority_change_reevaluates_the_policy_and_elapsed_time_keeps_counting(
        ctx, clock, make_policy, make_ticket, agent):
    make_policy("Default", position=1000, first=7200, nxt=7200, resolution=36000)
    make_policy("Urgent", priority="urgent", position=1, first=1800, nxt=1800, resolution=7200)
    t = make_ticket()
    clock.advance(minutes=20)
    tickets.update_ticket(t, actor=agent, priority="urgent")
    fr = one(t, Metric.FIRST_REPLY)
    assert fr.target_seconds == 1800 and db.session.get(TicketSla, t.id).policy_name == "Urgent"
    assert sla.elapsed(fr, clock.now) == pytest.approx(1200)
    assert fr.due_at == MONDAY_9AM + timedelta(minutes=30)


def test_a_queue_change_reevaluates_the_policy(ctx, clock, queues, billing_policy, make_policy, make_ticket, agent):
    make_policy("Scheduling", queue="scheduling", position=11, first=900, nxt=900, resolution=3600)
    t = make_ticket()
    clock.advance(minutes=5)
    tickets.update_ticket(t, actor=agent, queue_id=queues["scheduling"].id, reason="It is about a visit")
    fr = one(t, Metric.FIRST_REPLY)
    assert fr.target_seconds == 900 and fr.due_at == MONDAY_9AM + timedelta(minutes=15)


# ----------------------------------------------------------------------------- first reply


def test_first_reply_is_fulfilled_by_the_first_public_agent_reply(ctx, clock, billing_policy, make_ticket, agent):
    t = make_ticket()
    clock.advance(minutes=40)
    tickets.post_message(t, author=agent, body="We are looking at it.")
    fr = one(t, Metric.FIRST_REPLY)
    assert fr.state == MetricState.FULFILLED and fr.achieved and not fr.breached
    assert fr.elapsed_seconds == pytest.approx(2400) and fr.fulfilled_at == clock.now


def test_an_internal_note_does_not_fulfil_first_reply(ctx, clock, billing_policy, make_ticket, agent):
    t = make_ticket()
    clock.advance(minutes=10)
    tickets.post_message(t, author=agent, body="Checking with finance.", public=False)
    assert one(t, Metric.FIRST_REPLY).state == MetricState.ACTIVE


def test_resolving_fulfils_first_reply(ctx, clock, billing_policy, make_ticket, agent):
    t = make_ticket()
    clock.advance(minutes=10)
    tickets.update_ticket(t, actor=agent, status="resolved")
    assert one(t, Metric.FIRST_REPLY).state == MetricState.FULFILLED
    assert one(t, Metric.RESOLUTION).state == MetricState.FULFILLED


# ----------------------------------------------------------------------------- next reply


def test_next_reply_starts_at_the_oldest_unanswered_patient_message(ctx, clock, billing_policy, make_ticket,
                                                                     agent, patient):
    t = make_ticket()
    tickets.post_message(t, author=agent, body="Could you send the statement date?")
    assert rows(t, Metric.NEXT_REPLY) == []  # nothing asked yet
    clock.advance(minutes=5)
    first_ask = clock.now
    tickets.post_message(t, author=patient, body="It was in January.")
    clock.advance(minutes=5)
    tickets.post_message(t, author=patient, body="And February too.")
    (cycle,) = rows(t, Metric.NEXT_REPLY)
    assert cycle.started_at == first_ask and cycle.state == MetricState.ACTIVE
    clock.advance(minutes=20)
    tickets.post_message(t, author=agent, body="Thanks, both corrected.")
    (cycle,) = rows(t, Metric.NEXT_REPLY)
    assert cycle.state == MetricState.FULFILLED and cycle.elapsed_seconds == pytest.approx(25 * 60)
    tickets.post_message(t, author=patient, body="Great, one more thing.")
    assert [r.cycle for r in rows(t, Metric.NEXT_REPLY)] == [1, 2]


def test_a_patient_message_before_the_first_reply_starts_no_next_reply(ctx, clock, billing_policy, make_ticket,
                                                                        patient):
    t = make_ticket()
    tickets.post_message(t, author=patient, body="Any news?")
    assert rows(t, Metric.NEXT_REPLY) == []


# ----------------------------------------------------------------------------- pause, resume, reopen


def test_pending_patient_pauses_every_clock_and_a_patient_message_resumes_them(
        ctx, clock, billing_policy, make_ticket, agent, patient):
    t = make_ticket()
    clock.advance(minutes=10)
    tickets.update_ticket(t, actor=agent, status="pending_patient")
    res = one(t, Metric.RESOLUTION)
    assert res.state == MetricState.PAUSED and res.due_at is None and res.elapsed_seconds == pytest.approx(600)
    assert one(t, Metric.FIRST_REPLY).state == MetricState.PAUSED
    clock.advance(hours=3)  # not counted
    tickets.post_message(t, author=patient, body="Here is the information.")
    res = one(t, Metric.RESOLUTION)
    assert res.state == MetricState.ACTIVE and sla.elapsed(res, clock.now) == pytest.approx(600)
    assert res.due_at == add_business_time(clock.now, 36000 - 600, default_calendar())


def test_a_patient_message_always_resumes_the_clock(ctx, clock, billing_policy, make_ticket, agent, patient):
    t = make_ticket()
    tickets.post_message(t, author=agent, body="Please confirm.", next_status=Status.PENDING_PATIENT)
    clock.advance(hours=1)
    tickets.post_message(t, author=patient, body="Confirmed.")
    db.session.refresh(t)
    assert t.status == Status.OPEN
    assert all(r.state != MetricState.PAUSED for r in rows(t))


def test_reopening_resumes_resolution_without_counting_the_resolved_period(
        ctx, clock, billing_policy, make_ticket, agent, patient):
    t = make_ticket()
    clock.advance(hours=1)
    tickets.update_ticket(t, actor=agent, status="resolved")
    assert one(t, Metric.RESOLUTION).elapsed_seconds == pytest.approx(3600)
    clock.advance(hours=4)
    tickets.post_message(t, author=patient, body="It happened again.")
    res = one(t, Metric.RESOLUTION)
    assert res.state == MetricState.ACTIVE and res.fulfilled_at is None
    clock.advance(minutes=30)
    assert sla.elapsed(res, clock.now) == pytest.approx(3600 + 1800)
    assert db.session.get(TicketSla, t.id).reopens == 1


def test_business_time_outside_working_hours_is_not_counted(ctx, clock, billing_policy, make_ticket, agent):
    clock.set(datetime(2026, 3, 6, 22, 30, tzinfo=UTC))  # Friday 17:30 in New York (EST)
    t = make_ticket()
    fr = one(t, Metric.FIRST_REPLY)
    # 30 min on Friday, the weekend skipped, 30 min on Monday from 08:00 (EDT since 8 March)
    assert fr.due_at == datetime(2026, 3, 9, 12, 30, tzinfo=UTC)
    clock.set(datetime(2026, 3, 9, 12, 15, tzinfo=UTC))  # Monday 08:15 EDT
    tickets.post_message(t, author=agent, body="Hello")
    fr = one(t, Metric.FIRST_REPLY)
    assert fr.elapsed_seconds == pytest.approx(45 * 60) and fr.achieved


# ----------------------------------------------------------------------------- achieved / breached


def test_fulfilled_late_is_breached_and_not_achieved(ctx, clock, billing_policy, make_ticket, agent):
    t = make_ticket()
    clock.advance(minutes=61)
    tickets.post_message(t, author=agent, body="Sorry for the wait.")
    fr = one(t, Metric.FIRST_REPLY)
    assert fr.state == MetricState.FULFILLED and fr.breached and not fr.achieved


def test_an_open_clock_past_its_target_is_breached_by_the_sweep(ctx, clock, billing_policy, make_ticket):
    t = make_ticket()
    clock.advance(minutes=60)
    sla.sweep()
    fr = one(t, Metric.FIRST_REPLY)
    assert fr.breached and fr.state == MetricState.ACTIVE and fr.breached_at == MONDAY_9AM + timedelta(hours=1)


# ----------------------------------------------------------------------------- warnings and breaches


def _events(ticket, action):
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.object_id == ticket.reference,
                                                               AuditEvent.action == action)))


def test_a_warning_fires_at_75_percent_and_a_breach_at_the_due_time(ctx, clock, billing_policy, make_ticket, agent):
    t = make_ticket()
    tickets.update_ticket(t, actor=agent, assignee_id=agent.id)
    clock.advance(minutes=44)
    assert sla.sweep() == 0
    clock.advance(minutes=1)  # 45 min = 75 % of 1 h
    assert sla.sweep() == 1
    assert [e.changes["metric"] for e in _events(t, "sla.warning")] == ["first_reply"]
    assert sla.sweep() == 0  # once only
    clock.advance(minutes=15)
    assert sla.sweep() == 1
    assert [e.changes["metric"] for e in _events(t, "sla.breached")] == ["first_reply"]
    kinds = list(db.session.scalars(sa.select(Notification.kind).where(Notification.user_id == agent.id)
                                    .order_by(Notification.id)))
    assert kinds == ["sla_warning_first_reply", "sla_breached_first_reply"]


def test_the_warning_point_is_configurable(ctx, clock, make_policy, make_ticket):
    make_policy("Default", position=1000, first=3600, nxt=3600, resolution=36000, warn_fraction=0.5)
    t = make_ticket()
    clock.advance(minutes=30)
    assert sla.sweep() == 1 and _events(t, "sla.warning")


def test_unassigned_tickets_notify_the_queue_agents(ctx, clock, billing_policy, make_ticket, agent, make_user,
                                                    outsider_agent):
    other = make_user(Role.AGENT, member_of=("billing",))
    t = make_ticket()
    clock.advance(minutes=45)
    sla.sweep()
    notified = set(db.session.scalars(sa.select(Notification.user_id).where(Notification.ticket_id == t.id)))
    assert {agent.id, other.id} <= notified and outsider_agent.id not in notified


def test_the_check_job_does_nothing_early_and_is_safe_to_run_twice(ctx, clock, billing_policy, make_ticket):
    from helpdesk.sla.tasks import check_ticket

    t = make_ticket()
    assert check_ticket(t.id) == 0  # inline mode runs it at once: not due yet
    clock.advance(minutes=45)
    assert check_ticket(t.id) == 1
    assert check_ticket(t.id) == 0
    assert check_ticket(999_999) == 0  # a ticket that is gone


def test_paused_clocks_never_warn(ctx, clock, billing_policy, make_ticket, agent):
    t = make_ticket()
    tickets.update_ticket(t, actor=agent, status="pending_patient")
    clock.advance(hours=20)
    assert sla.sweep() == 0


# ----------------------------------------------------------------------------- seed


def test_seeded_defaults_are_idempotent(ctx, queues):
    assert policies.seed_defaults() > 0
    db.session.commit()
    assert policies.seed_defaults() == 0
    acc = policies.match(queues["account-access"].id, "high", "web")
    assert acc.targets[Metric.FIRST_REPLY].seconds == 3600 and acc.targets[Metric.RESOLUTION].seconds == 4 * 3600
    bill = policies.match(queues["billing"].id, "normal", "web")
    assert bill.targets[Metric.FIRST_REPLY].seconds == policies.BUSINESS_DAY
    assert bill.targets[Metric.RESOLUTION].seconds == 10 * policies.BUSINESS_DAY


def test_policies_are_cached_for_the_configured_seconds_and_an_orm_change_empties_the_cache(
        configure, make_policy, queues):
    import sqlalchemy as sa

    from helpdesk import cache
    from helpdesk.extensions import db
    from helpdesk.sla.models import SlaPolicy

    billing = queues["billing"].id
    with configure(sla_policy_cache_seconds=60):
        cache.invalidate()
        try:
            assert policies.match(billing, "normal", "web").policy_id is None  # the built-in default, now cached
            p = make_policy("Billing", queue="billing")  # written through the ORM: the cache is emptied
            assert policies.match(billing, "normal", "web").policy_id == p.id
            # a change the ORM did not see (another host, SQL): this process follows within the seconds
            db.session.execute(sa.update(SlaPolicy.__table__).where(SlaPolicy.__table__.c.id == p.id)
                               .values(active=False))
            assert policies.match(billing, "normal", "web").policy_id == p.id
            cache.invalidate()  # as when the seconds ran out
            assert policies.match(billing, "normal", "web").policy_id is None
        finally:
            cache.invalidate()
