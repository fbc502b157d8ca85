"""Attachments: files on messages, checked by content, stored by content hash.

* **Types**: an allow-list of images and PDF (``ALLOWED``) checked on the bytes
  themselves with the ``filetype`` package (magic numbers); the name and the type the
  browser claims are ignored. The stored content type is the detected one.
* **Limits** (settings): ``ATTACHMENT_MAX_BYTES`` per file, ``ATTACHMENT_MAX_MESSAGE_BYTES``
  and ``ATTACHMENT_MAX_FILES`` per message. Anything refused raises ``ValidationFailed``
  before a byte is written, so the message is not posted either.
* **Storage**: ``ATTACHMENT_DIR`` (default ``instance/attachments``), outside the
  database, at ``<dir>/<sha256[:2]>/<sha256>``; the same content is stored once.
* **Virus scanner hook**: ``ATTACHMENT_SCANNER=package.module:function``. The function
  is called as ``scan(data: bytes, filename: str) -> bool`` for every file after the
  type check; ``False`` (or an exception) refuses the file. The default is no scan
  (``no_scan``). A ClamAV hook would stream ``data`` to clamd's INSTREAM command and
  return whether the answer ends in ``OK``.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import re
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import filetype
import sqlalchemy as sa
from flask import current_app, request

from helpdesk.config import Settings
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


def no_scan(data: bytes, filename: str) -> bool:
    """The default virus-scanner hook: accepts everything."""
    return True


def _scanner(settings: Settings) -> Callable[[bytes, str], bool]:
    if not settings.attachment_scanner:
        return no_scan
    module, _, name = settings.attachment_scanner.partition(":")
    return getattr(importlib.import_module(module), name)


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


def storage_path(sha256: str, settings: Settings | None = None) -> Path:
    settings = settings or _settings()
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError("not a sha256")
    return settings.resolved_attachment_dir / sha256[:2] / sha256


def store_bytes(data: bytes) -> str:
    """Write ``data`` under its SHA-256 (atomically; once per content); return the hash."""
    sha = hashlib.sha256(data).hexdigest()
    path = storage_path(sha)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return sha


def sweep_orphans(grace_seconds: int = 3600, settings: Settings | None = None) -> int:
    """Delete stored files that no attachment and no inbound mail refers to.

    Files are written before the transaction that records them commits; when it rolls
    back (or a ticket is deleted) the bytes stay behind. Only files older than
    ``grace_seconds`` are considered, so a transaction still in flight keeps its file.
    Returns how many files were removed. Reads no file content.
    """
    settings = settings or _settings()
    root = settings.resolved_attachment_dir
    if not root.is_dir():
        return 0
    cutoff = time.time() - grace_seconds
    candidates: dict[str, Path] = {}
    stale_tmp: list[Path] = []
    for sub in root.iterdir():
        if not (sub.is_dir() and re.fullmatch(r"[0-9a-f]{2}", sub.name)):
            continue
        for path in sub.iterdir():
            try:
                old = path.stat().st_mtime < cutoff
            except FileNotFoundError:
                continue
            if not old:
                continue
            if path.name.startswith(".tmp-"):
                stale_tmp.append(path)
            elif re.fullmatch(r"[0-9a-f]{64}", path.name) and path.name.startswith(sub.name):
                candidates[path.name] = path
    referenced: set[str] = set()
    names = list(candidates)
    for i in range(0, len(names), 500):
        chunk = names[i:i + 500]
        referenced.update(db.session.scalars(sa.select(Attachment.sha256).where(Attachment.sha256.in_(chunk))))
        referenced.update(db.session.scalars(sa.select(InboundMail.raw_sha256)
                                             .where(InboundMail.raw_sha256.in_(chunk))))
    removed = 0
    for sha, path in candidates.items():
        if sha not in referenced:
            path.unlink(missing_ok=True)
            removed += 1
    for path in stale_tmp:
        path.unlink(missing_ok=True)
        removed += 1
    if removed:
        log.info("attachment sweep removed %d unreferenced file(s)", removed)
    return removed


def attach(message: Any, files: list[Checked], *, uploader_id: int | None) -> list[Attachment]:
    """Store checked files and link them to ``message`` (in the caller's transaction).
    Files already written stay on disk if the transaction rolls back: content-addressed,
    harmless, and reused by the next upload of the same bytes."""
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
    for storage in request.files.getlist(field):
        if not storage or not storage.filename:
            continue
        out.append(Upload(filename=storage.filename, data=storage.read()))
    return out
