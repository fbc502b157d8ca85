"""The audit log is a hash chain: verify finds tampering, prune keeps it verifiable."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from helpdesk import audit
from helpdesk.audit import GENESIS, AuditChainHead, AuditEvent, AuditLogIsAppendOnly
from helpdesk.config import ConfigError, Settings
from helpdesk.db import commit
from helpdesk.extensions import db
from helpdesk.timeutil import simulated_clock


def write_events(n: int, action: str = "test.event", **changes) -> list[int]:
    ids = []
    for i in range(n):
        ev = audit.record(action, "test", i, actor_id=None, changes={"i": i, **changes})
        commit()
        ids.append(ev.id)
    return ids


def verify_cli(app):
    return app.test_cli_runner().invoke(args=["audit", "verify", "--batch-size", "3"])


def test_a_clean_chain_passes_and_each_event_links_to_the_one_before(app, ctx):
    ids = write_events(7, note=("a", 1), when=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC))
    db.session.expire_all()
    events = list(db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)))
    assert [e.id for e in events] == ids
    assert events[0].prev_hash == GENESIS
    for before, after in zip(events, events[1:], strict=False):
        assert after.prev_hash == before.hash
    # what was hashed at insert is what comes back from the database (JSON, microseconds, UTC)
    assert events[0].changes["note"] == ["a", 1] and events[0].changes["when"].startswith("2026-01-02 03:04:05.678901")
    assert all(audit._row_hash(e) == e.hash for e in events)
    assert db.session.get(AuditChainHead, 1).last_id == ids[-1]

    result = verify_cli(app)
    assert result.exit_code == 0, result.output
    assert "7 event(s) checked; the chain is intact" in result.output


def test_an_empty_log_verifies(app, ctx):
    result = verify_cli(app)
    assert result.exit_code == 0 and "0 event(s) checked" in result.output


def test_a_field_changed_with_raw_sql_is_found(app, ctx):
    ids = write_events(6)
    with db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_events SET object_id = 'tampered' WHERE id = :id"), {"id": ids[3]})
    result = verify_cli(app)
    assert result.exit_code == 1
    assert f"Broken link at event id {ids[3]}" in result.stderr and "altered" in result.stderr
    assert "3 event(s) checked before the first broken link" in result.output


def test_a_rehashed_forgery_still_breaks_the_next_link(app, ctx):
    ids = write_events(5)
    row = db.session.execute(sa.select(AuditEvent.__table__).where(AuditEvent.id == ids[1])).one()
    forged = audit.event_hash(created_at=row.created_at, actor_id=row.actor_id, action="test.forged",
                              object_type=row.object_type, object_id=row.object_id, changes=row.changes, ip=row.ip,
                              severity=row.severity, prev_hash=row.prev_hash)
    with db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_events SET action = 'test.forged', hash = :h WHERE id = :id"),
                     {"h": forged, "id": ids[1]})
    result = verify_cli(app)
    assert result.exit_code == 1 and f"Broken link at event id {ids[2]}" in result.stderr
    assert "prev_hash does not match" in result.stderr


def test_a_deleted_event_in_the_middle_is_found(app, ctx):
    ids = write_events(6)
    with db.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_events WHERE id = :id"), {"id": ids[2]})
    result = verify_cli(app)
    assert result.exit_code == 1
    assert f"Broken link at event id {ids[3]}" in result.stderr and "removed" in result.stderr


def test_a_deleted_last_event_is_found_through_the_head(app, ctx):
    ids = write_events(4)
    with db.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_events WHERE id = :id"), {"id": ids[-1]})
    result = verify_cli(app)
    assert result.exit_code == 1 and "events at the end were removed" in result.stderr


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


def test_concurrent_writers_append_one_after_the_other(app, ctx):
    """Two connections writing at once can't fork the chain (the head row is locked)."""
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

    threads = [threading.Thread(target=writer, args=(t,)) for t in "AB"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    prevs = db.session.scalars(sa.select(AuditEvent.prev_hash)).all()
    assert len(prevs) == 60 and len(set(prevs)) == 60  # no two events share a predecessor: no fork
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
    assert head.anchor_id == old[-1] and head.anchor_hash != GENESIS

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
    assert verify_cli(app).exit_code == 0


def test_prune_of_everything_still_verifies(app, ctx):
    now = datetime.now(UTC)
    _events_at([4000, 3000], now)
    assert audit.prune(retention_days=365, now=now).deleted == 2
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
