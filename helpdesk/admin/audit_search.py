"""Searching the audit log (admins): filters, keyset pages, and a streamed CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa

from helpdesk import audit
from helpdesk.audit import AuditEvent
from helpdesk.auth.models import User
from helpdesk.csv_export import safe_row
from helpdesk.db import transactional
from helpdesk.errors import ValidationFailed
from helpdesk.extensions import db

CSV_COLUMNS = ["id", "created_at", "actor", "action", "object_type", "object_id", "changes", "ip", "severity",
               "hash", "seal_id"]


@dataclass(frozen=True)
class AuditFilter:
    user: str = ""  # e-mail of the actor
    ticket: str = ""  # reference
    action: str = ""  # exact, or a prefix when it ends with "." or "*"
    start: date | None = None  # from this day (UTC), inclusive
    end: date | None = None  # to this day (UTC), inclusive

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in {
            "user": self.user, "ticket": self.ticket, "action": self.action,
            "start": self.start.isoformat() if self.start else "", "end": self.end.isoformat() if self.end else "",
        }.items() if v}


def parse_filter(args: Mapping[str, str]) -> AuditFilter:
    """The filter from query arguments; bad values raise ValidationFailed (a 400 page)."""
    fields: dict[str, list[str]] = {}

    def day(name: str) -> date | None:
        raw = (args.get(name) or "").strip()
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            fields[name] = ["Use a date like 2026-03-31."]
            return None

    start, end = day("start"), day("end")
    user = (args.get("user") or "").strip().lower()
    ticket = (args.get("ticket") or "").strip().upper()
    action = (args.get("action") or "").strip()
    for name, value, limit in (("user", user, 254), ("ticket", ticket, 16), ("action", action, 64)):
        if len(value) > limit:
            fields[name] = [f"At most {limit} characters."]
    if start and end and end < start:
        fields["end"] = ["The end date is before the start date."]
    if fields:
        raise ValidationFailed("Some filters are not valid: " + " ".join(
            f"{k}: {' '.join(v)}" for k, v in fields.items()), fields=fields)
    return AuditFilter(user=user, ticket=ticket, action=action, start=start, end=end)


def parse_cursor(raw: str | None) -> int | None:
    if raw in (None, ""):
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise ValidationFailed("That page link is not valid.", fields={"before": ["Must be an event id."]})
    return int(raw)


def _statement(f: AuditFilter) -> sa.Select:
    stmt = sa.select(AuditEvent, User.email).outerjoin(User, User.id == AuditEvent.actor_id)
    if f.user:
        stmt = stmt.where(AuditEvent.actor_id == sa.select(User.id).where(User.email == f.user).scalar_subquery())
    if f.ticket:
        stmt = stmt.where(AuditEvent.object_type == "ticket", AuditEvent.object_id == f.ticket)
    if f.action:
        if f.action.endswith(("*", ".")):
            prefix = f.action.rstrip("*")
            escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            stmt = stmt.where(AuditEvent.action.like(escaped + "%", escape="\\"))
        else:
            stmt = stmt.where(AuditEvent.action == f.action)
    if f.start:
        stmt = stmt.where(AuditEvent.created_at >= datetime.combine(f.start, time.min, UTC))
    if f.end:
        stmt = stmt.where(AuditEvent.created_at < datetime.combine(f.end + timedelta(days=1), time.min, UTC))
    return stmt


@dataclass(frozen=True)
class Page:
    rows: list[tuple[AuditEvent, str | None]]
    next_before: int | None


def search(f: AuditFilter, *, before: int | None = None, limit: int = 50) -> Page:
    """Newest first; ``before`` is the keyset cursor (the last id of the previous page)."""
    stmt = _statement(f)
    if before is not None:
        stmt = stmt.where(AuditEvent.id < before)
    rows = [(ev, email) for ev, email in db.session.execute(stmt.order_by(AuditEvent.id.desc()).limit(limit + 1))]
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, rows[-1][0].id if more and rows else None)


def csv_lines(f: AuditFilter, *, through_id: int | None, batch_size: int = 1000) -> Iterator[str]:
    """The whole filtered result as CSV, newest first, read in keyset batches."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    yield _drain(out)
    before = None if through_id is None else through_id + 1
    while True:
        stmt = _statement(f)
        if before is not None:
            stmt = stmt.where(AuditEvent.id < before)
        batch = db.session.execute(stmt.order_by(AuditEvent.id.desc()).limit(batch_size)).all()
        if not batch:
            return
        for ev, email in batch:
            writer.writerow(safe_row((
                ev.id, ev.created_at.isoformat(), email or "", ev.action, ev.object_type, ev.object_id or "",
                json.dumps(ev.changes, sort_keys=True) if ev.changes else "", ev.ip or "", ev.severity,
                ev.hash, ev.seal_id if ev.seal_id is not None else "")))
        yield _drain(out)
        before = batch[-1][0].id
        db.session.expunge_all()  # keep memory flat over a long export



def _drain(out: io.StringIO) -> str:
    text = out.getvalue()
    out.seek(0)
    out.truncate()
    return text


def last_event_id() -> int | None:
    return db.session.scalar(sa.select(sa.func.max(AuditEvent.id)))


@transactional
def start_export(f: AuditFilter, *, actor_id: int) -> int | None:
    """The export is itself audited (``audit.exported`` with its filters, committed now).
    Returns the last event id the CSV goes up to: the log as it stood before this event."""
    through = last_event_id()
    audit.record("audit.exported", "audit", None, actor_id=actor_id, changes={"filters": f.as_dict()})
    return through
