"""Home, health checks (/healthz, /readyz), the favicon and web-app manifest, and locally
served vendor assets."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, redirect, send_from_directory, url_for
from flask_babel import gettext as _
from flask_login import current_user

from helpdesk.health import readiness
from helpdesk.i18n import current_language
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


BRAND_COLOUR = "#0b5394"  # --brand in app.css


@bp.get("/favicon.ico")
def favicon():
    """The icon browsers ask for at the root (drawn by helpdesk.icons, served from static/icons)."""
    return send_from_directory(current_app.static_folder + "/icons", "favicon.ico",
                               mimetype="image/vnd.microsoft.icon", max_age=86400)


def _png_icon(size: int) -> dict[str, str]:
    return {"src": url_for("static", filename=f"icons/icon-{size}.png"), "sizes": f"{size}x{size}", "type": "image/png"}


@bp.get("/manifest.webmanifest")
def manifest():
    """The web-app manifest ("add to home screen"): name in the visitor's language, local icons."""
    response = jsonify({
        "name": _("Riverside Health help desk"),
        "short_name": _("Help desk"),
        "description": _("Ask the help desk for help with the patient portal, bills and appointments."),
        "lang": current_language(),
        "start_url": url_for("core.index"),
        "scope": "/",
        "display": "standalone",
        "theme_color": BRAND_COLOUR,
        "background_color": "#f6f7f9",
        "icons": [_png_icon(192), _png_icon(512),
                  {"src": url_for("static", filename="icons/icon.svg"), "sizes": "any", "type": "image/svg+xml"}],
    })
    response.mimetype = "application/manifest+json"
    response.headers["Vary"] = "Cookie, Accept-Language"
    response.headers["Cache-Control"] = "no-cache"
    return response
