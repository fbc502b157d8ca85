"""Attachments: types by content, size limits, storage by hash, who may download,
internal notes, headers, the scanner hook, web forms and API."""

from __future__ import annotations

import hashlib
import io

import pytest
import sqlalchemy as sa

from helpdesk.auth.services import create_api_token
from helpdesk.errors import ValidationFailed
from helpdesk.extensions import db
from helpdesk.notify import attachments as files
from helpdesk.notify.models import Attachment
from helpdesk.storage import FilesystemStorage, StoredBlob
from helpdesk.tickets import services as _tickets
from helpdesk.tickets.models import Message
from tests.factories import bearer, login
from tests.notify.conftest import Settled
from tests.notify.samples import EXE, HTML, pdf, png
from tests.notify.scanners import EICAR

tickets = Settled(_tickets)


@pytest.fixture
def limits(configure):
    return configure


def _count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Attachment))


def test_images_and_pdf_are_stored_once_by_hash_in_the_database(ctx, make_ticket, patient):
    t = make_ticket()
    image = png()
    posted = tickets.post_message(t, author=patient, body="Here are my files",
                                  attachments=[files.Upload("scan.png", image), files.Upload("bill", pdf())])
    rows = db.session.scalars(sa.select(Attachment).where(Attachment.message_id == posted.message.id)
                              .order_by(Attachment.id)).all()
    assert [(r.filename, r.content_type) for r in rows] == [("scan.png", "image/png"), ("bill.pdf", "application/pdf")]
    assert rows[0].sha256 == hashlib.sha256(image).hexdigest()
    blob = db.session.get(StoredBlob, rows[0].sha256)
    assert blob.data == image and blob.size == len(image) and files.read_bytes(rows[0].sha256) == image
    tickets.post_message(t, author=patient, body="The same scan again", attachments=[files.Upload("again.png", image)])
    assert _count() == 3 and db.session.scalar(sa.select(sa.func.count()).select_from(StoredBlob)) == 2


@pytest.mark.parametrize("name,data", [("invoice.pdf", EXE), ("photo.png", HTML), ("x.pdf", b"%PD"),
                                       ("notes.txt", b"plain text")])
def test_types_are_checked_by_content_not_by_name(ctx, make_ticket, patient, name, data):
    t = make_ticket()
    n = len(t.messages)
    with pytest.raises(ValidationFailed):
        tickets.post_message(t, author=patient, body="file", attachments=[files.Upload(name, data)])
    db.session.refresh(t)
    assert len(t.messages) == n and _count() == 0  # the message is not posted either


def test_a_misnamed_but_real_pdf_gets_the_right_extension(ctx, make_ticket, patient):
    t = make_ticket()
    tickets.post_message(t, author=patient, body="x", attachments=[files.Upload("../../etc/passwd.png", pdf())])
    row = db.session.scalar(sa.select(Attachment))
    assert row.content_type == "application/pdf" and row.filename == "passwd.pdf"


def test_size_limits_per_file_per_message_and_count(ctx, make_ticket, patient, limits):
    t = make_ticket()
    limits(attachment_max_bytes=2048, attachment_max_message_bytes=3000, attachment_max_files=2)
    with pytest.raises(ValidationFailed, match="at most"):
        tickets.post_message(t, author=patient, body="x", attachments=[files.Upload("a.pdf", pdf(3000))])
    with pytest.raises(ValidationFailed, match="together"):
        tickets.post_message(t, author=patient, body="x",
                             attachments=[files.Upload("a.pdf", pdf(1500)), files.Upload("b.pdf", pdf(1600))])
    with pytest.raises(ValidationFailed, match="files per message"):
        tickets.post_message(t, author=patient, body="x", attachments=[files.Upload(f"{i}.png", png()) for i in range(3)])
    tickets.post_message(t, author=patient, body="x",
                         attachments=[files.Upload("a.pdf", pdf(1000)), files.Upload("b.png", png())])
    assert _count() == 2


def test_virus_scanner_hook(ctx, make_ticket, patient, limits):
    t = make_ticket()
    infected = pdf() + EICAR
    tickets.post_message(t, author=patient, body="x", attachments=[files.Upload("a.pdf", infected)])  # no-op default
    limits(attachment_scanner="tests.notify.scanners:refuse_eicar")
    with pytest.raises(ValidationFailed, match="virus"):
        tickets.post_message(t, author=patient, body="y", attachments=[files.Upload("b.pdf", infected)])
    tickets.post_message(t, author=patient, body="z", attachments=[files.Upload("c.pdf", pdf())])
    assert _count() == 2


def _attached(ticket, author, public=True, data=None):
    posted = tickets.post_message(ticket, author=author, body="file attached", public=public,
                                  attachments=[files.Upload("scan.png", data or png())])
    return db.session.scalar(sa.select(Attachment).where(Attachment.message_id == posted.message.id))


def test_download_triad_and_headers(ctx, client, make_ticket, patient, other_patient, agent, outsider_agent,
                                    portal):
    t = make_ticket()
    att = _attached(t, patient)
    url = f"/attachments/{att.id}"
    login(client, patient)
    r = client.get(url)
    assert r.status_code == 200 and r.data == png()
    assert r.mimetype == "image/png"
    assert r.headers["Content-Disposition"].startswith("attachment;") and "scan.png" in r.headers["Content-Disposition"]
    assert r.headers["X-Content-Type-Options"] == "nosniff" and "no-store" in r.headers["Cache-Control"]
    login(client, agent)
    assert client.get(url).status_code == 200
    login(client, other_patient)
    assert client.get(url).status_code == 404
    login(client, outsider_agent)
    assert client.get(url).status_code == 404
    assert client.get("/attachments/999999").status_code == 404
    login(client, portal[0])  # an integration account has no business on the web pages
    assert client.get(url).status_code == 403


def test_internal_note_files_are_never_shown_to_patients(ctx, client, make_ticket, patient, agent):
    t = make_ticket()
    note_file = _attached(t, agent, public=False, data=pdf())
    public_file = _attached(t, agent, public=True)
    login(client, patient)
    assert client.get(f"/attachments/{note_file.id}").status_code == 404
    page = client.get(f"/requests/{t.reference}").get_data(as_text=True)
    assert f"/attachments/{public_file.id}" in page and f"/attachments/{note_file.id}" not in page
    login(client, agent)
    assert client.get(f"/attachments/{note_file.id}").status_code == 200
    page = client.get(f"/agent/tickets/{t.reference}").get_data(as_text=True)
    assert f"/attachments/{note_file.id}" in page and f"/attachments/{public_file.id}" in page


def test_staff_downloads_are_audited(ctx, client, make_ticket, patient, agent):
    from helpdesk.audit import AuditEvent

    att = _attached(make_ticket(), patient)
    login(client, agent)
    client.get(f"/attachments/{att.id}")
    assert db.session.scalar(sa.select(sa.func.count()).where(AuditEvent.action == "attachment.downloaded",
                                                              AuditEvent.actor_id == agent.id)) == 1


def test_patient_and_agent_attach_through_the_web_forms(ctx, client, make_ticket, patient, agent):
    t = make_ticket()
    login(client, patient)
    r = client.post(f"/requests/{t.reference}/reply", content_type="multipart/form-data",
                    data={"body": "my statement", "attachments": [(io.BytesIO(pdf()), "statement.pdf")]})
    assert r.status_code == 302
    r = client.post(f"/requests/{t.reference}/reply", content_type="multipart/form-data",
                    data={"body": "a program", "attachments": [(io.BytesIO(EXE), "x.pdf")]})
    assert r.status_code == 422 and "Only images" in r.get_data(as_text=True)
    login(client, agent)
    r = client.post(f"/agent/tickets/{t.reference}/reply", content_type="multipart/form-data",
                    data={"body": "internal scan", "internal": "y", "attachments": [(io.BytesIO(png()), "s.png")]})
    assert r.status_code == 302
    rows = db.session.scalars(sa.select(Attachment).order_by(Attachment.id)).all()
    assert [r.filename for r in rows] == ["statement.pdf", "s.png"]
    note = db.session.get(Message, rows[1].message_id)
    assert note.public is False


def test_web_upload_over_the_message_limit_is_a_friendly_413(ctx, client, make_ticket, patient, limits):
    t = make_ticket()
    limits(attachment_max_message_bytes=4096, max_request_bytes=1024)
    login(client, patient)
    r = client.post(f"/requests/{t.reference}/reply", content_type="multipart/form-data",
                    data={"body": "big", "attachments": [(io.BytesIO(pdf(20_000)), "big.pdf")]})
    assert r.status_code == 413 and _count() == 0


def test_api_upload_and_download(ctx, client, make_ticket, patient, portal, agent):
    user, secret = portal
    t = tickets.create_ticket(requester=patient, subject="Question about my bill", channel=tickets.Channel.API,
                              body="I was charged twice for my visit on the statement.", created_by=user)
    r = client.post(f"/api/v1/tickets/{t.reference}/messages/with-attachments", headers=bearer(secret),
                    content_type="multipart/form-data",
                    data={"body": "photo of the bill", "attachments": [(io.BytesIO(png()), "bill.png")]})
    assert r.status_code == 201, r.json
    [info] = r.json["attachments"]
    assert info["content_type"] == "image/png"
    d = client.get(info["url"], headers=bearer(secret))
    assert d.status_code == 200 and d.data == png() and d.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get(info["url"]).status_code == 401
    # the request as the API shows it lists the file on its message, with the same address
    shown = client.get(f"/api/v1/tickets/{t.reference}", headers=bearer(secret)).json
    assert [m["attachments"] for m in shown["messages"] if m["attachments"]] == [[info]]
    bad = client.post(f"/api/v1/tickets/{t.reference}/messages/with-attachments", headers=bearer(secret),
                      content_type="multipart/form-data",
                      data={"body": "x", "attachments": [(io.BytesIO(EXE), "a.pdf")]})
    assert bad.status_code == 422 and bad.json["error"]["fields"]["attachments"]
    unknown = client.post(f"/api/v1/tickets/{t.reference}/messages/with-attachments", headers=bearer(secret),
                          content_type="multipart/form-data", data={"body": "x", "evil": "1"})
    assert unknown.status_code == 422
    other = tickets.create_ticket(requester=patient, subject="Another", body="Another billing question please",
                                  channel=tickets.Channel.WEB, created_by=patient)
    r = client.post(f"/api/v1/tickets/{other.reference}/messages/with-attachments", headers=bearer(secret),
                    content_type="multipart/form-data", data={"body": "x"})
    assert r.status_code == 404  # not created by this integration
    assert _count() == 1


def test_files_on_internal_notes_are_listed_for_staff_only(ctx, client, make_ticket, patient, portal, agent):
    user, secret = portal
    t = tickets.create_ticket(requester=patient, subject="Question about my bill", channel=tickets.Channel.API,
                              body="I was charged twice for my visit on the statement.", created_by=user)
    tickets.post_message(t, author=agent, body="Scan of the ledger", public=False,
                         attachments=[files.Upload("ledger.pdf", pdf())])
    portal_view = client.get(f"/api/v1/tickets/{t.reference}", headers=bearer(secret)).json
    assert all(m["attachments"] == [] for m in portal_view["messages"])
    _, agent_secret = create_api_token(actor=None, name="agent-tools", user=agent)
    staff_view = client.get(f"/api/v1/tickets/{t.reference}", headers=bearer(agent_secret)).json
    assert [a["filename"] for m in staff_view["messages"] for a in m["attachments"]] == ["ledger.pdf"]


def test_files_left_by_a_rolled_back_transaction_are_swept(ctx, app, make_ticket, patient, limits, tmp_path):
    """Filesystem backend: a file written by a transaction that then rolled back stays
    on disk until the sweep removes it (after the grace period)."""
    import os
    import time

    from helpdesk.db import rollback

    limits(storage_backend="filesystem", storage_dir=tmp_path)  # a directory of its own
    disk = FilesystemStorage(tmp_path)
    t = make_ticket()
    kept_bytes = png()
    tickets.post_message(t, author=patient, body="With a file", attachments=[files.Upload("scan.png", kept_bytes)])
    kept = disk.path(hashlib.sha256(kept_bytes).hexdigest())
    assert kept.read_bytes() == kept_bytes and kept.parent.name == kept.name[:2]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StoredBlob)) == 0  # not in the database
    # A file written by a transaction that then rolled back: nothing refers to it.
    orphan = disk.path(files.store_bytes(pdf() + b"% rolled back"))
    rollback()
    fresh_orphan = disk.path(files.store_bytes(pdf() + b"% still in flight"))
    two_hours_ago = time.time() - 7200
    for path in (kept, orphan):
        os.utime(path, (two_hours_ago, two_hours_ago))

    assert files.sweep_orphans(grace_seconds=3600) == 1
    assert kept.exists() and not orphan.exists()
    assert fresh_orphan.exists()  # too young: its transaction may still commit

    os.utime(fresh_orphan, (two_hours_ago, two_hours_ago))
    result = app.test_cli_runner().invoke(args=["mail", "sweep-files"])
    assert result.exit_code == 0 and "1 unreferenced file(s) removed" in result.output
    assert not fresh_orphan.exists() and kept.exists()
    assert files.sweep_orphans(grace_seconds=0) == 0  # the referenced file is never touched
    assert kept.exists()


def test_database_blobs_roll_back_with_their_message_and_unreferenced_ones_are_swept(ctx, make_ticket, patient):
    from datetime import timedelta

    from helpdesk.db import rollback, unit_of_work
    from helpdesk.timeutil import utcnow

    t = make_ticket()
    kept_bytes = png()
    tickets.post_message(t, author=patient, body="With a file", attachments=[files.Upload("scan.png", kept_bytes)])
    files.store_bytes(pdf() + b"% rolled back")  # in a transaction that then rolls back
    rollback()
    assert db.session.scalars(sa.select(StoredBlob.sha256)).all() == [hashlib.sha256(kept_bytes).hexdigest()]

    # Bytes nothing refers to any more (their ticket deleted), stored two hours ago.
    with unit_of_work():
        orphan = files.store_bytes(pdf() + b"% its ticket was deleted")
    with unit_of_work():
        fresh = files.store_bytes(pdf() + b"% still in flight")
        db.session.execute(sa.update(StoredBlob).where(StoredBlob.sha256 != fresh)
                           .values(stored_at=utcnow() - timedelta(hours=2)))
    assert files.sweep_orphans(grace_seconds=3600) == 1
    left = set(db.session.scalars(sa.select(StoredBlob.sha256)))
    assert orphan not in left and fresh in left and hashlib.sha256(kept_bytes).hexdigest() in left
    # storing the same content again renews it: an upload in flight keeps bytes the sweep would take
    with unit_of_work():
        db.session.execute(sa.update(StoredBlob).values(stored_at=utcnow() - timedelta(hours=2)))
        files.store_bytes(pdf() + b"% still in flight")
    assert files.sweep_orphans(grace_seconds=3600) == 0
    assert files.sweep_orphans(grace_seconds=0) == 1  # now only the referenced one is left
    assert db.session.scalars(sa.select(StoredBlob.sha256)).all() == [hashlib.sha256(kept_bytes).hexdigest()]
