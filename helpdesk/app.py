"""The application factory: config, extensions, blueprints, CLI, error pages.

``helpdesk.create_app`` loads this module on first call, so that importing any
``helpdesk.x`` module does not load every blueprint."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask

from helpdesk import models  # noqa: F401  (registers every table on the metadata)
from helpdesk.access.views import bp as access_bp
from helpdesk.admin.sla_views import bp as sla_admin_bp
from helpdesk.admin.views import bp as admin_bp
from helpdesk.admin.webhooks import bp as admin_webhooks_bp
from helpdesk.api import init_api
from helpdesk.auth.lockedout_views import bp as lockedout_bp
from helpdesk.auth.models import use_cheap_hashing
from helpdesk.auth.password_views import bp as passwords_bp
from helpdesk.auth.portal_views import bp as portal_link_bp
from helpdesk.auth.sso_views import bp as sso_bp
from helpdesk.auth.views import bp as auth_bp
from helpdesk.cli import register_cli
from helpdesk.clinical.views import bp as clinical_bp
from helpdesk.config import Settings
from helpdesk.core import bp as core_bp
from helpdesk.errors import register_error_handlers
from helpdesk.extensions import csrf, db, limiter, login_manager, migrate
from helpdesk.health import init_health
from helpdesk.i18n import init_i18n
from helpdesk.i18n import names as i18n_names
from helpdesk.i18n.views import bp as i18n_bp
from helpdesk.kb.views import bp as kb_bp
from helpdesk.listeners import register as register_listeners
from helpdesk.logging_setup import configure_logging, init_request_ids
from helpdesk.metrics import init_metrics
from helpdesk.notify.views import bp as notify_bp
from helpdesk.proxy import trust_proxies
from helpdesk.retention.views import bp as retention_bp
from helpdesk.routing.views import bp as routing_bp
from helpdesk.routing.views import triage_bp
from helpdesk.security import init_security
from helpdesk.sla.views import bp as sla_bp
from helpdesk.templating import init_templating
from helpdesk.tickets.agent_views import bp as agent_bp
from helpdesk.tickets.patient_views import bp as patient_bp
from helpdesk.tickets.workspace_views import bp as workspace_bp
from helpdesk.urls import init_converters

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: Settings | dict[str, Any] | None = None) -> Flask:
    """Build the application. Nothing here touches the database or Redis."""
    settings = config if isinstance(config, Settings) else Settings.from_env()
    app = Flask(
        "helpdesk",  # the package's name, as when this lived in helpdesk/__init__.py
        template_folder=str(ROOT / "templates"),
        static_folder="static",
        instance_path=str(settings.instance_path),
    )
    app.config.from_mapping(settings.flask_config())
    if isinstance(config, dict):
        app.config.from_mapping(config)
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    if settings.env == "testing":
        use_cheap_hashing()
    init_converters(app)

    # behind TRUSTED_PROXIES: the client's address and scheme, resolved once (helpdesk.proxy)
    trust_proxies(app)
    configure_logging(app)
    init_request_ids(app)  # first request hooks: the id is set before, and cleared after, all others
    init_metrics(app)
    register_listeners()  # every SQLAlchemy event listener, from one module
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    init_health(app, ROOT / "migrations")
    login_manager.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)

    init_security(app)

    app.register_blueprint(core_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(passwords_bp)
    app.register_blueprint(lockedout_bp)
    app.register_blueprint(portal_link_bp)
    app.register_blueprint(sso_bp)
    app.register_blueprint(patient_bp)
    app.register_blueprint(agent_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(admin_webhooks_bp)
    app.register_blueprint(sla_admin_bp)
    app.register_blueprint(access_bp)
    app.register_blueprint(routing_bp)
    app.register_blueprint(triage_bp)
    app.register_blueprint(kb_bp)
    app.register_blueprint(sla_bp)
    app.register_blueprint(workspace_bp)
    app.register_blueprint(notify_bp)
    app.register_blueprint(clinical_bp)
    app.register_blueprint(retention_bp)
    init_api(app)

    register_error_handlers(app)

    register_cli(app)

    init_templating(app)
    init_i18n(app)
    i18n_names.init_app(app)
    app.register_blueprint(i18n_bp)
    logging.getLogger("helpdesk").debug("app created (%s)", settings.env)
    return app
