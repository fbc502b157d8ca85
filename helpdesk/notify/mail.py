"""Outgoing mail: render a template, store it, send it by a job after the commit.

The API other areas use::

    from helpdesk.notify.mail import queue_email

    queue_email(to="patient@example.org", kind="request_received", lang="es",
                context={"reference": "HD-7K2Q9"}, ticket_id=t.id, user_id=u.id)
    # ... inside the caller's unit of work (helpdesk.db.unit_of_work): the send job runs after its commit

* ``kind`` names the templates ``templates/notify/mail/<kind>.<lang>.txt`` (falling
  back to ``<kind>.en.txt``). A template defines ``{% block subject %}`` and
  ``{% block body %}`` and usually extends ``notify/mail/_layout.<lang>.txt``. Every
  template gets ``sign_in_url`` and ``site_url``; the context adds the rest (ids,
  references and links only — never patient text).
* ``secret=True`` for mails whose body is a credential (a password-reset link): the
  admin outbox page hides such a body, and it is blanked once the mail is sent.
* The row is added to the *current transaction*: nothing is sent unless the caller's
  unit of work commits (``helpdesk.db.unit_of_work``), and the send job only ever sees
  committed rows.

Sending (``send_email``, an outbox job taking the mail's id) uses SMTP from the
settings (``SMTP_HOST``, ``SMTP_PORT``, ``SMTP_SECURITY`` starttls|tls|none,
``SMTP_USERNAME``/``SMTP_PASSWORD``, ``MAIL_FROM``). Without ``SMTP_HOST`` the mail is
kept as *stored* and shown on the admin outbox page, never sent. A temporary failure
(connection refused, timeout, 4xx) is retried with exponential back-off
(``MAIL_RETRY_SECONDS`` × 2^(attempt-1), capped at 6 hours): with Redis the retry is a
job scheduled at that time; ``sweep_mail`` (every minute from ``flask scheduler``, or
``flask mail sweep``) sends every due mail as the safety net and the timer in inline
mode. After ``MAIL_MAX_ATTEMPTS`` attempts — or at once on a permanent 5xx refusal —
the mail is *failed*, visible to admins, who can send it again.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any

import sqlalchemy as sa
from flask import current_app
from jinja2 import TemplateNotFound

from helpdesk import audit, jobs
from helpdesk.config import Settings
from helpdesk.db import transactional, unit_of_work
from helpdesk.errors import Conflict, ValidationFailed
from helpdesk.extensions import db
from helpdesk.notify.models import MailStatus, NotifyDelivery, OutgoingEmail
from helpdesk.timeutil import utcnow

log = logging.getLogger(__name__)

LANGUAGES = ("en", "es")
SEND_JOB = "helpdesk.notify.tasks.send_email"
MAX_BACKOFF = timedelta(hours=6)
# A worker that claimed a mail and vanished: the sweep gives the mail back after this.
STALE_CLAIM = timedelta(minutes=15)


def _settings() -> Settings:
    return current_app.config["HELPDESK"]


def sends_mail() -> bool:
    """Whether mail leaves this help desk (``SMTP_HOST`` set). Without it every mail is
    stored, unsent, on the admin outbox: pages must not say "we have sent you"."""
    return bool(_settings().smtp_host)


# ----------------------------------------------------------------------------- rendering


def normalise_lang(lang: str | None) -> str:
    lang = (lang or "en").strip().lower()[:2]
    return lang if lang in LANGUAGES else "en"


def render(kind: str, lang: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """(subject, body, language used) of a mail template."""
    env = current_app.jinja_env
    lang = normalise_lang(lang)
    try:
        template = env.get_template(f"notify/mail/{kind}.{lang}.txt")
    except TemplateNotFound:
        lang = "en"
        template = env.get_template(f"notify/mail/{kind}.en.txt")
    settings = _settings()
    values = {"site_url": settings.external_url, "sign_in_url": f"{settings.external_url}/login", "lang": lang,
              **context}
    subject = "".join(template.blocks["subject"](template.new_context(values))).strip()
    subject = " ".join(subject.split())[:300]
    body = template.render(values).strip() + "\n"
    return subject, body, lang


def _clean_address(to: str) -> str:
    if not isinstance(to, str) or "\n" in to or "\r" in to:
        raise ValidationFailed("Not a valid e-mail address.", fields={"to": ["Not a valid e-mail address."]})
    _name, addr = parseaddr(to)
    if "@" not in addr or len(addr) > 254:
        raise ValidationFailed("Not a valid e-mail address.", fields={"to": ["Not a valid e-mail address."]})
    return addr


def _mail_domain() -> str:
    _name, addr = parseaddr(_settings().mail_from)
    return addr.rpartition("@")[2] or "localhost"


def new_message_id() -> str:
    return make_msgid(idstring="hd", domain=_mail_domain())


def queue_email(
    *,
    to: str,
    kind: str,
    lang: str,
    context: dict[str, Any],
    ticket_id: int | None = None,
    user_id: int | None = None,
    secret: bool = False,
    flush: bool = True,
) -> OutgoingEmail:
    """Render and store a mail in the current transaction; its send job runs after the
    commit. ``flush=False``: the mail is written with the transaction's next flush (its
    ``id`` is None until then), so that a batch's mails are written together."""
    addr = _clean_address(to)
    subject, body, used = render(kind, lang, context)
    mail = OutgoingEmail(
        to_addr=addr, kind=kind[:40], lang=used, subject=subject, body=body, message_id=new_message_id(),
        ticket_id=ticket_id, user_id=user_id, secret=secret, status=MailStatus.QUEUED, next_attempt_at=utcnow(),
    )
    db.session.add(mail)
    if flush:
        db.session.flush()
        jobs.enqueue(SEND_JOB, mail.id)
    else:
        jobs.enqueue_for(SEND_JOB, mail)
    return mail


# ----------------------------------------------------------------------------- sending


class TemporaryFailure(Exception):
    pass


class PermanentFailure(Exception):
    pass


def build_message(mail: OutgoingEmail, settings: Settings) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = mail.to_addr
    msg["Subject"] = mail.subject
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = mail.message_id
    # RFC 3834: we are a machine. Auto-responders must not answer us.
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    if settings.mail_reply_to:
        msg["Reply-To"] = settings.mail_reply_to
    if mail.ticket_id is not None:
        first = db.session.scalar(
            sa.select(OutgoingEmail.message_id)
            .where(OutgoingEmail.ticket_id == mail.ticket_id, OutgoingEmail.to_addr == mail.to_addr,
                   OutgoingEmail.id < mail.id)
            .order_by(OutgoingEmail.id).limit(1)
        )
        if first:  # the patient's mail program shows one conversation per request
            msg["In-Reply-To"] = first
            msg["References"] = first
    msg.set_content(mail.body)
    return msg


class SmtpSession:
    """One SMTP connection for a batch of mails: opened at the first send, closed after
    a failure that may have broken it (the next send opens a fresh one). Failures are
    classified per message: a permanent one (5xx, recipient refused for good) or a
    temporary one (everything else: 4xx, timeouts, connection errors)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.server: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpSession:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            try:
                server.quit()
            except (smtplib.SMTPException, OSError, ssl.SSLError):
                server.close()

    def _open(self) -> smtplib.SMTP:
        settings = self.settings
        assert settings.smtp_host
        context = ssl.create_default_context()
        if settings.smtp_security == "tls":
            server: smtplib.SMTP = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port,
                                                    timeout=settings.smtp_timeout, context=context)
        else:
            server = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout)
        try:
            if settings.smtp_security == "starttls":
                server.starttls(context=context)
            if settings.smtp_username:
                server.login(settings.smtp_username, settings.smtp_password or "")
        except BaseException:
            server.close()
            raise
        return server

    def send(self, msg: EmailMessage) -> None:
        """Hand one message to the server; raise TemporaryFailure or PermanentFailure."""
        try:
            if self.server is None:
                self.server = self._open()
            self.server.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:  # the connection is fine (smtplib reset it)
            codes = [code for code, _ in exc.recipients.values()]
            if codes and all(c >= 500 for c in codes):
                raise PermanentFailure(f"recipient refused ({codes[0]})") from None
            raise TemporaryFailure(f"recipient deferred ({codes[0] if codes else '?'})") from None
        except smtplib.SMTPResponseException as exc:
            if not isinstance(exc, smtplib.SMTPDataError):  # after a refused message smtplib resets: still fine
                self.close()
            if exc.smtp_code >= 500 and not isinstance(exc, smtplib.SMTPAuthenticationError):
                raise PermanentFailure(f"{type(exc).__name__} {exc.smtp_code}") from None
            raise TemporaryFailure(f"{type(exc).__name__} {exc.smtp_code}") from None
        except (TimeoutError, smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            self.close()
            raise TemporaryFailure(type(exc).__name__) from None


def smtp_send(settings: Settings, msg: EmailMessage) -> None:
    """Hand one message to the configured SMTP server (a connection of its own)."""
    with SmtpSession(settings) as session:
        session.send(msg)


def backoff(settings: Settings, attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failure: base, 2×base, 4×base … capped."""
    return min(timedelta(seconds=settings.mail_retry_seconds * 2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def send_email(mail_id: int) -> str | None:
    """Send one mail (the job). Safe to run twice, early or for a row that is gone:
    only a queued mail whose attempt is due is claimed, by one worker."""
    return send_emails([mail_id]).get(mail_id)


def send_emails(mail_ids: list[int]) -> dict[int, str]:
    """Send mails (the job's batch form) over one SMTP connection; returns each claimed
    mail's new status. A mail is claimed (only when queued and due, committed) right
    before it goes out and its attempt recorded right after, so it is sent by one worker
    once, and a slow or interrupted batch leaves no sent mail unrecorded."""
    settings = _settings()
    if not settings.smtp_host:
        claimed = _claim(mail_ids)
        if claimed:
            with unit_of_work():  # no mail server: kept, readable by admins (``flask mail``)
                db.session.execute(
                    sa.update(OutgoingEmail).where(OutgoingEmail.id.in_(claimed))
                    .values(status=MailStatus.STORED, claimed_at=None)
                    .execution_options(synchronize_session=False))
        return dict.fromkeys(claimed, MailStatus.STORED.value)
    outcome: dict[int, str] = {}
    with SmtpSession(settings) as session:
        for mail_id in sorted(mail_ids):
            if not _claim([mail_id]):
                continue
            mail = db.session.get(OutgoingEmail, mail_id, populate_existing=True)
            error: Exception | None = None
            try:
                session.send(build_message(mail, settings))
            except (TemporaryFailure, PermanentFailure) as exc:
                error = exc
            with unit_of_work():  # what the attempt did
                _record_attempt(mail, error, settings)
                outcome[mail_id] = mail.status.value
    return outcome


def _claim(mail_ids: list[int]) -> list[int]:
    """Claim the queued, due mails among ``mail_ids`` for this worker (one statement,
    committed before any of them goes out); returns their ids."""
    now = utcnow()
    with unit_of_work():
        return sorted(db.session.scalars(
            sa.update(OutgoingEmail)
            .where(OutgoingEmail.id.in_(mail_ids), OutgoingEmail.status == MailStatus.QUEUED,
                   sa.or_(OutgoingEmail.next_attempt_at.is_(None), OutgoingEmail.next_attempt_at <= now))
            .values(status=MailStatus.SENDING, claimed_at=now)
            .returning(OutgoingEmail.id)
            .execution_options(synchronize_session=False)
        ))


def _record_attempt(mail: OutgoingEmail, error: Exception | None, settings: Settings) -> None:
    now = utcnow()
    mail.attempts += 1
    mail.claimed_at = None
    if error is None:
        mail.status, mail.sent_at, mail.last_error, mail.next_attempt_at = MailStatus.SENT, now, None, None
        if mail.secret:
            mail.body = ""
        return
    # the error says what failed (exception type, SMTP code), never the mail's content
    mail.last_error = str(error)[:200]
    if isinstance(error, PermanentFailure) or mail.attempts >= settings.mail_max_attempts:
        mail.status, mail.next_attempt_at = MailStatus.FAILED, None
        log.warning("mail %s failed for good after %d attempt(s): %s", mail.id, mail.attempts, mail.last_error)
    else:
        mail.status = MailStatus.QUEUED
        mail.next_attempt_at = now + backoff(settings, mail.attempts)
        log.info("mail %s attempt %d failed (%s); next at %s", mail.id, mail.attempts, mail.last_error,
                 mail.next_attempt_at.isoformat())
        if not jobs.inline_mode():
            # with Redis, a job scheduled at the retry time; inline, the sweep is the timer
            jobs.enqueue(SEND_JOB, mail.id, run_at=mail.next_attempt_at)


def sweep_mail(limit: int = 200) -> int:
    """Send the mails whose attempt is due (and give back stale claims). Returns how many
    were tried (inline) or pushed (Redis)."""
    now = utcnow()
    with unit_of_work():
        db.session.execute(
            sa.update(OutgoingEmail)
            .where(OutgoingEmail.status == MailStatus.SENDING, OutgoingEmail.claimed_at < now - STALE_CLAIM)
            .values(status=MailStatus.QUEUED, claimed_at=None, next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
        # delivery keys only guard against a job running twice: a month is plenty
        db.session.execute(sa.delete(NotifyDelivery).where(NotifyDelivery.created_at < now - timedelta(days=30)))
    ids = list(db.session.scalars(
        sa.select(OutgoingEmail.id)
        .where(OutgoingEmail.status == MailStatus.QUEUED, OutgoingEmail.next_attempt_at <= now)
        .order_by(OutgoingEmail.next_attempt_at, OutgoingEmail.id).limit(limit)
    ))
    if jobs.inline_mode():
        for mail_id in ids:
            send_email(mail_id)
        return len(ids)
    with unit_of_work():
        for mail_id in ids:
            jobs.enqueue(SEND_JOB, mail_id)
    return len(ids)


@transactional
def retry_failed(mail: OutgoingEmail, *, actor_id: int | None) -> OutgoingEmail:
    """An admin sends a failed (or stored) mail again: a fresh series of attempts."""
    if mail.status not in (MailStatus.FAILED, MailStatus.STORED):
        raise Conflict("Only failed or stored mails can be sent again.")
    if mail.secret and not mail.body:
        raise Conflict("This mail held a secret that is no longer kept; it can't be sent again.")
    before = mail.status.value
    mail.status, mail.attempts, mail.last_error, mail.next_attempt_at = MailStatus.QUEUED, 0, None, utcnow()
    audit.record("mail.retried", "outgoing_email", mail.id, actor_id=actor_id,
                 changes={"status": {"before": before, "after": "queued"}})
    jobs.enqueue(SEND_JOB, mail.id)
    return mail


def mail_counts() -> dict[str, int]:
    rows = db.session.execute(sa.select(OutgoingEmail.status, sa.func.count()).group_by(OutgoingEmail.status))
    out = {s.value: 0 for s in MailStatus}
    for status, n in rows:
        out[MailStatus(status).value] = n
    return out


def due_at(mail: OutgoingEmail) -> datetime | None:
    return mail.next_attempt_at if mail.status == MailStatus.QUEUED else None
