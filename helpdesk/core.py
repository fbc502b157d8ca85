"""Home, health check and locally served vendor assets."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify, redirect, url_for
from flask_login import current_user

from helpdesk.extensions import db
from helpdesk.permissions import TEMPLATE_PREDICATES, is_admin, is_patient
from helpdesk.routing.services import model_health

bp = Blueprint("core", __name__)
for _predicate in TEMPLATE_PREDICATES:  # pages decide by the same named rules as the views
    bp.add_app_template_global(_predicate)


@bp.get("/")
def index():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    if is_patient(current_user):
        return redirect(url_for("patient.my_requests"))
    if is_admin(current_user):
        return redirect(url_for("admin.users"))
    return redirect(url_for("agent.dashboard"))


@bp.get("/livez")
def livez():
    """Liveness: the process answers (no database, no Redis). /healthz is readiness."""
    return jsonify({"status": "ok"})


@bp.get("/healthz")
def healthz():
    settings = current_app.config["HELPDESK"]
    body: dict[str, str] = {"status": "ok", "jobs": "inline" if settings.redis_url is None else "redis"}
    status = 200
    try:
        db.session.execute(sa.text("SELECT 1"))
        body["database"] = "ok"
    except Exception as exc:
        db.session.rollback()  # the probe's own read failed: outside any unit of work, nothing to keep
        body["database"] = f"unavailable ({type(exc).__name__})"
        body["status"] = "unavailable"
        status = 503
    body["routing"] = model_health()
    response = jsonify(body)
    response.status_code = status
    return response
