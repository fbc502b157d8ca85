"""OpenAPI entries for the /api routes that are plain Flask views, not flask-smorest ones.

The attachment download, the multipart message upload and the inbound-mail hook live
in ``helpdesk.notify.views`` (they stream files and raw mail, which marshmallow does not
parse). They are documented here so that the API document lists every /api route —
and so the schemathesis fuzz test (tests/api/test_fuzz.py) exercises them and checks
their answers against this description. ``tests/api/test_openapi_coverage.py`` fails
when an /api route is missing from the document.
"""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from flask import Flask

from helpdesk.api.schemas import BODY_MAX, ErrorOut, InboundMailOut, PostedWithAttachmentsOut
from helpdesk.tickets.models import Status

ERRORS = {
    401: "Missing or invalid token",
    403: "Not allowed for this token",
    404: "No such request or file",
    409: "Invalid transition",
    413: "Request too large",
    422: "Invalid input",
}
# The types helpdesk.notify.attachments.ALLOWED accepts (checked on the bytes).
DOWNLOAD_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/heic", "application/pdf")
BINARY = {"type": "string", "format": "binary"}


def error_responses(*codes: int, descriptions: dict[int, str] | None = None) -> dict[int, Any]:
    words = {**ERRORS, **(descriptions or {})}
    return {code: {"description": words[code], "content": {"application/json": {"schema": ErrorOut}}}
            for code in codes}


def _rule(app: Flask, endpoint: str):
    [rule] = app.url_map.iter_rules(endpoint)
    return rule


def document_plain_routes(app: Flask, spec: APISpec) -> None:
    """Paths and path parameters come from the Flask rules themselves (flask-smorest's
    FlaskPlugin), so a changed URL cannot drift from its documentation."""
    spec.components.security_scheme("inboundMailToken", {
        "type": "http", "scheme": "bearer",
        "description": "The INBOUND_MAIL_TOKEN setting (not an API token)",
    })
    spec.path(
        rule=_rule(app, "notify.api_download"),
        operations={"get": {
            "tags": ["attachments"],
            "summary": "Download a file attached to a request this token may see.",
            "description": "Patients get files on public messages only; downloads by staff and integrations "
                           "are audited.",
            "responses": {
                200: {"description": "The file, as an attachment",
                      "content": {t: {"schema": BINARY} for t in DOWNLOAD_TYPES}},
                **error_responses(401, 404),
            },
        }},
    )
    spec.path(
        rule=_rule(app, "notify.api_post_with_attachments"),
        operations={"post": {
            "tags": ["attachments"],
            "summary": "Add a message with files (multipart/form-data).",
            "description": "Like POST /messages. `public` and `next_status` are for staff; repeat "
                           "`attachments` for several files (images and PDF, checked by content).",
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object",
                "additionalProperties": False,
                "required": ["body"],
                "properties": {
                    "body": {"type": "string", "minLength": 1, "maxLength": BODY_MAX},
                    "public": {"type": "string", "enum": ["true", "false"], "default": "true"},
                    "next_status": {"type": "string", "enum": [s.value for s in Status if s != Status.NEW]},
                    "attachments": {"type": "array", "items": BINARY},
                },
            }}}},
            "responses": {
                201: {"description": "Posted", "content": {"application/json": {"schema": PostedWithAttachmentsOut}}},
                **error_responses(401, 403, 404, 409, 413, 422),
            },
        }},
    )
    spec.path(
        rule=_rule(app, "notify.api_inbound_mail"),
        operations={"post": {
            "tags": ["inbound mail"],
            "summary": "Hand over one received e-mail (for an inbound-mail provider).",
            "description": "The raw RFC 5322 message is the request body. 404 when INBOUND_MAIL_TOKEN is "
                           "not set.",
            "security": [{"inboundMailToken": []}],
            "requestBody": {"required": True,
                            "content": {"message/rfc822": {"schema": {**BINARY, "minLength": 1}}}},
            "responses": {
                202: {"description": "Received; what became of it",
                      "content": {"application/json": {"schema": InboundMailOut}}},
                **error_responses(401, 404, 413, 422, descriptions={404: "Inbound mail over HTTP is not enabled"}),
            },
        }},
    )
