"""Cursor pagination for every API list: keyset underneath, an opaque signed cursor on
the wire.

A list operation takes ``cursor`` and ``limit`` (``PageArgs``, or its fields in the
operation's own query schema), hands ``read_cursor(args)`` — the query's own keyset
position, or None — to its query, and answers with ``page(items, next_cursor)``:
the body's ``next_cursor`` (null on the last page) and a ``Link: <…>; rel="next"``
header with the same query and the next cursor. Mark it ``@paginated(blp)`` so the
document shows the ``Link`` header (helpdesk.api.openapi).

The cursor is the query's position signed with SECRET_KEY (itsdangerous, salted per
operation): a client cannot forge or edit one, and a cursor of one list is refused by
another (422 on ``cursor``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeSerializer
from marshmallow import RAISE, Schema, fields, validate

from helpdesk.errors import ValidationFailed

F = TypeVar("F", bound=Callable[..., Any])

LIMIT_DEFAULT = 25
LIMIT_MAX = 100
CURSOR_MAX = 500


def cursor_field() -> fields.Str:
    return fields.Str(validate=validate.Length(min=1, max=CURSOR_MAX), metadata={
        "description": "Opaque: the `next_cursor` of the previous page (signed; only valid for this list)",
        "example": "WyIyMDI2LTEyLTAxVDA5OjMwOjAwKzAwOjAwIiwgNDJd.c2lnbmF0dXJl"})


def limit_field(default: int = LIMIT_DEFAULT, maximum: int = LIMIT_MAX) -> fields.Int:
    return fields.Int(load_default=default, validate=validate.Range(min=1, max=maximum),
                      metadata={"description": f"Items per page (at most {maximum})", "example": default})


class PageArgs(Schema):
    """``cursor`` and ``limit``: the query arguments of a list without filters."""

    class Meta:
        unknown = RAISE

    cursor = cursor_field()
    limit = limit_field()


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=f"api-cursor:{request.endpoint}")


def sign_cursor(position: str | None) -> str | None:
    return None if position is None else _serializer().dumps(position)


def read_cursor(args: dict[str, Any]) -> str | None:
    """The query's own position from ``args["cursor"]`` (None: the first page); 422 when
    the cursor was not made by this list."""
    token = args.get("cursor")
    if not token:
        return None
    try:
        position = _serializer().loads(token)
    except BadSignature:
        raise ValidationFailed("That cursor is not valid for this list: use next_cursor as given.",
                               fields={"cursor": ["Invalid cursor."]}) from None
    if not isinstance(position, str):
        raise ValidationFailed("That cursor is not valid for this list.", fields={"cursor": ["Invalid cursor."]})
    return position


def keys_of(*values: str | int) -> str:
    """The keyset position of a list's last row (its sort keys, id last) as a cursor's position."""
    return json.dumps(list(values))


def read_keys(args: dict[str, Any], kinds: Sequence[type]) -> list[Any] | None:
    """The keyset position ``keys_of`` made, from ``args["cursor"]`` (None: the first page):
    one value of each of ``kinds`` (str or int). 422 on ``cursor`` otherwise."""
    position = read_cursor(args)
    if position is None:
        return None
    try:
        values = json.loads(position)
    except ValueError:
        values = None
    if (not isinstance(values, list) or len(values) != len(kinds)
            or not all(type(v) is k for v, k in zip(values, kinds, strict=False))):
        raise ValidationFailed("That cursor is not valid for this list.", fields={"cursor": ["Invalid cursor."]})
    return values


def next_link(cursor: str) -> str:
    query = [(k, v) for k, v in request.args.items(multi=True) if k != "cursor"]
    return f"<{request.base_url}?{urlencode([*query, ('cursor', cursor)])}>; rel=\"next\""


def page(body: dict[str, Any], position: str | None) -> tuple[dict[str, Any], int, dict[str, str]]:
    """The answer of a list operation: ``body`` (its ``items`` and anything else) with
    ``next_cursor`` signed, and the ``Link`` header when there is a next page."""
    cursor = sign_cursor(position)
    headers = {"Link": next_link(cursor)} if cursor else {}
    return {**body, "next_cursor": cursor}, 200, headers


def paginated(blp: Any) -> Callable[[F], F]:
    """Document the operation as a cursor-paginated list (the ``Link`` header)."""

    def deco(view: F) -> F:
        return blp.doc(**{"x-paginated": True})(view)

    return deco
