"""The one way services end a unit of work."""

from __future__ import annotations

from typing import Any

from helpdesk import jobs
from helpdesk.extensions import db


def commit() -> None:
    """Commit the current transaction, then dispatch the jobs it enqueued."""
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        jobs.discard_pending()
        raise
    jobs.dispatch_pending()


def rollback() -> None:
    db.session.rollback()
    jobs.discard_pending()


def conflict_insert(table: Any, dialect_name: str) -> Any:
    """``INSERT`` with ``ON CONFLICT`` (do nothing / do update) on PostgreSQL and SQLite;
    None on other databases, where the caller falls back to update-then-insert."""
    if dialect_name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect_name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        return None
    return insert(table)
