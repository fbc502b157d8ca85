"""JSON API v1: every /api endpoint is a flask-smorest blueprint of this package,
authenticated by ``helpdesk.api.auth`` and parsed by marshmallow schemas.

tickets       /api/v1/tickets (JSON)
attachments   /api/v1/attachments/<id>, /api/v1/tickets/<ref>/messages/with-attachments (multipart)
oncall        /api/v1/oncall (the clinical on-call roster)
admin_users   /api/v1/admin/users (staff and integration accounts, administrators)
sla_admin     /api/v1/admin (SLA policies and queue settings, admins)
patient_links /api/v1/patient-links (the portal's one-use patient sign-in links)
inbound_mail  /api/v1/inbound-mail (raw RFC 5322, the INBOUND_MAIL_TOKEN setting)
docs          /api/v1/docs (Swagger UI); the document itself is /api/v1/openapi.json

What every operation shares, each a decorator or helper to put on a new endpoint:
``auth.requires_scope(blp, Scope.X)`` (the token's scope, 403), ``idempotency.idempotent(blp)``
(``Idempotency-Key`` on a create), ``paging.page`` / ``paging.paginated(blp)`` (signed
cursors, ``Link``), ``schemas.document_errors`` (the error body per status); the rate limit
and its headers apply to every blueprint in BLUEPRINTS, and ``openapi.finish`` documents it all.
"""

from __future__ import annotations

from flask import Flask, current_app, g, request
from flask_smorest import Api

from helpdesk.api import (
    admin_users,
    attachments,
    docs,
    inbound_mail,
    oncall,
    openapi,
    patient_links,
    sla_admin,
    tickets,
)
from helpdesk.api.auth import rate_limit_key
from helpdesk.api.schemas import MessageOut, TicketPatchIn
from helpdesk.extensions import csrf, limiter


class HelpdeskApi(Api):
    # No catch-all "default" error response: every operation lists the error statuses it
    # really answers with, each with the real error body (schemas.ErrorOut), so that an
    # undocumented status code is a failure of the fuzz test, not silently "default".
    DEFAULT_ERROR_RESPONSE_NAME = None


api = HelpdeskApi()

BLUEPRINTS = (tickets.blp, attachments.blp, oncall.blp, inbound_mail.blp, admin_users.blp, sla_admin.blp,
              patient_links.blp)


def _api_rate_limit() -> str:
    return current_app.config["HELPDESK"].api_rate_limit


# One budget per bearer token (per client address without one) over every /api operation,
# in the limiter's storage (Redis when configured: shared by every host). A blueprint added
# to BLUEPRINTS shares it. Set once, at import: the limit itself is read per request.
for _blp in BLUEPRINTS:
    limiter.shared_limit(_api_rate_limit, scope="api", key_func=rate_limit_key)(_blp)


def init_api(app: Flask) -> None:
    api.init_app(app, spec_kwargs={"servers": [{"url": "/", "description": "this server"}]})
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.spec.components.security_scheme("inboundMailToken", {
        "type": "http", "scheme": "bearer",
        "description": "The INBOUND_MAIL_TOKEN setting (not an API token)",
    })
    api.spec.options["security"] = [{"bearerAuth": []}]
    # What the marshmallow schema cannot say: an empty PATCH is refused (422).
    api.spec.components.schema("TicketPatchIn", {"minProperties": 1}, schema=TicketPatchIn)
    for blp in BLUEPRINTS:
        api.register_blueprint(blp)
        csrf.exempt(blp)  # bearer tokens, no session cookie
    # attachments and inbound mail tag their operations themselves ("attachments", "inbound mail"):
    # flask-smorest's automatic tag for those two blueprints would name an empty group.
    untagged = {attachments.blp.name, inbound_mail.blp.name}
    api.spec._tags[:] = [t for t in api.spec._tags if t["name"] not in untagged]  # noqa: SLF001
    # TicketDetailOut.messages (a method field) refers to it by name
    api.spec.components.schema("MessageOut", schema=MessageOut)
    openapi.finish(api.spec)  # 429 and rate-limit headers everywhere, idempotency and paging marks
    app.register_blueprint(docs.bp)

    @app.before_request
    def _clear_api_user() -> None:
        if request.path.startswith("/api/"):
            g.api_user = None
