"""Home, health check and locally served vendor assets."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify, redirect, url_for
from flask_login import current_user

from helpdesk.auth.models import Role
from helpdesk.extensions import db

bp = Blueprint("core", __name__)


@bp.get("/")
def index():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    if current_user.role == Role.PATIENT:
        return redirect(url_for("patient.my_requests"))
    if current_user.role == Role.ADMIN:
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
    from helpdesk.routing.services import model_health

    body["routing"] = model_health()
    response = jsonify(body)
    response.status_code = status
    return response
