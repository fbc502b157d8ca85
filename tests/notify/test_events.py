"""Every notification event: who gets what, through which channel, in which language."""

from __future__ import annotations

import sqlalchemy as sa

from helpdesk.auth.models import Role
from helpdesk.extensions import db
from helpdesk.notify import services as notify
from helpdesk.notify.models import MailStatus, Notification, OutgoingEmail
from helpdesk.sla import services as sla
from helpdesk.tickets import services as _tickets
from tests.notify.conftest import Settled
from tests.sla.conftest import clock, make_policy  # noqa: F401  (fixtures)

tickets = Settled(_tickets)
sla = Settled(sla)


def mails(to: str | None = None) -> list[OutgoingEmail]:
    stmt = sa.select(OutgoingEmail).order_by(OutgoingEmail.id)
    if to:
        stmt = stmt.where(OutgoingEmail.to_addr == to)
    return list(db.session.scalars(stmt))


def kinds(to: str) -> list[str]:
    return [m.kind for m in mails(to)]


def notices(user_id: int) -> list[str]:
    return list(db.session.scalars(sa.select(Notification.kind).where(Notification.user_id == user_id)
                                   .order_by(Notification.id)))


def test_patient_hears_about_each_step(ctx, make_ticket, patient, agent):
    t = make_ticket()
    assert kinds(patient.email) == ["request_received"]
    [m] = mails(patient.email)
    assert m.ticket_id == t.id and t.reference in m.subject and m.status == MailStatus.STORED
    tickets.post_message(t, author=agent, body="Checking your statement now.")
    assert kinds(patient.email)[-1] == "agent_replied"
    # an internal note tells the patient nothing
    tickets.post_message(t, author=agent, body="note to self", public=False)
    assert kinds(patient.email)[-1] == "agent_replied" and len(mails(patient.email)) == 2
    # a reply that also asks for the patient's answer is one "waiting for your reply" mail
    tickets.post_message(t, author=agent, body="Which card did you use?", next_status="pending_patient")
    assert kinds(patient.email)[2:] == ["waiting_for_reply"]
    tickets.post_message(t, author=patient, body="The Visa one.")
    tickets.update_ticket(t, actor=agent, status="resolved")
    assert kinds(patient.email)[3:] == ["resolved", "survey"]
    survey = mails(patient.email)[-1]
    assert survey.secret and "/survey/" in survey.body


def test_waiting_for_reply_by_status_change(ctx, make_ticket, patient, agent):
    t = make_ticket()
    tickets.update_ticket(t, actor=agent, status="pending_patient")
    assert kinds(patient.email) == ["request_received", "waiting_for_reply"]


def test_agent_hears_of_assignment_and_patient_replies(ctx, make_ticket, patient, agent, make_user):
    colleague = make_user(Role.AGENT, member_of=("billing",))
    t = make_ticket()
    # assigning yourself is no news; being assigned by someone else is
    tickets.update_ticket(t, actor=agent, assignee_id=agent.id)
    assert notices(agent.id) == []
    tickets.update_ticket(t, actor=agent, assignee_id=colleague.id)
    assert notices(colleague.id) == ["assigned"]
    tickets.post_message(t, author=patient, body="Any news?")
    assert notices(colleague.id) == ["assigned", "patient_replied"]
    assert notices(agent.id) == []  # assigned to someone else now
    # staff get no e-mail unless they turn it on
    assert mails(colleague.email) == []


def test_unassigned_patient_reply_goes_to_the_queue(ctx, make_ticket, patient, agent, outsider_agent):
    t = make_ticket()
    assert t.assignee_id is None
    tickets.post_message(t, author=patient, body="Hello again")
    assert notices(agent.id) == ["patient_replied"]
    assert notices(outsider_agent.id) == []


def test_sla_warning_and_breach_reach_agent_and_supervisors(ctx, clock, make_policy, make_ticket, agent,  # noqa: F811
                                                            supervisor, outsider_agent):
    make_policy("Default", position=1000, first=3600, nxt=3600, resolution=36000, business=False)
    t = make_ticket()
    tickets.update_ticket(t, actor=agent, assignee_id=agent.id)
    clock.advance(minutes=50)
    sla.sweep()
    assert notices(agent.id) == ["sla_warning_first_reply"]
    assert notices(supervisor.id) == []  # warnings are for the one working it
    clock.advance(minutes=20)
    sla.sweep()
    assert notices(agent.id)[-1] == "sla_breached_first_reply"
    assert notices(supervisor.id) == ["sla_breached_first_reply"]  # the queue's supervisor
    assert notices(outsider_agent.id) == []


def test_email_preference_and_language(ctx, make_ticket, patient, agent):
    notify.update_preferences(patient, email=True, language="es")
    t = make_ticket()
    [m] = mails(patient.email)
    assert m.lang == "es" and m.subject.startswith("Recibimos su solicitud")
    notify.update_preferences(patient, email=False, language="es")
    tickets.post_message(t, author=agent, body="Answer")
    assert len(mails(patient.email)) == 1  # off: nothing more
    # staff can opt in to e-mail
    notify.update_preferences(agent, email=True, language="en")
    tickets.post_message(t, author=patient, body="Thanks")
    [staff_mail] = mails(agent.email)
    assert staff_mail.kind == "staff_notice" and "Patient replied" in staff_mail.subject


def test_mail_cap_per_address_stops_a_loop(ctx, configure, make_ticket, patient, agent):
    with configure(mail_per_address_per_hour=3):
        t = make_ticket()
        for i in range(5):
            tickets.post_message(t, author=agent, body=f"reply {i}")
    assert len(mails(patient.email)) == 3


def test_deliver_job_tolerates_a_missing_ticket_and_unknown_events(ctx, make_ticket):
    assert notify.deliver("agent_replied", 999_999) == 0
    t = make_ticket()
    assert notify.deliver("no_such_event", t.id) == 0


def test_events_go_out_by_smtp_after_the_commit(ctx, make_ticket, patient, smtp_server, use_smtp):
    use_smtp(smtp_server.controller.port)
    t = make_ticket()
    [msg] = smtp_server.messages
    assert msg["To"] == patient.email and t.reference in msg["Subject"]
    assert msg["Auto-Submitted"] == "auto-generated"
    stored = mails(patient.email)[0]
    assert stored.status == MailStatus.SENT and msg["Message-ID"] == stored.message_id


def test_the_router_assigning_a_ticket_notifies_the_agent(ctx, queues, make_ticket, agent):
    from helpdesk.tickets.models import Assignment

    queues["billing"].assignment = Assignment.ROUND_ROBIN
    db.session.commit()
    t = make_ticket()
    assert t.assignee_id == agent.id
    assert notices(agent.id) == ["assigned"]


def test_a_delivery_job_run_twice_sends_once(ctx, make_ticket, patient, agent):
    t = make_ticket()
    assert notify.deliver("agent_replied", t.id, 0, "abc123") == 1
    assert notify.deliver("agent_replied", t.id, 0, "abc123") == 0
    assert kinds(patient.email) == ["request_received", "agent_replied"]
    # the hooks give every event its own key
    from helpdesk.notify.models import NotifyDelivery

    assert db.session.scalar(sa.select(sa.func.count()).select_from(NotifyDelivery)) == 2
