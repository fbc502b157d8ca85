"""JSON API v1 (flask-smorest + marshmallow), bearer-token authenticated."""

from __future__ import annotations

from flask import Flask, g, request
from flask_smorest import Api

from helpdesk.extensions import csrf


class HelpdeskApi(Api):
    # No catch-all "default" error response: every operation lists the error statuses it
    # really answers with, each with the real error body (schemas.ErrorOut), so that an
    # undocumented status code is a failure of the fuzz test, not silently "default".
    DEFAULT_ERROR_RESPONSE_NAME = None


api = HelpdeskApi()


def init_api(app: Flask) -> None:
    from helpdesk.api import docs, tickets
    from helpdesk.api.plain_routes import document_plain_routes
    from helpdesk.api.schemas import TicketPatchIn

    api.init_app(app, spec_kwargs={"servers": [{"url": "/", "description": "this server"}]})
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.spec.options["security"] = [{"bearerAuth": []}]
    # What the marshmallow schema cannot say: an empty PATCH is refused (422).
    api.spec.components.schema("TicketPatchIn", {"minProperties": 1}, schema=TicketPatchIn)
    api.register_blueprint(tickets.blp)
    csrf.exempt(tickets.blp)
    from helpdesk.clinical import api as oncall_api

    api.register_blueprint(oncall_api.blp)
    csrf.exempt(oncall_api.blp)
    document_plain_routes(app, api.spec)
    app.register_blueprint(docs.bp)

    @app.before_request
    def _clear_api_user() -> None:
        if request.path.startswith("/api/"):
            g.api_user = None
