"""stored blobs: attachments and raw inbound mail in the database

Attachments and raw inbound mail were files under ATTACHMENT_DIR (default
``instance/attachments``) at ``<sha256[:2]>/<sha256>``, on one host's disk. From now on
they go through helpdesk.storage, whose default backend is the new ``stored_blobs``
table (STORAGE_BACKEND=database).

Data: every distinct SHA-256 that an attachment or an inbound mail refers to is looked
up in the old directory of the host running this migration and copied — into
``stored_blobs`` with the database backend, into STORAGE_DIR with the filesystem backend
(when that is another directory). A file whose content does not match its name is not
copied. The ones not found are reported (attachment and inbound-mail ids, never file
names) on the migration log: copy them from the host that has them with
``flask storage import-files DIR`` and list what is still missing with ``flask storage check``.
No column held a local path (rows keep only the hash), so none is dropped. An index on
``inbound_mails.raw_sha256`` serves the sweep of unreferenced blobs.

Downgrade writes the blobs back as files under the old directory, then drops the table.

Revision ID: f3b4c5d6e7a8
Revises: f16a7b8c9d01
Create Date: 2026-12-06 23:14:20.549617

"""
import hashlib
import logging
import os
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from flask import current_app

import helpdesk.timeutil

# revision identifiers, used by Alembic.
revision = 'f3b4c5d6e7a8'
down_revision = 'f16a7b8c9d01'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

blobs = sa.table(
    "stored_blobs",
    sa.column("sha256", sa.String), sa.column("size", sa.BigInteger), sa.column("data", sa.LargeBinary),
    sa.column("stored_at", helpdesk.timeutil.UTCDateTime()),
)
attachments = sa.table("attachments", sa.column("id", sa.Integer), sa.column("sha256", sa.String))
inbound_mails = sa.table("inbound_mails", sa.column("id", sa.Integer), sa.column("raw_sha256", sa.String))


def _settings():
    return current_app.config["HELPDESK"]


def _old_dir() -> Path:
    """Where the files were: ATTACHMENT_DIR, else the instance's attachments folder."""
    given = os.environ.get("ATTACHMENT_DIR")
    return Path(given) if given else _settings().instance_path / "attachments"


def _write_file(root: Path, key: str, data: bytes) -> None:
    path = root / key[:2] / key
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _referenced(conn) -> list[str]:
    keys = conn.execute(sa.union(sa.select(attachments.c.sha256), sa.select(inbound_mails.c.raw_sha256))).scalars()
    return sorted(k for k in keys if k and re.fullmatch(r"[0-9a-f]{64}", k))


def _copy_old_files() -> None:
    conn = op.get_bind()
    settings = _settings()
    old = _old_dir()
    backend = settings.storage_backend
    target = Path(settings.storage_dir) if backend == "filesystem" and settings.storage_dir else None
    if backend == "filesystem" and target is not None and target.resolve() == old.resolve():
        copy_to = None  # the files stay where they are
    else:
        copy_to = backend
    copied, missing = 0, []
    for key in _referenced(conn):
        if copy_to == "database":
            if conn.execute(sa.select(blobs.c.sha256).where(blobs.c.sha256 == key)).first():
                continue
        elif copy_to == "filesystem" and (target / key[:2] / key).exists():
            continue
        path = old / key[:2] / key
        try:
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            missing.append(key)
            continue
        if hashlib.sha256(data).hexdigest() != key:
            missing.append(key)
            continue
        if copy_to == "database":
            conn.execute(blobs.insert().values(sha256=key, size=len(data), data=data, stored_at=datetime.now(UTC)))
        elif copy_to == "filesystem":
            _write_file(target, key, data)
        copied += 1
    where = "the database" if copy_to == "database" else str(target or old)
    log.info("stored files: %d copied from %s into %s", copied if copy_to else 0, old, where)
    if missing:
        ids = []
        for i in range(0, len(missing), 500):
            chunk = missing[i:i + 500]
            ids += [f"attachment {n}" for n in conn.execute(
                sa.select(attachments.c.id).where(attachments.c.sha256.in_(chunk)).order_by(attachments.c.id)).scalars()]
            ids += [f"inbound mail {n}" for n in conn.execute(
                sa.select(inbound_mails.c.id).where(inbound_mails.c.raw_sha256.in_(chunk))
                .order_by(inbound_mails.c.id)).scalars()]
        log.warning("stored files: %d file(s) not found under %s (%s); copy them from the host that has them "
                    "with `flask storage import-files DIR`", len(missing), old, ", ".join(ids[:200]) +
                    (" …" if len(ids) > 200 else ""))


def upgrade():
    op.create_table('stored_blobs',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('stored_at', helpdesk.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('sha256', name=op.f('pk_stored_blobs'))
    )
    with op.batch_alter_table('stored_blobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stored_blobs_stored_at'), ['stored_at'], unique=False)

    with op.batch_alter_table('inbound_mails', schema=None) as batch_op:
        batch_op.create_index('ix_inbound_mails_raw_sha256', ['raw_sha256'], unique=False)

    _copy_old_files()


def downgrade():
    conn = op.get_bind()
    old = _old_dir()
    written = 0
    for key in conn.execute(sa.select(blobs.c.sha256)).scalars().all():
        data = conn.execute(sa.select(blobs.c.data).where(blobs.c.sha256 == key)).scalar_one()
        _write_file(old, key, bytes(data))
        written += 1
    log.info("stored files: %d blob(s) written back under %s", written, old)

    with op.batch_alter_table('inbound_mails', schema=None) as batch_op:
        batch_op.drop_index('ix_inbound_mails_raw_sha256')

    with op.batch_alter_table('stored_blobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stored_blobs_stored_at'))

    op.drop_table('stored_blobs')
