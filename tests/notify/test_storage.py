"""Stored files on several hosts: attachments and raw mail written through one app are
served by another with its own instance directory (database backend); the filesystem
backend round trip; the migration that moves the old files of this host into the
database and reports the ones it can't find; ``flask storage check / import-files``."""

from __future__ import annotations

import hashlib
import io
import shutil
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade
from sqlalchemy.engine import make_url

from helpdesk import storage
from helpdesk.config import ConfigError, Settings
from helpdesk.extensions import db
from helpdesk.notify import attachments as files
from helpdesk.notify import inbound
from helpdesk.notify.models import Attachment, InboundMail
from helpdesk.storage import BlobMissing, FilesystemStorage, StoredBlob
from helpdesk.tickets import services as tickets
from tests.conftest import ROOT
from tests.factories import QUEUES, accounts, login
from tests.notify.samples import pdf, png
from tests.notify.test_inbound import mail

MIGRATIONS = str(ROOT / "migrations")
BEFORE = "e1c2a3b4d5f6"  # the revision before stored_blobs
TOKEN = "inbound-token-for-tests-0123456789"


def _files_under(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file()] if path.exists() else []


def test_upload_through_one_host_download_through_another(ctx, make_app, tmp_path, make_ticket, patient, agent,
                                                            admin):
    """Two apps on the same database, each with an instance directory of its own (no
    shared disk): what host A stored, host B serves."""
    host_a = make_app(instance_path=tmp_path / "a", inbound_token=TOKEN, WTF_CSRF_ENABLED=False)
    host_b = make_app(instance_path=tmp_path / "b", WTF_CSRF_ENABLED=False)
    t = make_ticket()
    a, b = host_a.test_client(), host_b.test_client()
    login(a, patient)
    r = a.post(f"/requests/{t.reference}/reply", content_type="multipart/form-data",
               data={"body": "my statement", "attachments": [(io.BytesIO(pdf()), "statement.pdf")]})
    assert r.status_code == 302
    row = db.session.scalar(sa.select(Attachment))
    raw = mail("jane@patient.example").as_bytes()
    r = a.post("/api/v1/inbound-mail", data=raw, content_type="message/rfc822",
               headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 202
    mail_id = r.json["id"]

    login(b, agent)
    d = b.get(f"/attachments/{row.id}")
    assert d.status_code == 200 and d.data == pdf() and d.mimetype == "application/pdf"
    login(b, admin)
    d = b.get(f"/admin/mail/{mail_id}/raw")
    assert d.status_code == 200 and d.mimetype == "message/rfc822" and d.data == raw
    # neither host wrote a file: the bytes are in the database
    assert _files_under(tmp_path / "a") == [] and _files_under(tmp_path / "b") == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StoredBlob)) == 2


def test_missing_bytes_are_a_404_not_a_500(ctx, client, make_ticket, patient, agent, admin, queues):
    t = make_ticket()
    posted = tickets.post_message(t, author=patient, body="x", attachments=[files.Upload("a.png", png())])
    row = db.session.scalar(sa.select(Attachment).where(Attachment.message_id == posted.message.id))
    mail_row = inbound.ingest(mail("jane@patient.example").as_bytes())
    with db.session.begin_nested():
        db.session.execute(sa.delete(StoredBlob))
    db.session.commit()
    with pytest.raises(BlobMissing):
        inbound.read_raw(mail_row)
    login(client, agent)
    assert client.get(f"/attachments/{row.id}").status_code == 404
    login(client, admin)
    assert client.get(f"/admin/mail/{mail_row.id}/raw").status_code == 404
    result = client.application.test_cli_runner().invoke(args=["storage", "check"])
    assert result.exit_code == 1
    assert f"missing: attachment {row.id}" in result.output and f"missing: inbound mail {mail_row.id}" in result.output


def test_filesystem_backend_round_trip(ctx, client, configure, tmp_path, make_ticket, patient, agent, admin):
    shared = tmp_path / "shared"
    configure(storage_backend="filesystem", storage_dir=shared)
    t = make_ticket()
    login(client, patient)
    r = client.post(f"/requests/{t.reference}/reply", content_type="multipart/form-data",
                    data={"body": "photo", "attachments": [(io.BytesIO(png()), "photo.png")]})
    assert r.status_code == 302
    row = db.session.scalar(sa.select(Attachment))
    raw = mail("jane@patient.example").as_bytes()
    mail_row = inbound.ingest(raw)
    disk = FilesystemStorage(shared)
    assert disk.get(row.sha256) == png() and disk.get(mail_row.raw_sha256) == raw
    assert disk.path(row.sha256) == shared / row.sha256[:2] / row.sha256
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StoredBlob)) == 0
    login(client, agent)
    assert client.get(f"/attachments/{row.id}").data == png()
    login(client, admin)
    assert client.get(f"/admin/mail/{mail_row.id}/raw").data == raw
    page = client.get("/admin/system").get_data(as_text=True)
    assert f"filesystem ({shared})" in page and "must mount this same directory" in page
    disk.delete(row.sha256)
    assert not disk.exists(row.sha256)
    login(client, agent)
    assert client.get(f"/attachments/{row.id}").status_code == 404


def test_storage_rejects_keys_that_are_not_hashes(ctx, tmp_path):
    for backend in (storage.DatabaseStorage(), FilesystemStorage(tmp_path)):
        for key in ("../../etc/passwd", "A" * 64, "", "0" * 63):
            with pytest.raises(ValueError):
                backend.get(key)


# ------------------------------------------------------------------ the migration


@pytest.fixture
def scratch_database(app, tmp_path):
    """A database of its own for migrating up and down: a SQLite file, or a PostgreSQL
    database of its own on the test server (the migrations create extensions, which
    belong to a database; dropped after)."""
    url = app.config["HELPDESK"].database_url
    if not url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'scratch.db'}"
        return
    server = make_url(url)
    name = f"scratch_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_migration_copies_this_hosts_files_into_the_database_and_reports_the_missing(
        make_app, scratch_database, tmp_path, capfd):
    instance = tmp_path / "old-host"
    old_dir = instance / "attachments"
    # Before: the files on this host's disk, as the old code kept them (same layout).
    before = make_app(database_url=scratch_database, instance_path=instance, storage_backend="filesystem",
                      storage_dir=old_dir)
    with before.app_context():
        upgrade(directory=MIGRATIONS)
        for slug, name, d in QUEUES:
            accounts.create_queue(actor=None, slug=slug, name=name, description=d)
        patient = accounts.create_user(actor=None, email="p@example.org", name="Pat", role="patient",
                                       password="copper lantern meadow 42")
        t = tickets.create_ticket(requester=patient, subject="Question about my bill", channel=tickets.Channel.WEB,
                                  body="I was charged twice for my visit on the statement.", created_by=patient,
                                  attachments=[files.Upload("a.pdf", pdf()), files.Upload("b.png", png())])
        raw = mail("jane@patient.example").as_bytes()
        mail_id = inbound.ingest(raw).id
        png_row = db.session.scalar(sa.select(Attachment).where(Attachment.ticket_id == t.id,
                                                                 Attachment.content_type == "image/png"))
        png_id, png_key = png_row.id, png_row.sha256
        assert db.session.scalar(sa.select(sa.func.count()).select_from(StoredBlob)) == 0
        db.session.remove()
        downgrade(directory=MIGRATIONS, revision=BEFORE)  # the schema of the old code
    assert len(_files_under(old_dir)) == 3
    # One file is on another host's disk only.
    elsewhere = tmp_path / "other-host"
    (elsewhere / png_key[:2]).mkdir(parents=True)
    shutil.move(old_dir / png_key[:2] / png_key, elsewhere / png_key[:2] / png_key)
    capfd.readouterr()

    after = make_app(database_url=scratch_database, instance_path=instance)  # storage_backend: the database
    with after.app_context():
        upgrade(directory=MIGRATIONS)
        log = capfd.readouterr().err
        assert f"2 copied from {old_dir} into the database" in log
        assert f"1 file(s) not found under {old_dir} (attachment {png_id})" in log
        assert "a.pdf" not in log and "b.png" not in log  # ids only, no names
        assert inbound.read_raw(db.session.get(InboundMail, mail_id)) == raw
        assert files.read_bytes(db.session.scalar(sa.select(Attachment.sha256).where(
            Attachment.content_type == "application/pdf"))) == pdf()
        assert files.missing_files() == [f"attachment {png_id}"]
        runner = after.test_cli_runner()
        result = runner.invoke(args=["storage", "import-files", str(elsewhere)])
        assert result.exit_code == 0 and "1 file(s) copied; 0 still missing" in result.output
        result = runner.invoke(args=["storage", "check"])
        assert result.exit_code == 0 and "0 stored file(s) missing" in result.output
        assert files.read_bytes(png_key) == png()
        # the files can go: the database has them (and a second run copies nothing)
        shutil.rmtree(old_dir)
        db.session.remove()
        # downgrade writes them back where the old code looks
        downgrade(directory=MIGRATIONS, revision=BEFORE)
        assert sorted(p.name for p in _files_under(old_dir)) == sorted(
            [png_key, hashlib.sha256(pdf()).hexdigest(), hashlib.sha256(raw).hexdigest()])
        capfd.readouterr()
        upgrade(directory=MIGRATIONS)  # again: the rows are there, nothing is missing
        assert f"3 copied from {old_dir} into the database" in capfd.readouterr().err
        assert files.missing_files() == []
        db.session.remove()
        db.engine.dispose()


def test_the_old_directory_can_be_given_with_attachment_dir(make_app, scratch_database, tmp_path, capfd, monkeypatch):
    """ATTACHMENT_DIR (the old setting) tells the migration where the files were."""
    given = tmp_path / "srv-files"
    given.mkdir()
    monkeypatch.setenv("ATTACHMENT_DIR", str(given))
    app = make_app(database_url=scratch_database, instance_path=tmp_path / "inst")
    with app.app_context():
        upgrade(directory=MIGRATIONS)
        assert f"0 copied from {given} into the database" in capfd.readouterr().err
        db.session.remove()
        db.engine.dispose()


@pytest.mark.pure
def test_storage_settings():
    base = {"HELPDESK_ENV": "testing"}
    assert Settings.from_env(base).storage_backend == "database"
    shared = Settings.from_env({**base, "STORAGE_BACKEND": "filesystem", "STORAGE_DIR": "/srv/helpdesk-files"})
    assert (shared.storage_backend, shared.storage_dir) == ("filesystem", Path("/srv/helpdesk-files"))
    assert isinstance(storage.for_settings(shared), FilesystemStorage)
    assert isinstance(storage.for_settings(Settings.from_env(base)), storage.DatabaseStorage)
    with pytest.raises(ConfigError, match="STORAGE_DIR must be set"):
        Settings.from_env({**base, "STORAGE_BACKEND": "filesystem"})
    with pytest.raises(ConfigError, match="STORAGE_BACKEND must be one of"):
        Settings.from_env({**base, "STORAGE_BACKEND": "s3"})
