"""Virus scanning with a real clamd: started here on a temporary unix socket, with a
database directory that holds one signature of our own (the EICAR test string, as a
body signature: no download, freshclam is not needed), stopped by its pid.

Without clamd installed these tests are skipped, unless HELPDESK_REQUIRE_BROWSER or CI
is set (as for the browser tests): then they fail, since CI installs clamav-daemon.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from helpdesk.clamav import Clamd, ClamdUnavailable
from helpdesk.config import ConfigError, Settings
from helpdesk.errors import ValidationFailed
from helpdesk.extensions import db
from helpdesk.notify import attachments as files
from helpdesk.notify import inbound
from helpdesk.notify.models import Attachment, InboundStatus
from helpdesk.storage import StoredBlob
from helpdesk.tickets import services as tickets
from tests.factories import login, run_jobs
from tests.notify.samples import pdf, png
from tests.notify.scanners import EICAR
from tests.notify.test_inbound import mail


def clamd_path() -> str | None:
    return shutil.which("clamd") or next((p for p in ("/usr/sbin/clamd", "/usr/local/sbin/clamd")
                                          if os.access(p, os.X_OK)), None)


class RunningClamd:
    def __init__(self, directory: Path, process: subprocess.Popen) -> None:
        self.directory, self.process = directory, process
        self.address = str(directory / "clamd.sock")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def start_clamd(extra: str = "") -> RunningClamd:
    path = clamd_path()
    if path is None:
        if os.environ.get("HELPDESK_REQUIRE_BROWSER") or os.environ.get("CI"):
            pytest.fail("clamd is required for the virus-scanner tests (apt-get install clamav-daemon)")
        pytest.skip("clamd not installed (apt-get install clamav-daemon)")
    directory = Path(tempfile.mkdtemp(prefix="clamd-"))  # short: a unix socket path is at most 107 bytes
    (directory / "db").mkdir()
    (directory / "db" / "helpdesk-test.ndb").write_text(f"Helpdesk.Test.EICAR:0:*:{EICAR.hex()}\n")
    (directory / "clamd.conf").write_text(
        f"LocalSocket {directory / 'clamd.sock'}\n"
        f"DatabaseDirectory {directory / 'db'}\n"
        f"TemporaryDirectory {directory}\n"
        f"LogFile {directory / 'clamd.log'}\n"
        "Foreground yes\n"
        "SelfCheck 0\n" + extra
    )
    process = subprocess.Popen([path, "-c", str(directory / "clamd.conf")], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    running = RunningClamd(directory, process)
    deadline = time.monotonic() + 60
    while True:
        try:
            if Clamd(running.address, timeout=2).ping():
                return running
        except ClamdUnavailable:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            log = (directory / "clamd.log").read_text() if (directory / "clamd.log").exists() else ""
            running.stop()
            shutil.rmtree(directory, ignore_errors=True)
            pytest.fail(f"clamd did not start: {log[-2000:]}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def clamd():
    running = start_clamd()
    yield running
    running.stop()
    shutil.rmtree(running.directory, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Attachment))


# ------------------------------------------------------------------ the client


@pytest.mark.pure
def test_client_clean_and_infected(clamd):
    client = Clamd(clamd.address)
    assert client.scan(pdf()) is None
    assert client.scan(pdf() + EICAR + b"\n%%EOF") == "Helpdesk.Test.EICAR.UNOFFICIAL"
    big = pdf(300_000)  # several chunks
    assert client.scan(big) is None and client.scan(big[:150_000] + EICAR + big[150_000:]) is not None


@pytest.mark.pure
def test_client_unreachable_and_over_the_size_limit(tmp_path):
    with pytest.raises(ClamdUnavailable, match="cannot connect"):
        Clamd(str(tmp_path / "no.sock"), timeout=1).scan(pdf())
    with pytest.raises(ClamdUnavailable, match="cannot connect"):
        Clamd(f"127.0.0.1:{_free_port()}", timeout=1).ping()
    small = start_clamd("StreamMaxLength 4K\n")
    try:
        with pytest.raises(ClamdUnavailable, match="StreamMaxLength"):
            Clamd(small.address).scan(pdf(20_000))
        assert Clamd(small.address).scan(pdf(1000)) is None
    finally:
        small.stop()
        shutil.rmtree(small.directory, ignore_errors=True)


@pytest.mark.pure
def test_clamd_address_setting():
    base = {"HELPDESK_ENV": "testing"}
    assert Settings.from_env(base).clamd_address is None
    assert Settings.from_env({**base, "CLAMD_ADDRESS": "/run/clamav/clamd.ctl"}).clamd_address == "/run/clamav/clamd.ctl"
    assert Settings.from_env({**base, "CLAMD_ADDRESS": "clamav:3310"}).clamd_address == "clamav:3310"
    assert Clamd("tcp://clamav:3310").target == ("clamav", 3310)
    assert Clamd("unix:///run/clamd.sock").target == "/run/clamd.sock"
    for bad in ("clamav", "clamav:port", "host:70000", ":3310"):
        with pytest.raises(ConfigError, match="CLAMD_ADDRESS"):
            Settings.from_env({**base, "CLAMD_ADDRESS": bad})
    with pytest.raises(ConfigError, match="not both"):
        Settings.from_env({**base, "CLAMD_ADDRESS": "/run/clamd.sock", "ATTACHMENT_SCANNER": "tests.x:y"})
    assert Settings.from_env({**base, "CLAMD_TIMEOUT": "5"}).clamd_timeout == 5.0


# ------------------------------------------------------------------ uploads


def test_clean_files_are_accepted_and_infected_ones_refused(ctx, clamd, configure, make_ticket, patient, caplog):
    configure(clamd_address=clamd.address)
    t = make_ticket()
    tickets.post_message(t, author=patient, body="clean", attachments=[files.Upload("bill.pdf", pdf())])
    n = len(t.messages)
    with caplog.at_level(logging.INFO), pytest.raises(ValidationFailed, match="refused by the virus scanner"):
        tickets.post_message(t, author=patient, body="infected",
                             attachments=[files.Upload("my-lab-results.pdf", pdf() + EICAR)])
    db.session.refresh(t)
    assert len(t.messages) == n and _count() == 1  # the message is not posted either
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StoredBlob)) == 1
    assert "clamd found Helpdesk.Test.EICAR.UNOFFICIAL" in caplog.text and "my-lab-results" not in caplog.text


def test_a_patient_sees_the_friendly_error_on_the_form(ctx, client, clamd, configure, make_ticket, patient):
    configure(clamd_address=clamd.address)
    t = make_ticket()
    login(client, patient)
    r = client.post(f"/requests/{t.reference}/reply", content_type="multipart/form-data",
                    data={"body": "x", "attachments": [(io.BytesIO(pdf() + EICAR), "a.pdf")]})
    assert r.status_code == 422 and "A file was refused by the virus scanner." in r.get_data(as_text=True)
    r = client.post(f"/requests/{t.reference}/reply", content_type="multipart/form-data",
                    data={"body": "x", "attachments": [(io.BytesIO(png()), "a.png")]})
    assert r.status_code == 302 and _count() == 1


def test_clamd_unreachable_fails_closed(ctx, client, configure, make_ticket, patient, tmp_path, caplog, portal):
    configure(clamd_address=str(tmp_path / "clamd.sock"), clamd_timeout=1.0)
    t = make_ticket()
    with caplog.at_level(logging.INFO), pytest.raises(files.ScannerUnavailable, match="not available"):
        tickets.post_message(t, author=patient, body="x", attachments=[files.Upload("my-x-ray.png", png())])
    assert _count() == 0
    assert f"clamd at {tmp_path / 'clamd.sock'}" in caplog.text and "my-x-ray" not in caplog.text
    login(client, patient)
    r = client.post(f"/requests/{t.reference}/reply", content_type="multipart/form-data",
                    data={"body": "x", "attachments": [(io.BytesIO(png()), "a.png")]})
    assert r.status_code == 422 and "The virus scanner is not available right now" in r.get_data(as_text=True)
    # a message without files still goes through
    r = client.post(f"/requests/{t.reference}/reply", data={"body": "no file this time"})
    assert r.status_code == 302
    configure(clamd_address=f"127.0.0.1:{_free_port()}")
    with pytest.raises(files.ScannerUnavailable):
        tickets.post_message(t, author=patient, body="x", attachments=[files.Upload("a.pdf", pdf())])
    assert _count() == 0


def test_clamd_that_stops_refuses_from_then_on(ctx, configure, make_ticket, patient):
    running = start_clamd()
    try:
        configure(clamd_address=running.address, clamd_timeout=2.0)
        t = make_ticket()
        tickets.post_message(t, author=patient, body="x", attachments=[files.Upload("a.pdf", pdf())])
        running.stop()
        with pytest.raises(files.ScannerUnavailable):
            tickets.post_message(t, author=patient, body="y", attachments=[files.Upload("b.png", png())])
        assert _count() == 1
    finally:
        running.stop()
        shutil.rmtree(running.directory, ignore_errors=True)


def _mail_with(data: bytes, frm: str = "jane@patient.example"):
    msg = mail(frm)
    msg.add_attachment(data, maintype="application", subtype="pdf", filename="scan.pdf")
    return msg.as_bytes()


def test_inbound_mail_is_held_while_clamd_is_down_then_released(ctx, client, clamd, configure, queues, admin,
                                                                 tmp_path):
    configure(clamd_address=str(tmp_path / "down.sock"), clamd_timeout=1.0)
    row = inbound.ingest(_mail_with(pdf()))
    assert row.status == InboundStatus.HELD and row.reason == "scanner_unavailable" and row.ticket_id is None
    configure(clamd_address=clamd.address)
    login(client, admin)
    r = client.post(f"/admin/mail/{row.id}/release")
    assert r.status_code == 302
    run_jobs()
    db.session.expire_all()
    assert row.status == InboundStatus.RELEASED and row.ticket_id is not None
    assert db.session.scalar(sa.select(Attachment.filename).where(Attachment.ticket_id == row.ticket_id)) == "scan.pdf"
    # an infected attachment is left out, the mail itself goes through
    other = inbound.ingest(_mail_with(pdf() + EICAR, frm="john@patient.example"))
    assert other.status == InboundStatus.CREATED and "1 attachment(s) left out" in other.note
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Attachment)
                             .where(Attachment.ticket_id == other.ticket_id)) == 0


# ------------------------------------------------------------------ the admin page


def test_the_admin_page_tells_the_scanner_state(ctx, client, clamd, configure, admin, tmp_path):
    login(client, admin)
    page = client.get("/admin/system").get_data(as_text=True)
    assert "No virus scanner configured." in page and "database (table stored_blobs)" in page
    configure(clamd_address=clamd.address)
    page = client.get("/admin/system").get_data(as_text=True)
    assert f"ClamAV at <code>{clamd.address}</code> answered." in page
    configure(clamd_address=str(tmp_path / "gone.sock"))
    page = client.get("/admin/system").get_data(as_text=True)
    assert f"ClamAV at <code>{tmp_path / 'gone.sock'}</code> unreachable" in page and "cannot connect" in page
    configure(clamd_address=None, attachment_scanner="tests.notify.scanners:refuse_eicar")
    page = client.get("/admin/system").get_data(as_text=True)
    assert "A scanner hook is configured" in page and "No virus scanner configured" not in page
