"""A new request's rows written in one statement (``helpdesk.inserts``, PostgreSQL): the
same rows as the ORM's flush writes, in fewer statements, and the ORM's flush whenever
the unit of work does more than add rows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from helpdesk import cache, inserts
from helpdesk.db import new_rows_unit
from helpdesk.extensions import db
from helpdesk.tickets import search
from helpdesk.tickets import services as ticket_services
from helpdesk.tickets.models import Channel, Ticket
from tests.api.test_lookup_caches import _auth, statements

pytestmark = pytest.mark.usefixtures("ctx")

NEW_ROW_TABLES = ("users", "tickets", "messages", "ticket_search", "audit_events", "sla_metrics", "ticket_sla",
                  "job_outbox")


@pytest.fixture(autouse=True)
def _postgresql_only(ctx):
    if db.session.get_bind().dialect.name != "postgresql":
        pytest.skip("lean writes are PostgreSQL's (SQLite keeps the ORM's flush)")


def _post(client, secret: str, email: str) -> Any:
    answer = client.post("/api/v1/tickets", headers=_auth(secret), json={
        "subject": "Charged twice for my visit", "body": "I was charged twice for my visit on Monday, please check.",
        "requester": {"email": email, "name": "Lean Patient"}})
    assert answer.status_code == 201, answer.get_json()
    return answer


def _create(client, secret: str, email: str) -> Ticket:
    answer = _post(client, secret, email)
    db.session.expire_all()
    return db.session.scalar(sa.select(Ticket).where(Ticket.reference == answer.get_json()["reference"]))


def _rows(ticket: Ticket) -> dict[str, Any]:
    """Every row the create wrote, with what differs between two requests by nature (ids,
    references, the patient's address, clock times) replaced by what must be equal."""
    conn = db.session.connection()

    def one(sql: str, **params: Any) -> list[dict[str, Any]]:
        return [dict(r._mapping) for r in conn.execute(sa.text(sql), params)]

    made = ticket.created_at
    drop = {"id", "reference", "requester_id", "ticket_id", "author_id", "object_id", "hash", "session_token", "email",
            "request_id", "args"}

    def clean(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for row in rows:
            out.append({k: (round((v - made).total_seconds()) if hasattr(v, "tzinfo") and v is not None else v)
                        for k, v in row.items() if k not in drop})  # times: whole seconds after the request
        return sorted(out, key=repr)

    return {
        "users": clean(one("SELECT * FROM users WHERE id = :id", id=ticket.requester_id)),
        "tickets": clean(one("SELECT * FROM tickets WHERE id = :id", id=ticket.id)),
        "messages": clean(one("SELECT * FROM messages WHERE ticket_id = :id", id=ticket.id)),
        "ticket_search": clean(one("SELECT ticket_id, queue_id, status, doc::text AS doc FROM ticket_search "
                                   "WHERE ticket_id = :id", id=ticket.id)),
        "audit_events": clean(one("SELECT * FROM audit_events WHERE object_id IN (:ref, :uid) AND action IN "
                                  "('ticket.created', 'user.created')", ref=ticket.reference,
                                  uid=str(ticket.requester_id))),
        "sla_metrics": clean(one("SELECT * FROM sla_metrics WHERE ticket_id = :id", id=ticket.id)),
        "ticket_sla": clean(one("SELECT * FROM ticket_sla WHERE ticket_id = :id", id=ticket.id)),
        "job_outbox": clean(one("SELECT * FROM job_outbox WHERE args::text LIKE :arg", arg=f"[{ticket.id},%")),
    }


def test_a_new_request_writes_the_same_rows_as_the_orm_flush(client, portal, queues, monkeypatch):
    _user, secret = portal
    lean = _create(client, secret, "lean.one@example.net")
    with monkeypatch.context() as m:
        m.setattr(inserts, "prefer", lambda session=None: None)  # the ORM's flush, as before
        flushed = _create(client, secret, "lean.two@example.net")
    assert lean.created_at - flushed.created_at < timedelta(minutes=1)
    lean_rows, flushed_rows = _rows(lean), _rows(flushed)
    for table in NEW_ROW_TABLES:
        assert lean_rows[table], f"no {table} row"
        assert lean_rows[table] == flushed_rows[table], table
    # the search document written from the values is the one reindexing builds from the rows
    before = lean_rows["ticket_search"]
    search.reindex([lean.id])
    assert _rows(lean)["ticket_search"] == before


def test_a_new_patients_request_is_one_write_statement(client, portal, queues, configure):
    _user, secret = portal
    with configure(lookup_cache_seconds=300, sla_policy_cache_seconds=300):
        cache.invalidate()
        try:
            _post(client, secret, "lean.warm@example.net")  # the caches filled, the token's last use recorded
            with statements(client.application, until_commit=True) as seen:
                _post(client, secret, "lean.three@example.net")
        finally:
            cache.invalidate()
    writes = [s for s in seen if s.split()[0] in ("INSERT", "UPDATE", "DELETE", "WITH")]
    assert len(writes) == 1 and writes[0].startswith("WITH"), "\n".join(w[:120] for w in writes)
    for table in NEW_ROW_TABLES:
        assert f"INSERT INTO {table} " in writes[0], table
    work = [s for s in seen if s.split()[0] in ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")]
    assert len(work) <= 4, "\n".join(w[:120] for w in work)  # the patient looked up, two sets of ids, the write


def test_a_unit_that_also_changes_a_row_is_flushed_by_the_orm_and_still_indexed(patient, queues):
    with new_rows_unit():
        made = ticket_services._new_ticket(  # noqa: SLF001 - the create inside a unit that does more
            requester=patient, subject="Lost my card", body="I lost my insurance card at the front desk.",
            channel=Channel.WEB, created_by=patient, priority=None, follow_up_of=None).ticket
        queues["billing"].description = "Bills, payments and refunds (changed in the same unit)"
    db.session.expire_all()
    assert db.session.get(Ticket, made.id) is not None
    assert queues["billing"].description.endswith("(changed in the same unit)")
    indexed = db.session.execute(sa.text("SELECT count(*) FROM ticket_search WHERE ticket_id = :id"),
                                 {"id": made.id}).scalar()
    assert indexed == 1


def test_a_unit_that_fails_after_its_ids_were_taken_keeps_nothing(patient, queues):
    count = db.session.scalar(sa.select(sa.func.count()).select_from(Ticket))
    with pytest.raises(RuntimeError), new_rows_unit():
        ticket_services._new_ticket(  # noqa: SLF001
            requester=patient, subject="Refund", body="Please refund the double charge.", channel=Channel.WEB,
            created_by=patient, priority=None, follow_up_of=None)
        raise RuntimeError("after the ids, before the commit")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == count
    assert not db.session.new
    assert inserts.preferred(db.session()) is False
    # and the next unit of work is an ordinary one again
    made = ticket_services.create_ticket(requester=patient, subject="Refund", body="Please refund the double charge.",
                                         channel=Channel.WEB, created_by=patient)
    assert db.session.get(Ticket, made.id).subject == "Refund"


def test_two_first_requests_of_one_new_patient_at_once_both_succeed(client, portal, queues, monkeypatch):
    """The second to commit collides with the first's new account: it is run again and
    finds that account (a 201, one account, both requests)."""
    from helpdesk.auth.models import User
    from helpdesk.timeutil import utcnow

    _user, secret = portal
    email = "lean.race@example.net"
    real = ticket_services.find_or_create_patient
    calls = []

    def meanwhile(**kwargs):
        user = real(**kwargs)
        if not calls:  # looked up, nobody found; the other request commits its account now
            with db.engine.begin() as other:
                other.execute(sa.insert(User.__table__).values(
                    email=email, display_name="Lean Patient", role="patient", active=True, language="en",
                    session_token="a" * 32, available=True, kb_editor=False, created_at=utcnow(),
                    email_verified_at=utcnow()))
        calls.append(user)
        return user

    monkeypatch.setattr(ticket_services, "find_or_create_patient", meanwhile)
    ticket = _create(client, secret, email)
    assert len(calls) == 2
    owners = db.session.scalars(sa.select(User.id).where(User.email == email)).all()
    assert owners == [ticket.requester_id]


def test_a_query_inside_the_unit_writes_the_new_rows_together_first(client, patient, queues):
    """An autoflush (a query in the unit, like a cache refilled) writes the new rows in one
    statement too: the ORM would order its INSERTs by relationships only, and an SLA clock
    names its request by a plain foreign key (seen: the clock sent before the request)."""
    from helpdesk.tickets.models import Queue

    with statements(client.application) as seen, new_rows_unit():
        made = ticket_services._new_ticket(  # noqa: SLF001
            requester=patient, subject="Moved appointment", body="Can I move my appointment to Friday?",
            channel=Channel.WEB, created_by=patient, priority=None, follow_up_of=None).ticket
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Queue)) >= 1  # an autoflush
    writes = [s for s in seen if s.split()[0] in ("INSERT", "UPDATE", "DELETE", "WITH")]
    assert writes and all(w.startswith("WITH") for w in writes), "\n".join(w[:120] for w in writes)
    for table in ("tickets", "messages", "sla_metrics", "ticket_sla", "audit_events", "ticket_search"):
        assert any(f"INSERT INTO {table} " in w for w in writes), table
    # the request, and each clock, in the same statement or after it
    first = {t: next(i for i, w in enumerate(writes) if f"INSERT INTO {t} " in w) for t in ("tickets", "sla_metrics")}
    assert first["tickets"] <= first["sla_metrics"]
    db.session.expire_all()
    assert db.session.get(Ticket, made.id).subject == "Moved appointment"


def test_a_unit_that_fails_after_its_rows_were_written_keeps_nothing(client, patient, queues):
    from helpdesk.tickets.models import Queue

    count = db.session.scalar(sa.select(sa.func.count()).select_from(Ticket))
    with pytest.raises(RuntimeError), new_rows_unit():
        made = ticket_services._new_ticket(  # noqa: SLF001
            requester=patient, subject="Refund", body="Please refund the double charge.", channel=Channel.WEB,
            created_by=patient, priority=None, follow_up_of=None).ticket
        db.session.scalar(sa.select(sa.func.count()).select_from(Queue))  # the rows written (an autoflush)
        assert sa.inspect(made).persistent
        raise RuntimeError("after the write, before the commit")
    assert not sa.inspect(made).persistent  # rolled back with the transaction, as after a flush
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == count
    assert db.session.scalar(sa.text("SELECT count(*) FROM ticket_search WHERE ticket_id = :id"), {"id": made.id}) == 0


def test_the_flush_listeners_are_the_ones_lean_writes_dispatch_to():
    """A lean write dispatches the session's flush events itself (with no flush context):
    a new listener must be checked against that (then added here)."""
    session = db.session()
    names = {event: sorted(getattr(f, "__qualname__", repr(f)) for f in getattr(session.dispatch, event))
             for event in ("before_flush", "after_flush", "after_flush_postexec")}
    assert names == {"before_flush": ["before_orm_flush", "hash_new_events"], "after_flush": ["note_flush"],
                     "after_flush_postexec": ["enqueue_flushed"]}
