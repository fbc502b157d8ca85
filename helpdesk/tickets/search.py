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
   them (``permissions.can_read_internal_notes``), ranked by the text engine — on
   PostgreSQL, when more than ``RANKED_NEWEST`` tickets match, among the newest that many.

PostgreSQL: ``ticket_search.doc``, a ``tsvector`` of the subject (weight A), the public
messages (B) and the internal notes (D), each through the ``english`` and ``spanish``
configurations after ``unaccent``, with a GIN index; users who may not read notes query
with the weights ``AB`` only; the table also holds a copy of the ticket's queue and
status (kept in step by a trigger), so that the text search applies the agent's queues
and the status filter without reading ``tickets``; sorted by relevance, it finds the
newest matches in bounded steps (``_pg_newest_matches``: a short walk of the newest
documents, then the GIN index on (block of ticket numbers, doc) for the blocks of a
window of ticket numbers). Names: a pg_trgm GIN index on ``ticket_search_names`` (each
patient's folded name once, kept by triggers on ``users``), then a B-tree on
``users.name_folded`` (the folded name, stored); e-mails: a pg_trgm index on ``lower(email)``.
SQLite: ``ticket_search`` is an FTS5 table (columns subject, public, notes) holding the
Snowball stems computed in Python (``search_text.index_text``), and the name match is a
Python function registered on each connection (``prepare_connection``) that scans
the patients (the embedded database is for small sites).

The documents are rebuilt by the ticket services inside their unit of work (``reindex``):
on a new ticket, a message, a correction and a merge. The permissions and filters
(``Scope``: ``ticket_scope`` and the list's filters) are inside every part of ``hits``:
nothing is filtered afterwards, and no count is made.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by

from helpdesk import inserts
from helpdesk.auth.models import Role, User
from helpdesk.extensions import db
from helpdesk.permissions import can_read_internal_notes, can_view_message
from helpdesk.tickets import search_text
from helpdesk.tickets.models import Message, MessageVersion, Ticket

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


def index_new(ticket: Ticket, message: Message) -> None:
    """The search document of a request just made, whose only message is ``message``
    (public, never corrected): on PostgreSQL, in a unit of work that writes its new rows
    in one statement (``helpdesk.inserts``), built from the values in hand and written
    with them — the document :func:`reindex` builds from the rows (the empty notes add
    nothing to it). Otherwise :func:`reindex`."""
    if _dialect() != "postgresql" or not inserts.preferred(db.session()):
        reindex([ticket.id])
        return

    inserts.add_statement(_new_document(), {
        "search_ticket_id": ticket.id, "search_queue_id": ticket.queue.id, "search_status": ticket.status.value,
        "search_subject": ticket.subject, "search_body": message.body})


@functools.cache
def _new_document() -> Any:
    """``INSERT`` of one search document from its subject and public text (PostgreSQL)."""

    def weighted(name: str, weight: str) -> list[Any]:
        return [sa.func.setweight(sa.func.to_tsvector(sa.literal_column(f"'{config}'"),
                                                      sa.func.helpdesk_search_text(sa.bindparam(name, type_=sa.Text))),
                                  sa.literal_column(f"'{weight}'")) for config in ("english", "spanish")]

    parts = [*weighted("search_subject", "A"), *weighted("search_body", "B")]
    doc = parts[0]
    for part in parts[1:]:
        doc = doc.op("||")(part)
    stmt = postgresql.insert(SEARCH_TABLE).values(
        ticket_id=sa.bindparam("search_ticket_id", type_=sa.Integer),
        queue_id=sa.bindparam("search_queue_id", type_=sa.Integer),
        status=sa.bindparam("search_status", type_=sa.String), doc=doc)
    return stmt.on_conflict_do_update(index_elements=["ticket_id"], set_={
        "queue_id": stmt.excluded.queue_id, "status": stmt.excluded.status, "doc": stmt.excluded.doc})


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


def prepare_connection(dbapi_connection: Any, _record: Any = None) -> None:
    """On each new connection. SQLite: the functions PostgreSQL gets from the migration
    (``helpdesk_fold``, ``helpdesk_name_match``) and pg_trgm (``word_similarity``).
    PostgreSQL: the candidate threshold of pg_trgm's ``%>`` the name search uses, for
    the whole session (so that no search spends a round trip setting it), and no JIT
    compilation: the desk's statements read few rows, and compiling one costs more than
    running it (tens of milliseconds, where the planner's estimate for a search is high)."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.create_function("helpdesk_fold", 1, _fold, deterministic=True)
        dbapi_connection.create_function("helpdesk_name_match", 2, _name_match, deterministic=True)
        dbapi_connection.create_function("word_similarity", 2, _word_similarity, deterministic=True)
    elif type(dbapi_connection).__module__.startswith("psycopg"):
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT set_config('pg_trgm.word_similarity_threshold', %s, false), "
                           "set_config('jit', 'off', false)", (str(search_text.NAME_CANDIDATE_SIMILARITY),))
        dbapi_connection.commit()


# ------------------------------------------------------------------ matching

# PostgreSQL, sorted by relevance: the text matches ranked are the newest this many (by
# ticket number) among those in the scope; when more match, ``hits`` flags them
# (``capped``, shown as ``TicketFilters.ranked_newest``) and sorting by newest pages
# through all of them.
RANKED_NEWEST = 500
# ... looked for first among the newest this many documents in the scope (a walk of the
# search table's primary key: a small fixed cost), which also tells how common the words
# are, and so how far back the index must look for the rest (see _pg_newest_matches)
WALK = 2_000
# ... the window the index looks in is this many times what that rate predicts (a window
# that falls short is followed by the next, sized by the rate found so far)
WINDOW_MARGIN = 1.25
# ... no window when the words match at most about this many documents in all queues
# (the index reads them all: each one's row is read, in the scope or not)
SMALL_MATCHES = 2_000
# ... windows read at most (each sized by the rate found so far), then the index below
STEPS = 4
# Ticket numbers per block: the GIN index is on (ticket_id / BLOCK, doc) (migration
# 9b1f3c5d7e20, btree_gin), so that the index reads the words' entries of a few blocks
# only (skipping the rest of each word's posting list), not every match of a common word
# in the table. The expression must be the index's, constant included.
BLOCK = 16_384

SEARCH_TABLE = sa.table("ticket_search", sa.column("ticket_id", sa.Integer), sa.column("doc"),
                        sa.column("queue_id", sa.Integer), sa.column("status", sa.String))


@dataclass(frozen=True)
class Scope:
    """The tickets a search may return: ``conditions`` on ``Ticket`` (the permissions and
    every filter). When they amount to "queue in ``queue_ids`` (and status in
    ``statuses``)" — staff with no filter but queue and status — the text search applies
    the same on the search table's copy of those columns, without reading ``tickets``."""

    conditions: tuple[sa.ColumnElement[bool], ...]
    queue_ids: frozenset[int] | None = None
    statuses: tuple[str, ...] | None = None
    ranked: bool = True  # sorted by relevance (else the text score is not computed)
    # sorted by relevance from the start (no page cursor): only the best this many are
    # wanted, so each part of the search returns its own best this many (by score, then
    # the newest), and the parts' results are merged without gathering every match
    best: int | None = None


def _tsquery(words: Iterable[str], label: str) -> sa.ColumnElement[Any]:
    """Every word (``to_tsquery`` of a folded word: letters and digits only), by its
    English or its Spanish stem, limited to the weights ``label`` (e.g. ":AB")."""
    parts = [
        sa.func.to_tsquery(sa.literal_column("'english'::regconfig"), sa.literal(f"{w}{label}", sa.Text)).op("||")(
            sa.func.to_tsquery(sa.literal_column("'spanish'::regconfig"), sa.literal(f"{w}{label}", sa.Text)))
        for w in words
    ]
    query = sa.Grouping(parts[0])
    for part in parts[1:]:
        query = sa.Grouping(query.op("&&")(sa.Grouping(part)))
    return query


def _scope_on_search(scope: Scope) -> list[sa.ColumnElement[bool]]:
    s = SEARCH_TABLE
    where = [s.c.queue_id.in_(sorted(scope.queue_ids or ()))]
    if scope.statuses is not None:
        where.append(s.c.status.in_(scope.statuses))
    return where


def _in_scope(stmt: sa.Select, scope: Scope) -> sa.Select:
    """``stmt`` (on the search table) limited to ``scope``: on the table's own copy of the
    queue and status when they say it all, else joined to ``tickets``."""
    if scope.queue_ids is not None:
        return stmt.where(*_scope_on_search(scope))
    return stmt.join(Ticket, Ticket.id == SEARCH_TABLE.c.ticket_id).where(*scope.conditions)


def _block_of_ticket() -> sa.ColumnElement[int]:
    """``ticket_id / BLOCK``, written as the index's expression (an integer division)."""
    return sa.literal_column(f"ticket_search.ticket_id / {int(BLOCK)}", sa.Integer)


def _pg_newest_matches(tsq: sa.ColumnElement[Any], scope: Scope) -> tuple[list[int], list[int], bool]:
    """The newest ``RANKED_NEWEST`` text matches within ``scope`` (ticket ids, newest
    first, and their scores: the text engine's rank), and whether more match. Bounded
    steps, whatever the words:

    1. the newest ``WALK`` documents in scope, read in ticket order (the primary key
       backwards) and tested one by one: very common words are found here, and the
       number found tells how common the words are;
    2. if fewer than ``RANKED_NEWEST`` were found: the window of ticket numbers that
       rate says holds the rest (``WINDOW_MARGIN`` times over), read through the GIN
       index on (block of ticket numbers, words) for the blocks that window spans — the
       index reads only those blocks' entries of each word;
    3. if that window still held too few, the next one, sized by the rate found so far
       (``STEPS`` windows at most); then the GIN index below them.

    Words that match few documents in all (``SMALL_MATCHES``, at the walk's rate) go
    to the GIN index at once. No step reads every match of a common word, nor walks the
    table in search of a rare one. Each match is scored as it is found (the document is
    read then), so the ranking reads no document again."""
    s = SEARCH_TABLE
    limit = RANKED_NEWEST + 1
    score = sa.cast(RANK_SCALE * sa.func.ts_rank(s.c.doc, tsq, 32), sa.Integer)

    def walk(below: int | None, documents: int) -> tuple[int, int, int, list[int], list[int]]:
        """(documents read, lowest and highest ticket number read, the matches, newest
        first, and their scores) of the newest ``documents`` in scope below ticket ``below``."""
        stmt = _in_scope(sa.select(s.c.ticket_id, s.c.doc), scope)
        if below is not None:
            stmt = stmt.where(s.c.ticket_id < below)
        recent = stmt.order_by(s.c.ticket_id.desc()).limit(documents).subquery("recent")
        hit = recent.c.doc.op("@@")(tsq)
        newest_first = recent.c.ticket_id.desc()
        row = db.session.execute(sa.select(
            sa.func.count(), sa.func.min(recent.c.ticket_id), sa.func.max(recent.c.ticket_id),
            sa.func.array_agg(aggregate_order_by(recent.c.ticket_id, newest_first)).filter(hit),
            sa.func.array_agg(aggregate_order_by(
                sa.cast(RANK_SCALE * sa.func.ts_rank(recent.c.doc, tsq, 32), sa.Integer), newest_first)).filter(hit),
        ).select_from(recent)).one()
        return row[0], row[1], row[2], list(row[3] or []), list(row[4] or [])

    def indexed(below: int, blocks: range | None) -> list[tuple[int, int]]:
        """(ticket id, score) of the newest matches below ticket ``below``, through the GIN
        index: in ``blocks`` only, or in all (None). "+ 0": neither the order nor the bound
        is the primary key's, which the planner could walk for words it has no statistics
        of; the GIN index finds the matches."""
        stmt = _in_scope(sa.select(s.c.ticket_id, score).where(s.c.doc.op("@@")(tsq), s.c.ticket_id + 0 < below),
                         scope)
        if blocks is not None:
            stmt = stmt.where(_block_of_ticket() == sa.any_(sa.literal(list(blocks), ARRAY(sa.Integer))))
        stmt = stmt.order_by((s.c.ticket_id + 0).desc()).limit(limit - len(found))
        return [(ticket_id, rank) for ticket_id, rank in db.session.execute(stmt)]

    examined, lowest, highest, found, scores = walk(None, WALK)
    if len(found) >= limit or examined < WALK:  # enough, or the scope holds no more documents
        return found[:RANKED_NEWEST], scores[:RANKED_NEWEST], len(found) > RANKED_NEWEST
    # about how many documents the words match in all (every queue: what the index reads
    # without a window), at the walk's rate of matches per document
    every_match = len(found) * highest // examined
    for _ in range(STEPS):
        if len(found) >= limit:
            break
        if not found or every_match <= SMALL_MATCHES:  # rare words: the GIN index finds every match
            break
        # the window below what was read that holds the rest at the rate found so far,
        # widened to whole blocks
        window = int(WINDOW_MARGIN * (limit - len(found)) * (highest - lowest + 1) / len(found))
        if lowest - window <= 0:  # the window reaches the oldest ticket
            break
        blocks = range((lowest - window) // BLOCK, (lowest - 1) // BLOCK + 1)
        for ticket_id, rank in indexed(lowest, blocks):
            found.append(ticket_id)
            scores.append(rank)
        lowest = blocks.start * BLOCK
    if len(found) < limit:  # the GIN index below what was read
        for ticket_id, rank in indexed(lowest, None):
            found.append(ticket_id)
            scores.append(rank)
    return found[:RANKED_NEWEST], scores[:RANKED_NEWEST], len(found) > RANKED_NEWEST


def _pg_text(query: search_text.Query, notes: bool, scope: Scope) -> sa.Select:
    """(ticket_id, score, capped): the text matches within ``scope``; ranked, the newest
    ``RANKED_NEWEST`` of them only (``_pg_newest_matches``), scored by the text engine."""
    s = SEARCH_TABLE
    tsq = _tsquery(query.words, "" if notes else ":AB")  # ":AB": the subject and public messages only
    if not scope.ranked:
        return _in_scope(sa.select(s.c.ticket_id, sa.literal(0, sa.Integer).label("score"),
                                   sa.false().label("capped")).where(s.c.doc.op("@@")(tsq)), scope)
    ids, scores, capped = _pg_newest_matches(tsq, scope)
    if scope.best is not None:  # only the best of them are wanted (see hits): sent alone
        best = sorted(zip(scores, ids, strict=True), reverse=True)[:scope.best]
        scores, ids = [score for score, _ in best], [ticket_id for _, ticket_id in best]
    return _listed(ids, scores, capped)


def _listed(ids: list[int], scores: list[int], capped: bool) -> sa.Select:
    """(ticket_id, score, capped) of matches found by a statement of their own."""
    rows = sa.func.unnest(sa.literal(ids, ARRAY(sa.Integer)), sa.literal(scores, ARRAY(sa.Integer))) \
        .table_valued(sa.column("ticket_id", sa.Integer), sa.column("score", sa.Integer)).render_derived("listed")
    return sa.select(rows.c.ticket_id, rows.c.score, sa.literal(capped, sa.Boolean).label("capped"))


def _pg_names(tickets_of: Any, matched: list[tuple[str, int, int]], where: tuple[sa.ColumnElement[bool], ...],
              scope: Scope) -> sa.Select:
    """(ticket_id, score, capped) of the tickets within ``scope`` of the patients bearing
    the ``matched`` names ((folded name, score, patients bearing it)): the patients (B-tree
    on ``users.name_folded``), then their tickets. On a first page (``scope.best``) with
    names of several scores, the names of the best scores come first, on their own: when
    their patients have ``best`` tickets in scope, those are the best of the name part
    (every other name scores lower), and the other names' tickets are not read."""

    def of_names(chosen: list[tuple[str, int, int]]) -> sa.Select:
        patients = sa.text(
            "SELECT u.id AS id, m.score AS score "
            "FROM unnest(CAST(:names AS text[]), CAST(:scores AS integer[])) AS m(name, score) "
            f"JOIN users u ON u.name_folded = m.name WHERE u.role = '{Role.PATIENT.value}'"
        ).bindparams(names=[name for name, _, _ in chosen], scores=[score for _, score, _ in chosen]) \
            .columns(id=sa.Integer, score=sa.Integer).subquery("name_match")
        return tickets_of(patients.c.score).join(patients, patients.c.id == Ticket.requester_id).where(*where)

    if scope.best is not None and len({score for _, score, _ in matched}) > 1:
        best_first = sorted(matched, key=lambda m: m[1], reverse=True)
        top: list[tuple[str, int, int]] = []
        for name, score, bearers in best_first:  # whole groups of a score, until they hold `best` patients
            if top and score != top[-1][1] and sum(b for _, _, b in top) >= scope.best:
                break
            top.append((name, score, bearers))
        if len(top) < len(matched):
            branch = of_names(top)
            found = db.session.execute(branch.order_by(sa.desc("score"), sa.desc("ticket_id"))
                                       .limit(scope.best)).all()
            if len(found) >= scope.best:
                return _listed([row.ticket_id for row in found], [row.score for row in found], False)
    return of_names(matched)


def hits(user: User, q: str, scope: Scope) -> sa.Subquery | None:
    """(ticket_id, score, capped) of every ticket within ``scope`` whose reference,
    patient or text matches ``q``, one row per ticket; ``capped`` (1) on the text matches
    when they were more than were ranked (``RANKED_NEWEST``). Every part of the search
    applies ``scope`` (the permissions and filters) in its own query: nothing is filtered
    afterwards. None when ``q`` has nothing to search for."""
    query = search_text.parse(q)
    if query.empty:
        return None
    pg = _dialect() == "postgresql"
    where = scope.conditions
    branches: list[sa.Select] = []

    def tickets_of(score: Any) -> sa.Select:
        return sa.select(Ticket.id.label("ticket_id"), score.label("score"), sa.false().label("capped"))

    if query.references:
        branches.append(tickets_of(sa.literal(REFERENCE_SCORE, sa.Integer))
                        .where(Ticket.reference.in_(query.references), *where))

    is_patient = sa.text(f"users.role = '{Role.PATIENT.value}'")  # the requester's account (as the name part)
    if (mrns := search_text.mrn_candidates(query.text)) and " " not in query.text:
        branches.append(tickets_of(sa.literal(IDENTIFIER_SCORE, sa.Integer))
                        .join(User, User.id == Ticket.requester_id)
                        .where(is_patient, sa.func.upper(User.mrn).in_(mrns), *where))
    if "@" in query.text and " " not in query.text:
        def containing(text: str) -> str:
            return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"

        email = sa.func.lower(User.email)
        address = query.text.lower()
        local = address.partition("@")[0]
        part_of_address = [email.like(containing(address), escape="\\")]
        if len(local) >= 3:
            # the trigram index looks up the part before the @ only (a domain's trigrams are in
            # every address: reading them costs most of the lookup); the rows it finds are
            # checked against the whole, written so that the index is not used for it
            part_of_address = [email.like(containing(local), escape="\\"),
                               email.concat("").like(containing(address), escape="\\")]
        branches.append(tickets_of(sa.literal(IDENTIFIER_SCORE, sa.Integer))
                        .join(User, User.id == Ticket.requester_id)
                        .where(is_patient, *part_of_address, *where))

    if query.name_words:
        params = {f"nw{i}": word for i, word in enumerate(query.name_words)}
        names = range(len(query.name_words))
        if pg:
            # first, on its own: the patients' distinct folded names (``ticket_search_names``,
            # kept by triggers on ``users``: narrow rows, each name once) that are trigram
            # candidates (%>, its GIN index; the threshold is set on the connection,
            # ``prepare_connection``), with the typo test and the score once per name.
            # Then their patients' tickets (``_pg_names``), the planner knowing how many
            # names there are.
            candidates = " AND ".join(f"d.name_folded %> :nw{i}" for i in names)
            match = " AND ".join(f"helpdesk_name_match(:nw{i}, d.name_folded)" for i in names)
            similarity = " + ".join(f"word_similarity(:nw{i}, d.name_folded)" for i in names)
            matched = db.session.execute(sa.text(
                f"SELECT d.name_folded, {NAME_SCORE} + CAST({RANK_SCALE} * ({similarity}) / {len(names)} AS INTEGER), "
                f"d.patients FROM ticket_search_names d WHERE {candidates} AND {match}"
            ), params).all()
            if matched:
                branches.append(_pg_names(tickets_of, [tuple(row) for row in matched], where, scope))
        else:
            match = " AND ".join(f"helpdesk_name_match(:nw{i}, helpdesk_fold(u.display_name))" for i in names)
            similarity = " + ".join(f"word_similarity(:nw{i}, helpdesk_fold(u.display_name))" for i in names)
            sql = (f"SELECT u.id AS id, {NAME_SCORE} + CAST({RANK_SCALE} * ({similarity}) / {len(names)} AS INTEGER) "
                   f"AS score FROM users u WHERE u.role = '{Role.PATIENT.value}' AND {match}")
            # the patients first (scored once each), then their tickets
            patients = (sa.text(sql).bindparams(**params).columns(id=sa.Integer, score=sa.Integer)
                        .subquery("name_match"))
            branches.append(tickets_of(patients.c.score).join(patients, patients.c.id == Ticket.requester_id)
                            .where(*where))

    if query.words:
        notes = can_read_internal_notes(user)
        if pg:
            branches.append(_pg_text(query, notes, scope))
        else:
            rank = "(-bm25(ticket_search, 4.0, 2.0, 1.0))"
            fts = sa.text(
                f"SELECT rowid AS ticket_id, CAST({RANK_SCALE} * {rank} / (1.0 + {rank}) AS INTEGER) AS score "
                f"FROM ticket_search WHERE ticket_search MATCH :fts"
            ).bindparams(fts=search_text.fts5_query(query, None if notes else ("subject", "public")))
            matched = fts.columns(ticket_id=sa.Integer, score=sa.Integer).subquery("fts")
            branches.append(sa.select(matched.c.ticket_id, matched.c.score, sa.false().label("capped"))
                            .join(Ticket, Ticket.id == matched.c.ticket_id).where(*where))

    if not branches:
        return None
    if scope.best is not None:
        # a ticket among the best ``best`` of the union (by its best score) is among the best
        # ``best`` of the part that gave it that score: the parts can be cut first
        def best_of(branch: sa.Select) -> sa.Select:
            cut = branch.order_by(sa.desc("score"), sa.desc("ticket_id")).limit(scope.best).subquery()
            return sa.select(cut.c.ticket_id, cut.c.score, cut.c.capped)

        branches = [best_of(branch) for branch in branches]
    found = sa.union_all(*branches).subquery("found")
    return (sa.select(found.c.ticket_id, sa.func.max(found.c.score).label("score"),
                      sa.func.max(sa.cast(found.c.capped, sa.Integer)).label("capped"))
            .group_by(found.c.ticket_id).subquery("search_hits"))


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
    texts: dict[int, list[str]] = {t.id: [t.subject] for t in tickets}
    latest = (sa.select(MessageVersion.body).where(MessageVersion.message_id == Message.id)
              .order_by(MessageVersion.version.desc()).limit(1).correlate(Message).scalar_subquery())
    stmt = (sa.select(Message.ticket_id, Message.public, sa.func.coalesce(latest, Message.body).label("body"))
            .where(Message.ticket_id.in_(texts)).order_by(Message.ticket_id, Message.created_at, Message.id))
    if not can_read_internal_notes(user):
        stmt = stmt.where(Message.public.is_(True))
    for message in db.session.execute(stmt):
        if can_view_message(user, message):
            texts[message.ticket_id].append(message.body)  # as it reads now (the latest correction)
    for ticket in tickets:
        ticket.search_snippet = search_text.snippet(texts[ticket.id], query)
