"""``Idempotency-Key`` on API creates: ``@idempotent(blp)`` above an operation's
flask-smorest decorators (and below ``requires_scope``) is all an endpoint needs.

* No header: the operation runs as usual.
* A key this account used in the last 24 hours for the same method, path and body: the
  first response is sent again (status, body, ``Location``) with
  ``Idempotent-Replayed: true``; nothing runs.
* The same key with another method, path or body: 409 ``idempotency_key_reused``.
* Two requests with one key at the same time: the operation and the key's row are one
  transaction and the row is unique per account and key (``helpdesk.idempotency``), so
  one commits and the other rolls back completely and gets 409
  ``idempotency_key_in_use`` (retrying it then replays the winner's answer).

Only a successful (2xx) answer is kept: an error changed nothing, and the same key may be
sent again. Keys are per account (a rotated token keeps its keys); they last 24 hours.
The document shows the header, the 409 and ``Idempotent-Replayed`` on every operation
marked ``x-idempotent`` (helpdesk.api.openapi).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Response, g, make_response, request
from sqlalchemy.exc import IntegrityError

from helpdesk import idempotency as store
from helpdesk.db import unit_of_work
from helpdesk.errors import Conflict, ValidationFailed

F = TypeVar("F", bound=Callable[..., Any])

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
KEY_PATTERN = r"^[!-~]{1,255}$"  # visible ASCII, no spaces
_KEY = re.compile(KEY_PATTERN)


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"


class IdempotencyKeyInUse(Conflict):
    code = "idempotency_key_in_use"


def request_fingerprint() -> str:
    """SHA-256 of the method, the path and the body. A JSON body counts by its content
    (key order and spacing aside); a multipart body by its text parts and the names and
    bytes of its files (not the boundary, which a client draws anew for each send)."""
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.path}\n".encode())
    if request.mimetype == "multipart/form-data":
        for name in sorted(request.form):
            for value in request.form.getlist(name):
                digest.update(json.dumps(["form", name, value]).encode())
        for name in sorted(request.files):
            for upload in request.files.getlist(name):
                data = upload.stream.read()
                upload.stream.seek(0)
                digest.update(json.dumps(["file", name, upload.filename, hashlib.sha256(data).hexdigest()]).encode())
        return digest.hexdigest()
    raw = request.get_data(cache=True)
    try:
        digest.update(json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode())
    except (ValueError, UnicodeDecodeError, RecursionError):
        digest.update(raw)
    return digest.hexdigest()


def _replay(row: store.IdempotencyKey) -> Response:
    response = Response(row.body, status=row.status_code, mimetype="application/json")
    if row.location:
        response.headers["Location"] = row.location
    response.headers[REPLAYED] = "true"
    return response


def idempotent(blp: Any) -> Callable[[F], F]:
    """Honour ``Idempotency-Key`` on this create operation (see the module docstring).
    The operation's own services join the transaction opened here."""

    def deco(view: F) -> F:
        return blp.doc(**{"x-idempotent": True})(_idempotent(view))

    return deco


def _idempotent(view: F) -> F:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        if not _KEY.match(key):
            raise ValidationFailed("Idempotency-Key must be 1 to 255 visible ASCII characters.",
                                   fields={HEADER: ["1 to 255 visible ASCII characters."]})
        user_id = g.api_user.id
        fingerprint = request_fingerprint()
        with unit_of_work():
            row = store.find(user_id, key)
            if row is not None:
                if row.request_hash != fingerprint:
                    raise IdempotencyKeyReused("This Idempotency-Key was used with another request: "
                                               "use a new key for a new request.")
                return _replay(row)
            response = make_response(view(*args, **kwargs))
            if 200 <= response.status_code < 300:
                try:
                    store.remember(user_id=user_id, key=key, request_hash=fingerprint,
                                   status_code=response.status_code, body=response.get_data(),
                                   location=response.headers.get("Location"))
                except IntegrityError:
                    raise IdempotencyKeyInUse("Another request with this Idempotency-Key was processed at the "
                                              "same time; send it again to get its answer.") from None
            return response

    return wrapped  # type: ignore[return-value]
