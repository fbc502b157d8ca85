"""Home, health checks (/healthz, /readyz) and locally served vendor assets."""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, url_for
from flask_login import current_user

from helpdesk.health import readiness
from helpdesk.permissions import TEMPLATE_PREDICATES, is_admin, is_patient

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


@bp.get("/healthz")
def healthz():
    """Liveness: the process answers (no database, no Redis). Readiness is /readyz."""
    return jsonify({"status": "ok"})


@bp.get("/livez")
def livez():
    """The same as /healthz (its name before issue 16, kept for probes that use it)."""
    return healthz()


@bp.get("/readyz")
def readyz():
    """Readiness: database, migrations, Redis (when configured) and the routing model
    (helpdesk.health). 503 naming each failing check and why; 200 with every state."""
    ready, checks, failing = readiness()
    body: dict[str, object] = {"status": "ready" if ready else "not ready", "checks": checks}
    if failing:
        body["failing"] = failing
    response = jsonify(body)
    response.status_code = 200 if ready else 503
    response.headers["Cache-Control"] = "no-store"
    return response
