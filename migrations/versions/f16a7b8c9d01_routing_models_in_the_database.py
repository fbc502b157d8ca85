"""routing models: the compiled model's bytes in the database, at most one active

Revision ID: f16a7b8c9d01
Revises: e1c2a3b4d5f6
Create Date: 2026-12-12 10:00:00

Until now a version row pointed at files on one host's disk (``path``: ``<version>.joblib``
and its compiled twin ``<version>.compiled.npz`` under MODEL_DIR, default
``<instance>/models``), so a second host could not load the model. This revision adds
``artefact`` (the compiled model's bytes), ``sha256``, ``size`` and ``note``, and moves
each row's model into the database:

- the compiled twin's bytes when that file exists (as the router loaded them);
- else, when only the scikit-learn ``.joblib`` file exists (a version from before
  compiled files), it is compiled here, as ``flask routing activate`` used to do;
- else the row keeps no bytes, is made inactive, and ``note`` says why: it can no longer
  be activated (``flask routing models`` shows it as NOT USABLE).

Run the upgrade once on a host that has the model files (with ``MODEL_DIR`` set if the
deployment had set it). Then ``path`` is dropped and a partial unique index keeps at most
one active row. The downgrade writes each stored model back as
``<MODEL_DIR>/<version>.compiled.npz`` and points ``path`` at ``<version>.joblib`` (the old
code loads the compiled twin next to that name).
"""
import hashlib
import logging
import os
from pathlib import Path

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'f16a7b8c9d01'
down_revision = 'e1c2a3b4d5f6'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

models = sa.table(
    "routing_models",
    sa.column("id", sa.Integer), sa.column("version", sa.String), sa.column("path", sa.String),
    sa.column("active", sa.Boolean), sa.column("activated_at", sa.DateTime),
    sa.column("artefact", sa.LargeBinary), sa.column("sha256", sa.String), sa.column("size", sa.Integer),
    sa.column("note", sa.String),
)


def _model_dir() -> Path:
    """Where the old code kept model files: MODEL_DIR, else <instance>/models."""
    if os.environ.get("MODEL_DIR"):
        return Path(os.environ["MODEL_DIR"])
    try:
        from flask import current_app

        return Path(current_app.config["HELPDESK"].instance_path) / "models"
    except (ImportError, RuntimeError, KeyError):  # alembic run without the Flask app
        return Path("instance") / "models"


def _compiled_twin(path: Path) -> Path:
    stem = path.name[: -len(".joblib")] if path.name.endswith(".joblib") else path.name
    return path.with_name(stem + ".compiled.npz")


def _compile_joblib(path: Path) -> bytes:
    # Only for a version saved before compiled files existed: needs scikit-learn.
    from helpdesk.routing import classifier, compiled

    return compiled.dumps(compiled.compile_router(classifier.load(path)))


def _read_model(stored: str, model_dir: Path) -> tuple[bytes | None, str | None]:
    """(bytes, None) or (None, why not)."""
    path = Path(stored)
    if not path.is_absolute():
        path = model_dir / path
    twin = _compiled_twin(path)
    try:
        if twin.is_file():
            return twin.read_bytes(), None
        if path.is_file():
            return _compile_joblib(path), None
    except Exception as exc:  # unreadable or not compilable: the row is kept, unusable
        return None, f"not moved into the database: {path.name} could not be read or compiled ({type(exc).__name__})"
    return None, f"not moved into the database: no model file {twin.name} or {path.name} in {model_dir}"


def upgrade():
    with op.batch_alter_table('routing_models', schema=None) as batch_op:
        batch_op.add_column(sa.Column('artefact', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('size', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('note', sa.String(length=300), nullable=True))

    bind = op.get_bind()
    rows = bind.execute(sa.select(models.c.id, models.c.version, models.c.path, models.c.active)
                        .order_by(models.c.id)).all()
    model_dir = _model_dir()
    for row in rows:
        data, note = _read_model(row.path, model_dir)
        if data is not None:
            values = {"artefact": data, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "note": None}
            log.info("routing model %s: moved into the database (%d bytes)", row.version, len(data))
        else:
            values = {"active": False, "note": note}
            log.warning("routing model %s: %s%s", row.version, note, " (was active: deactivated)" if row.active else "")
        bind.execute(models.update().where(models.c.id == row.id).values(**values))

    # at most one active row before the index that enforces it: keep the latest activation
    active = bind.execute(sa.select(models.c.id).where(models.c.active.is_(True))
                          .order_by(models.c.activated_at.desc().nulls_last(), models.c.id.desc())).scalars().all()
    if len(active) > 1:
        bind.execute(models.update().where(models.c.id.in_(active[1:])).values(active=False))

    with op.batch_alter_table('routing_models', schema=None) as batch_op:
        batch_op.drop_column('path')
    op.create_index('uq_routing_models_one_active', 'routing_models', ['active'], unique=True,
                    sqlite_where=sa.text('active'), postgresql_where=sa.text('active'))


def downgrade():
    op.drop_index('uq_routing_models_one_active', table_name='routing_models',
                  sqlite_where=sa.text('active'), postgresql_where=sa.text('active'))
    with op.batch_alter_table('routing_models', schema=None) as batch_op:
        batch_op.add_column(sa.Column('path', sa.String(length=500), nullable=True))

    bind = op.get_bind()
    model_dir = _model_dir()
    for row in bind.execute(sa.select(models.c.id, models.c.version, models.c.artefact)).all():
        if row.artefact is not None:
            model_dir.mkdir(parents=True, exist_ok=True)
            target = model_dir / f"{row.version}.compiled.npz"
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(bytes(row.artefact))
        bind.execute(models.update().where(models.c.id == row.id).values(path=f"{row.version}.joblib"))

    with op.batch_alter_table('routing_models', schema=None) as batch_op:
        batch_op.alter_column('path', existing_type=sa.String(length=500), nullable=False)
        batch_op.drop_column('note')
        batch_op.drop_column('size')
        batch_op.drop_column('sha256')
        batch_op.drop_column('artefact')
