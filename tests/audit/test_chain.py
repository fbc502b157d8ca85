"""The audit log: each event hashed on its own, chained in sealed batches; verify finds
tampering and names the batch, prune keeps it verifiable."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from helpdesk import audit
from helpdesk.audit import GENESIS, AuditChainHead, AuditEvent, AuditLogIsAppendOnly, AuditSeal
from helpdesk.config import ConfigError, Settings
from helpdesk.db import commit
from helpdesk.extensions import db
from helpdesk.timeutil import simulated_clock


def write_events(n: int, action: str = "test.event", *, seal: bool = True, **changes) -> list[int]:
    """n events, each committed on its own; sealed in one batch at the end (``seal``)."""
    ids = []
    for i in range(n):
        ev = audit.record(action, "test", i, actor_id=None, changes={"i": i, **changes})
        commit()
        ids.append(ev.id)
    if seal:
        audit.seal()
    return ids


def seal_of(event_id: int) -> int:
    return db.session.scalar(sa.select(AuditEvent.seal_id).where(AuditEvent.id == event_id))


def verify_cli(app):
    return app.test_cli_runner().invoke(args=["audit", "verify", "--batch-size", "3"])


def test_a_clean_chain_passes_and_each_batch_links_to_the_one_before(app, ctx):
    first = write_events(4, note=("a", 1), when=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC))
    second = write_events(3)
    db.session.expire_all()
    events = list(db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)))
    assert [e.id for e in events] == first + second
    # what was hashed at insert is what comes back from the database (JSON, microseconds, UTC)
    assert events[0].changes["note"] == ["a", 1] and events[0].changes["when"].startswith("2026-01-02 03:04:05.678901")
    assert all(audit._row_hash(e) == e.hash and e.prev_hash is None for e in events)
    seals = list(db.session.scalars(sa.select(AuditSeal).order_by(AuditSeal.id)))
    assert [(s.events, s.first_event_id, s.last_event_id) for s in seals] == [(4, first[0], first[-1]),
                                                                             (3, second[0], second[-1])]
    assert {seal_of(i) for i in first} == {seals[0].id} and {seal_of(i) for i in second} == {seals[1].id}
    assert seals[0].prev_hash == GENESIS and seals[1].prev_hash == seals[0].hash
    assert db.session.get(AuditChainHead, 1).last_id == seals[-1].id

    result = verify_cli(app)
    assert result.exit_code == 0, result.output
    assert "7 event(s) checked; the chain is intact" in result.output


def test_events_not_sealed_yet_are_checked_and_counted_then_the_next_seal_takes_them(app, ctx):
    write_events(2)
    pending = write_events(3, seal=False)
    result = verify_cli(app)
    assert result.exit_code == 0 and "5 event(s) checked" in result.output
    assert "3 event(s) not sealed yet" in result.output
    assert audit.seal() == audit.SealResult(1, 3)
    assert audit.seal() == audit.SealResult(0, 0)  # a second run finds nothing left
    assert {seal_of(i) for i in pending} == {db.session.get(AuditChainHead, 1).last_id}
    assert "not sealed yet" not in verify_cli(app).output


@pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgres"),
                    reason="two writers at once: SQLite has one")
def test_an_event_committed_after_a_later_one_was_sealed_goes_into_the_next_batch(app, ctx):
    """A longer transaction's event has a lower id than events already sealed: it is not
    skipped, the next batch takes it."""
    late = audit.record("test.late", "test", None, actor_id=None)
    db.session.flush()  # its id is taken now, the commit comes later
    late_id = late.id
    with app.app_context():  # another session writes and seals meanwhile
        (early,) = write_events(1)
        db.session.remove()
    commit()
    assert seal_of(early) is not None and seal_of(late_id) is None
    audit.seal()
    assert seal_of(late_id) is not None and seal_of(late_id) != seal_of(early)
    assert audit.verify().ok


def test_the_periodic_job_seals(app, ctx):
    from helpdesk import periodic

    (event_id,) = write_events(1, seal=False)
    assert any(e.func is periodic.audit_seal_job and e.interval == 1 for e in periodic.SCHEDULE)
    periodic.audit_seal_job()
    assert seal_of(event_id) is not None


def test_an_empty_log_verifies(app, ctx):
    result = verify_cli(app)
    assert result.exit_code == 0 and "0 event(s) checked" in result.output


def test_a_field_changed_with_raw_sql_is_found(app, ctx):
    ids = write_events(6)
    with db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_events SET object_id = 'tampered' WHERE id = :id"), {"id": ids[3]})
    result = verify_cli(app)
    assert result.exit_code == 1
    assert f"Broken at event id {ids[3]} (batch {seal_of(ids[3])})" in result.stderr and "altered" in result.stderr
    assert "3 event(s) checked before the first break" in result.output


def test_a_field_changed_before_sealing_is_found(app, ctx):
    ids = write_events(3, seal=False)
    with db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_events SET action = 'tampered' WHERE id = :id"), {"id": ids[1]})
    result = verify_cli(app)
    assert result.exit_code == 1
    assert f"Broken at event id {ids[1]}" in result.stderr and "not sealed yet" in result.stderr


def test_a_rehashed_forgery_breaks_its_batch(app, ctx):
    write_events(2)
    ids = write_events(5)
    row = db.session.execute(sa.select(AuditEvent.__table__).where(AuditEvent.id == ids[1])).one()
    forged = audit.event_hash(created_at=row.created_at, actor_id=row.actor_id, action="test.forged",
                              object_type=row.object_type, object_id=row.object_id, changes=row.changes, ip=row.ip,
                              severity=row.severity)
    with db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_events SET action = 'test.forged', hash = :h WHERE id = :id"),
                     {"h": forged, "id": ids[1]})
    result = verify_cli(app)
    assert result.exit_code == 1 and f"Broken batch {seal_of(ids[1])}" in result.stderr
    assert "do not match its root" in result.stderr


def test_a_deleted_event_in_the_middle_is_found(app, ctx):
    ids = write_events(6)
    batch = seal_of(ids[2])
    write_events(2)
    with db.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_events WHERE id = :id"), {"id": ids[2]})
    result = verify_cli(app)
    assert result.exit_code == 1
    assert f"Broken batch {batch}" in result.stderr and "removed" in result.stderr


def test_a_deleted_batch_breaks_the_next_one(app, ctx):
    first = write_events(2)
    second = write_events(2)
    batch = seal_of(first[0])
    with db.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_events WHERE seal_id = :id"), {"id": batch})
        conn.execute(sa.text("DELETE FROM audit_seals WHERE id = :id"), {"id": batch})
    result = verify_cli(app)
    assert result.exit_code == 1
    assert f"Broken batch {seal_of(second[0])}" in result.stderr and "does not link" in result.stderr


def test_a_deleted_last_batch_is_found_through_the_head(app, ctx):
    write_events(2)
    ids = write_events(4)
    batch = seal_of(ids[0])
    with db.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_events WHERE seal_id = :id"), {"id": batch})
        conn.execute(sa.text("DELETE FROM audit_seals WHERE id = :id"), {"id": batch})
    result = verify_cli(app)
    assert result.exit_code == 1 and "batches at the end were removed" in result.stderr


def test_the_application_never_updates_or_deletes_events(ctx):
    (event_id,) = write_events(1)
    ev = db.session.get(AuditEvent, event_id)
    ev.action = "changed"
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.get(AuditEvent, event_id))
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.flush()
    db.session.rollback()
    for stmt in (sa.update(AuditEvent).values(action="x"), sa.delete(AuditEvent)):
        with pytest.raises(AuditLogIsAppendOnly):
            db.session.execute(stmt)
        db.session.rollback()
    assert db.session.get(AuditEvent, event_id).action == "test.event"


def test_events_rolled_back_with_their_change_leave_the_chain_intact(app, ctx):
    write_events(2)
    audit.record("test.discarded", "test", None, actor_id=None)
    db.session.flush()
    db.session.rollback()
    write_events(2)
    assert verify_cli(app).exit_code == 0


def test_concurrent_writers_and_sealers_lose_no_event_and_fork_no_chain(app, ctx):
    """Two connections writing while two others seal: every event ends up in exactly one
    batch and the batches form one chain (the sealers take the head row's lock)."""
    errors: list[BaseException] = []

    def writer(tag: str) -> None:
        try:
            with app.app_context():
                for i in range(15):
                    audit.record("test.concurrent", "test", f"{tag}{i}", actor_id=None)
                    db.session.flush()
                    audit.record("test.concurrent", "test", f"{tag}{i}b", actor_id=None)
                    commit()
                db.session.remove()
        except BaseException as exc:  # reported below
            errors.append(exc)

    def sealer() -> None:
        try:
            with app.app_context():
                for _ in range(10):
                    audit.seal()
                db.session.remove()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in "AB"]
    threads += [threading.Thread(target=sealer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    audit.seal()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 60
    assert db.session.scalar(sa.select(sa.func.count()).where(AuditEvent.seal_id.is_(None))) == 0
    prevs = db.session.scalars(sa.select(AuditSeal.prev_hash)).all()
    assert len(prevs) == len(set(prevs))  # no two batches share a predecessor: no fork
    assert sum(db.session.scalars(sa.select(AuditSeal.events))) == 60
    assert audit.verify().ok


# ---------------------------------------------------------------- retention


def _events_at(days_ago: list[int], now: datetime) -> list[int]:
    ids = []
    for d in days_ago:
        with simulated_clock(lambda d=d: now - timedelta(days=d)):
            ids.append(write_events(1, age=d)[0])
    return ids


def test_prune_deletes_only_old_events_from_the_start_and_verify_still_passes(app, ctx):
    now = datetime.now(UTC)
    old = _events_at([3000, 2500, 2200], now)
    kept = _events_at([2100, 2300, 10], now)  # 2300 days old but after a newer event: kept (prefix only)
    result = audit.prune(retention_days=2192, now=now, batch_size=2)
    assert result.deleted == 3 and result.anchor_id == old[-1]
    remaining = db.session.scalars(sa.select(AuditEvent.id).where(AuditEvent.action == "test.event")
                                   .order_by(AuditEvent.id)).all()
    assert remaining == kept
    pruned = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "audit.pruned"))
    assert pruned.changes["deleted"] == 3 and pruned.changes["through_id"] == old[-1]
    assert pruned.changes["retention_days"] == 2192
    head = db.session.get(AuditChainHead, 1)
    assert head.anchor_id is not None and head.anchor_hash != GENESIS
    audit.seal()  # the audit.pruned event

    check = verify_cli(app)
    assert check.exit_code == 0, check.stderr
    assert "4 event(s) checked" in check.output  # 3 kept + audit.pruned

    again = audit.prune(retention_days=2192, now=now)
    assert again.deleted == 0
    assert db.session.scalar(sa.select(sa.func.count()).where(AuditEvent.action == "audit.pruned")) == 1


def test_prune_command_uses_the_configured_retention(app, ctx):
    now = datetime.now(UTC)
    _events_at([3000, 1], now)
    result = app.test_cli_runner().invoke(args=["audit", "prune"])
    assert result.exit_code == 0, result.output
    assert "1 event(s) older than 2192 days" in result.output
    audit.seal()
    assert verify_cli(app).exit_code == 0


def test_prune_keeps_events_not_sealed_yet(app, ctx):
    now = datetime.now(UTC)
    with simulated_clock(lambda: now - timedelta(days=3000)):
        (unsealed,) = write_events(1, seal=False)
    assert audit.prune(retention_days=365, now=now).deleted == 0
    assert db.session.get(AuditEvent, unsealed) is not None


def test_prune_of_everything_still_verifies(app, ctx):
    now = datetime.now(UTC)
    _events_at([4000, 3000], now)
    assert audit.prune(retention_days=365, now=now).deleted == 2
    assert audit.verify().ok
    audit.seal()
    assert audit.verify().ok
    assert [e.action for e in db.session.scalars(sa.select(AuditEvent))] == ["audit.pruned"]


def test_retention_is_configured_and_has_a_minimum():
    base = {"HELPDESK_ENV": "testing"}
    assert Settings.from_env(base).audit_retention_days == 2192
    assert Settings.from_env({**base, "AUDIT_RETENTION_DAYS": "3000"}).audit_retention_days == 3000
    for bad in ("30", "many"):
        with pytest.raises(ConfigError, match="AUDIT_RETENTION_DAYS"):
            Settings.from_env({**base, "AUDIT_RETENTION_DAYS": bad})


def test_the_weekly_job_prunes_with_the_configured_retention(app, ctx):
    from helpdesk import periodic

    now = datetime.now(UTC)
    old, recent = _events_at([2500, 3], now)
    periodic.audit_prune_job()
    assert db.session.get(AuditEvent, old) is None and db.session.get(AuditEvent, recent) is not None
    assert audit.verify().ok
