"""/api/v1/patient-links: the portal asks for a one-use link that signs a patient in."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from helpdesk.api.auth import authenticate_request, requires_scope
from helpdesk.api.idempotency import idempotent
from helpdesk.api.schemas import PatientLinkIn, PatientLinkOut, document_errors
from helpdesk.auth import portal
from helpdesk.auth.models import Scope
from helpdesk.errors import Forbidden
from helpdesk.permissions import acting_user, can_issue_patient_links

blp = Blueprint("api_patient_links", __name__, url_prefix="/api/v1/patient-links",
                description="Sign-in links for the patient portal")


@blp.before_request
def _authenticate() -> None:
    authenticate_request()


@blp.route("")
class PatientLinks(MethodView):
    @requires_scope(blp, Scope.CREATE)
    @idempotent(blp)
    @blp.arguments(PatientLinkIn)
    @blp.response(201, PatientLinkOut)
    @document_errors(blp, 400, 401, 403, 404, 409, 413, 422, descriptions={
        403: "Not an integration token", 404: "No patient has that identifier",
        409: "The patient account is deactivated"})
    def post(self, data: dict[str, Any]):
        """A signed, one-use link (HMAC-SHA256) that signs in the patient with this external
        identifier and shows their requests, for the next `expires_in` seconds (integration tokens)."""
        user = acting_user()
        if user is None or not can_issue_patient_links(user):
            raise Forbidden("Only integration tokens ask for patient sign-in links.")
        link = portal.issue_link(actor=user, system=data["system"], value=data["value"])
        return {"url": link.url, "expires_at": link.expires_at, "expires_in": link.expires_in}, 201
