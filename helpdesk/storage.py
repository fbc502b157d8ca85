"""Where file bytes live: attachments and raw inbound mail, keyed by their SHA-256.

One small interface, two backends, chosen by ``STORAGE_BACKEND``:

* ``database`` (the default): the ``stored_blobs`` table, one row per distinct content
  (``LargeBinary``: ``bytea`` on PostgreSQL, ``BLOB`` on SQLite). Every web host and
  worker reads the same rows, and a blob is written **in the caller's transaction**: if
  the message or mail that refers to it rolls back, so does the blob.
* ``filesystem``: ``STORAGE_DIR/<sha256[:2]>/<sha256>``, written atomically
  (temp file + rename). With several hosts STORAGE_DIR must be one directory they all
  mount (NFS, a shared volume); a host-local directory works on one host only. Files are
  written before the transaction that records them commits; a rollback leaves the file,
  which the sweep removes later.

The same content is stored once. :func:`sweep` deletes what nothing refers to, only
entries older than a grace period (``put`` of existing content renews it, so a
transaction still in flight keeps its bytes). S3-compatible object storage is not built.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.config import Settings
from helpdesk.extensions import db
from helpdesk.timeutil import UTCDateTime, utcnow

log = logging.getLogger(__name__)

KEY_RE = re.compile(r"[0-9a-f]{64}")


class StoredBlob(db.Model):
    """The bytes of one attachment or raw mail (database backend), once per content."""

    __tablename__ = "stored_blobs"

    sha256: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    size: Mapped[int] = mapped_column(sa.BigInteger)
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)
    # written or reused last: the sweep leaves younger blobs alone
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class BlobMissing(LookupError):
    """No bytes are stored under this key."""


def key_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check(key: str) -> str:
    if not isinstance(key, str) or not KEY_RE.fullmatch(key):
        raise ValueError("not a sha256")
    return key


class Storage(Protocol):
    name: str

    def put(self, data: bytes) -> str: ...
    def get(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def sweep(self, referenced_by: Iterable[Any], grace_seconds: int) -> int: ...
    def describe(self) -> str: ...


class DatabaseStorage:
    """Bytes in ``stored_blobs``, in the current session's transaction (the caller commits)."""

    name = "database"

    def put(self, data: bytes) -> str:
        key = key_of(data)
        now = utcnow()
        touched = db.session.execute(sa.update(StoredBlob).where(StoredBlob.sha256 == key).values(stored_at=now)
                                     .execution_options(synchronize_session=False))
        if touched.rowcount == 0:
            insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
            stmt = insert(StoredBlob).values(sha256=key, size=len(data), data=bytes(data), stored_at=now)
            # another transaction storing the same content at the same moment: keep one row
            db.session.execute(stmt.on_conflict_do_update(index_elements=["sha256"], set_={"stored_at": now}))
        return key

    def get(self, key: str) -> bytes:
        data = db.session.scalar(sa.select(StoredBlob.data).where(StoredBlob.sha256 == _check(key)))
        if data is None:
            raise BlobMissing(key)
        return bytes(data)

    def exists(self, key: str) -> bool:
        return db.session.scalar(sa.select(sa.literal(1)).where(StoredBlob.sha256 == _check(key))) is not None

    def delete(self, key: str) -> None:
        db.session.execute(sa.delete(StoredBlob).where(StoredBlob.sha256 == _check(key)))

    def sweep(self, referenced_by: Iterable[Any], grace_seconds: int) -> int:
        cutoff = utcnow() - timedelta(seconds=grace_seconds)
        stmt = sa.delete(StoredBlob).where(StoredBlob.stored_at < cutoff)
        for column in referenced_by:
            stmt = stmt.where(~sa.exists().where(column == StoredBlob.sha256))
        return db.session.execute(stmt.execution_options(synchronize_session=False)).rowcount or 0

    def describe(self) -> str:
        return "database (table stored_blobs)"


class FilesystemStorage:
    """Bytes in files under ``root`` (STORAGE_DIR), by content hash."""

    name = "filesystem"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / _check(key)[:2] / key

    def put(self, data: bytes) -> str:
        key = key_of(data)
        path = self.path(key)
        try:
            os.utime(path)  # renew: the sweep keeps it while a transaction may still be recording it
            return key
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    def get(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            raise BlobMissing(key) from None

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def sweep(self, referenced_by: Iterable[Any], grace_seconds: int) -> int:
        """Reads directory entries and their times, never file content."""
        if not self.root.is_dir():
            return 0
        cutoff = time.time() - grace_seconds
        candidates: dict[str, Path] = {}
        stale_tmp: list[Path] = []
        for sub in self.root.iterdir():
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
                elif KEY_RE.fullmatch(path.name) and path.name.startswith(sub.name):
                    candidates[path.name] = path
        referenced: set[str] = set()
        names = list(candidates)
        columns = list(referenced_by)
        for i in range(0, len(names), 500):
            chunk = names[i:i + 500]
            for column in columns:
                referenced.update(db.session.scalars(sa.select(column).where(column.in_(chunk))))
        removed = 0
        for key, path in candidates.items():
            if key not in referenced:
                path.unlink(missing_ok=True)
                removed += 1
        for path in stale_tmp:
            path.unlink(missing_ok=True)
            removed += 1
        return removed

    def describe(self) -> str:
        return f"filesystem ({self.root})"


def for_settings(settings: Settings) -> Storage:
    if settings.storage_backend == "filesystem":
        if settings.storage_dir is None:
            raise RuntimeError("STORAGE_BACKEND=filesystem needs STORAGE_DIR")
        return FilesystemStorage(settings.storage_dir)
    return DatabaseStorage()


def current() -> Storage:
    """The storage of the current app's settings."""
    return for_settings(current_app.config["HELPDESK"])


def import_files(root: Path, keys: Iterable[str], storage: Storage | None = None) -> tuple[list[str], list[str]]:
    """Copy into ``storage`` the files ``root/<sha[:2]>/<sha>`` for ``keys`` it lacks (a
    file whose content does not match its name is not copied). Returns (copied, missing)."""
    storage = storage or current()
    copied, missing = [], []
    for key in keys:
        if storage.exists(key):
            continue
        path = Path(root) / key[:2] / key
        try:
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            missing.append(key)
            continue
        if key_of(data) != key:
            missing.append(key)
            continue
        storage.put(data)
        copied.append(key)
    return copied, missing
