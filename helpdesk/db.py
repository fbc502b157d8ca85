"""The one way services run a unit of work.

A service function is one unit of work (CONVENTIONS rule 4, Zulip's ``zerver/actions``)::

    @transactional
    def close_ticket(...):            # or: with unit_of_work(): ...
        ...                           # reads, writes, audit rows, jobs.enqueue(...)

* The **outermost** unit commits once when its block ends, then dispatches the jobs
  enqueued inside it (``jobs.dispatch_pending``): side effects only ever see committed rows.
* A unit entered inside another one (a macro posting a message and updating the ticket,
  a merge closing the merged requests, an e-mail creating a ticket) **joins** it: no
  commit, no savepoint. Services therefore call each other's public functions freely.
* An exception anywhere rolls back the **whole** unit and discards its pending jobs.
  If a nested unit failed and the code around it swallowed the exception, the outer
  unit does not commit what is left: it raises :class:`UnitOfWorkRolledBack`.

``commit()`` and ``rollback()`` remain for tests and scripts that write outside any
service; a service never calls them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from sqlalchemy.dialects import postgresql, sqlite

from helpdesk import inserts, jobs
from helpdesk.extensions import db

P = ParamSpec("P")
R = TypeVar("R")

_DEPTH = "helpdesk_uow_depth"
_DOOMED = "helpdesk_uow_doomed"


class UnitOfWorkRolledBack(RuntimeError):
    """A nested unit of work failed inside this one, and its exception was swallowed."""


def in_unit_of_work() -> bool:
    return db.session().info.get(_DEPTH, 0) > 0


def _discard(session: Any) -> None:
    inserts.forget(session)
    session.rollback()
    jobs.discard_pending()


@contextmanager
def unit_of_work() -> Iterator[None]:
    """One transaction: the outermost block commits (then dispatches its jobs), nested
    blocks join it, and an exception anywhere rolls all of it back."""
    session = db.session()
    depth = session.info.get(_DEPTH, 0)
    session.info[_DEPTH] = depth + 1
    try:
        yield
    except BaseException:
        session.info[_DEPTH] = depth
        _discard(session)  # at once: nothing after the failure may build on half a unit
        if depth:
            session.info[_DOOMED] = True
        else:
            session.info.pop(_DOOMED, None)
        raise
    session.info[_DEPTH] = depth
    if depth:
        return  # the outer unit commits
    if session.info.pop(_DOOMED, False):
        _discard(session)
        raise UnitOfWorkRolledBack("a nested unit of work failed; the whole unit was rolled back")
    try:
        if inserts.preferred(session):
            inserts.flush(session)  # a new request's rows in one statement (helpdesk.inserts)
            inserts.forget(session)
        session.commit()  # the one commit of every service (see the module docstring)
    except BaseException:
        _discard(session)
        raise
    jobs.dispatch_pending()


@contextmanager
def new_rows_unit() -> Iterator[None]:
    """A unit of work that makes new rows (a new request): as :func:`unit_of_work`, and
    when it is the outermost one, on PostgreSQL, its new rows are written in one statement
    at the commit (``helpdesk.inserts``). Nested in another unit it simply joins it."""
    outermost = not in_unit_of_work()
    with unit_of_work():
        if outermost:
            inserts.prefer()
        yield


def transactional(func: Callable[P, R]) -> Callable[P, R]:
    """``unit_of_work()`` around a whole function: the decorator form."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with unit_of_work():
            return func(*args, **kwargs)

    return wrapper


def commit() -> None:
    """For tests and scripts that write outside any service: an empty outermost unit
    (commit, then dispatch the jobs). Refused inside a unit, which commits by itself."""
    if in_unit_of_work():
        raise RuntimeError("commit() inside a unit of work: the outermost unit commits")
    with unit_of_work():
        pass


def rollback() -> None:
    """For tests and scripts: drop the current transaction and its pending jobs."""
    if in_unit_of_work():
        raise RuntimeError("rollback() inside a unit of work: raise instead")
    _discard(db.session())


def conflict_insert(table: Any, dialect_name: str) -> Any:
    """``INSERT`` with ``ON CONFLICT`` (do nothing / do update) on PostgreSQL and SQLite;
    None on other databases, where the caller falls back to update-then-insert."""
    if dialect_name == "postgresql":
        return postgresql.insert(table)
    if dialect_name == "sqlite":
        return sqlite.insert(table)
    return None
