"""E-mail as a channel: RFC 5322 messages in, through the one ticket update path.

``ingest(raw, source)`` never raises for a bad message: every message's raw bytes
are kept on disk (content-addressed, next to attachments) and an ``InboundMail`` row
says what became of it:

1. **Too large / unparseable / no headers / no sender** → *held* for an admin.
2. **Auto-replies and bulk mail** (``Auto-Submitted`` other than ``no``,
   ``X-Autoreply``/``X-Autorespond``, ``Precedence: bulk|junk|list|auto_reply``,
   ``Return-Path: <>``, ``List-Id``, our own address or Message-IDs) → *ignored*:
   never added to a ticket, never answered. That, our own ``Auto-Submitted`` header and
   a per-address hourly cap on outgoing mail are the loop guards.
3. The same ``Message-ID`` again → *duplicate* (re-polling is harmless).
4. **Threading**: ``In-Reply-To``/``References`` against the Message-IDs we sent
   (``outgoing_emails``) and of mails we received on a ticket; else the ``HD-XXXXXX``
   reference in the subject.
5. A reply from the **ticket's requester** is posted as the patient's message
   (channel ``email``) with its attachments; a reply from **any other address is held
   for an admin** (not added, nothing answered): the thread holds health information,
   and an unknown address gets neither it nor a confirmation that it exists. The
   admin can turn it into a new request for that sender or dismiss it.
6. No thread: a new request (channel ``email``) for the sender — a new patient
   account when the address is new — classified like any other request. Mail from a
   staff address is held.

Quoted history and signatures are stripped from the text that goes in the thread
(the original stays available to admins). Attachments that break the rules
(type, size, count) are left out and counted in the row's note.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import imaplib
import logging
import mailbox
import re
import ssl
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import Any

import nh3
import sqlalchemy as sa
from flask import current_app

from helpdesk import audit
from helpdesk.auth.models import Role, User
from helpdesk.db import transactional, unit_of_work
from helpdesk.errors import Conflict, DomainError, ValidationFailed
from helpdesk.extensions import db
from helpdesk.notify import attachments as files
from helpdesk.notify.models import InboundMail, InboundStatus, OutgoingEmail
from helpdesk.permissions import is_patient
from helpdesk.storage import BlobMissing
from helpdesk.tickets import services as tickets
from helpdesk.tickets.models import Channel, Ticket
from helpdesk.timeutil import utcnow

log = logging.getLogger(__name__)

SYSTEM_EMAIL = "inbound-mail@system.invalid"
AUTO_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}
REFERENCE_RE = re.compile(r"\bHD-[2-9A-HJKMNP-TV-Z]{6}\b", re.IGNORECASE)
MSGID_RE = re.compile(r"<[^<>\s]{1,250}>")

# where the patient's own text ends: the quoted mail below, or a signature
_CUT = [re.compile(p, re.IGNORECASE) for p in (
    r"^\s*On\b.{0,300}\bwrote:\s*$",
    r"^\s*El\b.{0,300}\bescribi[óo]:\s*$",
    r"^\s*-{2,}\s*(Original Message|Mensaje original|Forwarded message|Mensaje reenviado)\s*-{2,}",
    r"^\s*_{10,}\s*$",
    r"^-- ?$",
    r"^\s*(Sent from my|Enviado desde mi|Get Outlook for|Obtener Outlook para)\b",
)]
_HEADER_BLOCK = re.compile(r"^\s*(From|De):\s.+", re.IGNORECASE)
_HEADER_NEXT = re.compile(r"^\s*(Sent|Date|Enviado|Fecha|To|Para|Subject|Asunto):\s", re.IGNORECASE)


# ----------------------------------------------------------------------------- parsing helpers


def parse(raw: bytes) -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(raw)  # type: ignore[return-value]


def header(msg: EmailMessage, name: str) -> str | None:
    """A header as text, or None; a header the parser can't make sense of reads as None."""
    try:
        value = msg.get(name)
    except Exception:  # malformed header: ignore it rather than fail the message
        return None
    if value is None:
        return None
    try:
        return " ".join(str(value).split())
    except Exception:
        return None


def sender(msg: EmailMessage) -> tuple[str | None, str]:
    """(address, display name) of the From header."""
    raw = header(msg, "From")
    if not raw:
        return None, ""
    pairs = getaddresses([raw])
    name, addr = pairs[0] if pairs else parseaddr(raw)
    addr = addr.strip().lower()
    if "@" not in addr or len(addr) > 254 or any(c.isspace() for c in addr):
        return None, ""
    return addr, name.strip()


def auto_reason(msg: EmailMessage, from_addr: str | None) -> str | None:
    """Why this message must not be answered or threaded, if it is automatic or bulk."""
    auto = (header(msg, "Auto-Submitted") or "").lower()
    if auto and auto != "no":
        return "auto_submitted"
    if header(msg, "X-Autoreply") is not None or header(msg, "X-Autorespond") is not None:
        return "auto_reply"
    if (header(msg, "Precedence") or "").lower() in AUTO_PRECEDENCE:
        return "bulk"
    return_path = header(msg, "Return-Path")
    if return_path is not None and return_path.replace(" ", "") in ("<>", ""):
        return "null_sender"
    if header(msg, "List-Id") is not None:
        return "mailing_list"
    ours = parseaddr(current_app.config["HELPDESK"].mail_from)[1].lower()
    if from_addr and from_addr == ours:
        return "own_mail"
    own_id = header(msg, "Message-ID")
    if own_id and db.session.scalar(sa.select(OutgoingEmail.id).where(OutgoingEmail.message_id == own_id[:250])):
        return "own_mail"
    return None


def _html_to_text(markup: str) -> str:
    markup = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</li>|</tr>|</h\d>", "\n", markup)
    markup = re.sub(r"(?is)<blockquote.*?</blockquote>", "\n", markup)  # quoted history
    return html.unescape(nh3.clean(markup, tags=set()))


def _part_text(part: Any) -> str:
    try:
        content = part.get_content()
    except Exception:  # unknown charset, bad transfer encoding …
        payload = part.get_payload(decode=True) or b""
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(payload)
    if isinstance(content, bytes):
        return ""
    return str(content)


def body_text(msg: EmailMessage) -> str:
    """The message's text: the plain part, else the HTML part as text."""
    try:
        part = msg.get_body(preferencelist=("plain", "html"))
    except Exception:
        part = None
    if part is None:
        if msg.is_multipart():
            return ""
        part = msg
    text = _part_text(part)
    if part.get_content_type() == "text/html":
        text = _html_to_text(text)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def strip_quotes(text: str) -> str:
    """The new part of a reply: up to the quoted history or the signature; quoted
    ('>') lines dropped."""
    lines = text.split("\n")
    kept: list[str] = []
    for i, line in enumerate(lines):
        joined = line + " " + (lines[i + 1] if i + 1 < len(lines) else "")
        if any(p.match(line) for p in _CUT) or (
            re.match(r"^\s*(On|El)\b", line) and re.search(r"\b(wrote|escribi[óo]):\s*$", joined, re.IGNORECASE)
            and not re.search(r"\b(wrote|escribi[óo]):", line, re.IGNORECASE)
        ):
            break
        if _HEADER_BLOCK.match(line) and any(_HEADER_NEXT.match(n) for n in lines[i + 1:i + 4]):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line.rstrip())
    return "\n".join(kept).strip()


def mail_attachments(msg: EmailMessage) -> list[files.Upload]:
    out = []
    try:
        parts = list(msg.iter_attachments()) if msg.is_multipart() else []
    except Exception:
        return []
    for part in parts:
        try:
            data = part.get_payload(decode=True)
            name = part.get_filename() or "attachment"
        except Exception:  # noqa: S112 - an undecodable part is left out (the raw keeps it)
            continue
        if isinstance(data, bytes) and data:
            out.append(files.Upload(filename=str(name), data=data))
    return out


def _accept_files(uploads: list[files.Upload]) -> tuple[list[files.Upload], int]:
    """Keep the files that pass the rules together; count the others."""
    kept: list[files.Upload] = []
    for u in uploads:
        try:
            files.check([*kept, u])
        except files.ScannerUnavailable:
            raise  # not a verdict on the file: the mail is held instead
        except ValidationFailed:
            continue
        kept.append(u)
    return kept, len(uploads) - len(kept)


def _thread_ticket(msg: EmailMessage):
    ids = MSGID_RE.findall(" ".join(filter(None, (header(msg, "In-Reply-To"), header(msg, "References")))))
    if ids:
        ticket_id = db.session.scalar(
            sa.select(OutgoingEmail.ticket_id).where(OutgoingEmail.message_id.in_(ids[-50:]),
                                                     OutgoingEmail.ticket_id.is_not(None))
            .order_by(OutgoingEmail.id.desc()).limit(1)
        ) or db.session.scalar(
            sa.select(InboundMail.ticket_id).where(InboundMail.message_id.in_(ids[-50:]),
                                                   InboundMail.ticket_id.is_not(None),
                                                   InboundMail.status.in_([InboundStatus.THREADED,
                                                                           InboundStatus.CREATED]))
            .order_by(InboundMail.id.desc()).limit(1)
        )
        if ticket_id is not None:
            return db.session.get(Ticket, ticket_id), "message_id"
    match = REFERENCE_RE.search(header(msg, "Subject") or "")
    if match:
        ticket = db.session.scalar(sa.select(Ticket).where(Ticket.reference == match.group(0).upper()))
        if ticket is not None:
            return ticket, "subject_reference"
    return None, None


def system_user() -> User:
    """The (inactive) account that records mail-created requests as their creator."""
    user = db.session.scalar(sa.select(User).where(User.email == SYSTEM_EMAIL))
    if user is None:
        user = User(email=SYSTEM_EMAIL, display_name="Inbound e-mail", role=Role.INTEGRATION, active=False)
        db.session.add(user)
        db.session.flush()
    return user


# ----------------------------------------------------------------------------- ingest


def _text_for_thread(msg: EmailMessage) -> str:
    settings = current_app.config["HELPDESK"]
    full = body_text(msg)
    text = strip_quotes(full) or full.strip()
    limit = settings.max_body_chars - 80
    if len(text) > limit:
        text = text[:limit].rstrip() + "\n\n[…shortened; the full e-mail is kept]"
    return text or "(no text in this e-mail)"


def _subject(msg: EmailMessage) -> str:
    settings = current_app.config["HELPDESK"]
    subject = header(msg, "Subject") or ""
    subject = re.sub(r"^\s*((re|fwd?|aw|rv|res)\s*:\s*)+", "", subject, flags=re.IGNORECASE).strip()
    return (subject or "(no subject)")[: settings.max_subject_chars]


def _held(row: InboundMail, reason: str, note: str | None = None) -> InboundMail:
    row.status, row.reason = InboundStatus.HELD, reason
    if note:
        row.note = note[:200]
    return row


def ingest(raw: bytes, source: str = "cli") -> InboundMail:
    """Take one RFC 5322 message; never raises for what the message contains.

    One message is one unit of work: its row and the ticket or reply it makes commit
    together. If that unit fails it is rolled back whole, and the message is kept as
    held in a unit of its own (it must not be lost)."""
    raw = bytes(raw or b"")
    sha = hashlib.sha256(raw).hexdigest()
    row = InboundMail(source=source[:16], raw_sha256=sha, raw_size=len(raw), status=InboundStatus.HELD,
                      received_at=utcnow())
    try:
        with unit_of_work():
            files.store_bytes(raw)  # the original, in the same unit as its row
            _process(raw, row)
            if row not in db.session:
                db.session.add(row)
        return row
    except DomainError as err:
        row = _fresh(row)
        _held(row, "invalid", err.code)
    except Exception as exc:  # the message must not be lost, whatever went wrong
        log.warning("inbound mail %s held: %s", sha[:12], type(exc).__name__)
        row = _fresh(row)
        _held(row, "error", type(exc).__name__)
    with unit_of_work():
        files.store_bytes(raw)  # again: the failed unit's rollback took it back (database storage)
        db.session.add(row)
    return row


def _fresh(row: InboundMail) -> InboundMail:
    copy = InboundMail(source=row.source, raw_sha256=row.raw_sha256, raw_size=row.raw_size, received_at=row.received_at,
                       message_id=row.message_id, from_addr=row.from_addr, ticket_id=row.ticket_id,
                       status=InboundStatus.HELD)
    return copy


def _process(raw: bytes, row: InboundMail) -> None:
    settings = current_app.config["HELPDESK"]
    if len(raw) > settings.inbound_max_bytes:
        _held(row, "too_large")
        return
    if not raw.strip():
        _held(row, "empty")
        return
    try:
        msg = parse(raw)
    except Exception:
        _held(row, "malformed")
        return
    if not msg.keys() or msg.defects and not (header(msg, "From") or header(msg, "Message-ID")):
        _held(row, "no_headers")
        return
    message_id = header(msg, "Message-ID")
    row.message_id = message_id[:300] if message_id else None
    from_addr, name = sender(msg)
    row.from_addr = from_addr
    reason = auto_reason(msg, from_addr)
    if reason:
        row.status, row.reason = InboundStatus.IGNORED, reason
        return
    if from_addr is None:
        _held(row, "no_sender")
        return
    if row.message_id and db.session.scalar(sa.select(InboundMail.id).where(
            InboundMail.message_id == row.message_id,
            InboundMail.status.in_([InboundStatus.THREADED, InboundStatus.CREATED, InboundStatus.HELD,
                                    InboundStatus.IGNORED, InboundStatus.RELEASED, InboundStatus.DISMISSED]))):
        row.status, row.reason = InboundStatus.DUPLICATE, "message_id_seen"
        return

    ticket, how = _thread_ticket(msg)
    try:
        uploads, refused = _accept_files(mail_attachments(msg))
    except files.ScannerUnavailable:
        _held(row, "scanner_unavailable", "the virus scanner did not answer; release the mail once it does")
        return
    if refused:
        row.note = f"{refused} attachment(s) left out (type, size or count)"
    if ticket is not None:
        row.ticket_id = ticket.id
        requester = ticket.requester
        if requester.email.lower() != from_addr:
            _held(row, "not_requester", f"threaded by {how}")
            return
        db.session.add(row)
        posted = tickets.post_message(ticket, author=requester, body=_text_for_thread(msg), channel=Channel.EMAIL,
                                      attachments=uploads)
        row.status, row.reason = InboundStatus.THREADED, how
        row.ticket_id, row.message_row_id = posted.ticket.id, posted.message.id
        if posted.new_ticket:
            row.reason = "closed_follow_up"
        return

    existing = db.session.scalar(sa.select(User).where(User.email == from_addr))
    if existing is not None and not is_patient(existing):
        _held(row, "staff_sender")
        return
    create_request(row, msg, from_addr, name, uploads)


def create_request(row: InboundMail, msg: EmailMessage, from_addr: str, name: str,
                   uploads: list[files.Upload]) -> None:
    """A new request (channel e-mail) for the sender, through the ticket services."""
    display = name or from_addr.split("@", 1)[0]
    db.session.add(row)
    ticket = tickets.create_ticket_for_requester(
        requester_email=from_addr, requester_name=display, subject=_subject(msg), body=_text_for_thread(msg),
        channel=Channel.EMAIL, created_by=system_user(), attachments=uploads,
    )
    row.status, row.reason, row.ticket_id = InboundStatus.CREATED, "new_request", ticket.id
    row.message_row_id = ticket.messages[0].id if ticket.messages else None


# ----------------------------------------------------------------------------- admin actions


def read_raw(row: InboundMail) -> bytes:
    """The original message; :class:`helpdesk.storage.BlobMissing` when it is gone."""
    return files.read_bytes(row.raw_sha256)


@transactional
def release(row: InboundMail, *, actor: User) -> InboundMail:
    """An admin turns a held mail into a new request for its sender."""
    if row.status != InboundStatus.HELD:
        raise Conflict("Only held mail can be released.")
    if row.reason in ("too_large", "empty", "malformed", "no_headers", "no_sender"):
        raise Conflict("This mail can't become a request; download the original instead.")
    try:
        msg = parse(read_raw(row))
    except BlobMissing:
        raise Conflict("The original of this mail is no longer available.") from None
    from_addr, name = sender(msg)
    if from_addr is None:
        raise Conflict("This mail has no sender address.")
    existing = db.session.scalar(sa.select(User).where(User.email == from_addr))
    if existing is not None and not is_patient(existing):
        raise Conflict("The sender is a staff account.")
    uploads, _ = _accept_files(mail_attachments(msg))
    audit.record("inbound_mail.released", "inbound_mail", row.id, actor_id=actor.id,
                 changes={"status": {"before": "held", "after": "released"}})
    create_request(row, msg, from_addr, name, uploads)
    row.status = InboundStatus.RELEASED
    return row


@transactional
def dismiss(row: InboundMail, *, actor: User) -> InboundMail:
    if row.status != InboundStatus.HELD:
        raise Conflict("Only held mail can be dismissed.")
    row.status = InboundStatus.DISMISSED
    audit.record("inbound_mail.dismissed", "inbound_mail", row.id, actor_id=actor.id,
                 changes={"status": {"before": "held", "after": "dismissed"}})
    return row


# ----------------------------------------------------------------------------- sources


def ingest_path(path: str, *, remove: bool = False) -> list[InboundMail]:
    """A Maildir (directory with cur/new/tmp), an mbox file, or one .eml file."""
    p = Path(path)
    out: list[InboundMail] = []
    if p.is_dir():
        box: Any = mailbox.Maildir(str(p), factory=None, create=False)
    else:
        with p.open("rb") as fh:
            head = fh.read(5)
        if head != b"From ":
            return [ingest(p.read_bytes(), "cli")]
        box = mailbox.mbox(str(p), factory=None, create=False)
    box.lock()
    try:
        for key in list(box.keys()):
            out.append(ingest(box.get_bytes(key), "cli"))
            if remove:
                box.remove(key)
        box.flush()
    finally:
        box.unlock()
        box.close()
    return out


def poll_imap(limit: int = 100) -> int:
    """Fetch unseen messages from the configured IMAP folder, ingest each, mark it seen.
    Returns how many were ingested (0 when IMAP is not configured)."""
    settings = current_app.config["HELPDESK"]
    if not settings.imap_host:
        return 0
    context = ssl.create_default_context()
    if settings.imap_security == "tls":
        conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(settings.imap_host, settings.imap_port, ssl_context=context,
                                                timeout=30)
    else:
        conn = imaplib.IMAP4(settings.imap_host, settings.imap_port, timeout=30)
        if settings.imap_security == "starttls":
            conn.starttls(ssl_context=context)
    n = 0
    try:
        conn.login(settings.imap_username or "", settings.imap_password or "")
        conn.select(settings.imap_folder)
        _typ, data = conn.uid("search", None, "UNSEEN")
        for uid in (data[0] or b"").split()[:limit]:
            _typ, fetched = conn.uid("fetch", uid, "(BODY.PEEK[])")
            raw = next((part[1] for part in fetched if isinstance(part, tuple) and len(part) > 1), None)
            if raw is None:
                continue
            ingest(raw, "imap")  # kept (on disk and as a row) before the server forgets it
            conn.uid("store", uid, "+FLAGS", "(\\Seen)")
            n += 1
    finally:
        with contextlib.suppress(Exception):  # closing a broken connection
            conn.logout()
    return n
