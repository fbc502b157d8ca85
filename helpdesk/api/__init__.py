"""JSON API v1 (flask-smorest + marshmallow), bearer-token authenticated."""

from __future__ import annotations

from flask import Flask, g, request
from flask_smorest import Api

from helpdesk.extensions import csrf

api = Api()


def init_api(app: Flask) -> None:
    from helpdesk.api import docs, tickets

    api.init_app(app, spec_kwargs={"servers": [{"url": "/", "description": "this server"}]})
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.spec.options["security"] = [{"bearerAuth": []}]
    api.register_blueprint(tickets.blp)
    csrf.exempt(tickets.blp)
    app.register_blueprint(docs.bp)

    @app.before_request
    def _clear_api_user() -> None:
        if request.path.startswith("/api/"):
            g.api_user = None
