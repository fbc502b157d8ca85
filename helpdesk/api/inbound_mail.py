"""/api/v1/inbound-mail: an inbound-mail provider hands over one received e-mail.

Authenticated by the INBOUND_MAIL_TOKEN setting (through helpdesk.api.auth's bearer
parser), not by an API token; 404 when the setting is empty.
"""

from __future__ import annotations

from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint

from helpdesk.api.auth import authenticate_inbound_mail
from helpdesk.api.schemas import BINARY, InboundMailOut, document_errors
from helpdesk.errors import ValidationFailed
from helpdesk.notify import inbound

blp = Blueprint("api_inbound_mail", __name__, url_prefix="/api/v1/inbound-mail", description="Inbound mail")


@blp.before_request
def _authenticate() -> None:
    request.max_content_length = current_app.config["HELPDESK"].inbound_max_bytes
    authenticate_inbound_mail()


@blp.route("", tags=["inbound mail"])
class InboundMail(MethodView):
    @blp.doc(security=[{"inboundMailToken": []}],
             requestBody={"required": True, "content": {"message/rfc822": {"schema": {**BINARY, "minLength": 1}}}})
    @blp.response(202, InboundMailOut, description="Received; what became of it")
    @document_errors(blp, 401, 404, 413, 422, descriptions={404: "Inbound mail over HTTP is not enabled"})
    def post(self):
        """Hand over one received e-mail (for an inbound-mail provider).

        The raw RFC 5322 message is the request body. 404 when INBOUND_MAIL_TOKEN is not set.
        """
        raw = request.get_data(cache=False)
        if not raw:
            raise ValidationFailed("Send the raw message as the request body.", fields={"body": ["Empty."]})
        row = inbound.ingest(raw, "http")
        return {"id": row.id, "status": row.status.value, "reason": row.reason}
