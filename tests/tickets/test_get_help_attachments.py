"""Files on the patient's first request ("Get help", issue 22): the same checks as a
reply's (types by content, sizes, count, virus scanner: helpdesk.notify.attachments),
downloadable by the patient and the agent; a refused file keeps the typed text."""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa

from helpdesk.auth.services import create_api_token
from helpdesk.extensions import db
from helpdesk.notify.models import Attachment
from helpdesk.tickets.models import Message, Ticket
from tests.factories import bearer, count, login, run_jobs
from tests.notify.samples import EXE, pdf, png
from tests.notify.scanners import EICAR

SUBJECT = "Question about my bill"
BODY = "I was charged twice for my visit on the statement, please check the billing charge."


def _send(client, *files, subject=SUBJECT, body=BODY, **extra):
    data = {"subject": subject, "body": body, "attachments": [(io.BytesIO(d), n) for n, d in files], **extra}
    return client.post("/help", content_type="multipart/form-data", data=data)


def test_a_first_request_carries_files_the_patient_and_the_agent_can_download(client, ctx, queues, patient,
                                                                              other_patient, agent):
    login(client, patient)
    resp = _send(client, ("bill photo.png", png()), ("statement.pdf", pdf()))
    assert resp.status_code == 302
    run_jobs()
    ticket = db.session.scalar(sa.select(Ticket))
    first = db.session.scalar(sa.select(Message).where(Message.ticket_id == ticket.id))
    rows = db.session.scalars(sa.select(Attachment).order_by(Attachment.id)).all()
    assert [(r.filename, r.content_type, r.message_id) for r in rows] == [
        ("bill photo.png", "image/png", first.id), ("statement.pdf", "application/pdf", first.id)]
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert f'href="/attachments/{rows[0].id}"' in page and "bill photo.png" in page
    download = client.get(f"/attachments/{rows[0].id}")
    assert download.status_code == 200 and download.data == png()
    login(client, agent)
    assert client.get(f"/agent/tickets/{ticket.reference}").get_data(as_text=True).count("/attachments/") == 2
    assert client.get(f"/attachments/{rows[1].id}").data == pdf()
    login(client, other_patient)
    assert client.get(f"/attachments/{rows[0].id}").status_code == 404


def _kept(page: str) -> None:
    """The subject and the description are still in the form."""
    assert re.search(rf'<input[^>]*name="subject"[^>]*value="{SUBJECT}"', page)
    assert re.search(r'<textarea[^>]*name="body"[^>]*>\s*' + re.escape(BODY) + r"</textarea>", page)


@pytest.mark.parametrize("name,data,words", [
    ("invoice.pdf", EXE, "Only images (PNG, JPEG, GIF, WebP, HEIC) and PDF files can be attached."),
    ("empty.png", b"", "An attached file is empty."),
    ("huge.pdf", pdf(3000), "Each file can be at most"),
])
def test_a_refused_file_keeps_the_typed_text_and_sends_nothing(client, ctx, queues, patient, configure, name, data,
                                                               words):
    configure(attachment_max_bytes=2048)
    login(client, patient)
    resp = _send(client, ("fine.png", png()), (name, data))
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert words in page and 'id="attachments-error"' in page and 'class="error-summary"' in page
    _kept(page)
    assert f"Your files were not sent: fine.png, {name}. Please choose them again." in page
    assert count(Ticket) == 0 and count(Attachment) == 0


def test_the_virus_scanner_refuses_and_the_text_is_kept(client, ctx, queues, patient, configure):
    configure(attachment_scanner="tests.notify.scanners:refuse_eicar")
    login(client, patient)
    resp = _send(client, ("statement.pdf", pdf() + EICAR))
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "A file was refused by the virus scanner." in page
    _kept(page)
    assert count(Ticket) == 0
    assert _send(client, ("statement.pdf", pdf())).status_code == 302 and count(Attachment) == 1


def test_too_many_files(client, ctx, queues, patient, configure):
    configure(attachment_max_files=2)
    login(client, patient)
    resp = _send(client, *[(f"{i}.png", png()) for i in range(3)])
    assert resp.status_code == 422 and "At most 2 files per message." in resp.get_data(as_text=True)
    _kept(resp.get_data(as_text=True))


def test_in_spanish_the_refusal_and_the_kept_text(client, ctx, queues, patient):
    login(client, patient)
    client.post("/language", data={"language": "es", "next": "/help"})
    resp = _send(client, ("factura.pdf", EXE))
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "Solo se pueden adjuntar imágenes (PNG, JPEG, GIF, WebP, HEIC) y archivos PDF." in page
    assert "No se envió su archivo: factura.pdf. Vuelva a elegirlo." in page
    _kept(page)


def test_another_error_tells_the_patient_to_choose_the_file_again(client, ctx, queues, patient):
    login(client, patient)
    resp = _send(client, ("scan.png", png()), subject="")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "Your file was not sent: scan.png. Please choose it again." in page
    assert count(Ticket) == 0


def test_the_form_shows_the_limits_and_the_preview(client, ctx, queues, patient):
    login(client, patient)
    page = client.get("/help").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page and 'type="file"' in page and 'id="attachments"' in page
    assert "up to 5, at most 10 MB each" in page
    assert 'id="file-preview"' in page and 'data-max-files="5"' in page and "file-preview.js" in page
    assert "Your file" not in page


def test_with_a_file_the_request_is_sent_without_the_suggestions_step(client, seeded, patient):
    """The no-JavaScript "these articles may answer" page cannot carry chosen files."""
    login(client, patient)
    text = {"subject": "Forgot my pasword", "body": "I can't sign in, I forgot my password."}
    assert "These articles may answer" in client.post("/help", data=text).get_data(as_text=True)
    resp = _send(client, ("screen.png", png()), **text)
    assert resp.status_code == 302 and count(Ticket) == 1 and count(Attachment) == 1


# ----------------------------------------------------------------------------- the portal's API


def _api_create(client, secret, *files, **parts):
    data = {"subject": SUBJECT, "body": BODY, "requester_email": "nora@example.net", "requester_name": "Nora Diaz",
            **parts, "attachments": [(io.BytesIO(d), n) for n, d in files]}
    return client.post("/api/v1/tickets/with-attachments", headers=bearer(secret), content_type="multipart/form-data",
                       data=data)


def test_the_portal_creates_a_request_with_files(client, ctx, queues, portal, agent):
    user, secret = portal
    resp = _api_create(client, secret, ("bill.png", png()), ("statement.pdf", pdf()))
    assert resp.status_code == 201, resp.json
    reference = resp.json["reference"]
    assert resp.headers["Location"].endswith(f"/api/v1/tickets/{reference}")
    [first] = resp.json["messages"]
    assert [a["filename"] for a in first["attachments"]] == ["bill.png", "statement.pdf"]
    assert client.get(first["attachments"][0]["url"], headers=bearer(secret)).data == png()
    run_jobs()
    login(client, agent)
    rows = db.session.scalars(sa.select(Attachment).order_by(Attachment.id)).all()
    assert client.get(f"/attachments/{rows[1].id}").data == pdf()


def test_the_portal_api_refuses_a_bad_file_and_creates_nothing(client, ctx, queues, portal, configure):
    _user, secret = portal
    resp = _api_create(client, secret, ("a.pdf", EXE))
    assert resp.status_code == 422 and resp.json["error"]["fields"]["attachments"]
    configure(attachment_scanner="tests.notify.scanners:refuse_eicar")
    resp = _api_create(client, secret, ("a.pdf", pdf() + EICAR))
    assert resp.status_code == 422 and "virus" in resp.json["error"]["fields"]["attachments"][0]
    assert _api_create(client, secret, evil="1").status_code == 422
    assert _api_create(client, secret, requester_email="not an address").status_code == 422
    assert count(Ticket) == 0 and count(Attachment) == 0


def test_the_portal_api_create_triad(client, ctx, queues, portal, patient, agent):
    """Integration tokens only: 201; a patient's or an agent's token 403 whatever the
    body; no token 401. (A creation names no existing object, so there is no 404 case.)"""
    _user, secret = portal
    for user in (patient, agent):
        _t, other_secret = create_api_token(actor=None, name="cli", user=user)
        assert _api_create(client, other_secret, ("bill.png", png())).status_code == 403
    assert client.post("/api/v1/tickets/with-attachments", data={}).status_code == 401
    assert count(Ticket) == 0
    assert _api_create(client, secret, ("bill.png", png())).status_code == 201
