"""Outgoing mail through a real SMTP server: headers, stored mode, retries with
back-off when the server refuses, failure after N attempts, the admin outbox."""

from __future__ import annotations

import sqlalchemy as sa

from helpdesk.db import commit
from helpdesk.extensions import db
from helpdesk.notify import mail as _mailer
from helpdesk.notify.models import MailStatus, OutgoingEmail
from tests.factories import login, run_jobs
from tests.mailserver import free_port
from tests.notify.conftest import Settled

mailer = Settled(_mailer)


def _queue(to="patient@example.org", lang="en", **kw) -> OutgoingEmail:
    m = _mailer.queue_email(to=to, kind="test", lang=lang, context={}, **kw)
    commit()
    run_jobs()
    db.session.refresh(m)
    return m


def test_mail_is_sent_after_commit_with_our_headers(ctx, smtp_server, use_smtp):
    use_smtp(smtp_server.controller.port)
    m = _queue()
    assert m.status == MailStatus.SENT and m.attempts == 1 and m.sent_at is not None
    [msg] = smtp_server.messages
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Message-ID"] == m.message_id and m.message_id.endswith("@hospital.example>")
    assert msg["To"] == "patient@example.org"
    assert msg["Subject"] == "Test message from the help desk"
    assert "/login" in msg.get_content()


def test_spanish_template_follows_the_language(ctx, smtp_server, use_smtp):
    use_smtp(smtp_server.controller.port)
    m = _queue(lang="es")
    assert m.lang == "es"
    assert smtp_server.messages[0]["Subject"] == "Mensaje de prueba de la mesa de ayuda"
    # an unknown language falls back to English
    assert _queue(lang="fr").lang == "en"


def test_nothing_is_sent_if_the_transaction_rolls_back(ctx, smtp_server, use_smtp):
    from helpdesk.db import rollback

    use_smtp(smtp_server.controller.port)
    _mailer.queue_email(to="a@example.org", kind="test", lang="en", context={})
    rollback()
    assert smtp_server.messages == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutgoingEmail)) == 0


def test_without_smtp_mails_are_stored_not_sent(ctx, app):
    assert app.config["HELPDESK"].smtp_host is None
    m = _queue()
    assert m.status == MailStatus.STORED and m.attempts == 0


def test_refused_then_accepted_nothing_lost(ctx, smtp_server, use_smtp, mail_clock):
    use_smtp(smtp_server.controller.port, mail_retry_seconds=60, mail_max_attempts=5)
    smtp_server.refuse = 2
    m = _queue()
    assert m.status == MailStatus.QUEUED and m.attempts == 1 and "451" in m.last_error
    assert m.next_attempt_at == mail_clock.now + _mailer.timedelta(seconds=60)
    # not due yet: the sweep leaves it alone
    assert mailer.sweep_mail() == 0
    mail_clock.advance(seconds=61)
    assert mailer.sweep_mail() == 1
    db.session.refresh(m)
    assert m.attempts == 2 and m.status == MailStatus.QUEUED
    # back-off doubles
    assert m.next_attempt_at == mail_clock.now + _mailer.timedelta(seconds=120)
    mail_clock.advance(seconds=121)
    assert mailer.sweep_mail() == 1
    db.session.refresh(m)
    assert m.status == MailStatus.SENT and m.attempts == 3 and m.last_error is None
    assert smtp_server.refused == 2 and len(smtp_server.messages) == 1
    # running the job again does not send twice
    mailer.send_email(m.id)
    assert len(smtp_server.messages) == 1


def test_server_down_then_up(ctx, use_smtp, mail_clock):
    from aiosmtpd.controller import Controller

    from tests.mailserver import Recorder

    port = free_port()
    use_smtp(port)
    m = _queue()  # nobody listens: connection refused
    assert m.status == MailStatus.QUEUED and m.attempts == 1 and m.last_error == "ConnectionRefusedError"
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        mail_clock.advance(hours=1)
        mailer.sweep_mail()
    finally:
        controller.stop()
    db.session.refresh(m)
    assert m.status == MailStatus.SENT and len(recorder.messages) == 1


def test_failed_after_max_attempts_and_admin_can_resend(ctx, app, client, smtp_server, use_smtp, mail_clock, admin,
                                                        agent):
    use_smtp(smtp_server.controller.port, mail_max_attempts=3)
    smtp_server.refuse = 10
    m = _queue()
    for _ in range(3):
        mail_clock.advance(hours=7)
        mailer.sweep_mail()
    db.session.refresh(m)
    assert m.status == MailStatus.FAILED and m.attempts == 3 and smtp_server.messages == []
    # visible to admins, not to other staff
    login(client, admin)
    page = client.get("/admin/outbox?status=failed")
    assert page.status_code == 200 and m.subject in page.get_data(as_text=True)
    assert client.get(f"/admin/outbox/{m.id}").status_code == 200
    assert client.get("/admin/outbox/999999").status_code == 404
    smtp_server.refuse = 0
    assert client.post(f"/admin/outbox/{m.id}/retry").status_code == 302
    run_jobs()
    db.session.refresh(m)
    assert m.status == MailStatus.SENT and len(smtp_server.messages) == 1
    login(client, agent)
    assert client.get("/admin/outbox").status_code == 403
    assert client.post(f"/admin/outbox/{m.id}/retry").status_code == 403


def test_permanent_refusal_fails_at_once(ctx, smtp_server, use_smtp):
    use_smtp(smtp_server.controller.port)
    smtp_server.permanent = True
    m = _queue()
    assert m.status == MailStatus.FAILED and m.attempts == 1 and "550" in m.last_error


def test_secret_mails_are_hidden_from_admins_and_blanked_after_sending(ctx, client, smtp_server, use_smtp, admin):
    m = _queue(secret=True)  # stored (no SMTP): still hidden on the page
    login(client, admin)
    page = client.get(f"/admin/outbox/{m.id}").get_data(as_text=True)
    assert "This is a test message" not in page and "secret link" in page
    use_smtp(smtp_server.controller.port)
    m2 = _queue(secret=True)
    assert m2.status == MailStatus.SENT and m2.body == ""
    assert "This is a test message" in smtp_server.messages[0].get_content()


def test_bad_addresses_are_refused(ctx):
    import pytest

    from helpdesk.errors import ValidationFailed

    for bad in ("not-an-address", "a@example.org\r\nBcc: x@example.org", ""):
        with pytest.raises(ValidationFailed):
            _mailer.queue_email(to=bad, kind="test", lang="en", context={})


def test_mail_sweep_cli(app, ctx, smtp_server, use_smtp):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["mail", "send-test", "ops@example.org"])
    run_jobs()
    assert result.exit_code == 0, result.output
    statuses = lambda: [m.status for m in db.session.scalars(sa.select(OutgoingEmail).order_by(OutgoingEmail.id)  # noqa: E731
                                                            .execution_options(populate_existing=True))]
    assert statuses() == [MailStatus.STORED]
    use_smtp(smtp_server.controller.port)
    result = runner.invoke(args=["mail", "send-test", "ops@example.org", "--lang", "es"])
    run_jobs()
    assert result.exit_code == 0 and statuses() == [MailStatus.STORED, MailStatus.SENT]
    assert len(smtp_server.messages) == 1
    assert runner.invoke(args=["mail", "sweep"]).exit_code == 0


def test_with_redis_the_retry_is_an_rq_job_scheduled_at_the_backoff_time(ctx, app, smtp_server, use_smtp):
    import pytest

    if not app.config["HELPDESK"].redis_url:
        pytest.skip("needs REDIS_URL (a real RQ scheduler registry)")
    from rq.registry import ScheduledJobRegistry

    from helpdesk import jobs

    use_smtp(smtp_server.controller.port, mail_retry_seconds=60)
    smtp_server.refuse = 1
    m = _queue()
    assert m.status == MailStatus.QUEUED and m.attempts == 1
    registry = ScheduledJobRegistry(queue=jobs.rq_queue())
    [job_id] = registry.get_job_ids()
    scheduled = registry.get_scheduled_time(job_id)
    assert abs((scheduled - m.next_attempt_at).total_seconds()) < 2
