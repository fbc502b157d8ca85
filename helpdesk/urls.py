"""URL converters shared by every blueprint."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask
from werkzeug.routing import IntegerConverter

# Primary keys are INTEGER columns (32-bit on PostgreSQL); SQLite's driver overflows on
# anything past 64 bits. Found by the API fuzz test: /api/v1/attachments/<22 digits> was a 500.
MAX_ID = 2**31 - 1


class BoundedIntConverter(IntegerConverter):
    """``<int:...>`` in every route: a number larger than any row id matches no route
    (a 404), instead of reaching the database. Documented as ``maximum`` in the OpenAPI."""

    def __init__(self, map, fixed_digits: int = 0, min: int | None = None,
                 max: int | None = MAX_ID, signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def init_converters(app: Flask) -> None:
    """Must run before any blueprint is registered (rules bind their converter then)."""
    app.url_map.converters["int"] = BoundedIntConverter


def safe_next(target: str | None) -> str | None:
    """Only same-site relative paths are followed after sign-in."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target
