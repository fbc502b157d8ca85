"""Messages are never edited in place: an agent's correction is a new version."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from helpdesk.audit import AuditEvent
from helpdesk.extensions import db
from helpdesk.tickets import services
from helpdesk.tickets.models import Message, MessageIsNotEditedInPlace, MessageVersion
from tests.factories import bearer, login

ORIGINAL = "Your refund of 40 dollars was sent on Monday."
CORRECTED = "Your refund of 45 dollars was sent on Monday."


@pytest.fixture
def replied(make_ticket, agent):
    ticket = make_ticket()
    posted = services.post_message(ticket, author=agent, body=ORIGINAL)
    return ticket, posted.message


def _correct(client, ticket, message, body=CORRECTED):
    return client.post(f"/agent/tickets/{ticket.reference}/messages/{message.id}/correct", data={"body": body})


def test_an_agent_corrects_their_reply_and_the_original_stays(client, ctx, replied, agent):
    ticket, message = replied
    login(client, agent)
    resp = _correct(client, ticket, message)
    assert resp.status_code == 302
    db.session.expire_all()
    message = db.session.get(Message, message.id)
    assert message.body == ORIGINAL  # the original row is untouched
    assert [(v.version, v.body, v.editor_id) for v in message.versions] == [(2, CORRECTED, agent.id)]
    assert message.current_body == CORRECTED and message.edited
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "message.corrected"))
    assert event.object_id == ticket.reference and event.actor_id == agent.id
    assert event.changes == {"message_id": message.id, "version": 2, "public": True}
    assert "45" not in str(event.changes) and "refund" not in str(event.changes)  # no text in the audit log

    page = client.get(f"/agent/tickets/{ticket.reference}").get_data(as_text=True)
    assert CORRECTED in page and "edited · history (2 versions)" in page and ORIGINAL in page  # history for agents


def test_a_second_correction_is_version_three(client, ctx, replied, agent):
    ticket, message = replied
    login(client, agent)
    assert _correct(client, ticket, message).status_code == 302
    assert _correct(client, ticket, message, "Your refund of 45 dollars was sent on Tuesday.").status_code == 302
    db.session.expire_all()
    assert [v.version for v in db.session.get(Message, message.id).versions] == [2, 3]


@pytest.mark.parametrize(("lang", "label"), [("en", "Edited"), ("es", "Editado")])
def test_the_patient_sees_the_current_text_labelled_edited(client, ctx, replied, agent, patient, lang, label):
    ticket, message = replied
    from helpdesk.i18n import services as i18n_services

    services.correct_message(ticket, message.id, editor=agent, body=CORRECTED)
    i18n_services.set_language(user=patient, language=lang)
    login(client, patient)
    page = client.get(f"/requests/{ticket.reference}").get_data(as_text=True)
    assert CORRECTED in page and ORIGINAL not in page
    assert f'<p class="meta edited">{label}</p>' in page


def test_the_api_gives_the_current_text(client, ctx, replied, agent, portal):
    ticket, message = replied
    services.correct_message(ticket, message.id, editor=agent, body=CORRECTED)
    _user, secret = portal
    # the portal created nothing here; staff tokens read any ticket of their queues
    from helpdesk.auth import services as accounts

    _token, agent_secret = accounts.create_api_token(actor=None, name="agent-cli", user=agent)
    got = client.get(f"/api/v1/tickets/{ticket.reference}", headers=bearer(agent_secret)).get_json()
    reply = next(m for m in got["messages"] if m["id"] == message.id)
    assert reply["body"] == CORRECTED and reply["edited"] is True


def test_internal_notes_can_be_corrected_too(client, ctx, make_ticket, agent):
    ticket = make_ticket()
    note = services.post_message(ticket, author=agent, body="Called billing, no answer.", public=False).message
    login(client, agent)
    assert _correct(client, ticket, note, "Called billing twice, no answer.").status_code == 302
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "message.corrected"))
    assert event.changes["public"] is False


def test_another_agents_message_is_forbidden(client, ctx, replied, supervisor):
    ticket, message = replied
    login(client, supervisor)
    assert _correct(client, ticket, message).status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MessageVersion)) == 0


def test_a_patient_may_not_correct(client, ctx, replied, patient):
    ticket, message = replied
    login(client, patient)
    assert _correct(client, ticket, message).status_code == 403
    patient_message = ticket.messages[0]
    assert _correct(client, ticket, patient_message).status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MessageVersion)) == 0


def test_an_agent_outside_the_queue_gets_not_found(client, ctx, replied, outsider_agent):
    ticket, message = replied
    login(client, outsider_agent)
    assert _correct(client, ticket, message).status_code == 404


def test_a_message_of_another_ticket_is_not_found(client, ctx, replied, make_ticket, agent):
    ticket, message = replied
    other = make_ticket()
    login(client, agent)
    assert _correct(client, other, message).status_code == 404
    assert client.post(f"/agent/tickets/{ticket.reference}/messages/999999/correct",
                       data={"body": CORRECTED}).status_code == 404


@pytest.mark.parametrize("body", ["", "   ", "x" * 20_001, ORIGINAL])
def test_bad_corrections_are_refused_and_nothing_changes(client, ctx, replied, agent, body):
    ticket, message = replied
    login(client, agent)
    resp = _correct(client, ticket, message, body)
    assert resp.status_code == 422
    assert 'class="flash' in resp.get_data(as_text=True) or "error" in resp.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MessageVersion)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).where(AuditEvent.action == "message.corrected")) == 0


def test_a_message_body_is_never_updated_in_place(ctx, replied):
    _ticket, message = replied
    message.body = "rewritten"
    with pytest.raises(MessageIsNotEditedInPlace):
        db.session.flush()
    db.session.rollback()
    with pytest.raises(MessageIsNotEditedInPlace):
        db.session.execute(sa.update(Message).where(Message.id == message.id).values(body="rewritten"))
    db.session.rollback()
    assert db.session.get(Message, message.id).body == ORIGINAL


def test_merging_still_moves_messages(ctx, make_ticket, agent):
    """The guard is about the text only: other columns (the merge moves ticket_id) may change."""
    first, second = make_ticket(), make_ticket()
    message = second.messages[0]
    message.ticket_id = first.id
    db.session.flush()  # no MessageIsNotEditedInPlace
    assert db.session.scalar(sa.select(Message.ticket_id).where(Message.id == message.id)) == first.id
    db.session.rollback()
