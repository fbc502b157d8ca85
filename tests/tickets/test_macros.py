"""Macros: placeholder rendering (and nothing else), CRUD permissions, applying through the update path."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from helpdesk.audit import AuditEvent
from helpdesk.auth.models import Role
from helpdesk.errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from helpdesk.extensions import db
from helpdesk.tickets import macros, services
from helpdesk.tickets.models import Message, Priority, Status
from helpdesk.tickets.workspace_models import Macro
from tests.factories import count, login


def _audit(ref: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.object_id == ref).order_by(AuditEvent.id)))


# ---------------------------------------------------------------- rendering


def test_only_the_two_placeholders_are_replaced(ctx, agent, make_ticket):
    ticket = make_ticket()
    text = macros.render("Hi {{patient_first_name}}, this is {{ agent_name }}.", ticket=ticket, agent=agent)
    assert text == "Hi Maria, this is Alex Agent."


@pytest.mark.parametrize("body", [
    "{{ ticket.requester.email }}",
    "{{ config.SECRET_KEY }}",
    "{{ patient_email }} {{patient_last_name}} {{ mrn }}",
    "{% for m in ticket.messages %}{{ m.body }}{% endfor %}",
    "{{ 7*7 }} {{''.__class__}}",
    "{patient_first_name} {{{patient_first_name}}",
    "${agent_name} %(agent_name)s {0}",
])
def test_nothing_else_is_evaluated_or_injected(ctx, agent, patient, make_ticket, body):
    ticket = make_ticket()
    out = macros.render(body, ticket=ticket, agent=agent)
    # braces and template syntax come out literally; the only substitution is the placeholder itself
    expected = body.replace("{{patient_first_name}}", "Maria")
    assert out == expected
    for secret in (patient.email, "49", "correct horse", ticket.messages[0].body[:20]):
        assert secret not in out


def test_substituted_values_are_not_substituted_again(ctx, make_user, agent, make_ticket):
    sneaky = make_user(Role.PATIENT, name="{{agent_name}} {{patient_first_name}}")
    ticket = make_ticket(requester=sneaky)
    # the patient's first name is "{{agent_name}}": it must come out as written, not as the agent's name
    assert macros.render("Dear {{patient_first_name}}", ticket=ticket, agent=agent) == "Dear {{agent_name}}"


# ---------------------------------------------------------------- services


def test_apply_macro_replies_and_sets_fields_through_the_update_path(ctx, agent, queues, make_ticket):
    ticket = make_ticket()
    macro = macros.create_macro(actor=agent, data={
        "title": "Need statement", "body": "Hello {{patient_first_name}}, please send the statement. {{agent_name}}",
        "set_status": "pending_patient", "set_priority": "high", "set_queue_id": str(queues["account-access"].id),
    })
    macros.apply_macro(ticket, macro, actor=agent)
    db.session.expire_all()
    assert ticket.status == Status.PENDING_PATIENT and ticket.priority == Priority.HIGH
    assert ticket.queue.slug == "account-access"
    last = ticket.messages[-1]
    assert last.body == "Hello Maria, please send the statement. Alex Agent" and last.public
    actions = [e.action for e in _audit(ticket.reference)]
    assert actions[-3:] == ["ticket.replied", "ticket.moved", "macro.applied"]
    moved = _audit(ticket.reference)[-2]
    assert moved.changes["move"]["reason"] == "Macro: Need statement"
    assert moved.changes["status"] == {"before": "open", "after": "pending_patient"}


def test_apply_macro_is_all_or_nothing(ctx, agent, make_ticket):
    ticket = make_ticket()
    services.update_ticket(ticket, actor=agent, status=Status.RESOLVED)
    macro = macros.create_macro(actor=agent, data={"title": "Wait", "body": "Text", "set_status": "pending_patient"})
    n_messages, n_audit = count(Message), count(AuditEvent)
    with pytest.raises(InvalidTransition):  # resolved -> pending_patient is not allowed
        macros.apply_macro(ticket, macro, actor=agent)
    db.session.expire_all()
    assert ticket.status == Status.RESOLVED
    assert count(Message) == n_messages and count(AuditEvent) == n_audit  # no reply was kept


def test_macro_validation(ctx, agent):
    with pytest.raises(ValidationFailed) as err:
        macros.create_macro(actor=agent, data={"title": " ", "body": "", "set_status": "bogus"})
    assert {"title", "set_status"} <= set(err.value.fields)
    with pytest.raises(ValidationFailed):
        macros.create_macro(actor=agent, data={"title": "Empty", "body": "  "})
    with pytest.raises(ValidationFailed) as err:
        macros.create_macro(actor=agent, data={"title": "Share", "body": "x", "scope": "billing"})
    assert "scope" in err.value.fields  # agents can't share
    assert count(Macro) == 0


def test_shared_macros_are_used_by_queue_members_and_managed_by_its_supervisors(
        ctx, agent, supervisor, outsider_agent, make_user):
    shared = macros.create_macro(actor=supervisor, data={"title": "Billing hello", "body": "Hi", "scope": "billing"})
    personal = macros.create_macro(actor=agent, data={"title": "Mine", "body": "Hi"})
    assert shared.queue_id is not None and shared.owner_id is None
    assert {m.title for m in macros.visible_macros(agent)} == {"Billing hello", "Mine"}
    assert {m.title for m in macros.visible_macros(outsider_agent)} == set()
    assert {m.title for m in macros.visible_macros(supervisor)} == {"Billing hello"}
    with pytest.raises(Forbidden):
        macros.get_manageable_macro(agent, shared.id)
    with pytest.raises(NotFound):
        macros.get_usable_macro(outsider_agent, shared.id)
    with pytest.raises(NotFound):
        macros.get_usable_macro(supervisor, personal.id)  # someone else's personal macro
    assert macros.get_manageable_macro(supervisor, shared.id) is shared
    other_sup = make_user(Role.SUPERVISOR, member_of=("general",))
    with pytest.raises(NotFound):
        macros.get_usable_macro(other_sup, shared.id)
    assert [m.title for m in macros.visible_macros(agent, search="bill")] == ["Billing hello"]


# ---------------------------------------------------------------- pages: the triads


def test_macro_pages_permission_triads(client, ctx, agent, patient, supervisor, make_user):
    login(client, patient)
    assert client.get("/agent/macros").status_code == 403
    assert client.post("/agent/macros", data={"title": "x", "body": "y"}).status_code == 403
    assert count(Macro) == 0

    login(client, agent)
    assert client.get("/agent/macros").status_code == 200
    resp = client.post("/agent/macros", data={"title": "Thanks", "body": "Thanks {{patient_first_name}}",
                                              "scope": "personal"})
    assert resp.status_code == 302
    macro = db.session.scalar(sa.select(Macro))
    assert client.get(f"/agent/macros/{macro.id}").status_code == 200
    assert client.post(f"/agent/macros/{macro.id}", data={"title": "Thanks!", "body": "Thank you"}).status_code == 302
    db.session.expire_all()
    assert macro.title == "Thanks!"
    # bad input: a friendly page with the field error, nothing changed
    resp = client.post(f"/agent/macros/{macro.id}", data={"title": "", "body": "x", "set_priority": "meh"})
    assert resp.status_code == 422 and "Can&#39;t be empty." in resp.get_data(as_text=True)
    db.session.expire_all()
    assert macro.title == "Thanks!"
    assert client.get("/agent/macros/abc").status_code == 404

    login(client, patient)
    assert client.get(f"/agent/macros/{macro.id}").status_code == 403
    assert client.post(f"/agent/macros/{macro.id}/delete").status_code == 403

    other = make_user(Role.AGENT, member_of=("billing",))
    login(client, other)  # another agent's personal macro does not exist for them
    assert client.get(f"/agent/macros/{macro.id}").status_code == 404
    assert client.post(f"/agent/macros/{macro.id}", data={"title": "Hijack", "body": "x"}).status_code == 404
    assert client.post(f"/agent/macros/{macro.id}/delete").status_code == 404

    login(client, supervisor)
    client.post("/agent/macros", data={"title": "Shared", "body": "Hi", "scope": "billing"})
    shared = db.session.scalar(sa.select(Macro).where(Macro.queue_id.is_not(None)))
    login(client, agent)  # a member uses it but can't change it
    assert "Shared" in client.get("/agent/macros").get_data(as_text=True)
    assert client.post(f"/agent/macros/{shared.id}/delete").status_code == 403
    assert client.post(f"/agent/macros/{macro.id}/delete").status_code == 302
    assert count(Macro) == 1


def test_apply_and_insert_from_the_ticket_page(client, ctx, agent, patient, outsider_agent, make_ticket):
    ticket = make_ticket()
    macro = macros.create_macro(actor=agent, data={"title": "Hello", "body": "Hello {{patient_first_name}} {{ x }}",
                                                   "set_priority": "urgent"})
    login(client, agent)
    page = client.get(f"/agent/tickets/{ticket.reference}").get_data(as_text=True)
    assert 'data-text="Hello Maria {{ x }}"' in page and 'id="macro-select"' in page
    # without JavaScript, "Insert" comes back with the reply pre-filled (nothing sent)
    resp = client.post(f"/agent/tickets/{ticket.reference}/macro", data={"macro_id": macro.id, "do": "insert"})
    assert resp.status_code == 302 and f"macro_insert={macro.id}" in resp.headers["Location"]
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Hello Maria {{ x }}</textarea>" in page
    assert len(ticket.messages) == 1

    login(client, outsider_agent)
    assert client.post(f"/agent/tickets/{ticket.reference}/macro", data={"macro_id": macro.id}).status_code == 404
    login(client, patient)
    assert client.post(f"/agent/tickets/{ticket.reference}/macro", data={"macro_id": macro.id}).status_code == 403
    login(client, agent)
    assert client.post(f"/agent/tickets/{ticket.reference}/macro", data={"macro_id": "999"}).status_code == 404
    # "Apply" sends nothing: the page comes back with the text in the reply box, to edit
    resp = client.post(f"/agent/tickets/{ticket.reference}/macro", data={"macro_id": macro.id, "do": "apply"})
    assert resp.status_code == 302 and f"macro_apply={macro.id}" in resp.headers["Location"]
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Hello Maria {{ x }}</textarea>" in page and f'name="macro_id" type="hidden" value="{macro.id}"' in page
    assert "Nothing has been sent" in page and "priority → urgent" in page
    db.session.expire_all()
    assert len(ticket.messages) == 1 and ticket.priority != Priority.URGENT
    # the agent edits and sends: the edited text goes out and the macro's priority is applied
    resp = client.post(f"/agent/tickets/{ticket.reference}/reply",
                       data={"body": "Hello Maria, edited.", "macro_id": str(macro.id), "next_status": ""})
    assert resp.status_code == 302
    db.session.expire_all()
    assert ticket.priority == Priority.URGENT and ticket.messages[-1].body == "Hello Maria, edited."
    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "macro.applied")
                               .order_by(AuditEvent.id.desc())).first()
    assert event.changes == {"macro_id": macro.id, "edited": True}


def test_a_macro_that_moves_the_ticket_out_of_my_queues_returns_to_the_list(client, ctx, agent, queues, make_ticket):
    ticket = make_ticket()
    macro = macros.create_macro(actor=agent, data={"title": "To general", "body": "",
                                                   "set_queue_id": str(queues["general"].id)})
    login(client, agent)
    resp = client.post(f"/agent/tickets/{ticket.reference}/macro", data={"macro_id": macro.id, "do": "apply"})
    assert f"macro_apply={macro.id}" in resp.headers["Location"]
    db.session.expire_all()
    assert ticket.queue.slug != "general"  # a preview only
    # the macro has no text: Send with the box left empty makes its changes and sends nothing
    resp = client.post(f"/agent/tickets/{ticket.reference}/reply", data={"body": "", "macro_id": str(macro.id)})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/agent/tickets")
    db.session.expire_all()
    assert ticket.queue.slug == "general" and len(ticket.messages) == 1  # no text: nothing was sent
