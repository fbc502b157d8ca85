"""How alerts reach people: a PHI-free e-mail over real SMTP, and the signed pager POST
received by a real local HTTP server that checks the signature."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa

from helpdesk import jobs
from helpdesk.audit import AuditEvent
from helpdesk.clinical import pager
from helpdesk.clinical.models import AlertRecipient, ClinicalAlert
from helpdesk.extensions import db
from helpdesk.jobs import OutboxJob
from helpdesk.notify import mail as mailer
from helpdesk.timeutil import simulated_clock, utcnow

SECRET = "pager-secret-" + "s" * 20  # noqa: S105 (a test value)
PHI_WORDS = ("chest", "breathe", "father", "Maria", "Lopez")


class PagerReceiver(BaseHTTPRequestHandler):
    """Checks each page's signature and freshness as a real receiver would."""

    received: list[dict] = []
    fail_next = 0

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        stamp = self.headers[pager.TIMESTAMP_HEADER]
        ok = pager.verify(SECRET, stamp, body, self.headers[pager.SIGNATURE_HEADER]) and abs(
            time.time() - int(stamp)) < 300
        if PagerReceiver.fail_next > 0:
            PagerReceiver.fail_next -= 1
            self.send_response(503)
        elif not ok:
            self.send_response(401)
        else:
            PagerReceiver.received.append({"body": body, "payload": json.loads(body),
                                           "content_type": self.headers["Content-Type"]})
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture
def pager_server(configure):
    PagerReceiver.received, PagerReceiver.fail_next = [], 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), PagerReceiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/page"
    configure(pager_webhook_url=url, pager_webhook_secret=SECRET)
    yield PagerReceiver
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body():
    import hashlib
    import hmac

    body = pager.encode({"alert_id": 1})
    expected = "sha256=" + hmac.new(b"k" * 16, b"1700000000." + body, hashlib.sha256).hexdigest()
    assert pager.signature("k" * 16, "1700000000", body) == expected
    assert pager.verify("k" * 16, "1700000000", body, expected)
    assert not pager.verify("k" * 16, "1700000001", body, expected)
    assert not pager.verify("x" * 16, "1700000000", body, expected)


def test_every_person_alerted_is_paged_with_a_signed_phi_free_post(ctx, pager_server, make_clinician, emergency,
                                                                   supervisor):
    nurse = make_clinician("Nora Nurse")
    t = emergency()
    from tests.factories import run_jobs

    run_jobs()
    [page] = pager_server.received
    payload = page["payload"]
    alert = db.session.scalar(sa.select(ClinicalAlert))
    assert page["content_type"] == "application/json"
    assert payload["alert_id"] == alert.id and payload["ticket_reference"] == t.reference
    assert payload["level"] == "clinician" and payload["reason"] == "on_duty" and payload["round"] == 0
    assert payload["recipient"] == {"user_id": nurse.id, "role": "agent"}
    assert set(payload) == {"alert_id", "ticket_reference", "level", "round", "reason", "recipient", "raised_at",
                            "notified_at", "sent_at"}
    for word in PHI_WORDS:
        assert word.lower() not in page["body"].decode().lower()
    db.session.expire_all()
    recipient = db.session.scalar(sa.select(AlertRecipient))
    assert recipient.pager_status == "sent" and recipient.pager_sent_at is not None
    assert recipient.channels == ["banner", "email", "pager"]
    assert db.session.scalar(sa.select(AuditEvent.action).where(AuditEvent.action == "clinical.alert_paged"))
    # the job again: nothing sent twice
    from helpdesk.clinical.tasks import page_recipient

    assert page_recipient(recipient.id) == "done" and len(pager_server.received) == 1


def test_a_refused_page_is_retried_through_the_outbox(ctx, app, pager_server, make_clinician, emergency):
    if app.config["HELPDESK"].redis_url:
        pytest.skip("inline outbox retry (RQ's own Retry schedules it with Redis)")
    make_clinician("Nora Nurse")
    pager_server.fail_next = 1
    emergency()
    assert pager_server.received == []
    db.session.expire_all()
    recipient = db.session.scalar(sa.select(AlertRecipient))
    assert recipient.pager_status == "retrying"
    row = db.session.scalar(sa.select(OutboxJob).where(OutboxJob.func == "helpdesk.clinical.tasks.page_recipient"))
    assert row.attempts == 1 and row.last_error == "PagerError" and not row.failed
    jobs.sweep_outbox(grace=timedelta(0))  # too early: the retry waits out its back-off
    assert pager_server.received == []
    later = utcnow() + timedelta(seconds=jobs.RETRY_INTERVALS[0] + 1)
    with simulated_clock(lambda: later):
        jobs.sweep_outbox(grace=timedelta(0))  # the periodic safety net, once the retry is due
    assert len(pager_server.received) == 1
    db.session.expire_all()
    assert db.session.scalar(sa.select(AlertRecipient)).pager_status == "sent"


def test_no_pager_url_no_pager_job(ctx, make_clinician, emergency):
    make_clinician("Nora Nurse")
    emergency()
    recipient = db.session.scalar(sa.select(AlertRecipient))
    assert recipient.pager_status is None and recipient.channels == ["banner", "email"]
    assert db.session.scalar(sa.select(sa.func.count(OutboxJob.id)).where(
        OutboxJob.func == "helpdesk.clinical.tasks.page_recipient")) == 0


@pytest.mark.parametrize("lang", ["en", "es"])
def test_the_alert_email_reaches_smtp_and_carries_no_phi(ctx, smtp_server, use_smtp, make_clinician, emergency,
                                                         lang):
    use_smtp(smtp_server.controller.port)
    nurse = make_clinician("Nora Nurse")
    nurse.language = lang
    db.session.commit()
    t = emergency()
    mailer.sweep_mail()
    from tests.factories import run_jobs

    run_jobs()
    alert_mails = [m for m in smtp_server.messages if m["To"] == nurse.email]
    assert len(alert_mails) == 1
    message = alert_mails[0]
    text = message["Subject"] + "\n" + message.get_content()
    assert t.reference in message["Subject"]
    assert ("Clinical alert" if lang == "en" else "Alerta clínica") in message["Subject"]
    assert f"/agent/tickets/{t.reference}" in text
    for word in PHI_WORDS:
        assert word.lower() not in text.lower()


def test_config_requires_a_secret_with_the_pager_url():
    from helpdesk.config import ConfigError, Settings

    base = {"HELPDESK_ENV": "testing"}
    assert Settings.from_env(base).pager_webhook_url is None
    with pytest.raises(ConfigError, match="PAGER_WEBHOOK_SECRET"):
        Settings.from_env({**base, "PAGER_WEBHOOK_URL": "https://pager.example/hook"})
    with pytest.raises(ConfigError, match="PAGER_WEBHOOK_SECRET"):
        Settings.from_env({**base, "PAGER_WEBHOOK_URL": "https://pager.example/hook", "PAGER_WEBHOOK_SECRET": "short"})
    with pytest.raises(ConfigError, match="PAGER_WEBHOOK_URL"):
        Settings.from_env({**base, "PAGER_WEBHOOK_URL": "ftp://pager.example/hook", "PAGER_WEBHOOK_SECRET": SECRET})
    s = Settings.from_env({**base, "PAGER_WEBHOOK_URL": "https://pager.example/hook", "PAGER_WEBHOOK_SECRET": SECRET})
    assert s.pager_webhook_url == "https://pager.example/hook" and s.pager_webhook_secret == SECRET
