"""A locally served API docs page (Swagger UI from the swagger-ui-bundle package)."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, send_from_directory
from swagger_ui_bundle import swagger_ui_path

from helpdesk.security import CSP, talisman

bp = Blueprint("api_docs", __name__, url_prefix="/api/v1/docs")

ASSETS = {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png"}
# Swagger UI sets inline styles; scripts stay 'self' only.
DOCS_CSP = {**CSP, "style-src": "'self' 'unsafe-inline'"}


@bp.get("")
@talisman(content_security_policy=DOCS_CSP)
def docs():
    return render_template("api/docs.html")


@bp.get("/assets/<name>")
def asset(name: str):
    if name not in ASSETS:
        abort(404)
    return send_from_directory(str(swagger_ui_path), name, max_age=86400)
