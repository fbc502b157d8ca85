"""Short-lived per-process caches of rows that change rarely and are read on every write.

A new request reads the SLA policies and calendars, the queue it starts in and the
webhook subscriptions; an API call reads its token. Each of those is one statement per
request, the same answer thousands of times a minute. :func:`cached` keeps a value for a
few seconds (the TTL is the caller's setting; 0 reads the database every time):

* a change written through this process's ORM empties every cache at once, and so does
  any rollback (a cache may hold what the rollback undid) — see ``helpdesk.listeners``;
* a change made on another host (or with raw SQL) applies here within the TTL, except
  where the caller checks a shared generation (API tokens, ``helpdesk.api.token_cache``).

Cached values are plain data (tuples, dicts, frozen dataclasses), never ORM objects: a
row a request must hold as an object is put into its session with :func:`in_session`,
which costs no statement.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy.orm import make_transient_to_detached

from helpdesk.extensions import db

T = TypeVar("T")
M = TypeVar("M")

# (what, database) -> (monotonic time read, value)
_cache: dict[tuple[str, str], tuple[float, Any]] = {}


def invalidate(*_args: Any) -> None:
    """Forget everything cached (mapper, rollback and commit events call it)."""
    _cache.clear()


def cached(what: str, load: Callable[[], T], ttl: float) -> T:
    """``load()``'s value, kept for ``ttl`` seconds in this process (per database)."""
    if ttl <= 0:
        return load()
    key = (what, str(db.engine.url))
    hit = _cache.get(key)
    now = time.monotonic()
    if hit is not None and now - hit[0] < ttl:
        return hit[1]
    value = load()
    _cache[key] = (now, value)
    return value


def in_session(model: type[M], values: dict[str, Any]) -> M:
    """The persistent ``model`` row with these column values in the current session,
    without a statement: the session's own copy when it has one, else one built from
    ``values`` (which must hold every column, so that nothing loads lazily)."""
    session = db.session()
    key = session.identity_key(model, values["id"])
    found = session.identity_map.get(key)
    if found is not None:
        return found
    obj = model(**values)
    make_transient_to_detached(obj)
    session.add(obj)
    return obj


def row_values(obj: Any) -> dict[str, Any]:
    """Every column attribute of a loaded ORM object (what :func:`in_session` takes)."""
    mapper = obj.__mapper__
    return {attr.key: getattr(obj, attr.key) for attr in mapper.column_attrs}


# ----------------------------------------------------------------------- a batch's reads
#
# A job that works through a batch of tickets (``helpdesk.tickets.tasks.after_create_batch``)
# reads at once, for all of them, what each ticket's code would otherwise read with a
# statement of its own, and lends it to that code for the batch's unit of work with
# :func:`batch_reads`. :func:`take` hands each entry out once: a second read for the same
# key (after the code may have changed what it stands for) goes to the database as usual.

_BATCH = "helpdesk_batch_reads"
MISSING: Any = object()


@contextmanager
def batch_reads(reads: dict[str, dict[Any, Any]]) -> Iterator[None]:
    """Lend ``reads`` (name -> key -> value) to the code run inside the block."""
    info = db.session().info
    info[_BATCH] = reads
    try:
        yield
    finally:
        info.pop(_BATCH, None)


def take(name: str, key: Any) -> Any:
    """The batch's value of ``name`` for ``key``, handed out once; ``MISSING`` when the
    batch has none (outside a batch, always): then read it from the database."""
    reads = db.session().info.get(_BATCH)
    if not reads or name not in reads:
        return MISSING
    return reads[name].pop(key, MISSING)
