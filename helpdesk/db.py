"""The one way services end a unit of work."""

from __future__ import annotations

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
