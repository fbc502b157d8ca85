"""Timezone-aware UTC time helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator

_simulated: Callable[[], datetime] | None = None


def utcnow() -> datetime:
    return _simulated() if _simulated is not None else datetime.now(UTC)


@contextmanager
def simulated_clock(clock: Callable[[], datetime]) -> Iterator[None]:
    """Let ``clock`` tell the time to everything that timestamps (models, services, the
    SLA engine) — for writing demo history in the past, in a single-threaded command
    only; never while serving requests."""
    global _simulated
    previous, _simulated = _simulated, clock
    try:
        yield
    finally:
        _simulated = previous


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC; always returns aware UTC datetimes.

    SQLite has no timezone type, so values read back would be naive without this.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):  # type: ignore[override]
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect):  # type: ignore[override]
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
