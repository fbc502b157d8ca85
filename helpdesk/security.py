"""Security headers, session cookies and the session user loader."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask
from flask_talisman import Talisman

from helpdesk.auth.models import User
from helpdesk.extensions import db, login_manager

talisman = Talisman()

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
    def load_user(user_key: str) -> User | None:
        user_id, _, token = user_key.partition(":")
        if not user_id.isdigit() or not token:
            return None
        user = db.session.scalar(sa.select(User).where(User.id == int(user_id)))
        if user is None or not user.active or user.session_token != token:
            return None
        return user

    @app.after_request
    def no_store_for_signed_in(response):
        # Pages with patient data must not linger in shared browser caches.
        from flask_login import current_user

        if current_user.is_authenticated and response.mimetype == "text/html":
            response.headers["Cache-Control"] = "no-store"
        return response
