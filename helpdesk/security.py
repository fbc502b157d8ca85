"""Security headers, session cookies and the session user loader."""

from __future__ import annotations

from flask import Flask, flash, g, jsonify, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_url, user_logged_in
from flask_talisman import Talisman

from helpdesk.auth import sessions
from helpdesk.auth.models import User
from helpdesk.extensions import login_manager

talisman = Talisman()

# What a session that still owes its second factor may reach.
MFA_PENDING_ENDPOINTS = frozenset({
    "auth.mfa_verify", "auth.mfa_enrol", "auth.logout", "auth.session_status", "auth.keep_alive", "i18n.switch",
    "core.livez", "core.healthz", "core.readyz", "core.favicon", "core.manifest",
})

CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def init_security(app: Flask) -> None:
    production = app.config["HELPDESK"].is_production
    talisman.init_app(
        app,
        # TLS is terminated by the reverse proxy in production; HSTS tells browsers
        # to use it always. Redirecting here would loop behind a proxy.
        force_https=False,
        strict_transport_security=production,
        strict_transport_security_max_age=31536000,
        session_cookie_secure=production,
        session_cookie_http_only=True,
        frame_options="DENY",
        referrer_policy="strict-origin-when-cross-origin",
        content_security_policy=CSP,
        x_content_type_options=True,
    )

    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load_user(session_key: str) -> User | None:
        return sessions.load(session_key)

    @user_logged_in.connect_via(app)
    def _new_server_session(sender, user: User, **extra) -> None:
        # Every login_user() — sign-in, registration — opens a new server-side session
        # and puts its fresh key in the cookie (no session fixation).
        sessions.start(user)

    @login_manager.unauthorized_handler
    def unauthorized():
        if sessions.is_background() or request.path.startswith("/api/"):
            return jsonify({"error": {"code": "unauthorized", "message": "Sign in again."}}), 401
        if not g.get("session_timed_out"):  # a timeout already said why
            flash(_("Please sign in to continue."), "info")
        return redirect(login_url(login_manager.login_view, next_url=request.url))

    @app.before_request
    def check_session_and_second_factor():
        """Load the session user first thing (so the check and the activity stamp happen
        before any work), then keep a session that still owes MFA on the MFA pages."""
        if request.endpoint in (None, "static"):
            return None
        if not current_user.is_authenticated:
            return None
        row = sessions.current()
        user = current_user._get_current_object()
        if row is None:
            return None
        if not sessions.owes_second_factor(row, user):
            return None
        target = "auth.mfa_verify" if user.mfa_enabled else "auth.mfa_enrol"
        if request.endpoint in MFA_PENDING_ENDPOINTS or request.endpoint == target:
            return None
        if sessions.is_background() or request.path.startswith("/api/"):
            return jsonify({"error": {"code": "mfa_required", "message": "Finish signing in first."}}), 401
        return redirect(url_for(target))

    @app.context_processor
    def _session_timeout():
        row = sessions.current()
        if row is None or not row.mfa_passed or not current_user.is_authenticated:
            return {"session_timeout": None}
        user = current_user._get_current_object()
        return {"session_timeout": {
            "idle_seconds": sessions.remaining_idle_seconds(row, user),
            "warning_seconds": app.config["HELPDESK"].session_warning_seconds,
        }}

    @app.after_request
    def no_store_for_signed_in(response):
        # Pages with patient data must not linger in shared browser caches.
        if current_user.is_authenticated and response.mimetype == "text/html":
            response.headers["Cache-Control"] = "no-store"
        return response
