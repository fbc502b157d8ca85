"""Domain errors and how the edge turns them into responses.

Services raise these; views never build error responses by hand. Under ``/api`` the
answer is JSON ``{"error": {"code", "message", "fields"?}}``; elsewhere a friendly page.
Messages never contain patient-written text.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, flash, g, jsonify, redirect, render_template, request
from werkzeug.exceptions import HTTPException

from helpdesk.i18n import N_, translate

log = logging.getLogger(__name__)


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields


class ValidationFailed(DomainError):
    status = 422
    code = "validation_error"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class InvalidTransition(DomainError):
    status = 409
    code = "invalid_transition"


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path in ("/healthz", "/livez", "/readyz")


def error_payload(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if fields:
        err["fields"] = fields
    return {"error": err}


def json_error(status: int, code: str, message: str, fields: dict[str, Any] | None = None) -> Response:
    resp = jsonify(error_payload(code, message, fields))
    resp.status_code = status
    return resp


HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
}

FRIENDLY = {
    400: N_("Something in that request wasn't right. Please check and try again."),
    401: N_("Please sign in to continue."),
    403: N_("You don't have access to this page."),
    404: N_("We couldn't find that page."),
    405: N_("That action isn't available here."),
    413: N_("That was too large to send. Please shorten it and try again."),
    429: N_("Too many attempts. Please wait a minute and try again."),
    500: N_("Something went wrong on our side. Your information is safe; please try again."),
}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(err: DomainError):
        if wants_json():
            return json_error(err.status, err.code, err.message, err.fields)
        if err.status in (409, 400, 422) and request.method == "POST" and request.referrer:
            flash(translate(err.message), "error")
            return redirect(request.referrer)
        return _page(err.status, err.message)

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException):
        status = err.code or 500
        if wants_json():
            message = FRIENDLY.get(status, err.description or "Error")
            fields = _webargs_fields(err)
            if status == 413:
                message = "The request is too large (limit 1 MB)."
            elif status == 400 and _webargs_messages(err).get("json"):
                message = "The request body is not valid JSON."
            elif fields:
                message = "Some fields are missing or not valid."
            elif status == 422:
                message = "The request could not be understood: send a JSON object."
            elif err.description and status in (400, 405, 429):
                message = str(err.description)
            return json_error(status, HTTP_CODES.get(status, "error"), message, fields)
        return _page(status, FRIENDLY.get(status, N_("Something went wrong.")))

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        # The exception text may carry user input: the line names its type and the route; the
        # traceback keeps frames and types, and helpdesk.logging_setup withholds the messages.
        log.error("unhandled %s on %s %s", type(err).__name__, request.method, request.url_rule, exc_info=err)
        if app.config.get("TESTING") and app.config.get("PROPAGATE_TEST_ERRORS", True):
            raise err
        if wants_json():
            return json_error(500, "internal_error", FRIENDLY[500])
        return _page(500, FRIENDLY[500])


def _webargs_messages(err: HTTPException) -> dict[str, Any]:
    data = getattr(err, "data", None)
    messages = data.get("messages") if isinstance(data, dict) else None
    return messages if isinstance(messages, dict) else {}


def _webargs_fields(err: HTTPException) -> dict[str, Any] | None:
    """flask-smorest/webargs put marshmallow's messages under data["messages"][location]."""
    messages = _webargs_messages(err)
    if not messages:
        return None
    fields: dict[str, Any] = {}
    for location_messages in messages.values():
        if isinstance(location_messages, dict):
            fields.update(location_messages)
    # marshmallow reports unknown fields as "Unknown field."; keep its words
    return {k: v for k, v in fields.items() if k != "_schema"} or (
        {"body": fields["_schema"]} if "_schema" in fields else None
    )


def _page(status: int, message: str):
    # Pages speak the visitor's language (service messages are English, see helpdesk.i18n.messages).
    g.error_page = True  # the language switcher links back without the query string
    return render_template("errors/error.html", status=status, message=translate(message)), status
