"""The IMAP poll against a real IMAP server (pymap, run in a subprocess with its
in-memory backend): unseen messages are ingested once and marked seen."""

from __future__ import annotations

import imaplib
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from helpdesk.extensions import db
from helpdesk.notify import inbound
from helpdesk.notify.models import InboundMail, InboundStatus
from helpdesk.tickets.models import Channel, Ticket
from tests.factories import run_jobs
from tests.mailserver import free_port
from tests.notify.test_inbound import mail

PYMAP = shutil.which("pymap") or str(Path(sys.executable).with_name("pymap"))


@pytest.fixture
def imap_server():
    if not Path(PYMAP).exists():
        pytest.skip("pymap (a real IMAP server, dev dependency) is not installed")
    port = free_port()
    proc = subprocess.Popen([PYMAP, "--host", "127.0.0.1", "--port", str(port), "--no-tls", "dict"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _append(port: int, raw: bytes) -> None:
    client = imaplib.IMAP4("127.0.0.1", port, timeout=5)
    try:
        client.login("demouser", "demopass")
        typ, _ = client.append("INBOX", None, None, raw)
        assert typ == "OK"
    finally:
        client.logout()


def _unseen(port: int) -> int:
    client = imaplib.IMAP4("127.0.0.1", port, timeout=5)
    try:
        client.login("demouser", "demopass")
        client.select("INBOX")
        _typ, data = client.uid("search", None, "UNSEEN")
        return len((data[0] or b"").split())
    finally:
        client.logout()


def test_poll_ingests_unseen_mail_once(configure, ctx, queues, imap_server):
    _append(imap_server, mail("imap.patient@patient.example").as_bytes())
    _append(imap_server, mail("robot@patient.example", Auto_Submitted="auto-replied").as_bytes())
    with configure(imap_host="127.0.0.1", imap_port=imap_server, imap_security="none", imap_username="demouser",
                   imap_password="demopass"):
        assert inbound.poll_imap() == 2
        run_jobs()
        assert _unseen(imap_server) == 0
        assert inbound.poll_imap() == 0  # nothing new: nothing ingested twice
    rows = db.session.scalars(sa.select(InboundMail).order_by(InboundMail.id)).all()
    assert [(r.source, r.status) for r in rows] == [("imap", InboundStatus.CREATED), ("imap", InboundStatus.IGNORED)]
    ticket = db.session.scalar(sa.select(Ticket))
    assert ticket.channel == Channel.EMAIL and ticket.requester.email == "imap.patient@patient.example"


def test_poll_with_wrong_credentials_fails_loudly_and_loses_nothing(configure, ctx, queues, imap_server):
    _append(imap_server, mail("imap2@patient.example").as_bytes())
    with configure(imap_host="127.0.0.1", imap_port=imap_server, imap_security="none", imap_username="demouser",
                   imap_password="wrong"), pytest.raises(imaplib.IMAP4.error):
        inbound.poll_imap()  # the job fails (and is retried by the outbox), the mail stays unseen
    assert _unseen(imap_server) == 1
