"""Ticket search: the search document of each ticket, kept in step on write, and the
matching query the ticket lists join (``hits``).

One box matches, and ranks in this order:

1. a reference, exactly, with or without its prefix (``HD-VXAXVD``, ``vxaxvd``);
2. the patient's MRN or e-mail address (a query with ``@``: part of the address);
3. the patient's name, every word of the query, forgiving typos
   (``search_text.name_match``: a name word that starts with the query word, or is
   within one edit of it (4–6 letters) or two (7 and more), among the candidates a
   trigram index gives);
4. the text — subject and the whole conversation — every word in any order, by its
   English or Spanish stem, accents ignored; internal notes only for users who may read
   them (``permissions.can_read_internal_notes``), ranked by the text engine.

PostgreSQL: ``ticket_search.doc``, a ``tsvector`` of the subject (weight A), the public
messages (B) and the internal notes (D), each through the ``english`` and ``spanish``
configurations after ``unaccent``, with a GIN index; users who may not read notes query
with the weights ``AB`` only. Names, e-mails: pg_trgm GIN indexes on ``users``.
SQLite: ``ticket_search`` is an FTS5 table (columns subject, public, notes) holding the
Snowball stems computed in Python (``search_text.index_text``), and the name match is a
Python function registered on each connection (``register_sqlite_functions``) that scans
the patients (the embedded database is for small sites).

The documents are rebuilt by the ticket services inside their unit of work (``reindex``):
on a new ticket, a message, a correction and a merge. Permissions are applied by the
caller's query (``ticket_scope``) joined with ``hits``: nothing is filtered afterwards.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from markupsafe import Markup

from helpdesk.auth.models import Role, User
from helpdesk.extensions import db
from helpdesk.permissions import can_read_internal_notes, can_view_message
from helpdesk.tickets import search_text
from helpdesk.tickets.models import Message, Ticket

# Scores: the tiers above, then the text engine's rank (0 .. 999,999) within a tier.
REFERENCE_SCORE = 4_000_000
IDENTIFIER_SCORE = 3_000_000
NAME_SCORE = 2_000_000
RANK_SCALE = 999_999


def _dialect() -> str:
    return db.session.get_bind().dialect.name


# ------------------------------------------------------------------ the documents

_PG_REINDEX = """
INSERT INTO ticket_search (ticket_id, queue_id, status, doc)
SELECT t.id, t.queue_id, t.status,
       setweight(to_tsvector('english', helpdesk_search_text(t.subject)), 'A')
    || setweight(to_tsvector('spanish', helpdesk_search_text(t.subject)), 'A')
    || setweight(to_tsvector('english', helpdesk_search_text(coalesce(m.pub, ''))), 'B')
    || setweight(to_tsvector('spanish', helpdesk_search_text(coalesce(m.pub, ''))), 'B')
    || setweight(to_tsvector('english', helpdesk_search_text(coalesce(m.notes, ''))), 'D')
    || setweight(to_tsvector('spanish', helpdesk_search_text(coalesce(m.notes, ''))), 'D')
FROM tickets t
LEFT JOIN LATERAL (
    SELECT string_agg(CASE WHEN m.public THEN coalesce(v.body, m.body) END, E'\\n') AS pub,
           string_agg(CASE WHEN NOT m.public THEN coalesce(v.body, m.body) END, E'\\n') AS notes
    FROM messages m
    LEFT JOIN LATERAL (SELECT mv.body FROM message_versions mv WHERE mv.message_id = m.id
                       ORDER BY mv.version DESC LIMIT 1) v ON true
    WHERE m.ticket_id = t.id
) m ON true
WHERE t.id IN :ids
ON CONFLICT (ticket_id) DO UPDATE SET queue_id = EXCLUDED.queue_id, status = EXCLUDED.status, doc = EXCLUDED.doc
"""


def reindex(ticket_ids: Iterable[int]) -> None:
    """Rebuild the search documents of ``ticket_ids`` from the rows as they are now, in
    the caller's transaction (a service's unit of work; this never commits)."""
    ids = sorted({int(i) for i in ticket_ids})
    if not ids:
        return
    db.session.flush()
    if _dialect() == "postgresql":
        db.session.execute(sa.text(_PG_REINDEX).bindparams(sa.bindparam("ids", expanding=True)), {"ids": ids})
        return
    for ticket_id, subject, public, notes in documents(db.session.connection(), ids):
        db.session.execute(sa.text("DELETE FROM ticket_search WHERE rowid = :id"), {"id": ticket_id})
        db.session.execute(
            sa.text("INSERT INTO ticket_search (rowid, subject, public, notes) VALUES (:id, :s, :p, :n)"),
            {"id": ticket_id, "s": search_text.index_text(subject), "p": search_text.index_text(public),
             "n": search_text.index_text(notes)})


def documents(conn: sa.Connection, ids: list[int] | None) -> Iterable[tuple[int, str, str, str]]:
    """(ticket id, subject, public text, notes text) of ``ids`` (every ticket when None),
    with each message's current text. Also used by the migration's backfill."""
    where = "WHERE t.id IN :ids" if ids is not None else ""
    sql = sa.text(f"""
        SELECT t.id, t.subject, m.public,
               coalesce((SELECT mv.body FROM message_versions mv WHERE mv.message_id = m.id
                         ORDER BY mv.version DESC LIMIT 1), m.body)
        FROM tickets t LEFT JOIN messages m ON m.ticket_id = t.id {where}
        ORDER BY t.id, m.created_at, m.id""")
    if ids is not None:
        sql = sql.bindparams(sa.bindparam("ids", expanding=True))
    current: list[Any] | None = None
    for ticket_id, subject, public, body in conn.execute(sql, {"ids": ids} if ids is not None else {}):
        if current is None or current[0] != ticket_id:
            if current is not None:
                yield current[0], current[1], "\n".join(current[2]), "\n".join(current[3])
            current = [ticket_id, subject, [], []]
        if body is not None:
            current[2 if public else 3].append(body)
    if current is not None:
        yield current[0], current[1], "\n".join(current[2]), "\n".join(current[3])


# ------------------------------------------------------------------ SQLite functions


def _fold(text: str | None) -> str | None:
    return None if text is None else search_text.fold(text)


def _name_match(word: str | None, name: str | None) -> int:
    return int(bool(word and name) and search_text.name_match(word, name))  # type: ignore[arg-type]


def _word_similarity(word: str | None, name: str | None) -> float:
    return search_text.word_similarity(word, name) if word and name else 0.0


def register_sqlite_functions(dbapi_connection: Any, _record: Any = None) -> None:
    """On each new SQLite connection: the functions PostgreSQL gets from the migration
    (``helpdesk_fold``, ``helpdesk_name_match``) and pg_trgm (``word_similarity``)."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.create_function("helpdesk_fold", 1, _fold, deterministic=True)
        dbapi_connection.create_function("helpdesk_name_match", 2, _name_match, deterministic=True)
        dbapi_connection.create_function("word_similarity", 2, _word_similarity, deterministic=True)


# ------------------------------------------------------------------ matching


def hits(user: User, q: str) -> sa.Subquery | None:
    """(ticket_id, score) of every ticket whose reference, patient or text matches ``q``,
    one row per ticket, before any permission: the caller joins it to a query that
    applies ``ticket_scope``. None when ``q`` has nothing to search for."""
    query = search_text.parse(q)
    if query.empty:
        return None
    pg = _dialect() == "postgresql"
    branches: list[str] = []
    params: dict[str, Any] = {}
    expanding: list[str] = []

    if query.references:
        branches.append(f"SELECT id AS ticket_id, {REFERENCE_SCORE} AS score FROM tickets WHERE reference IN :refs")
        params["refs"] = list(query.references)
        expanding.append("refs")

    patient = f"u.role = '{Role.PATIENT.value}'"
    if (mrns := search_text.mrn_candidates(query.text)) and " " not in query.text:
        branches.append(
            f"SELECT t.id AS ticket_id, {IDENTIFIER_SCORE} AS score FROM tickets t JOIN users u ON u.id = t.requester_id "
            f"WHERE {patient} AND upper(u.mrn) IN :mrns")
        params["mrns"] = list(mrns)
        expanding.append("mrns")
    if "@" in query.text and " " not in query.text:
        branches.append(
            f"SELECT t.id AS ticket_id, {IDENTIFIER_SCORE} AS score FROM tickets t JOIN users u ON u.id = t.requester_id "
            f"WHERE {patient} AND lower(u.email) LIKE :email ESCAPE '\\'")
        escaped = query.text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params["email"] = f"%{escaped}%"

    if query.name_words:
        conditions, similarity = [], []
        for i, word in enumerate(query.name_words):
            params[f"nw{i}"] = word
            candidate = f"helpdesk_fold(u.display_name) %> :nw{i} AND " if pg else ""
            conditions.append(f"{candidate}helpdesk_name_match(:nw{i}, helpdesk_fold(u.display_name))")
            similarity.append(f"word_similarity(:nw{i}, helpdesk_fold(u.display_name))")
        score = f"{NAME_SCORE} + CAST({RANK_SCALE} * ({' + '.join(similarity)}) / {len(similarity)} AS INTEGER)"
        # the patients first (scored once each), then their tickets
        branches.append(
            f"SELECT t.id AS ticket_id, p.score AS score FROM tickets t JOIN ("
            f"SELECT u.id AS id, {score} AS score FROM users u "
            f"WHERE {patient} AND {' AND '.join(conditions)}) AS p ON p.id = t.requester_id")
        if pg:  # the candidate threshold of %> (this transaction only)
            db.session.execute(sa.text("SELECT set_config('pg_trgm.word_similarity_threshold', :t, true)"),
                               {"t": str(search_text.NAME_CANDIDATE_SIMILARITY)})

    if query.words:
        notes = can_read_internal_notes(user)
        if pg:
            label = "" if notes else ":AB"  # subject and public messages only
            tsq = " && ".join(
                f"(to_tsquery('english', :w{i}) || to_tsquery('spanish', :w{i}))" for i in range(len(query.words)))
            params.update({f"w{i}": f"{w}{label}" for i, w in enumerate(query.words)})
            branches.append(
                f"SELECT ticket_id, CAST({RANK_SCALE} * ts_rank(doc, {tsq}, 32) AS INTEGER) AS score "
                f"FROM ticket_search WHERE doc @@ ({tsq})")
        else:
            params["fts"] = search_text.fts5_query(query, None if notes else ("subject", "public"))
            rank = "(-bm25(ticket_search, 4.0, 2.0, 1.0))"
            branches.append(
                f"SELECT rowid AS ticket_id, CAST({RANK_SCALE} * {rank} / (1.0 + {rank}) AS INTEGER) AS score "
                f"FROM ticket_search WHERE ticket_search MATCH :fts")

    if not branches:
        return None
    union = " UNION ALL ".join(f"SELECT * FROM ({b}) AS b{i}" for i, b in enumerate(branches))
    sql = sa.text(f"SELECT ticket_id, max(score) AS score FROM ({union}) AS found GROUP BY ticket_id")
    sql = sql.bindparams(*[sa.bindparam(name, expanding=True) for name in expanding], **params)
    return sql.columns(ticket_id=sa.Integer, score=sa.Integer).subquery("search_hits")


def attach_snippets(user: User, tickets: list[Ticket], q: str | None) -> None:
    """Set ``search_snippet`` on each ticket of a page: the passage of its subject or of a
    message ``user`` may read where most query words occur (escaped, words in <mark>)."""
    for ticket in tickets:
        ticket.search_snippet = None
    if not q or not tickets:
        return
    query = search_text.parse(q)
    if not query.words:
        return
    by_id = {t.id: t for t in tickets}
    texts: dict[int, list[str]] = {t.id: [t.subject] for t in tickets}
    stmt = sa.select(Message).where(Message.ticket_id.in_(by_id)).order_by(Message.created_at, Message.id)
    if not can_read_internal_notes(user):
        stmt = stmt.where(Message.public.is_(True))
    for message in db.session.scalars(stmt):
        if can_view_message(user, message):
            texts[message.ticket_id].append(message.current_body)
    for ticket_id, ticket in by_id.items():
        snippet: Markup | None = search_text.snippet(texts[ticket_id], query)
        ticket.search_snippet = snippet
