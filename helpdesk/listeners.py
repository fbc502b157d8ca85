"""Every SQLAlchemy event listener of the application, registered in one place.

``register()`` is called once by ``create_app`` (it is idempotent: the listeners are
process-wide, and the test-suite builds more than one app). Nothing registers a
listener at import time.

Listeners are kept for mechanical concerns only — guards that refuse a write whatever
path it takes, and the audit log's hash chain, which must cover every row inserted. They
do no domain work: what a change *means* (the dashboard days it makes stale, the jobs
and timers it schedules, the notices it sends) is done explicitly by the service that
makes it, inside its unit of work (``helpdesk.db.unit_of_work``).

* Messages are never edited in place (a correction is a new ``MessageVersion``): three
  guards, on the mapper (``before_update``) and on bulk ``UPDATE`` statements, which
  skip the mapper events.
* The audit log is append-only: three guards (update, delete, bulk statements).
* The audit log's event hashes: each new event gets the hash of its own fields before
  it is written (``before_flush``; no lock: the periodic ``audit.seal`` chains them in
  batches). Integrity bookkeeping of the rows themselves, like a computed column, so it
  cannot be left to each caller of ``audit.record``.
* A unit of work that prefers lean writes (``helpdesk.db.new_rows_unit``) writes its new
  rows in one statement at every flush, before the ORM's flush does the rest
  (``helpdesk.inserts``): bookkeeping of how rows are written, like the flush itself.
* A job for a row not written yet (``helpdesk.jobs.enqueue_for``) gets its outbox row
  after the flush that gives the row its id (``after_flush_postexec``).
* The short-lived caches (``helpdesk.cache``: SLA policies and calendars, queues, webhook
  subscriptions, API tokens) are emptied when one of those rows is written through the
  ORM, and on any rollback (they may hold rows the rollback undid); API tokens are
  retired on every host after a commit that changed one (``helpdesk.api.token_cache``).
* Each new SQLite connection gets the SQL functions ticket search uses, which
  PostgreSQL gets from a migration; each PostgreSQL connection the name search's trigram
  threshold (``helpdesk.tickets.search.prepare_connection``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from helpdesk import audit, cache, inserts, jobs
from helpdesk.api import token_cache
from helpdesk.audit import AuditEvent
from helpdesk.auth.models import User
from helpdesk.jobs import OutboxJob
from helpdesk.sla.models import SlaCalendar, SlaMetric, SlaPolicy, SlaPolicyVersion, SlaQueueSettings, TicketSla
from helpdesk.tickets import models as tickets
from helpdesk.tickets.models import Message, MessageVersion
from helpdesk.tickets.search import prepare_connection
from helpdesk.webhooks.models import WebhookEndpoint

LISTENERS: list[tuple[Any, str, Callable[..., Any]]] = [
    # messages are never edited in place
    (Message, "before_update", tickets.refuse_body_update),
    (MessageVersion, "before_update", tickets.refuse_version_update),
    (Session, "do_orm_execute", tickets.refuse_bulk_body_update),
    # the audit log is append-only
    (AuditEvent, "before_update", audit.refuse_update),
    (AuditEvent, "before_delete", audit.refuse_delete),
    (Session, "do_orm_execute", audit.refuse_bulk_changes),
    # the audit log's event hashes
    (Session, "before_flush", audit.hash_new_events),
    # a unit that writes a new request lean: every flush writes its new rows together first
    (Session, "before_flush", inserts.before_orm_flush),
    # the outbox rows of jobs for rows that had no id yet (``jobs.enqueue_for``)
    (Session, "after_flush_postexec", jobs.enqueue_flushed),
    # the short-lived caches
    *[(model, name, cache.invalidate)
      for model in (SlaPolicy, SlaCalendar, SlaPolicyVersion, SlaQueueSettings, tickets.Queue, WebhookEndpoint)
      for name in ("after_insert", "after_update", "after_delete")],
    (Session, "after_soft_rollback", cache.invalidate),
    # API tokens cached on every host: a committed change retires them all
    (Session, "after_flush", token_cache.note_flush),
    (Session, "do_orm_execute", token_cache.note_bulk),
    (Session, "after_commit", token_cache.publish),
    (Session, "after_soft_rollback", token_cache.forget),
    # ticket search: SQL functions on SQLite, the trigram threshold on PostgreSQL
    (Engine, "connect", prepare_connection),
]


#: What a new request writes, which ``helpdesk.inserts`` may write in one statement
#: (``helpdesk.db.new_rows_unit``): simple tables, one integer id from a sequence.
LEAN_INSERTS: tuple[type, ...] = (User, AuditEvent, tickets.Ticket, Message, TicketSla, SlaMetric, OutboxJob)


def register() -> None:
    """Register every listener (once per process), and the classes written lean."""
    inserts.allow(*LEAN_INSERTS)
    for target, name, fn in LISTENERS:
        if not event.contains(target, name, fn):
            event.listen(target, name, fn)
