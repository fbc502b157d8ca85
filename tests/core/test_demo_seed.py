"""The demo seed writes a history that happened in time: requests over the last month,
replies after them, SLA clocks that ran, and the dashboard's summaries filled."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from helpdesk import demo
from helpdesk.extensions import db
from helpdesk.sla import dashboard
from helpdesk.sla.models import Metric, MetricState, SlaMetric
from helpdesk.sla.rollup import DashDay
from helpdesk.tickets.models import Message, Ticket
from helpdesk.timeutil import utcnow


def test_the_demo_history_is_spread_over_a_month_with_running_sla_clocks(ctx):
    lines: list[str] = []
    demo.seed(n_tickets=24, echo=lines.append, train_model=False)
    now = utcnow()
    first, last = db.session.execute(sa.select(sa.func.min(Ticket.created_at), sa.func.max(Ticket.created_at))).one()
    assert now - first > timedelta(days=25) and last <= now
    # every message comes after its ticket was created, and none is in the future
    bad = db.session.scalar(sa.select(sa.func.count()).select_from(Message).join(Ticket).where(
        sa.or_(Message.created_at < Ticket.created_at, Message.created_at > now)))
    assert bad == 0
    # first replies took real (simulated) business time — none at all only when the reply
    # came outside working hours too — and overdue clocks were found breached
    answered = db.session.scalars(sa.select(SlaMetric.elapsed_seconds).where(
        SlaMetric.metric == Metric.FIRST_REPLY, SlaMetric.state == MetricState.FULFILLED)).all()
    assert answered and sum(1 for s in answered if s > 0) > len(answered) / 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SlaMetric).where(SlaMetric.breached.is_(True)))
    # the dashboard's summary tables hold the finished days, and the month adds up
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DashDay)) >= 25
    end = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    month = dashboard.Period(start=end - timedelta(days=31), end=end)
    assert dashboard.summary(month)["created"] == 24
    assert any("SLA:" in line for line in lines)


def test_demo_staff_have_two_step_sign_in_and_their_keys_are_printed(ctx):
    import pyotp

    from helpdesk.auth import mfa
    from helpdesk.auth.models import User

    lines: list[str] = []
    demo.seed(n_tickets=2, echo=lines.append, train_model=False)
    staff = {u.email: u for u in db.session.scalars(sa.select(User).where(
        User.email.in_(["agent@example.org", "nurse@example.org", "supervisor@example.org", "admin@example.org"])))}
    assert len(staff) == 4
    for email, user in staff.items():
        assert user.mfa_enabled
        line = next(line for line in lines if line.strip().startswith(email))
        assert f"authenticator key {user.mfa_secret}" in line
        assert mfa.current_code(user) == pyotp.TOTP(user.mfa_secret).now()
    patient = db.session.scalar(sa.select(User).where(User.email == "patient@example.org"))
    assert not patient.mfa_enabled  # patients choose for themselves


def test_demo_patients_have_confirmed_addresses(ctx):
    from helpdesk.auth.models import Role, User
    from helpdesk.permissions import email_unconfirmed

    demo.seed(n_tickets=2, echo=lambda _line: None, train_model=False)
    patients = list(db.session.scalars(sa.select(User).where(User.role == Role.PATIENT)))
    assert len(patients) > 1 and not [p.email for p in patients if email_unconfirmed(p)]


def test_the_demo_has_the_day_one_macros_and_replies_that_state_the_real_policies(ctx):
    from helpdesk.auth import passwords
    from helpdesk.tickets.macro_seed import DAY_ONE
    from helpdesk.tickets.workspace_models import Macro

    lines: list[str] = []
    demo.seed(n_tickets=2, echo=lines.append, train_model=False)
    expected = sum(len(m.queues) * len(m.texts) for m in DAY_ONE)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Macro)) == expected
    assert f"Macros: {expected} shared macro(s) created." in lines
    # the second request's reply states the reset link's lifetime through a placeholder, resolved at seeding
    bodies = db.session.scalars(sa.select(Message.body)).all()
    assert not any("{{" in b for b in bodies)
    minutes = int(passwords.RESET_TTL.total_seconds() // 60)
    assert any(f"The link works once, for {minutes} minutes." in b for b in bodies)
    demo.seed(n_tickets=0, echo=lines.append, train_model=False)  # seeding again adds no macro
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Macro)) == expected
    # the clinician is on call all week: `make run` shows the whole emergency flow
    from helpdesk.clinical import services as clinical

    assert [u.email for u in clinical.on_duty_now()] == ["nurse@example.org"]
    demo.seed(n_tickets=0, echo=lines.append, train_model=False)  # seeding again keeps one roster entry
    assert [u.email for u in clinical.on_duty_now()] == ["nurse@example.org"]
