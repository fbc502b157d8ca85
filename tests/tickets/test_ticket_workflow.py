"""The one update service: creation, the status workflow, replies, moves, audit."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from helpdesk.audit import AuditEvent, AuditLogIsAppendOnly
from helpdesk.errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from helpdesk.extensions import db
from helpdesk.routing.models import RoutingLabel
from helpdesk.tickets import services
from helpdesk.tickets.models import REFERENCE_ALPHABET, Channel, Message, Priority, Status, Ticket
from tests.factories import count


def events(ticket: Ticket, action: str | None = None) -> list[AuditEvent]:
    stmt = sa.select(AuditEvent).where(AuditEvent.object_id == ticket.reference).order_by(AuditEvent.id)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    return list(db.session.scalars(stmt))


def test_a_new_request_gets_a_readable_unguessable_reference_and_an_audit_row(make_ticket, patient):
    t = make_ticket()
    assert t.reference.startswith("HD-") and len(t.reference) == 9
    assert all(c in REFERENCE_ALPHABET for c in t.reference[3:])
    assert t.status == Status.NEW and t.channel == Channel.WEB and t.requester_id == patient.id
    created = events(t, "ticket.created")
    assert len(created) == 1 and created[0].actor_id == patient.id
    # the audit row records field changes, never the patient's words
    assert "charged twice" not in str(created[0].changes)


def test_references_differ_between_tickets(make_ticket):
    refs = {make_ticket().reference for _ in range(20)}
    assert len(refs) == 20


@pytest.mark.parametrize(
    ("subject", "body", "field"),
    [
        ("", "body text", "subject"),
        ("   \t ", "body text", "subject"),
        ("Subject", "", "body"),
        ("Subject", "  \n\n  ", "body"),
        ("x" * 201, "body text", "subject"),
        ("Subject", "y" * 20_001, "body"),
        (123, "body text", "subject"),
        ("Subject", ["not", "text"], "body"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(ctx, queues, patient, subject, body, field):
    before = (count(Ticket), count(Message), count(AuditEvent))
    with pytest.raises(ValidationFailed) as err:
        services.create_ticket(requester=patient, subject=subject, body=body, channel=Channel.WEB, created_by=patient)
    assert field in (err.value.fields or {})
    assert (count(Ticket), count(Message), count(AuditEvent)) == before


def test_unicode_emoji_and_html_are_kept_verbatim(make_ticket):
    t = make_ticket(subject="Factura <script>alert(1)</script> 💳", body="¿Por qué me cobraron dos veces? 😡 <b>hola</b>")
    assert t.subject == "Factura <script>alert(1)</script> 💳"
    assert t.messages[0].body.startswith("¿Por qué")


def test_agent_public_reply_opens_the_ticket_and_sets_first_response(make_ticket, agent):
    t = make_ticket()
    services.post_message(t, author=agent, body="Hello, I'm looking into it.")
    assert t.status == Status.OPEN
    assert t.first_response_at is not None
    assert t.assignee_id == agent.id  # the first public reply claims an unassigned ticket


def test_internal_note_changes_nothing_the_patient_sees(make_ticket, agent):
    t = make_ticket()
    services.post_message(t, author=agent, body="Checked the ledger.", public=False)
    assert t.status == Status.NEW and t.first_response_at is None
    assert [m.public for m in t.messages] == [True, False]
    assert len(t.public_messages) == 1


def test_reply_and_set_pending_in_one_action(make_ticket, agent):
    t = make_ticket()
    services.post_message(t, author=agent, body="Which statement date?", next_status=Status.PENDING_PATIENT)
    assert t.status == Status.PENDING_PATIENT
    assert len(events(t, "ticket.replied")) == 1


@pytest.mark.parametrize("waiting_status", [Status.PENDING_PATIENT, Status.RESOLVED])
def test_patient_reply_reopens_a_waiting_or_resolved_ticket(make_ticket, agent, patient, waiting_status):
    t = make_ticket()
    services.post_message(t, author=agent, body="Done?", next_status=waiting_status)
    services.post_message(t, author=patient, body="Not yet, still wrong.")
    assert t.status == Status.OPEN
    assert t.resolved_at is None


def test_message_to_a_closed_ticket_starts_a_linked_new_one(make_ticket, agent, patient):
    t = make_ticket()
    services.update_ticket(t, actor=patient, status=Status.CLOSED)
    posted = services.post_message(t, author=patient, body="The charge is back again this month.")
    assert posted.new_ticket
    assert posted.ticket.id != t.id and posted.ticket.follow_up_of_id == t.id
    assert t.status == Status.CLOSED and len(t.messages) == 1


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ((), Status.NEW),  # same status: nothing changes
        ((Status.RESOLVED, Status.CLOSED), Status.OPEN),
        ((Status.RESOLVED, Status.CLOSED), Status.RESOLVED),
        ((Status.OPEN,), Status.NEW),
    ],
)
def test_invalid_transitions_are_refused_with_a_clear_error(make_ticket, agent, path, target):
    t = make_ticket()
    for s in path:
        services.update_ticket(t, actor=agent, status=s)
    before = t.status
    with pytest.raises((InvalidTransition, ValidationFailed)) as err:
        services.update_ticket(t, actor=agent, status=target)
    assert err.value.message
    db.session.refresh(t)
    assert t.status == before


def test_the_full_workflow_new_open_pending_open_resolved_closed(make_ticket, agent, patient):
    t = make_ticket()
    services.update_ticket(t, actor=agent, status=Status.OPEN)
    services.update_ticket(t, actor=agent, status=Status.PENDING_PATIENT)
    services.post_message(t, author=patient, body="Here is the info.")
    assert t.status == Status.OPEN
    services.update_ticket(t, actor=agent, status=Status.RESOLVED)
    assert t.resolved_at is not None
    services.update_ticket(t, actor=patient, status=Status.CLOSED)
    assert t.status == Status.CLOSED and t.closed_at is not None
    with pytest.raises(InvalidTransition):
        services.post_message(t, author=agent, body="one more thing")
    actions = [e.action for e in events(t)]
    assert actions.count("ticket.updated") == 4


def test_patients_may_only_close_their_own_request(make_ticket, patient, other_patient):
    t = make_ticket()
    with pytest.raises(Forbidden):
        services.update_ticket(t, actor=patient, priority=Priority.URGENT)
    with pytest.raises(Forbidden):
        services.update_ticket(t, actor=patient, status=Status.RESOLVED)
    with pytest.raises(NotFound):
        services.update_ticket(t, actor=other_patient, status=Status.CLOSED)
    with pytest.raises(NotFound):
        services.post_message(t, author=other_patient, body="hi")
    with pytest.raises(Forbidden):
        services.post_message(t, author=patient, body="note", public=False)


def test_moving_queue_needs_a_reason_and_records_from_to_and_a_routing_label(make_ticket, agent, queues):
    t = make_ticket()
    with pytest.raises(ValidationFailed) as err:
        services.update_ticket(t, actor=agent, queue_id=queues["scheduling"].id)
    assert "reason" in err.value.fields
    with pytest.raises(ValidationFailed):
        services.update_ticket(t, actor=agent, queue_id=queues["scheduling"].id, reason="   ")
    assert t.queue.slug == "billing"
    services.update_ticket(t, actor=agent, queue_id=queues["scheduling"].id, reason="About an appointment")
    assert t.queue.slug == "scheduling"
    moved = events(t, "ticket.moved")[-1]
    assert moved.changes["move"] == {"from": "billing", "to": "scheduling", "reason": "About an appointment",
                                     "source": "agent"}
    label = db.session.scalar(sa.select(RoutingLabel).where(RoutingLabel.ticket_id == t.id))
    assert (label.from_queue, label.queue, label.source.value) == ("billing", "scheduling", "move")


def test_move_to_a_queue_the_assignee_is_not_in_unassigns(make_ticket, agent, queues):
    t = make_ticket()
    services.update_ticket(t, actor=agent, assignee_id=agent.id)
    services.update_ticket(t, actor=agent, queue_id=queues["records"].id, reason="Records request")
    assert t.assignee_id is None


def test_only_members_of_the_queue_can_be_assigned(make_ticket, agent, outsider_agent, patient):
    t = make_ticket()
    for bad in (outsider_agent.id, patient.id, 999_999):
        with pytest.raises(ValidationFailed):
            services.update_ticket(t, actor=agent, assignee_id=bad)
    services.update_ticket(t, actor=agent, assignee_id=agent.id)
    assert t.assignee_id == agent.id


def test_staff_outside_the_queue_cannot_touch_the_ticket(make_ticket, outsider_agent):
    t = make_ticket()
    with pytest.raises(NotFound):
        services.update_ticket(t, actor=outsider_agent, status=Status.OPEN)
    with pytest.raises(NotFound):
        services.post_message(t, author=outsider_agent, body="hello")


def test_staff_view_is_an_audit_event(make_ticket, agent):
    t = make_ticket()
    services.record_staff_view(agent, t)
    assert [e.actor_id for e in events(t, "ticket.viewed")] == [agent.id]


def test_audit_rows_are_append_only(make_ticket):
    t = make_ticket()
    ev = events(t)[0]
    ev.action = "tampered"
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.flush()
    db.session.rollback()
    ev = events(t)[0]
    db.session.delete(ev)
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.flush()
    db.session.rollback()
