"""The append-only audit log every area writes through.

``record`` adds an event to the current session; the calling service commits it in
the same transaction as the change it describes. Rows are never updated or deleted
by the application (enforced by mapper and session events below); the one exception
is ``prune``, which removes events older than the retention period from the start of
the log.

The log is a hash chain: each event stores the hash of the one before it
(``prev_hash``) and ``hash`` = SHA-256 over a canonical serialisation of its own
fields and ``prev_hash``. The head of the chain (last id and hash, and the anchor
left by pruning) lives in the one-row ``audit_chain_head`` table, which is locked
(``SELECT … FOR UPDATE``; SQLite has a single writer) by the flush that inserts
events, so concurrent writers append one after the other and can't fork the chain.
``verify`` walks the chain and reports the first broken link.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from helpdesk.db import conflict_insert, unit_of_work
from helpdesk.extensions import db
from helpdesk.proxy import client_address
from helpdesk.timeutil import UTCDateTime, utcnow

GENESIS = "0" * 64


class AuditEvent(db.Model):
    __tablename__ = "audit_events"
    __table_args__ = (
        sa.Index("ix_audit_events_object", "object_type", "object_id", "created_at"),
        sa.Index("ix_audit_events_actor_created", "actor_id", "created_at"),
        sa.Index("ix_audit_events_action_created", "action", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(sa.String(64))
    object_type: Mapped[str] = mapped_column(sa.String(32))
    object_id: Mapped[str | None] = mapped_column(sa.String(64))
    # {"field": {"before": ..., "after": ...}} or free-form details (never message text).
    changes: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    severity: Mapped[str] = mapped_column(sa.String(8), default="info", server_default="info")
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))


# The admin search filters by one of these and pages by id (keyset).
sa.Index("ix_audit_events_actor_id_id", AuditEvent.actor_id, AuditEvent.id)
sa.Index("ix_audit_events_action_id", AuditEvent.action, AuditEvent.id)
sa.Index("ix_audit_events_object_id_id", AuditEvent.object_type, AuditEvent.object_id, AuditEvent.id)


class AuditChainHead(db.Model):
    """One row (id 1): where the chain ends, and where it starts after pruning."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_id: Mapped[int | None]
    last_hash: Mapped[str] = mapped_column(sa.String(64))
    # After a prune: the last deleted event and its hash, which the first kept event links to.
    anchor_id: Mapped[int | None]
    anchor_hash: Mapped[str] = mapped_column(sa.String(64))


class AuditLogIsAppendOnly(RuntimeError):
    pass


# The append-only guards and the hash chain below are registered by helpdesk.listeners
# (from create_app): they hold for every write, whatever path it takes.


def refuse_bulk_changes(state) -> None:
    """``session.execute(update(AuditEvent)…)`` skips the mapper events: refuse it here."""
    if state.is_orm_statement and (state.is_update or state.is_delete) and any(
        m.class_ is AuditEvent for m in state.all_mappers
    ):
        raise AuditLogIsAppendOnly("audit events are never updated or deleted")


def refuse_update(*_args: Any) -> None:
    raise AuditLogIsAppendOnly("audit events are never updated")


def refuse_delete(*_args: Any) -> None:
    raise AuditLogIsAppendOnly("audit events are never deleted")


def record(
    action: str,
    object_type: str,
    object_id: str | int | None,
    *,
    actor_id: int | None,
    changes: dict[str, Any] | None = None,
    severity: str = "info",
) -> AuditEvent:
    """Add an audit event to the current transaction (the caller commits).

    ``changes`` is stored as it reads back from JSON (tuples become lists, keys strings,
    other values their text), so that the event hashes the same before and after the
    database round-trip."""
    ev = AuditEvent(
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        actor_id=actor_id,
        changes=json.loads(json.dumps(changes, default=str)) if changes else None,
        ip=client_address(),
        severity=severity,
        created_at=utcnow(),
    )
    db.session.add(ev)
    return ev


def record_export(kind: str, *, actor_id: int | None, filters: dict[str, Any] | None = None) -> None:
    """A staff member downloaded data (CSV/JSON): an ``export.<kind>`` event, committed
    at once (an export is a read, with no other transaction to join)."""
    with unit_of_work():
        record(f"export.{kind}", "export", kind, actor_id=actor_id,
               changes={"filters": {k: v for k, v in (filters or {}).items() if v not in (None, "")}})


# ---------------------------------------------------------------- the hash chain


def canonical_time(value: datetime) -> str:
    """UTC with microseconds: what both SQLite and PostgreSQL give back."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(
    *, created_at: datetime, actor_id: int | None, action: str, object_type: str, object_id: str | None,
    changes: Any, ip: str | None, severity: str, prev_hash: str,
) -> str:
    payload = {
        "v": 1,
        "created_at": canonical_time(created_at),
        "actor_id": actor_id,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "changes": changes,
        "ip": ip,
        "severity": severity,
        "prev_hash": prev_hash,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _row_hash(row: Any) -> str:
    return event_hash(
        created_at=row.created_at, actor_id=row.actor_id, action=row.action, object_type=row.object_type,
        object_id=row.object_id, changes=row.changes, ip=row.ip, severity=row.severity, prev_hash=row.prev_hash,
    )


_head = AuditChainHead.__table__
_events = AuditEvent.__table__


def lock_head(conn: sa.Connection) -> Any:
    """The chain head row, locked until the end of the transaction (created when missing)."""
    if conn.dialect.name == "sqlite":
        # Take SQLite's write lock before reading, so no other writer slips in between.
        conn.execute(sa.update(_head).where(_head.c.id == 1).values(id=1))
    stmt = sa.select(_head).where(_head.c.id == 1).with_for_update()
    row = conn.execute(stmt).one_or_none()
    if row is None:
        conn.execute(conflict_insert(_head, conn.dialect.name).values(id=1, last_id=None, last_hash=GENESIS, anchor_id=None,
                                          anchor_hash=GENESIS).on_conflict_do_nothing())
        row = conn.execute(stmt).one()
    return row


_PENDING_KEY = "audit_chain_pending"


def chain_new_events(session: Session, _flush_context: Any, _instances: Any) -> None:
    new = [o for o in session.new if isinstance(o, AuditEvent) and o.hash is None]
    if not new:
        return
    new.sort(key=lambda o: sa.inspect(o).insert_order)  # the order the rows get their ids
    head = lock_head(session.connection())
    prev = head.last_hash
    for ev in new:
        ev.created_at = (ev.created_at or utcnow()).astimezone(UTC)
        ev.severity = ev.severity or "info"
        ev.prev_hash = prev
        ev.hash = prev = _row_hash(ev)
    session.info.setdefault(_PENDING_KEY, []).extend(new)


def advance_head(session: Session, _flush_context: Any) -> None:
    pending = session.info.pop(_PENDING_KEY, None)
    if not pending:
        return
    last = max(pending, key=lambda o: o.id)
    session.connection().execute(
        sa.update(_head).where(_head.c.id == 1).values(last_id=last.id, last_hash=last.hash)
    )


def forget_pending(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)


@dataclass(frozen=True)
class VerifyResult:
    checked: int
    head_hash: str
    broken_id: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_id is None


def verify(*, batch_size: int = 1000, progress: Callable[[int], None] | None = None) -> VerifyResult:
    """Walk the chain in id order (in batches) and stop at the first broken link."""
    head = db.session.execute(sa.select(_head).where(_head.c.id == 1)).one_or_none()
    if head is None:
        first = db.session.scalar(sa.select(sa.func.min(_events.c.id)))
        if first is None:
            return VerifyResult(0, GENESIS)
        return VerifyResult(0, GENESIS, first, "the chain head is missing")
    # Every event left is newer than the anchor (prune deletes a prefix), so the walk starts
    # at the smallest id: SQLite may reuse ids once the whole log was pruned.
    expected_prev, after, checked, last_seen = head.anchor_hash, None, 0, head.anchor_id
    while True:
        stmt = sa.select(_events).where(_events.c.id <= (head.last_id or 0))
        if after is not None:
            stmt = stmt.where(_events.c.id > after)
        rows = db.session.execute(stmt.order_by(_events.c.id).limit(batch_size)).all()
        if not rows:
            break
        for row in rows:
            if row.prev_hash != expected_prev:
                return VerifyResult(checked, head.last_hash, row.id,
                                    "prev_hash does not match the hash of the event before it "
                                    "(an earlier event was removed or its hash changed)")
            if _row_hash(row) != row.hash:
                return VerifyResult(checked, head.last_hash, row.id,
                                    "the event's fields do not match its hash (the event was altered)")
            expected_prev, last_seen = row.hash, row.id
            checked += 1
        after = rows[-1].id
        if progress is not None:
            progress(len(rows))
        db.session.expire_all()
    if head.last_id is not None and (last_seen != head.last_id or expected_prev != head.last_hash):
        return VerifyResult(checked, head.last_hash, head.last_id,
                            "the chain head does not match the last event (events at the end were removed)")
    return VerifyResult(checked, head.last_hash)


def events_to_verify() -> int:
    head = db.session.execute(sa.select(_head).where(_head.c.id == 1)).one_or_none()
    if head is None:
        return 0
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(_events).where(_events.c.id <= (head.last_id or 0))
    ) or 0


# ---------------------------------------------------------------- retention


@dataclass(frozen=True)
class PruneResult:
    deleted: int
    cutoff: datetime
    anchor_id: int | None


def prune(*, retention_days: int, now: datetime | None = None, batch_size: int = 1000) -> PruneResult:
    """Delete the events older than the retention period, from the start of the log and
    in id order, stopping at the first event still within it. Each batch moves the
    anchor (last deleted id and hash) in the same transaction, so ``verify`` still
    passes; an ``audit.pruned`` event records what was done."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    deleted, anchor_id = 0, None
    while True:
        with unit_of_work():
            conn = db.session.connection()
            head = lock_head(conn)
            rows = conn.execute(
                sa.select(_events.c.id, _events.c.hash, _events.c.created_at)
                .where(_events.c.id <= (head.last_id or 0)).order_by(_events.c.id).limit(batch_size)
            ).all()
            old = []
            for row in rows:
                if row.created_at >= cutoff:
                    break
                old.append(row)
            if not old:
                break  # nothing to delete (the unit ends the read)
            last = old[-1]
            conn.execute(sa.delete(_events).where(_events.c.id <= last.id))
            conn.execute(sa.update(_head).where(_head.c.id == 1).values(anchor_id=last.id, anchor_hash=last.hash))
        deleted += len(old)
        anchor_id = last.id
        if len(old) < len(rows) or len(rows) < batch_size:
            break
    if deleted:
        with unit_of_work():
            record("audit.pruned", "audit", None, actor_id=None, changes={
                "deleted": deleted, "through_id": anchor_id, "cutoff": canonical_time(cutoff),
                "retention_days": retention_days,
            })
    return PruneResult(deleted, cutoff, anchor_id)


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Field-by-field before/after of the values that changed."""
    return {
        k: {"before": before.get(k), "after": after.get(k)}
        for k in after
        if before.get(k) != after.get(k)
    }
