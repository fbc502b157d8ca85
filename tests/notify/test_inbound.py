"""Inbound mail: threading against the Message-IDs we sent, other senders, auto-replies
and loops, broken mail, the Maildir/mbox/stdin command and the HTTP endpoint."""

from __future__ import annotations

import mailbox
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
import sqlalchemy as sa

from helpdesk.auth.models import User
from helpdesk.extensions import db
from helpdesk.notify import attachments as files
from helpdesk.notify import inbound as _inbound
from helpdesk.notify.models import Attachment, InboundMail, InboundStatus, Notification, OutgoingEmail
from helpdesk.routing.models import RoutingDecision
from helpdesk.tickets.models import Channel, Message, Ticket
from tests.factories import login, run_jobs
from tests.notify.conftest import Settled
from tests.notify.samples import EXE, pdf

inbound = Settled(_inbound)

TOKEN = "inbound-token-0123456789abcdef"


def mail(frm: str, subject: str = "Question about my bill", body: str = "I was charged twice for my visit, "
         "please check the billing charge on my statement.", **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = frm
    msg["To"] = "help@hospital.example"
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="patient.example")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


def first_mail_to(address: str) -> OutgoingEmail:
    return db.session.scalar(sa.select(OutgoingEmail).where(OutgoingEmail.to_addr == address)
                             .order_by(OutgoingEmail.id).limit(1))


def mails_to(address: str) -> int:
    return db.session.scalar(sa.select(sa.func.count()).where(OutgoingEmail.to_addr == address))


def test_new_mail_from_unknown_sender_creates_a_classified_request(ctx, queues):
    row = inbound.ingest(mail("Jane Doe <jane.doe@patient.example>").as_bytes())
    assert row.status == InboundStatus.CREATED
    ticket = db.session.get(Ticket, row.ticket_id)
    assert ticket.channel == Channel.EMAIL and ticket.messages[0].channel == Channel.EMAIL
    assert ticket.requester.email == "jane.doe@patient.example" and ticket.requester.display_name == "Jane Doe"
    assert ticket.subject == "Question about my bill"
    # classified like any other request
    assert db.session.scalar(sa.select(RoutingDecision).where(RoutingDecision.ticket_id == ticket.id)) is not None
    assert ticket.queue.slug == "billing"
    # told it arrived, with the reference in the subject so that replies thread
    ack = first_mail_to("jane.doe@patient.example")
    assert ack.kind == "request_received" and ticket.reference in ack.subject
    assert inbound.read_raw(row) == files.read_bytes(row.raw_sha256) and b"Jane Doe" in inbound.read_raw(row)


def _new_thread(queues):
    row = inbound.ingest(mail("jane@patient.example").as_bytes())
    ticket = db.session.get(Ticket, row.ticket_id)
    return ticket, first_mail_to("jane@patient.example")


def test_reply_to_our_mail_is_threaded_and_quotes_are_stripped(ctx, queues, agent):
    ticket, ack = _new_thread(queues)
    reply = mail("Jane <JANE@patient.example>", f"Re: {ack.subject}",
                 "Here is the card I used, thank you!\n\n-- \nJane\nSent from my phone\n\n"
                 f"On Mon, 2 Mar 2026 at 10:00, Help Desk <help@hospital.example> wrote:\n> {ack.body[:40]}\n> more",
                 In_Reply_To=ack.message_id, References=ack.message_id)
    row = inbound.ingest(reply.as_bytes())
    assert row.status == InboundStatus.THREADED and row.reason == "message_id" and row.ticket_id == ticket.id
    db.session.refresh(ticket)
    last = ticket.messages[-1]
    assert last.body == "Here is the card I used, thank you!" and last.channel == Channel.EMAIL
    assert last.author_id == ticket.requester_id
    # agents hear that the patient replied
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)
                             .where(Notification.kind == "patient_replied")) >= 1


def test_reply_with_subject_changed_threads_by_message_id(ctx, queues):
    ticket, ack = _new_thread(queues)
    row = inbound.ingest(mail("jane@patient.example", "something else entirely", "Another detail.",
                              References=f"<unrelated@x.example> {ack.message_id}").as_bytes())
    assert row.status == InboundStatus.THREADED and row.ticket_id == ticket.id


def test_reference_in_subject_is_the_fallback(ctx, queues):
    ticket, _ack = _new_thread(queues)
    row = inbound.ingest(mail("jane@patient.example", f"About {ticket.reference.lower()} again", "Hello?").as_bytes())
    assert row.status == InboundStatus.THREADED and row.reason == "subject_reference"


def test_reply_from_another_address_is_held_not_threaded(ctx, queues, client, admin, agent):
    ticket, ack = _new_thread(queues)
    n_messages = len(ticket.messages)
    row = inbound.ingest(mail("someone.else@elsewhere.example", f"Re: {ack.subject}", "I am her husband",
                              In_Reply_To=ack.message_id).as_bytes())
    assert row.status == InboundStatus.HELD and row.reason == "not_requester"
    db.session.refresh(ticket)
    assert len(ticket.messages) == n_messages
    assert mails_to("someone.else@elsewhere.example") == 0  # nothing answered, nothing revealed
    # admins see it; others don't
    login(client, admin)
    assert "someone.else@elsewhere.example" in client.get("/admin/mail").get_data(as_text=True)
    assert "I am her husband" in client.get(f"/admin/mail/{row.id}").get_data(as_text=True)
    raw = client.get(f"/admin/mail/{row.id}/raw")
    assert raw.status_code == 200 and raw.mimetype == "message/rfc822" and b"I am her husband" in raw.data
    assert client.get("/admin/mail/999999").status_code == 404
    # released: a new request for that sender
    assert client.post(f"/admin/mail/{row.id}/release").status_code == 302
    run_jobs()
    db.session.refresh(row)
    assert row.status == InboundStatus.RELEASED and row.ticket_id != ticket.id
    assert db.session.get(Ticket, row.ticket_id).requester.email == "someone.else@elsewhere.example"
    login(client, agent)
    assert client.get("/admin/mail").status_code == 403
    assert client.get(f"/admin/mail/{row.id}/raw").status_code == 403


@pytest.mark.parametrize("headers", [
    {"Auto_Submitted": "auto-replied"},
    {"X_Autoreply": "yes"},
    {"Precedence": "bulk"},
    {"Precedence": "auto_reply"},
    {"Precedence": "list"},
    {"Return_Path": "<>"},
])
def test_auto_replies_and_bulk_mail_are_never_threaded_or_answered(ctx, queues, headers):
    ticket, ack = _new_thread(queues)
    before = mails_to("jane@patient.example")
    n = db.session.scalar(sa.select(sa.func.count()).select_from(Message))
    row = inbound.ingest(mail("jane@patient.example", f"Out of office: {ack.subject}", "I am away",
                              In_Reply_To=ack.message_id, **headers).as_bytes())
    assert row.status == InboundStatus.IGNORED
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == n
    assert mails_to("jane@patient.example") == before
    # also not from a stranger: no request, no answer
    row = inbound.ingest(mail("newsletter@shop.example", **headers).as_bytes())
    assert row.status == InboundStatus.IGNORED and mails_to("newsletter@shop.example") == 0
    assert db.session.scalar(sa.select(User).where(User.email == "newsletter@shop.example")) is None


def test_mail_loop_attempt_goes_nowhere(ctx, app, queues):
    """Our own mail fed back, and a header-less auto-responder answering every mail:
    the patient is mailed once (the acknowledgement) and never again."""
    ticket, ack = _new_thread(queues)
    own = EmailMessage()
    own["From"] = app.config["HELPDESK"].mail_from
    own["To"] = "jane@patient.example"
    own["Subject"] = ack.subject
    own["Message-ID"] = ack.message_id
    own.set_content(ack.body)
    assert inbound.ingest(own.as_bytes()).status == InboundStatus.IGNORED
    for i in range(5):  # a naive responder: no Auto-Submitted, replies to our last mail
        last = db.session.scalar(sa.select(OutgoingEmail).where(OutgoingEmail.to_addr == "jane@patient.example")
                                 .order_by(OutgoingEmail.id.desc()).limit(1))
        row = inbound.ingest(mail("jane@patient.example", f"Re: {last.subject}", f"I got your message {i}",
                                  In_Reply_To=last.message_id).as_bytes())
        assert row.status == InboundStatus.THREADED
    assert mails_to("jane@patient.example") == 1


def test_duplicates_are_recognised(ctx, queues):
    msg = mail("jane@patient.example").as_bytes()
    first = inbound.ingest(msg)
    again = inbound.ingest(msg)
    assert first.status == InboundStatus.CREATED and again.status == InboundStatus.DUPLICATE
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 1


@pytest.mark.parametrize("raw,reason", [
    (b"", "empty"),
    (b"just some words with no headers at all\nand another line\n", "no_headers"),
    (b"\x00\xff\xfe\x00garbage\x80\x81", "no_headers"),
    (b"Subject: no sender\r\n\r\nhello\r\n", "no_sender"),
    (b"From: not an address\r\nSubject: x\r\n\r\nhello\r\n", "no_sender"),
])
def test_malformed_mail_is_held_with_its_raw_kept(ctx, queues, raw, reason):
    row = inbound.ingest(raw)
    assert row.status == InboundStatus.HELD and row.reason == reason
    assert inbound.read_raw(row) == raw


def test_huge_mail_is_held_not_parsed(ctx, configure, queues):
    with configure(inbound_max_bytes=2048):
        raw = mail("jane@patient.example", body="x" * 5000).as_bytes()
        row = inbound.ingest(raw)
    assert row.status == InboundStatus.HELD and row.reason == "too_large" and inbound.read_raw(row) == raw
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 0


def test_wrong_encodings_do_not_crash(ctx, queues):
    latin1_declared_utf8 = (
        b"From: =?utf-8?q?Jos=C3=A9?= <jose@patient.example>\r\nSubject: =?unknown-8bit?q?factura_doble?=\r\n"
        b"Message-ID: <enc1@patient.example>\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\nMe cobraron dos veces la factura, a\xf1o pasado, cargo doble.\r\n")
    row = inbound.ingest(latin1_declared_utf8)
    assert row.status == InboundStatus.CREATED
    t = db.session.get(Ticket, row.ticket_id)
    assert "cobraron dos veces" in t.messages[0].body
    bogus_charset = (b"From: ana@patient.example\r\nSubject: cita\r\nMessage-ID: <enc2@patient.example>\r\n"
                     b"Content-Type: text/plain; charset=x-no-such-charset\r\n\r\nNecesito cambiar mi cita.\r\n")
    row = inbound.ingest(bogus_charset)
    assert row.status == InboundStatus.CREATED
    assert "cambiar mi cita" in db.session.get(Ticket, row.ticket_id).messages[0].body


def test_html_only_mail_becomes_text(ctx, queues):
    msg = EmailMessage()
    msg["From"] = "html@patient.example"
    msg["Subject"] = "Billing"
    msg.set_content("<p>I was <b>charged twice</b> for my visit &amp; need a refund.</p><script>x()</script>",
                    subtype="html")
    row = inbound.ingest(msg.as_bytes())
    body = db.session.get(Ticket, row.ticket_id).messages[0].body
    assert "charged twice" in body and "&" in body and "<b>" not in body and "x()" not in body


def test_mail_attachments_follow_the_rules(ctx, queues):
    msg = mail("files@patient.example")
    msg.add_attachment(pdf(), maintype="application", subtype="pdf", filename="statement.pdf")
    msg.add_attachment(EXE, maintype="application", subtype="pdf", filename="fake.pdf")
    row = inbound.ingest(msg.as_bytes())
    assert row.status == InboundStatus.CREATED and "1 attachment(s) left out" in row.note
    [att] = db.session.scalars(sa.select(Attachment).where(Attachment.ticket_id == row.ticket_id)).all()
    assert att.filename == "statement.pdf" and att.content_type == "application/pdf"


def test_mail_from_a_staff_address_is_held(ctx, queues, agent):
    row = inbound.ingest(mail(agent.email).as_bytes())
    assert row.status == InboundStatus.HELD and row.reason == "staff_sender"


def test_cli_ingests_maildir_mbox_and_stdin(app, ctx, queues, tmp_path):
    runner = app.test_cli_runner()
    md = mailbox.Maildir(str(tmp_path / "Maildir"), create=True)
    md.add(mail("one@patient.example").as_bytes())
    md.add(mail("two@patient.example", Auto_Submitted="auto-replied").as_bytes())
    md.close()
    result = runner.invoke(args=["mail", "ingest", str(tmp_path / "Maildir"), "--remove"])
    run_jobs()
    assert result.exit_code == 0 and "2 message(s)" in result.output and "created 1" in result.output
    assert "ignored 1" in result.output
    assert len(mailbox.Maildir(str(tmp_path / "Maildir"), create=False)) == 0
    mb = mailbox.mbox(str(tmp_path / "box.mbox"))
    mb.add(mail("three@patient.example").as_bytes())
    mb.add(mail("four@patient.example").as_bytes())
    mb.close()
    result = runner.invoke(args=["mail", "ingest", str(tmp_path / "box.mbox")])
    assert "created 2" in result.output, result.output
    result = runner.invoke(args=["mail", "ingest", "-"], input=mail("five@patient.example").as_bytes())
    assert "created 1" in result.output
    result = runner.invoke(args=["mail", "ingest", str(tmp_path / "missing")])
    assert result.exit_code != 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 4


def test_http_endpoint_for_an_inbound_provider(configure, ctx, client, queues):
    raw = mail("http@patient.example").as_bytes()
    assert client.post("/api/v1/inbound-mail", data=raw).status_code == 404  # not enabled
    with configure(inbound_token=TOKEN):
        r = client.post("/api/v1/inbound-mail", data=raw, headers={"Authorization": "Bearer wrong-token-xxxxxxxx"})
        assert r.status_code == 401 and r.json["error"]["code"] == "unauthorized"
        r = client.post("/api/v1/inbound-mail", data=b"", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 422
        r = client.post("/api/v1/inbound-mail", data=raw, content_type="message/rfc822",
                        headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 202 and r.json["status"] == "created"
        # larger than the general 1 MB request limit is fine here (inbound limit applies)
        big = mail("big@patient.example", body="word " * 300_000).as_bytes()
        r = client.post("/api/v1/inbound-mail", data=big, headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 202
    assert db.session.scalar(sa.select(InboundMail.source).where(InboundMail.id == r.json["id"])) == "http"


def test_imap_poll_does_nothing_when_not_configured(ctx):
    assert inbound.poll_imap() == 0
