"""JSON API v1: every /api endpoint is a flask-smorest blueprint of this package,
authenticated by ``helpdesk.api.auth`` and parsed by marshmallow schemas.

tickets       /api/v1/tickets (JSON)
attachments   /api/v1/attachments/<id>, /api/v1/tickets/<ref>/messages/with-attachments (multipart)
oncall        /api/v1/oncall (the clinical on-call roster)
inbound_mail  /api/v1/inbound-mail (raw RFC 5322, the INBOUND_MAIL_TOKEN setting)
admin         /api/v1/admin (retention, patient accounts, business calendars; admins only)
docs          /api/v1/docs (Swagger UI); the document itself is /api/v1/openapi.json
"""

from __future__ import annotations

from flask import Flask, g, request
from flask_smorest import Api

from helpdesk.api import admin, attachments, docs, inbound_mail, oncall, tickets
from helpdesk.api.schemas import TicketPatchIn
from helpdesk.extensions import csrf


class HelpdeskApi(Api):
    # No catch-all "default" error response: every operation lists the error statuses it
    # really answers with, each with the real error body (schemas.ErrorOut), so that an
    # undocumented status code is a failure of the fuzz test, not silently "default".
    DEFAULT_ERROR_RESPONSE_NAME = None


api = HelpdeskApi()

BLUEPRINTS = (tickets.blp, attachments.blp, oncall.blp, inbound_mail.blp, admin.blp)


def init_api(app: Flask) -> None:
    api.init_app(app, spec_kwargs={"servers": [{"url": "/", "description": "this server"}]})
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.spec.components.security_scheme("inboundMailToken", {
        "type": "http", "scheme": "bearer",
        "description": "The INBOUND_MAIL_TOKEN setting (not an API token)",
    })
    api.spec.options["security"] = [{"bearerAuth": []}]
    # What the marshmallow schema cannot say: an empty PATCH is refused (422).
    api.spec.components.schema("TicketPatchIn", {"minProperties": 1}, schema=TicketPatchIn)
    for blp in BLUEPRINTS:
        api.register_blueprint(blp)
        csrf.exempt(blp)  # bearer tokens, no session cookie
    # attachments and inbound mail tag their operations themselves ("attachments", "inbound mail"):
    # flask-smorest's automatic tag for those two blueprints would name an empty group.
    untagged = {attachments.blp.name, inbound_mail.blp.name}
    api.spec._tags[:] = [t for t in api.spec._tags if t["name"] not in untagged]  # noqa: SLF001
    app.register_blueprint(docs.bp)

    @app.before_request
    def _clear_api_user() -> None:
        if request.path.startswith("/api/"):
            g.api_user = None
