"""Hospital patient-portal help desk."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask

from helpdesk.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: Settings | dict[str, Any] | None = None) -> Flask:
    """Build the application. Nothing here touches the database or Redis."""
    settings = config if isinstance(config, Settings) else Settings.from_env()
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder="static",
        instance_path=str(settings.instance_path),
    )
    app.config.from_mapping(settings.flask_config())
    if isinstance(config, dict):
        app.config.from_mapping(config)
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    if settings.env == "testing":
        from helpdesk.auth.models import use_cheap_hashing

        use_cheap_hashing()
    from helpdesk.urls import init_converters

    init_converters(app)

    from helpdesk.logging_setup import configure_logging

    configure_logging(app)

    from helpdesk import models  # noqa: F401  (registers every table on the metadata)
    from helpdesk.listeners import register as register_listeners

    register_listeners()  # every SQLAlchemy event listener, from one module
    from helpdesk.extensions import csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)

    from helpdesk.security import init_security

    init_security(app)

    from helpdesk.admin.views import bp as admin_bp
    from helpdesk.api import init_api
    from helpdesk.auth.views import bp as auth_bp
    from helpdesk.core import bp as core_bp
    from helpdesk.tickets.agent_views import bp as agent_bp
    from helpdesk.tickets.patient_views import bp as patient_bp

    app.register_blueprint(core_bp)
    app.register_blueprint(auth_bp)
    from helpdesk.auth.password_views import bp as passwords_bp

    app.register_blueprint(passwords_bp)
    from helpdesk.auth.lockedout_views import bp as lockedout_bp

    app.register_blueprint(lockedout_bp)
    app.register_blueprint(patient_bp)
    app.register_blueprint(agent_bp)
    app.register_blueprint(admin_bp)
    from helpdesk.access.views import bp as access_bp

    app.register_blueprint(access_bp)
    from helpdesk.routing.views import bp as routing_bp

    app.register_blueprint(routing_bp)
    from helpdesk.kb.views import bp as kb_bp

    app.register_blueprint(kb_bp)
    from helpdesk.sla.views import bp as sla_bp

    app.register_blueprint(sla_bp)
    from helpdesk.tickets.workspace_views import bp as workspace_bp

    app.register_blueprint(workspace_bp)
    from helpdesk.notify.views import bp as notify_bp

    app.register_blueprint(notify_bp)
    from helpdesk.clinical.views import bp as clinical_bp

    app.register_blueprint(clinical_bp)
    init_api(app)

    from helpdesk.errors import register_error_handlers

    register_error_handlers(app)

    from helpdesk.cli import register_cli

    register_cli(app)

    from helpdesk.templating import init_templating

    init_templating(app)
    from helpdesk.i18n import init_i18n

    init_i18n(app)
    from helpdesk.i18n.views import bp as i18n_bp

    app.register_blueprint(i18n_bp)
    logging.getLogger(__name__).debug("app created (%s)", settings.env)
    return app
