"""The append-only audit log every area writes through.

``record`` adds an event to the current session; the calling service commits it in
the same transaction as the change it describes. Rows are never updated or deleted
by the application (enforced by mapper and session events below); the exceptions are
``seal``, which stamps each event once with the batch that sealed it, and ``prune``,
which removes whole sealed batches older than the retention period from the start of
the log.

Tamper evidence comes in two steps, so that writers never wait on each other:

* At insert each event gets ``hash`` = SHA-256 over a canonical serialisation of its
  own fields (``before_flush``; no lock, no read). A change to any field shows.
* ``seal`` (a periodic job, every second: ``helpdesk.periodic``) takes every event not
  yet sealed, in id order, as one batch (``audit_seals`` row): the batch stores how
  many events it holds, its first and last id, ``root`` = SHA-256 over the events'
  ``id:hash`` lines, and ``prev_hash``, the hash of the batch before it; its own
  ``hash`` covers all of that. Batches form the chain. The head of the chain (last
  batch, and the anchor left by pruning) lives in the one-row ``audit_chain_head``
  table, locked (``SELECT … FOR UPDATE``) only by ``seal`` and ``prune``, so two
  sealers can't fork the chain. An event that commits after a later id was sealed
  (a longer transaction) simply goes into the next batch: no event is skipped.

``verify`` walks the batches in order and reports the first broken one (and the event,
when an event's own fields were changed); events not sealed yet are checked against
their own hash and counted as pending. Until its batch is sealed (about a second), an
event deleted outright is not detectable: that window is the price of not serialising
every write on one row.

Events written before batches existed (format v1) carry ``prev_hash``, the chain link
of that time; their hash still covers it, and the first seal took them in like any
other event.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
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
    # the v1 chain link (events written before batches existed); None since
    prev_hash: Mapped[str | None] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))
    # the batch that sealed it (``seal``); None until then
    seal_id: Mapped[int | None] = mapped_column(sa.ForeignKey("audit_seals.id"), index=True)


class AuditSeal(db.Model):
    """One sealed batch of events: the unit of the chain."""

    __tablename__ = "audit_seals"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    sealed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    events: Mapped[int]
    first_event_id: Mapped[int]
    last_event_id: Mapped[int]
    # the newest event's created_at: prune deletes a batch once it is past retention
    newest_at: Mapped[datetime] = mapped_column(UTCDateTime())
    root: Mapped[str] = mapped_column(sa.String(64))
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))


# The admin search filters by one of these and pages by id (keyset).
sa.Index("ix_audit_events_actor_id_id", AuditEvent.actor_id, AuditEvent.id)
sa.Index("ix_audit_events_action_id", AuditEvent.action, AuditEvent.id)
sa.Index("ix_audit_events_object_id_id", AuditEvent.object_type, AuditEvent.object_id, AuditEvent.id)


class AuditChainHead(db.Model):
    """One row (id 1): the last sealed batch (id and hash), and the last pruned batch
    that the first batch kept links to."""

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


# ---------------------------------------------------------------- hashes and batches


def canonical_time(value: datetime) -> str:
    """UTC with microseconds: what both SQLite and PostgreSQL give back."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _digest(payload: dict[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def event_hash(
    *, created_at: datetime, actor_id: int | None, action: str, object_type: str, object_id: str | None,
    changes: Any, ip: str | None, severity: str, prev_hash: str | None = None,
) -> str:
    """An event's own hash (v2); with ``prev_hash``, the v1 form of the old chain."""
    payload = {
        "v": 1 if prev_hash is not None else 2,
        "created_at": canonical_time(created_at),
        "actor_id": actor_id,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "changes": changes,
        "ip": ip,
        "severity": severity,
    }
    if prev_hash is not None:
        payload["prev_hash"] = prev_hash
    return _digest(payload)


def _row_hash(row: Any) -> str:
    return event_hash(
        created_at=row.created_at, actor_id=row.actor_id, action=row.action, object_type=row.object_type,
        object_id=row.object_id, changes=row.changes, ip=row.ip, severity=row.severity, prev_hash=row.prev_hash,
    )


def batch_root(rows: Sequence[Any]) -> str:
    """SHA-256 over the ``id:hash`` lines of a batch's events, in id order."""
    return hashlib.sha256("\n".join(f"{r.id}:{r.hash}" for r in rows).encode("ascii")).hexdigest()


def seal_hash(*, id: int, sealed_at: datetime, events: int, first_event_id: int, last_event_id: int,
              newest_at: datetime, root: str, prev_hash: str) -> str:
    return _digest({"v": 2, "id": id, "sealed_at": canonical_time(sealed_at), "events": events,
                    "first_event_id": first_event_id, "last_event_id": last_event_id,
                    "newest_at": canonical_time(newest_at), "root": root, "prev_hash": prev_hash})


def _seal_row_hash(s: Any) -> str:
    return seal_hash(id=s.id, sealed_at=s.sealed_at, events=s.events, first_event_id=s.first_event_id,
                     last_event_id=s.last_event_id, newest_at=s.newest_at, root=s.root, prev_hash=s.prev_hash)


def hash_new_events(session: Session, _flush_context: Any, _instances: Any) -> None:
    """Each new event's own hash, before it is written (no lock, no read)."""
    for ev in session.new:
        if isinstance(ev, AuditEvent) and ev.hash is None:
            ev.created_at = (ev.created_at or utcnow()).astimezone(UTC)
            ev.severity = ev.severity or "info"
            ev.hash = _row_hash(ev)


_head = AuditChainHead.__table__
_events = AuditEvent.__table__
_seals = AuditSeal.__table__


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


@dataclass(frozen=True)
class SealResult:
    batches: int
    events: int


def seal(*, batch_size: int = 20_000, now: datetime | None = None) -> SealResult:
    """Seal every event not sealed yet, in id order, in batches of at most
    ``batch_size`` (one transaction each, under the chain head's lock). Safe to run
    twice at once: the second waits for the lock, then finds nothing left."""
    batches = events = 0
    while True:
        with unit_of_work():
            conn = db.session.connection()
            head = lock_head(conn)
            rows = conn.execute(
                sa.select(_events.c.id, _events.c.hash, _events.c.created_at)
                .where(_events.c.seal_id.is_(None)).order_by(_events.c.id).limit(batch_size)
            ).all()
            if not rows:
                break
            values = dict(id=(head.last_id or head.anchor_id or 0) + 1, sealed_at=(now or utcnow()).astimezone(UTC),
                          events=len(rows), first_event_id=rows[0].id, last_event_id=rows[-1].id,
                          newest_at=max(r.created_at for r in rows).astimezone(UTC), root=batch_root(rows),
                          prev_hash=head.last_hash)
            values["hash"] = seal_hash(**values)
            conn.execute(sa.insert(_seals).values(**values))
            ids = [r.id for r in rows]
            for i in range(0, len(ids), 5000):  # the one write to an event: which batch sealed it
                conn.execute(sa.update(_events).where(_events.c.id.in_(ids[i:i + 5000])).values(seal_id=values["id"]))
            conn.execute(sa.update(_head).where(_head.c.id == 1).values(last_id=values["id"], last_hash=values["hash"]))
        batches += 1
        events += len(rows)
        if len(rows) < batch_size:
            break
    return SealResult(batches, events)


@dataclass(frozen=True)
class VerifyResult:
    checked: int
    head_hash: str
    broken_id: int | None = None
    reason: str | None = None
    broken_batch: int | None = None
    pending: int = 0

    @property
    def ok(self) -> bool:
        return self.broken_id is None and self.broken_batch is None


def _event_chunks(where: Any, batch_size: int) -> Iterator[list[Any]]:
    """The audit events matching ``where``, in id order, ``batch_size`` rows at a time (keyset)."""
    after = None
    while True:
        stmt = sa.select(_events).where(where)
        if after is not None:
            stmt = stmt.where(_events.c.id > after)
        chunk = db.session.execute(stmt.order_by(_events.c.id).limit(batch_size)).all()
        if not chunk:
            return
        yield chunk
        after = chunk[-1].id


def verify(*, batch_size: int = 1000, progress: Callable[[int], None] | None = None) -> VerifyResult:
    """Walk the sealed batches in order, each batch's events in id order, then the
    events not sealed yet; stop at the first break."""
    head = db.session.execute(sa.select(_head).where(_head.c.id == 1)).one_or_none()
    last_hash = head.last_hash if head is not None else GENESIS
    expected_prev = head.anchor_hash if head is not None else GENESIS
    checked, last_seal = 0, head.anchor_id if head is not None else None
    seals = db.session.execute(sa.select(_seals).order_by(_seals.c.id)).all()
    for s in seals:
        if s.prev_hash != expected_prev:
            return VerifyResult(checked, last_hash, None, "the batch does not link to the batch before it "
                                "(an earlier batch was removed or changed)", broken_batch=s.id)
        if _seal_row_hash(s) != s.hash:
            return VerifyResult(checked, last_hash, None, "the batch's fields do not match its hash "
                                "(the batch was altered)", broken_batch=s.id)
        rows: list[Any] = []
        for chunk in _event_chunks(_events.c.seal_id == s.id, batch_size):
            for row in chunk:
                if _row_hash(row) != row.hash:
                    return VerifyResult(checked, last_hash, row.id, "the event's fields do not match its hash "
                                        "(the event was altered)", broken_batch=s.id)
                rows.append(_IdHash(row.id, row.hash))
                checked += 1
            if progress is not None:
                progress(len(chunk))
        if (len(rows) != s.events or batch_root(rows) != s.root
                or (rows and (rows[0].id != s.first_event_id or rows[-1].id != s.last_event_id))):
            return VerifyResult(checked, last_hash, None, "the batch's events do not match its root "
                                "(an event was removed, added or re-hashed)", broken_batch=s.id)
        expected_prev, last_seal = s.hash, s.id
    if head is not None and (last_seal != head.last_id or expected_prev != head.last_hash):
        return VerifyResult(checked, last_hash, None, "the chain head does not match the last batch "
                            "(batches at the end were removed)", broken_batch=head.last_id)
    pending = 0
    for chunk in _event_chunks(_events.c.seal_id.is_(None), batch_size):  # not sealed yet: each against its own hash
        for row in chunk:
            if _row_hash(row) != row.hash:
                return VerifyResult(checked, last_hash, row.id, "the event's fields do not match its hash "
                                    "(the event was altered; it is not sealed yet)", pending=pending)
            pending += 1
            checked += 1
        if progress is not None:
            progress(len(chunk))
    db.session.expire_all()
    return VerifyResult(checked, last_hash, pending=pending)


@dataclass(frozen=True)
class _IdHash:
    id: int
    hash: str


def events_to_verify() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(_events)) or 0


# ---------------------------------------------------------------- retention


@dataclass(frozen=True)
class PruneResult:
    deleted: int
    cutoff: datetime
    anchor_id: int | None


def prune(*, retention_days: int, now: datetime | None = None, batch_size: int = 100) -> PruneResult:
    """Delete the sealed batches whose newest event is older than the retention period,
    from the start of the chain, stopping at the first batch still within it (events not
    sealed yet are never deleted). Each step moves the anchor (last deleted batch id
    and hash) in the same transaction, so ``verify`` still passes; an
    ``audit.pruned`` event records what was done. ``anchor_id`` is the last deleted
    event's id."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    deleted, anchor_id = 0, None
    while True:
        with unit_of_work():
            conn = db.session.connection()
            lock_head(conn)
            seals = conn.execute(
                sa.select(_seals.c.id, _seals.c.hash, _seals.c.newest_at, _seals.c.last_event_id)
                .order_by(_seals.c.id).limit(batch_size)
            ).all()
            old = []
            for s in seals:
                if s.newest_at >= cutoff:
                    break
                old.append(s)
            if not old:
                break  # nothing to delete (the unit ends the read)
            last = old[-1]
            ids = [s.id for s in old]
            gone = conn.execute(sa.delete(_events).where(_events.c.seal_id.in_(ids))).rowcount
            conn.execute(sa.delete(_seals).where(_seals.c.id.in_(ids)))
            conn.execute(sa.update(_head).where(_head.c.id == 1).values(anchor_id=last.id, anchor_hash=last.hash))
        deleted += gone
        anchor_id = last.last_event_id
        if len(old) < len(seals) or len(seals) < batch_size:
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
