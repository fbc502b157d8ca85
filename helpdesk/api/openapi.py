"""What every operation's document shares, added once after the blueprints are
registered (``finish(spec)``), from the marks their decorators leave:

* every operation: the 429 answer (``ErrorOut``) and the rate-limit headers
  flask-limiter sends on every answer (``X-RateLimit-Limit/Remaining/Reset``, and
  ``Retry-After`` with a 429);
* ``x-idempotent`` (``helpdesk.api.idempotency.idempotent``): the optional
  ``Idempotency-Key`` header, the 409 answer and ``Idempotent-Replayed`` on success;
* ``x-paginated`` (``helpdesk.api.paging.paginated``): the ``Link`` header of the 200;
* ``x-required-scope`` (``helpdesk.api.auth.requires_scope``): a line in the description;
* the error body's ``code``: the enum of every code the app answers with (each
  ``DomainError`` class, the HTTP errors of ``helpdesk.errors``).
"""

from __future__ import annotations

from typing import Any

from helpdesk.api.idempotency import HEADER, KEY_PATTERN, REPLAYED
from helpdesk.errors import HTTP_CODES, DomainError

ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
METHODS = ("get", "put", "post", "patch", "delete")

RATE_HEADERS = {
    "X-RateLimit-Limit": {"description": "Requests allowed in the current window (per token)",
                          "schema": {"type": "integer", "example": 600}},
    "X-RateLimit-Remaining": {"description": "Requests left in the current window",
                              "schema": {"type": "integer", "example": 599}},
    "X-RateLimit-Reset": {"description": "When the window resets (Unix time, seconds)",
                          "schema": {"type": "integer", "example": 1767225600}},
}
RETRY_AFTER = {"description": "When to try again (an HTTP date)",
               "schema": {"type": "string", "example": "Thu, 01 Jan 2026 00:01:00 GMT"}}
IDEMPOTENCY_PARAMETER = {
    "name": HEADER, "in": "header", "required": False,
    "description": "A key of your choosing (e.g. a UUID) that makes a retry safe: the same key with the same "
                   "request within 24 hours answers with the first response (and `Idempotent-Replayed: true`) "
                   "instead of creating again; with another request, 409.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": KEY_PATTERN,
               "example": "5f0c9a3e-8d1b-4c2e-9f7a-2b6d1e4c8a90"},
}
REPLAYED_HEADER = {"description": "Present (true) when this is the stored answer to an earlier request with the "
                                  "same Idempotency-Key", "schema": {"type": "string", "enum": ["true"]}}
LINK_HEADER = {"description": 'The next page: `<URL>; rel="next"` (absent on the last page)',
               "schema": {"type": "string",
                          "example": '<https://help.example.org/api/v1/tickets?limit=25&cursor=Ii4uLiI.c2ln>; '
                                     'rel="next"'}}
CONFLICT_DESCRIPTION = "Conflict (for this operation, also: the Idempotency-Key was used with another request, " \
                       "or is in use by a concurrent one)"


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{name}"}


def finish(spec: Any) -> None:
    for name, header in {**RATE_HEADERS, "Retry-After": RETRY_AFTER, REPLAYED: REPLAYED_HEADER,
                         "Link": LINK_HEADER}.items():
        spec.components.header(name, header)
    # flask-smorest's own error and page-number schemas: no operation answers with them
    for unused in ("Error", "PaginationMetadata"):
        spec.components.schemas.pop(unused, None)
    error = spec.components.schemas.get("ErrorDetailOut")
    if error is not None:
        error["properties"]["code"]["enum"] = error_codes()
    for item in spec._paths.values():  # noqa: SLF001 (apispec keeps the registered paths here)
        for method, operation in item.items():
            if method in METHODS:
                _finish_operation(operation)


def error_codes() -> list[str]:
    """Every ``error.code`` an answer can carry (the DomainError classes imported by now:
    the API's modules and the services they call)."""
    codes = {*HTTP_CODES.values(), "internal_error", "error"}
    pending = [DomainError]
    while pending:
        cls = pending.pop()
        codes.add(cls.code)
        pending.extend(cls.__subclasses__())
    return sorted(codes)


def _finish_operation(operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    if operation.get("x-idempotent"):
        params = operation.setdefault("parameters", [])
        if not any(p.get("name") == HEADER for p in params):
            params.append(IDEMPOTENCY_PARAMETER)
        responses.setdefault("409", _error(CONFLICT_DESCRIPTION))["description"] = CONFLICT_DESCRIPTION
        for code, response in responses.items():
            if str(code).startswith("2"):
                response.setdefault("headers", {})[REPLAYED] = _ref(REPLAYED)
    if operation.get("x-paginated") and "200" in responses:
        responses["200"].setdefault("headers", {})["Link"] = _ref("Link")
    responses.setdefault("429", _error("Too many requests: wait until Retry-After"))
    for code, response in responses.items():
        headers = response.setdefault("headers", {})
        headers.update({name: _ref(name) for name in RATE_HEADERS})
        if code == "429":
            headers["Retry-After"] = _ref("Retry-After")
    scope = operation.get("x-required-scope")
    if scope:
        line = f"Needs an API token with the `{scope}` scope."
        description = operation.get("description", "")
        if line not in description:
            operation["description"] = f"{description}\n\n{line}".strip()
