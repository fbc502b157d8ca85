"""Attachments: files on messages, checked by content, stored by content hash.

* **Types**: an allow-list of images and PDF (``ALLOWED``) checked on the bytes
  themselves with the ``filetype`` package (magic numbers); the name and the type the
  browser claims are ignored. The stored content type is the detected one.
* **Limits** (settings): ``ATTACHMENT_MAX_BYTES`` per file, ``ATTACHMENT_MAX_MESSAGE_BYTES``
  and ``ATTACHMENT_MAX_FILES`` per message. Anything refused raises ``ValidationFailed``
  before a byte is written, so the message is not posted either.
* **Storage**: through :mod:`helpdesk.storage` (``STORAGE_BACKEND``: the database by
  default, or a shared ``STORAGE_DIR``), keyed by SHA-256; the same content is stored once.
* **Virus scanning**: with ``CLAMD_ADDRESS`` every file is streamed to clamd
  (:mod:`helpdesk.clamav`) after the type check. A file clamd reports infected is
  refused; when clamd cannot be reached (or gives no verdict) the file is refused too
  (fail closed) with a message that says the scanner is unavailable
  (:class:`ScannerUnavailable`). The log line gives clamd's address and the error type,
  never the file's name or bytes. Instead of ClamAV a hook can be set,
  ``ATTACHMENT_SCANNER=package.module:function``, called as
  ``scan(data: bytes, filename: str) -> bool``; ``False`` or an exception refuses the
  file. Neither set: no scan (the admin's System page says so).
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import filetype
import sqlalchemy as sa
from flask import current_app, request

from helpdesk import storage
from helpdesk.clamav import Clamd, ClamdUnavailable
from helpdesk.config import Settings
from helpdesk.db import unit_of_work
from helpdesk.errors import NotFound, ValidationFailed
from helpdesk.extensions import db
from helpdesk.i18n import N_
from helpdesk.notify.models import Attachment, InboundMail
from helpdesk.permissions import can_view_message, can_view_ticket
from helpdesk.tickets.models import Message, Ticket

log = logging.getLogger(__name__)

ALLOWED = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/heic": "heic",
    "application/pdf": "pdf",
}


@dataclass(frozen=True)
class Upload:
    """A file as received (web form, API, mail part), before any check."""

    filename: str
    data: bytes


def _settings() -> Settings:
    return current_app.config["HELPDESK"]


class ScannerUnavailable(ValidationFailed):
    """The virus scanner could not give a verdict: the file is refused (fail closed)."""


def no_scan(data: bytes, filename: str) -> bool:
    """No scanner configured: accepts everything."""
    return True


def _clamd_scan(settings: Settings) -> Callable[[bytes, str], bool]:
    client = Clamd(settings.clamd_address or "", timeout=settings.clamd_timeout)

    def scan(data: bytes, filename: str) -> bool:
        try:
            found = client.scan(data)
        except ClamdUnavailable as exc:
            log.error("virus scanner unavailable (clamd at %s: %s): file refused", client.address, exc)
            message = N_("The virus scanner is not available right now, so the file was not accepted. Try again later.")
            raise ScannerUnavailable(message, fields={"attachments": [message]}) from None
        if found is not None:
            log.warning("clamd found %s: file refused", found[:100])
            return False
        return True

    return scan


def _scanner(settings: Settings) -> Callable[[bytes, str], bool]:
    if settings.clamd_address:
        return _clamd_scan(settings)
    if not settings.attachment_scanner:
        return no_scan
    module, _, name = settings.attachment_scanner.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class ScannerState:
    """What the admin page says about virus scanning: ``state`` is none | hook | answered | unreachable."""

    state: str
    address: str | None = None
    detail: str | None = None


def scanner_state(settings: Settings | None = None) -> ScannerState:
    """Asks clamd (PING) when one is configured: the answer of this moment, not a setting."""
    settings = settings or _settings()
    if settings.clamd_address:
        client = Clamd(settings.clamd_address, timeout=min(settings.clamd_timeout, 3.0))
        try:
            client.ping()
        except ClamdUnavailable as exc:
            return ScannerState("unreachable", settings.clamd_address, str(exc))
        return ScannerState("answered", settings.clamd_address)
    if settings.attachment_scanner:
        return ScannerState("hook", detail=settings.attachment_scanner)
    return ScannerState("none")


def safe_filename(name: str, content_type: str) -> str:
    """A display name without paths or control characters, with the right extension."""
    name = unicodedata.normalize("NFC", str(name or "")).replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[\x00-\x1f\x7f\"<>|:*?]", "", name).strip(" .")[:150]
    ext = ALLOWED[content_type]
    stem, dot, given = name.rpartition(".")
    if not dot:
        stem = name
    if not stem:
        stem = "attachment"
    if content_type == "image/jpeg" and given.lower() in ("jpg", "jpeg"):
        ext = given.lower()
    return f"{stem}.{ext}"


def detect(data: bytes) -> str | None:
    kind = filetype.guess(data[:8192])
    return kind.mime if kind is not None and kind.mime in ALLOWED else None


@dataclass(frozen=True)
class Checked:
    filename: str
    content_type: str
    data: bytes
    sha256: str


def _refuse(message: str) -> ValidationFailed:
    # the same words for the form field and the message: a patient sees them next to the file input
    return ValidationFailed(message, fields={"attachments": [message]})


def check(uploads: Iterable[Upload]) -> list[Checked]:
    """Validate a message's files (types, sizes, count, scanner); nothing is stored.
    The messages are English, marked ``N_`` so that the patient pages translate them."""
    settings = _settings()
    files = [u for u in uploads if u.data or u.filename]
    if not files:
        return []
    if len(files) > settings.attachment_max_files:
        raise _refuse(N_("At most %(count)d files per message.", count=settings.attachment_max_files))
    total, out = 0, []
    scan = _scanner(settings)
    for u in files:
        if not u.data:
            raise _refuse(N_("An attached file is empty."))
        if len(u.data) > settings.attachment_max_bytes:
            raise _refuse(N_("Each file can be at most %(mb)s MB.", mb=_megabytes(settings.attachment_max_bytes)))
        total += len(u.data)
        content_type = detect(u.data)
        if content_type is None:
            raise _refuse(N_("Only images (PNG, JPEG, GIF, WebP, HEIC) and PDF files can be attached."))
        try:
            clean = bool(scan(u.data, u.filename))
        except ScannerUnavailable:
            raise
        except Exception as exc:  # a scanner that fails refuses the file
            log.warning("attachment scanner failed: %s", type(exc).__name__)
            clean = False
        if not clean:
            raise _refuse(N_("A file was refused by the virus scanner."))
        out.append(Checked(safe_filename(u.filename, content_type), content_type, u.data,
                           hashlib.sha256(u.data).hexdigest()))
    if total > settings.attachment_max_message_bytes:
        raise _refuse(N_("The files of one message can be at most %(mb)s MB together.",
                         mb=_megabytes(settings.attachment_max_message_bytes)))
    return out


def _megabytes(size: int) -> str:
    return f"{size / 1_048_576:g}"


def store_bytes(data: bytes) -> str:
    """Store ``data`` (once per content, in the caller's transaction with the database
    backend); return its SHA-256."""
    return storage.current().put(data)


def read_bytes(sha256: str) -> bytes:
    """The stored bytes; :class:`helpdesk.storage.BlobMissing` when they are gone."""
    return storage.current().get(sha256)


def sweep_orphans(grace_seconds: int = 3600, settings: Settings | None = None) -> int:
    """Delete stored bytes that no attachment and no inbound mail refers to.

    Bytes are left behind when a ticket is deleted or (filesystem backend) when the
    transaction that was to record them rolled back. Only entries older than
    ``grace_seconds`` are considered (storing the same content again renews one), so a
    transaction still in flight keeps its bytes. Returns how many were removed; reads
    no file content."""
    backend = storage.for_settings(settings or _settings())
    with unit_of_work():
        removed = backend.sweep([Attachment.sha256, InboundMail.raw_sha256], grace_seconds)
    if removed:
        log.info("storage sweep removed %d unreferenced blob(s) (%s)", removed, backend.name)
    return removed


def referenced_keys() -> list[str]:
    """Every SHA-256 an attachment or an inbound mail refers to (distinct, sorted)."""
    stmt = sa.union(sa.select(Attachment.sha256), sa.select(InboundMail.raw_sha256))
    return sorted(db.session.scalars(stmt))


def missing_files() -> list[str]:
    """What the storage lacks: ``attachment <id>`` / ``inbound mail <id>`` (no names)."""
    backend = storage.current()
    gone = [k for k in referenced_keys() if not backend.exists(k)]
    out: list[str] = []
    for i in range(0, len(gone), 500):
        chunk = gone[i:i + 500]
        out += [f"attachment {n}" for n in db.session.scalars(
            sa.select(Attachment.id).where(Attachment.sha256.in_(chunk)).order_by(Attachment.id))]
        out += [f"inbound mail {n}" for n in db.session.scalars(
            sa.select(InboundMail.id).where(InboundMail.raw_sha256.in_(chunk)).order_by(InboundMail.id))]
    return out


def import_files(root: str | Path) -> tuple[int, int]:
    """Copy into the storage the files under ``root`` (``<sha[:2]>/<sha>``, the old
    ATTACHMENT_DIR layout) that rows refer to and the storage lacks. Returns (copied, still missing)."""
    with unit_of_work():
        copied, missing = storage.import_files(Path(root), referenced_keys())
    return len(copied), len(missing)


def attach(message: Any, files: list[Checked], *, uploader_id: int | None) -> list[Attachment]:
    """Store checked files and link them to ``message`` (in the caller's transaction).
    With the filesystem backend, files already written stay if the transaction rolls
    back: content-addressed, harmless, reused by the next upload, removed by the sweep."""
    rows = []
    for f in files:
        store_bytes(f.data)
        row = Attachment(ticket_id=message.ticket_id or message.ticket.id, message_id=message.id,
                         filename=f.filename, content_type=f.content_type, size=len(f.data), sha256=f.sha256,
                         uploaded_by_id=uploader_id)
        db.session.add(row)
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------- reads


def for_ticket(ticket: Any, *, include_internal: bool) -> dict[int, list[Attachment]]:
    """Attachments of a ticket by message id (internal notes' only when allowed)."""
    stmt = (sa.select(Attachment).join(Message, Message.id == Attachment.message_id)
            .where(Attachment.ticket_id == ticket.id).order_by(Attachment.id))
    if not include_internal:
        stmt = stmt.where(Message.public.is_(True))
    out: dict[int, list[Attachment]] = {}
    for row in db.session.scalars(stmt):
        out.setdefault(row.message_id, []).append(row)
    return out


def get_downloadable(user: Any, attachment_id: int) -> tuple[Attachment, Any]:
    """The attachment and its ticket if ``user`` may download it, else NotFound: the
    ticket must be visible to them, and a patient never gets an internal note's file."""
    row = db.session.get(Attachment, attachment_id)
    if row is None:
        raise NotFound(N_("No such file."))
    ticket = db.session.get(Ticket, row.ticket_id)
    message = db.session.get(Message, row.message_id)
    if ticket is None or message is None or not can_view_ticket(user, ticket):
        raise NotFound(N_("No such file."))
    if not can_view_message(user, message):
        raise NotFound(N_("No such file."))
    return row, ticket


def uploads_from_request(field: str = "attachments") -> list[Upload]:
    """The files of a multipart form field as ``Upload`` values."""
    out = []
    for part in request.files.getlist(field):
        if not part or not part.filename:
            continue
        out.append(Upload(filename=part.filename, data=part.read()))
    return out
