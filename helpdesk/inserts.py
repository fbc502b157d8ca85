"""New rows written in one statement: the write path of a new request on PostgreSQL.

A new request makes nine or ten rows in eight tables (the patient's account when new, the
request, its first message, its search document, two audit events, two SLA clocks and
their summary, its follow-up job). Written by the ORM's flush, that is one statement
per table — each a round trip — and most of the request's CPU time goes into the unit of
work's bookkeeping. Here the same objects, built by the same service code, are written
as **one** ``INSERT`` per table, all of them data-modifying CTEs of a single statement,
and then registered in the session exactly as a flush registers them (persistent, with
their history committed, expunged again if the transaction rolls back).

It is opt-in, per unit of work (:func:`prefer`), and falls back to the ORM's flush
whenever it would not be the same thing: not PostgreSQL, an object changed or deleted
(not only new), a class not in :data:`ALLOWED`, a many-to-many relationship, a column
default that needs the statement's context. The session's flush events
(``before_flush``, ``after_flush``, ``after_flush_postexec``) are dispatched to every
listener around the write, as a flush does (``helpdesk.listeners``: the audit events'
hashes, the outbox rows of ``jobs.enqueue_for``, the token cache's change mark).

Ids: :func:`assign_ids` takes the next values of the tables' sequences in one round
trip, so a service that needs an id before the commit (an audit event naming the new
account, the job naming the new request) does not need a flush to get it; without lean
writes it flushes, as before.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.orm import RelationshipDirection, Session, attributes

from helpdesk.extensions import db

_LEAN = "helpdesk_lean_inserts"
_WRITING = "helpdesk_lean_writing"
_EXTRA = "helpdesk_lean_extra"

#: The mapped classes written here (their tables: one integer id from a sequence,
#: no inheritance); filled by :func:`allow` at import of the models that opt in.
ALLOWED: set[type] = set()


def allow(*classes: type) -> None:
    ALLOWED.update(classes)


def prefer(session: Session | None = None) -> None:
    """This unit of work's new rows are written by :func:`write_pending` (PostgreSQL)."""
    session = session or db.session()
    if session.get_bind().dialect.name == "postgresql":
        session.info[_LEAN] = True


def preferred(session: Session) -> bool:
    return bool(session.info.get(_LEAN))


def forget(session: Session) -> None:
    """The unit of work ended (committed or rolled back)."""
    session.info.pop(_LEAN, None)
    session.info.pop(_EXTRA, None)


def assign_ids(*objects: Any) -> None:
    """Give ``objects`` (new, without ids) their ids: from their sequences in one round
    trip when this unit writes lean, else by flushing."""
    session = db.session()
    if not preferred(session):
        session.flush()
        return
    todo = [(o, key, seq) for o in objects for key, seq in [_serial(sa.inspect(o).mapper)]
            if seq is not None and getattr(o, key) is None]
    if todo:
        select = "SELECT " + ", ".join(f"nextval('{seq}')" for _o, _k, seq in todo)
        values = session.connection().exec_driver_sql(select).one()
        for (obj, key, _seq), value in zip(todo, values, strict=True):
            setattr(obj, key, value)
    for obj in objects:  # and their foreign keys, as the flush would have set them
        _sync_foreign_keys(attributes.instance_state(obj))


def _serial(mapper: Any) -> tuple[str, str | None]:
    """(attribute, sequence) of a table whose id is one integer column numbered by its
    sequence (``<table>_<column>_seq``: SERIAL); the sequence None otherwise."""
    pk = mapper.local_table.primary_key.columns
    if len(pk) != 1:
        return "", None
    column = next(iter(pk))
    key = mapper.get_property_by_column(column).key
    if column.autoincrement not in (True, "auto") or column.foreign_keys or not isinstance(column.type, sa.Integer):
        return key, None
    return key, f"{mapper.local_table.name}_{column.name}_seq"


def add_statement(template: Any, params: dict[str, Any]) -> None:
    """An ``INSERT`` of this unit's lean write that is not an ORM object: ``template``
    (built once, with named bind parameters no other template uses) and its values. It
    must not read rows this unit writes. Executed at once when the unit does not write
    lean."""
    session = db.session()
    if preferred(session):
        session.info.setdefault(_EXTRA, []).append((template, params))
    else:
        session.execute(template, params)


#: The compiled statement of each shape of lean write (tables, columns, rows per table,
#: templates): compiled once per process, so each write is only its parameters.
_COMPILED: dict[tuple[Any, ...], tuple[str, tuple[str, ...], dict[str, Any], tuple[int, ...]]] = {}
_PLACEHOLDER = re.compile(r"%\(([^)]+)\)s")


def _statement(session: Session, shape: tuple[Any, ...], groups: list[tuple[sa.Table, tuple[str, ...], int]],
               templates: list[Any]) -> tuple[str, tuple[str, ...], dict[str, Any], tuple[int, ...]]:
    """The SQL of one shape with PostgreSQL's own placeholders (``$1`` …: psycopg's raw
    cursor sends it as it is, with no parsing of a long statement on every write, and
    prepares it after a few uses), the parameters' names in placeholder order, their bind
    processors, and the groups whose new ids the statement returns (rows ``(group, id)``)."""
    compiled = _COMPILED.get(shape)
    if compiled is None:
        ctes, returning = [], []
        for g, (table, keys, n) in enumerate(groups):
            insert = sa.insert(table).values(
                [{k: sa.bindparam(f"w{g}_{r}_{k}", type_=table.c[k].type) for k in keys} for r in range(n)])
            pk = next(iter(table.primary_key.columns))
            if pk.key not in keys:
                returning.append((g, insert.returning(pk.label("id")).cte(f"w{g}")))
            else:
                ctes.append(insert.cte(f"w{g}"))
        ctes += [template.cte(f"x{i}") for i, template in enumerate(templates)]
        if returning:
            final = sa.union_all(*(sa.select(sa.literal_column(str(int(g))).label("g"), cte.c.id) for g, cte in returning))
            final = sa.select(final.subquery()).add_cte(*ctes) if ctes else final
        else:
            final = sa.select(sa.literal_column("1")).add_cte(*ctes)
        result = final.compile(dialect=session.get_bind().dialect)
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            if match.group(1) not in names:
                names.append(match.group(1))
            return f"${names.index(match.group(1)) + 1}"

        sql = _PLACEHOLDER.sub(number, result.string).replace("%%", "%")
        compiled = _COMPILED.setdefault(shape, (sql, tuple(names), dict(result._bind_processors),  # noqa: SLF001
                                                tuple(g for g, _c in returning)))
    return compiled


def _execute_raw(connection: sa.Connection, sql: str, values: tuple[Any, ...]) -> Any:
    """``sql`` with ``$n`` placeholders through SQLAlchemy (its events, its error types, its
    transaction) on a psycopg raw cursor."""
    driver = connection.connection.driver_connection
    factory = driver.cursor_factory
    driver.cursor_factory = psycopg.RawCursor
    try:
        return connection.exec_driver_sql(sql, values)
    finally:
        driver.cursor_factory = factory


def flush(session: Session) -> None:
    """Before the commit of a unit that prefers lean writes: the flush (whose
    :func:`before_orm_flush` writes the new rows in one statement, and whose ORM part does
    whatever else the unit changed), then the statements queued by :func:`add_statement`
    if the lean write could not take them."""
    session.flush()
    for template, params in session.info.pop(_EXTRA, None) or []:
        session.execute(template, params)


def before_orm_flush(session: Session, _flush_context: Any, _instances: Any) -> None:
    """``before_flush`` (``helpdesk.listeners``): in a unit that prefers lean writes, every
    flush — an autoflush before a query included — first writes the unit's new rows in one
    statement; the ORM's flush then does the rest. So the rows are always written together,
    in one statement whose foreign keys are checked at its end: the ORM orders its INSERTs
    only by relationships, and a row that names its request by a plain foreign key (an SLA
    clock) could otherwise be sent before the request, whose id was taken from its
    sequence without a flush."""
    if preferred(session) and not session.info.get(_WRITING):
        write_pending(session)


def write_pending(session: Session) -> bool:
    """Write the session's new objects of :data:`ALLOWED` classes in one statement (the
    ORM's flush does everything else afterwards). False, with nothing written, when the
    ORM's flush must write them too: one refers to a new object of another class, or the
    flush would write one differently (see :func:`_row`)."""
    if not preferred(session) or session.info.get(_WRITING):
        return False
    session.info[_WRITING] = True
    try:
        return _write(session)
    finally:
        session.info.pop(_WRITING, None)


def _write(session: Session) -> bool:
    if not _writable(session):
        return False
    session.dispatch.before_flush(session, None, list(session.new))  # the audit events' hashes, …
    if not _writable(session):  # a listener may have added some
        return False
    states = [s for s in map(attributes.instance_state, session.new) if s.class_ in ALLOWED]
    extra = session.info.get(_EXTRA) or []
    if not states and not extra:
        return True
    # ids first for the new rows that other new rows refer to; the others get theirs
    # from the write itself (RETURNING), as the flush's INSERT … RETURNING does
    new = set(states)
    assign_ids(*(t.obj() for t in _referenced(states, new)))
    for state in states:
        _sync_foreign_keys(state)
    groups: dict[tuple[sa.Table, tuple[str, ...]], list[tuple[Any, dict[str, Any]]]] = {}
    for state in states:
        row = _row(state)
        if row is None:
            return False
        table = state.mapper.local_table
        if any(c.key not in row for c in table.primary_key.columns) and _serial(state.mapper)[1] is None:
            return False
        groups.setdefault((table, tuple(sorted(row))), []).append((state, row))
    ordered = sorted(groups.items(), key=lambda item: (item[0][0].name, item[0][1]))
    shape = (tuple((table.name, keys, len(rows)) for (table, keys), rows in ordered), tuple(t for t, _p in extra))
    sql, names, processors, returning = _statement(
        session, shape, [(table, keys, len(rows)) for (table, keys), rows in ordered], [t for t, _p in extra])
    params: dict[str, Any] = {}
    for g, ((_table, keys), rows) in enumerate(ordered):
        for r, (_state, row) in enumerate(rows):
            params.update((f"w{g}_{r}_{k}", row[k]) for k in keys)
    for _t, values in extra:
        params.update(values)
    values = tuple(processors[k](params[k]) if k in processors else params[k] for k in names)
    result = _execute_raw(session.connection(), sql, values)
    if returning:
        ids: dict[int, list[int]] = {}
        for g, value in result:
            ids.setdefault(g, []).append(value)
        for g in returning:
            (table, _keys), rows = ordered[g]
            # one statement's rows take their sequence's numbers in the order they are listed
            for (state, _row_values), value in zip(rows, sorted(ids[g]), strict=True):
                key, _seq = _serial(state.mapper)
                state.obj().__dict__[key] = value
                state.committed_state.pop(key, None)
    session.info.pop(_EXTRA, None)
    session.dispatch.after_flush(session, None)
    session._register_persistent(set(states))  # noqa: SLF001 - what flush does after its writes
    session.dispatch.after_flush_postexec(session, None)
    return True


def _writable(session: Session) -> bool:
    """Can the new rows of allowed classes be written before everything else? Not when one
    refers (by a relationship) to a new object of another class, or has a many-to-many
    relationship: the ORM's flush must then order them all."""
    new = {attributes.instance_state(o) for o in session.new}
    for state in new:
        if state.class_ not in ALLOWED:
            continue
        for prop in state.mapper.relationships:
            value = state.dict.get(prop.key)
            if value is None:
                continue
            if prop.direction is RelationshipDirection.MANYTOMANY:
                if value:
                    return False
            elif prop.direction is RelationshipDirection.MANYTOONE:
                target = attributes.instance_state(value)
                if target in new and target.class_ not in ALLOWED:
                    return False
    return True


def _referenced(states: list[Any], new: set[Any]) -> set[Any]:
    """The new objects that other new objects refer to (their ids are needed first)."""
    parents = set()
    for state in states:
        for prop in state.mapper.relationships:
            value = state.dict.get(prop.key)
            if value is None:
                continue
            if prop.direction is RelationshipDirection.MANYTOONE:
                target = attributes.instance_state(value)
                if target in new:
                    parents.add(target)
            elif prop.direction is RelationshipDirection.ONETOMANY:
                children = value if isinstance(value, list | set | tuple) else [value]
                if any(attributes.instance_state(c) in new for c in children):
                    parents.add(state)
    return parents


def _sync_foreign_keys(state: Any) -> None:
    """Copy the ids of related objects into this object's foreign-key columns (what the
    flush's dependency processors do for many-to-one and one-to-many relationships)."""
    mapper = state.mapper
    for prop in mapper.relationships:
        if prop.key not in state.dict:
            continue
        value = state.dict[prop.key]
        if prop.direction is RelationshipDirection.MANYTOONE:
            if value is None:
                continue
            for remote, local in prop.synchronize_pairs:
                _set(state, mapper, local, getattr(value, value.__class__.__mapper__.get_property_by_column(remote).key))
        elif prop.direction is RelationshipDirection.ONETOMANY:
            children = value if isinstance(value, list | set | tuple) else [value] if value is not None else []
            for child in children:
                child_state = attributes.instance_state(child)
                for parent_col, child_col in prop.synchronize_pairs:
                    _set(child_state, child_state.mapper, child_col,
                         getattr(state.obj(), mapper.get_property_by_column(parent_col).key))


def _set(state: Any, mapper: Any, column: sa.Column, value: Any) -> None:
    key = mapper.get_property_by_column(column).key
    if state.dict.get(key) != value:
        setattr(state.obj(), key, value)


def _row(state: Any) -> dict[str, Any] | None:
    """The INSERT's values of one new object, chosen as the ORM's flush chooses them
    (``sqlalchemy.orm.persistence._collect_insert_commands``): a None that the column
    does not store as a value is left out, so the column's default applies — a Python
    default is computed here and set on the object, as the flush's prefetch does; a
    server default is left to the database; a column with neither gets an explicit NULL.
    None when the flush would do something this does not (SQL expressions as values,
    version counters, ORM-level defaults, defaults that read the statement)."""
    mapper, obj = state.mapper, state.obj()
    table = mapper.local_table
    if mapper.version_id_col is not None or mapper._insert_orm_defaults.get(table):  # noqa: SLF001
        return None
    eval_none = mapper._insert_cols_evaluating_none[table]  # noqa: SLF001
    row: dict[str, Any] = {}
    for propkey, column in mapper._propkey_to_col[table].items():  # noqa: SLF001
        if propkey in state.dict:
            value = state.dict[propkey]
            if isinstance(value, sa.sql.ClauseElement):
                return None
            if value is not None or column in eval_none:
                row[column.key] = value
                continue
        default = column.default
        if default is None:
            continue
        if default.is_sequence or default.is_clause_element:
            return None
        if default.is_callable:
            try:
                value = default.arg(None)
            except (AttributeError, TypeError):  # a default that reads the statement's context
                return None
        else:
            value = default.arg
        setattr(obj, propkey, value)
        row[column.key] = value
    for key in mapper._insert_cols_as_none[table].difference(row):  # noqa: SLF001
        row[key] = None
    return row
