"""Flagged requests reach a person: assignment, alerts, escalation, acknowledgement, audit."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from helpdesk.audit import AuditEvent
from helpdesk.auth.models import Role
from helpdesk.clinical import services as clinical
from helpdesk.clinical.models import AlertLevel, AlertRecipient, ClinicalAlert, RecipientReason
from helpdesk.extensions import db
from helpdesk.notify.models import OutgoingEmail
from helpdesk.tickets import services as tickets
from helpdesk.tickets.models import Status


def _alert(ticket) -> ClinicalAlert:
    db.session.expire_all()
    return db.session.scalar(sa.select(ClinicalAlert).where(ClinicalAlert.ticket_id == ticket.id))


def _recipients(alert, round_no=None) -> list[tuple[int, str]]:
    stmt = sa.select(AlertRecipient).where(AlertRecipient.alert_id == alert.id).order_by(AlertRecipient.id)
    if round_no is not None:
        stmt = stmt.where(AlertRecipient.round == round_no)
    return [(r.user_id, r.reason.value) for r in db.session.scalars(stmt)]


def _actions(object_id=None) -> list[str]:
    stmt = sa.select(AuditEvent.action).where(AuditEvent.action.like("clinical.%")).order_by(AuditEvent.id)
    if object_id is not None:
        stmt = stmt.where(AuditEvent.object_id == str(object_id))
    return list(db.session.scalars(stmt))


def test_a_flagged_request_is_assigned_to_the_on_duty_clinician_and_alerts_them(ctx, make_clinician, emergency,
                                                                                 supervisor, patient):
    nurse = make_clinician("Nora Nurse")
    t = emergency()
    db.session.refresh(t)
    assert t.queue.slug == "clinical-escalation" and t.priority.value == "urgent"
    assert t.assignee_id == nurse.id  # in the creating transaction, kept by routing
    alert = _alert(t)
    assert alert.level == AlertLevel.CLINICIAN and alert.round == 0 and alert.acknowledged_at is None
    assert alert.due_at == alert.raised_at + timedelta(minutes=5)
    assert _recipients(alert) == [(nurse.id, "on_duty")]
    recipient = alert.recipients[0]
    assert recipient.channels == ["banner", "email"] and recipient.notified_at == alert.raised_at
    assert _actions(alert.id) == ["clinical.alert_raised", "clinical.alert_notified"]
    raised = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "clinical.alert_raised"))
    assert raised.changes["assignee_id"] == {"before": None, "after": nurse.id} and raised.severity == "high"
    # the e-mail names the reference and says nothing the patient wrote
    mail = db.session.get(OutgoingEmail, recipient.email_id)
    assert mail.to_addr == nurse.email and t.reference in mail.subject and t.reference in mail.body
    for word in ("chest", "breathe", "father", patient.display_name.split()[0]):
        assert word.lower() not in (mail.subject + mail.body).lower()


def test_the_clinician_with_the_fewest_open_emergencies_gets_the_next_one(ctx, make_clinician, emergency, agent):
    ana, ben = make_clinician("Ana"), make_clinician("Ben")
    off = make_clinician("Otto Off", mode="off")
    first, second = emergency(), emergency()
    assert (first.assignee_id, second.assignee_id) == (ana.id, ben.id)
    tickets.update_ticket(first, actor=ana, status=Status.RESOLVED)  # Ana: no open emergency now
    third = emergency()
    assert third.assignee_id == ana.id
    fourth = emergency()
    assert fourth.assignee_id == ana.id  # Ana 1, Ben 1: a tie goes to the lower id
    assert off.id not in {t.assignee_id for t in (first, second, third, fourth)}


def test_only_members_of_the_clinical_queue_who_are_active_count_as_on_duty(ctx, make_clinician, emergency,
                                                                          supervisor):
    from helpdesk.auth import services as accounts

    left = make_clinician("Lee Left")
    q = clinical.clinical_queue()
    accounts.remove_member(actor=supervisor, queue=q, user=left)
    assert clinical.on_duty_now() == []
    t = emergency()
    assert t.assignee_id is None


def test_nobody_on_duty_alerts_every_supervisor_and_admin_and_leaves_it_unassigned(ctx, make_clinician, emergency,
                                                                                 supervisor, admin, make_user):
    make_clinician("Nina Night", mode="off")
    retired = make_user(Role.SUPERVISOR, name="Retired Sup")
    from helpdesk.auth import services as accounts

    accounts.set_active(actor=admin, user=retired, active=False)
    t = emergency()
    db.session.refresh(t)
    assert t.assignee_id is None and t.queue.slug == "clinical-escalation"
    alert = _alert(t)
    assert alert.level == AlertLevel.NOBODY_ON_DUTY
    assert sorted(_recipients(alert)) == sorted([(supervisor.id, "supervisor"), (admin.id, "admin")])
    notice = clinical.patient_notice(t)
    assert notice.status == "managers_alerted" and notice.alerted_at == alert.raised_at


def test_escalation_waits_for_the_window_then_alerts_the_next_clinician_and_every_supervisor(
        ctx, make_clinician, emergency, supervisor):
    ana, ben = make_clinician("Ana"), make_clinician("Ben")
    t = emergency()
    alert = _alert(t)
    early = alert.due_at - timedelta(seconds=1)
    assert clinical.escalate(alert.id, now=early) is False  # running early does nothing
    assert clinical.sweep(now=early) == 0
    assert _alert(t).round == 0

    late = alert.due_at + timedelta(seconds=5)
    assert clinical.sweep(now=late) == 1
    alert = _alert(t)
    assert alert.round == 1 and alert.due_at == late + timedelta(minutes=5)
    assert _recipients(alert, 1) == [(ben.id, "next_on_duty"), (supervisor.id, "supervisor")]
    assert t.assignee_id == ana.id  # still Ana's; Ben and the supervisor were alerted
    assert clinical.sweep(now=late) == 0  # the same round never escalates twice
    assert clinical.escalate(alert.id, now=late) is False

    # round 2: nobody fresh left on duty, so the round goes round: Ana again (not Ben, just alerted)
    later = alert.due_at + timedelta(seconds=1)
    assert clinical.sweep(now=later) == 1
    assert _recipients(_alert(t), 2) == [(ana.id, "next_on_duty"), (supervisor.id, "supervisor")]

    # acknowledged: escalation stops
    assert clinical.acknowledge(_alert(t), user=ben) is True
    assert clinical.acknowledge(_alert(t), user=supervisor) is False  # already done
    assert clinical.sweep(now=later + timedelta(hours=2)) == 0
    alert = _alert(t)
    assert alert.acknowledged_by_id == ben.id and alert.round == 2
    assert _actions(alert.id) == (
        ["clinical.alert_raised", "clinical.alert_notified"]
        + ["clinical.alert_escalated"] + ["clinical.alert_notified"] * 2
        + ["clinical.alert_escalated"] + ["clinical.alert_notified"] * 2
        + ["clinical.alert_acknowledged"]
    )
    assert clinical.open_alerts_for(ana) == [] and clinical.open_alerts_for(supervisor) == []


def test_escalation_with_nobody_on_duty_goes_to_supervisors_and_admins_each_round(ctx, emergency, supervisor, admin):
    t = emergency()
    alert = _alert(t)
    assert clinical.escalate(alert.id, now=alert.due_at) is True
    assert sorted(_recipients(_alert(t), 1)) == sorted([(supervisor.id, "supervisor"), (admin.id, "admin")])


def test_the_job_scheduled_at_the_due_time_does_nothing_when_run_early(ctx, make_clinician, emergency):
    """Inline mode runs the job at once (today): it must check the time itself."""
    from helpdesk.clinical.tasks import escalate_alert

    make_clinician("Ana")
    t = emergency()
    assert escalate_alert(_alert(t).id) is False
    assert _alert(t).round == 0
    assert escalate_alert(999_999) is False  # gone: tolerated


def test_two_sweeps_at_once_escalate_once(app, ctx, make_clinician, emergency, supervisor):
    make_clinician("Ana")
    make_clinician("Ben")
    t = emergency()
    alert = _alert(t)
    now = alert.due_at + timedelta(seconds=1)
    results, errors = [], []
    barrier = threading.Barrier(2)

    def run():
        try:
            with app.app_context():
                barrier.wait()
                results.append(clinical.sweep(now=now))
                db.session.remove()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=30)
    assert not errors, errors
    assert sorted(results) == [0, 1]
    alert = _alert(t)
    assert alert.round == 1
    assert len(_recipients(alert, 1)) == 2
    assert _actions(alert.id).count("clinical.alert_escalated") == 1


def test_acknowledging_is_for_people_who_were_alerted(ctx, make_clinician, emergency, supervisor, agent):
    from helpdesk.errors import NotFound

    nurse = make_clinician("Nora")
    t = emergency()
    alert = _alert(t)
    with pytest.raises(NotFound):
        clinical.get_alert_for(agent, alert.id)
    with pytest.raises(NotFound):
        clinical.get_alert_for(supervisor, alert.id)  # not alerted (yet)
    assert clinical.get_alert_for(nurse, alert.id) == alert


def test_roster_changes_are_validated_and_audited(ctx, make_user, make_clinician, agent, admin):
    from helpdesk.errors import Conflict, NotFound, ValidationFailed

    nurse = make_clinician("Nora", on_roster=False)
    with pytest.raises(ValidationFailed):
        clinical.add_to_roster(actor=admin, user=agent)  # not in the clinical-escalation queue
    patient_user = make_user(Role.PATIENT)
    with pytest.raises(ValidationFailed):
        clinical.add_to_roster(actor=admin, user=patient_user)
    clinical.add_to_roster(actor=admin, user=nurse)
    with pytest.raises(Conflict):
        clinical.add_to_roster(actor=admin, user=nurse)
    with pytest.raises(ValidationFailed):
        clinical.set_mode(actor=admin, user=nurse, mode="sometimes")
    with pytest.raises(ValidationFailed):
        clinical.add_shift(actor=admin, user=nurse, weekday="Funday", start="09:00", end="17:00")
    with pytest.raises(ValidationFailed):
        clinical.add_shift(actor=admin, user=nurse, weekday="mon", start="9am", end="17:00")
    shift = clinical.add_shift(actor=admin, user=nurse, weekday="Friday", start="22:00", end="06:00")
    with pytest.raises(Conflict):
        clinical.add_shift(actor=admin, user=nurse, weekday=4, start="22:00", end="07:00")
    clinical.set_mode(actor=admin, user=nurse, mode="on")
    clinical.remove_shift(actor=admin, shift_id=shift.id)
    with pytest.raises(NotFound):
        clinical.remove_shift(actor=admin, shift_id=shift.id)
    clinical.remove_from_roster(actor=admin, user=nurse)
    events = list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action.like("oncall.%"))
                                     .order_by(AuditEvent.id)))
    assert [e.action for e in events] == ["oncall.member_added", "oncall.shift_added", "oncall.mode_changed",
                                          "oncall.shift_removed", "oncall.member_removed"]
    assert all(e.actor_id == admin.id and e.object_id == str(nurse.id) for e in events)
    assert events[1].changes["shift"]["after"] == "Friday 22:00–06:00 (next day)"


def test_shift_hours_decide_who_is_on_duty_in_the_site_time_zone(ctx, make_clinician, emergency):
    from datetime import UTC, datetime

    day, night = make_clinician("Dana Day", mode="shifts"), make_clinician("Nico Night", mode="shifts")
    for wd in range(7):
        clinical.add_shift(actor=None, user=day, weekday=wd, start="07:00", end="19:00")
        clinical.add_shift(actor=None, user=night, weekday=wd, start="19:00", end="07:00")
    # 2026-07-13 12:00 UTC = 08:00 in New York (EDT): the day nurse
    assert [u.id for u in clinical.on_duty_now(datetime(2026, 7, 13, 12, 0, tzinfo=UTC))] == [day.id]
    # 2026-01-12 11:30 UTC = 06:30 in New York (EST): still the night nurse
    assert [u.id for u in clinical.on_duty_now(datetime(2026, 1, 12, 11, 30, tzinfo=UTC))] == [night.id]
    rows = clinical.roster_view(datetime(2026, 1, 12, 11, 30, tzinfo=UTC))
    assert {r["user"].id: r["on_duty"] for r in rows} == {day.id: False, night.id: True}


def test_the_alert_recipient_rows_drive_what_the_patient_is_told(ctx, make_clinician, emergency, patient):
    nurse = make_clinician("Nora")
    t = emergency()
    notice = clinical.patient_notice(t)
    recipient = db.session.scalar(sa.select(AlertRecipient).where(AlertRecipient.user_id == nurse.id))
    assert notice.status == "clinician_alerted" and notice.alerted_at == recipient.notified_at
    assert recipient.reason == RecipientReason.ON_DUTY
    assert notice.phone_uri == "tel:5550100100"
    ordinary = tickets.create_ticket(requester=patient, subject="Bill", body="I was charged twice.",
                                     channel=t.channel, created_by=patient)
    assert clinical.patient_notice(ordinary) is None


def test_the_periodic_sweep_escalates_an_overdue_alert_once(ctx, make_clinician, emergency, supervisor):
    """helpdesk.periodic's job (every minute in production and, with the in-process
    scheduler, in `make run`) on the real clock."""
    from helpdesk import periodic
    from helpdesk.timeutil import utcnow

    make_clinician("Ana")
    t = emergency()
    alert = _alert(t)
    periodic.clinical_alert_sweep_job()
    assert _alert(t).round == 0  # not due yet
    db.session.execute(sa.update(ClinicalAlert).where(ClinicalAlert.id == alert.id)
                       .values(due_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    periodic.clinical_alert_sweep_job()
    periodic.clinical_alert_sweep_job()
    assert _alert(t).round == 1
    assert _recipients(_alert(t), 1) == [(supervisor.id, "supervisor")]  # no other clinician on duty
