"""A locally served API docs page (Swagger UI from the swagger-ui-bundle package)."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

from flask import Blueprint, abort, render_template, send_from_directory

from helpdesk.security import CSP, talisman

bp = Blueprint("api_docs", __name__, url_prefix="/api/v1/docs")

ASSETS = {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png"}
# Swagger UI sets inline styles; scripts stay 'self' only.
DOCS_CSP = {**CSP, "style-src": "'self' 'unsafe-inline'"}


@bp.get("")
@talisman(content_security_policy=DOCS_CSP)
def docs():
    return render_template("api/docs.html")


@cache
def swagger_ui_dir() -> Path:
    """The Swagger UI files shipped by the swagger-ui-bundle package (found without
    importing it: its __init__ trips an import-hook warning)."""
    spec = importlib.util.find_spec("swagger_ui_bundle")
    if spec is None or spec.origin is None:
        raise RuntimeError("swagger-ui-bundle is not installed")
    candidates = sorted((Path(spec.origin).parent / "vendor").glob("swagger-ui-*"))
    if not candidates:
        raise RuntimeError("swagger-ui-bundle ships no Swagger UI files")
    return candidates[-1]


@bp.get("/assets/<name>")
def asset(name: str):
    if name not in ASSETS:
        abort(404)
    return send_from_directory(str(swagger_ui_dir()), name, max_age=86400)
