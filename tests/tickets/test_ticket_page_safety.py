"""The agent ticket page (issue #18): the properties block, form errors at the field and in a
summary, confirmations that work without JavaScript (closing with the patient's message
unanswered, merging), and "Insert" of a help-centre article (a link and an excerpt in the
patient's language, linked to the ticket when the reply is sent)."""

from __future__ import annotations

import re

import sqlalchemy as sa

from helpdesk.audit import AuditEvent
from helpdesk.auth.models import Role
from helpdesk.extensions import db
from helpdesk.kb.models import TicketArticleLink
from helpdesk.tickets import merge, services
from helpdesk.tickets.models import Message, Status
from helpdesk.tickets.workspace import unanswered_patient_message
from tests.factories import count, login

KB_URL = "http://127.0.0.1:5000/help-centre/articles/"


def _page(client, ticket, **args) -> str:
    resp = client.get(f"/agent/tickets/{ticket.reference}", query_string=args)
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


# ---------------------------------------------------------------- the side panel


def test_the_properties_block_shows_every_property(client, ctx, agent, make_user, make_ticket):
    luis = make_user(Role.PATIENT, name="Luis Ortega")
    luis.language = "es"
    db.session.commit()
    ticket = make_ticket(requester=luis)
    other = make_ticket(requester=luis, subject="Another bill question")
    services.update_ticket(other, actor=agent, status=Status.CLOSED)
    third = make_ticket(requester=luis, subject="A third one")
    login(client, agent)
    page = _page(client, ticket)
    props = page[page.index('<section class="props"'):page.index("</section>", page.index('<section class="props"'))]
    for label in ("Status", "Priority", "Queue", "Assignee", "SLA", "Patient", "Language", "Identity",
                  "Open requests", "Articles"):
        assert f">{label}<" in props, label
    assert "Luis Ortega" in props and "Español" in props and "Billing" in props
    assert third.reference in props and other.reference not in props  # open ones only
    assert "None linked" in props and "Patient's account, e-mail" in props
    ticket.identity_unverified = True  # as sent from the "Can't sign in?" form
    db.session.commit()
    page = _page(client, ticket)
    props = page[page.index('<section class="props"'):page.index("</section>", page.index('<section class="props"'))]
    assert "Not verified" in props


# ---------------------------------------------------------------- errors at the field and at the top


def test_a_reply_error_is_shown_at_the_field_and_in_an_alert_summary(client, ctx, agent, make_ticket):
    ticket = make_ticket()
    login(client, agent)
    resp = client.post(f"/agent/tickets/{ticket.reference}/reply", data={"body": "  "})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    summary = re.search(r'<div class="error-summary" role="alert".*?</div>', page, re.S).group(0)
    assert '<a href="#body">Message: This field is required.</a>' in summary
    assert re.search(r'<textarea[^>]*aria-describedby="body-error"[^>]*aria-invalid="true"', page)
    assert '<p class="error" id="body-error">This field is required.</p>' in page
    db.session.expire_all()
    assert len(ticket.messages) == 1


def test_a_merge_error_is_shown_at_the_field_and_in_the_summary(client, ctx, agent, other_patient, make_ticket):
    mine, theirs = make_ticket(), make_ticket(requester=other_patient)
    login(client, agent)
    resp = client.post(f"/agent/tickets/{mine.reference}/merge", data={"references": theirs.reference})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 409
    assert '<a href="#merge-refs">Requests to merge into this one:' in page and 'role="alert"' in page
    assert 'aria-describedby="merge-refs-hint merge-refs-error" aria-invalid="true"' in page
    assert re.search(r'<p class="error" id="merge-refs-error">[^<]*belongs to a different patient', page)
    db.session.expire_all()
    assert merge.merged_into(theirs) is None


# ---------------------------------------------------------------- closing with an unanswered message


def test_closing_with_the_patients_message_unanswered_asks_first(client, ctx, agent, patient, make_ticket):
    ticket = make_ticket()
    services.post_message(ticket, author=agent, body="We are looking into it.")
    services.post_message(ticket, author=patient, body="Any news?")
    assert unanswered_patient_message(ticket).body == "Any news?"
    login(client, agent)
    before = count(AuditEvent)
    resp = client.post(f"/agent/tickets/{ticket.reference}/update", data={"status": "closed", "priority": "normal"})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "Close with the patient's message unanswered?" in page
    assert "Nothing has been changed." in page and 'name="confirm_close" value="yes"' in page
    db.session.expire_all()
    assert ticket.status != Status.CLOSED
    assert count(AuditEvent) == before  # no change recorded
    # confirmed: closed
    resp = client.post(f"/agent/tickets/{ticket.reference}/update",
                       data={"status": "closed", "priority": "normal", "confirm_close": "yes"})
    assert resp.status_code == 302
    db.session.expire_all()
    assert ticket.status == Status.CLOSED


def test_an_internal_note_that_closes_asks_first_a_public_reply_does_not(client, ctx, agent, patient, make_ticket):
    ticket = make_ticket()  # the patient's first message, unanswered
    login(client, agent)
    resp = client.post(f"/agent/tickets/{ticket.reference}/reply",
                       data={"body": "Duplicate of another request.", "internal": "y", "next_status": "closed"})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "Close with the patient's message unanswered?" in page
    assert "Duplicate of another request.</textarea>" in page  # the note is kept to send
    db.session.expire_all()
    assert len(ticket.messages) == 1 and ticket.status != Status.CLOSED
    resp = client.post(f"/agent/tickets/{ticket.reference}/reply", data={
        "body": "Duplicate of another request.", "internal": "y", "next_status": "closed", "confirm_close": "yes"})
    assert resp.status_code == 302
    db.session.expire_all()
    assert ticket.status == Status.CLOSED and not ticket.messages[-1].public

    # a public reply answers the patient: it closes at once
    answered = make_ticket()
    resp = client.post(f"/agent/tickets/{answered.reference}/reply", data={"body": "Done.", "next_status": "closed"})
    assert resp.status_code == 302
    db.session.expire_all()
    assert answered.status == Status.CLOSED


def test_closing_after_a_reply_needs_no_confirmation(client, ctx, agent, make_ticket):
    ticket = make_ticket()
    services.post_message(ticket, author=agent, body="Refunded.")
    assert unanswered_patient_message(ticket) is None
    login(client, agent)
    resp = client.post(f"/agent/tickets/{ticket.reference}/update", data={"status": "closed", "priority": "normal"})
    assert resp.status_code == 302
    db.session.expire_all()
    assert ticket.status == Status.CLOSED


# ---------------------------------------------------------------- merge: confirm, nothing changes without it


def test_merge_without_confirmation_changes_nothing(client, ctx, agent, patient, make_ticket):
    survivor, other = make_ticket(), make_ticket(subject="Same bill again")
    login(client, agent)
    before = (count(AuditEvent), count(Message))
    resp = client.post(f"/agent/tickets/{survivor.reference}/merge", data={"merge_ref": other.reference})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "Nothing has been merged yet" in page and "can't be undone" in page
    assert f'name="merge_ref" value="{other.reference}"' in page and 'name="confirm" value="yes"' in page
    db.session.expire_all()
    assert (count(AuditEvent), count(Message)) == before
    assert merge.merged_into(other) is None and other.status != Status.CLOSED and len(other.messages) == 1
    resp = client.post(f"/agent/tickets/{survivor.reference}/merge",
                       data={"merge_ref": other.reference, "confirm": "yes"})
    assert resp.status_code == 302
    db.session.expire_all()
    assert merge.merged_into(other).id == survivor.id


# ---------------------------------------------------------------- knowledge base: insert and link


def test_insert_uses_the_patients_language_and_sending_links_the_article(client, ctx, agent, make_user, seeded,
                                                                          make_ticket):
    english, spanish = seeded["reset-your-password"], seeded["restablecer-la-contrasena"]
    assert spanish.translation_of_id == english.id  # from the shipped front matter
    ana = make_user(Role.PATIENT, name="Ana Ruiz")
    ana.language = "es"
    db.session.commit()
    ticket = make_ticket(requester=ana)
    login(client, agent)
    page = _page(client, ticket, kb_insert=english.id)
    assert f"[Restablecer la contraseña]({KB_URL}restablecer-la-contrasena)\n" in page
    assert f'<input type="hidden" name="kb_article" value="{spanish.id}">' in page
    # an English patient gets the English article, even when the Spanish one is inserted
    english_ticket = make_ticket()
    page = _page(client, english_ticket, kb_insert=spanish.id)
    assert f"[Reset your password]({KB_URL}reset-your-password)\n" in page

    # sent with the link: linked to the ticket ("resolved with"), shown as a link
    body = f"Hola Ana.\n\n[Restablecer la contraseña]({KB_URL}restablecer-la-contrasena)\nPida un enlace."
    resp = client.post(f"/agent/tickets/{ticket.reference}/reply", data={"body": body, "kb_article": str(spanish.id)})
    assert resp.status_code == 302
    assert db.session.scalar(sa.select(TicketArticleLink.article_id).where(
        TicketArticleLink.ticket_id == ticket.id)) == spanish.id
    page = _page(client, ticket)
    assert f'<a href="{KB_URL}restablecer-la-contrasena">Restablecer la contraseña</a>' in page

    # the agent deleted the link from the text, or wrote an internal note: not linked
    other = make_ticket(requester=ana)
    client.post(f"/agent/tickets/{other.reference}/reply", data={"body": "Hola.", "kb_article": str(spanish.id)})
    client.post(f"/agent/tickets/{other.reference}/reply", data={"body": body, "internal": "y",
                                                                  "kb_article": str(spanish.id)})
    assert count(TicketArticleLink) == 1


def test_the_patient_sees_the_inserted_article_as_a_link_and_nothing_else_as_one(client, ctx, agent, patient,
                                                                                 seeded, make_ticket):
    ticket = make_ticket()
    services.post_message(ticket, author=agent, body=(
        f"[Reset your password]({KB_URL}reset-your-password)\nAsk for a link.\n"
        "[Not ours](https://evil.example/help-centre/articles/x) <b>bold</b>"))
    login(client, patient)
    page = client.get(f"/requests/{ticket.reference}").get_data(as_text=True)
    assert f'<a href="{KB_URL}reset-your-password">Reset your password</a>' in page
    assert "[Not ours](https://evil.example/help-centre/articles/x) &lt;b&gt;bold&lt;/b&gt;" in page
    assert 'href="https://evil.example' not in page
