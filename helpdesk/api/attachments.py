"""/api/v1 attachments: download a request's files, and add a message with files
(multipart/form-data, parsed by the ``form_and_files`` location of helpdesk.api.multipart)."""

from __future__ import annotations

from functools import wraps
from typing import Any

from flask import current_app, g, request, url_for
from flask.views import MethodView
from marshmallow import ValidationError, fields, validate, validates_schema

from helpdesk.api.auth import authenticate_request, requires_scope
from helpdesk.api.idempotency import idempotent
from helpdesk.api.multipart import Blueprint, UploadField
from helpdesk.api.schemas import (
    BINARY,
    BODY_MAX,
    SUBJECT_MAX,
    SYSTEM_FIELD,
    VALUE_FIELD,
    PostedWithAttachmentsOut,
    StrictSchema,
    TicketDetailOut,
    attachment_out,
    doc,
    document_errors,
)
from helpdesk.auth.models import Scope, User
from helpdesk.errors import Forbidden, ValidationFailed
from helpdesk.notify import attachments as files
from helpdesk.notify.views import audit_download, send_attachment
from helpdesk.permissions import (
    can_create_for_patients,
    can_read_internal_notes,
    get_visible_ticket,
    message_author,
)
from helpdesk.tickets import services as tickets
from helpdesk.tickets.models import Channel, Priority, Status

blp = Blueprint("api_attachments", __name__, url_prefix="/api/v1", description="Files on requests")

TEXT_PARTS = {"body", "public", "next_status"}
FILE_PARTS = {"attachments"}
# The types helpdesk.notify.attachments.ALLOWED accepts (checked on the bytes).
DOWNLOAD_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/heic", "application/pdf")


@blp.before_request
def _authenticate() -> None:
    if request.endpoint in ("api_attachments.MessagesWithAttachments", "api_attachments.TicketsWithAttachments"):
        # files get a larger request limit than the 1 MB everything else has
        settings = current_app.config["HELPDESK"]
        request.max_content_length = settings.attachment_max_message_bytes + settings.max_request_bytes
    authenticate_request()


def _user() -> User:
    return g.api_user


class MessageWithAttachmentsIn(StrictSchema):
    """The text parts and the files of one multipart message. ``body`` is checked by the
    service (as for POST /messages, with this site's limits); ``next_status`` here, as in
    ``MessageIn`` (an unknown status was a 500 before)."""

    body = fields.Str(required=True, error_messages={"required": "Must be text.", "invalid": "Must be text."},
                      metadata={"minLength": 1, "maxLength": BODY_MAX, "example": "Here is the photo of my card."})
    public = fields.Str(load_default="true", validate=validate.OneOf(["true", "false"], error="Must be true or false."),
                        metadata=doc("true", description="Staff: false for an internal note"))
    next_status = fields.Str(validate=validate.OneOf([s.value for s in Status if s != Status.NEW]),
                             metadata=doc("pending_patient", description="Staff: the status after this message"))
    attachments = fields.List(UploadField(), load_default=list, metadata={
        "description": "Images (PNG, JPEG, GIF, WebP, HEIC) or PDF; repeat the part for several files"})

    def handle_error(self, error: Any, data: Any, **kwargs: Any) -> None:
        """The same answers as before the schema: unknown (or misplaced) parts first, then
        ``public``, then a missing body — each a 422 with its own message."""
        unknown = set(request.form) - TEXT_PARTS
        if unknown or set(request.files) - FILE_PARTS:
            raise ValidationFailed("Unknown fields.", fields={k: ["Unknown field."] for k in unknown} or
                                   {"files": ["Send files as 'attachments'."]})
        if "public" in error.messages:
            raise ValidationFailed("Send public as true or false.", fields={"public": ["Must be true or false."]})
        if "body" in error.messages:
            raise ValidationFailed("Body must be text.", fields={"body": ["Must be text."]})
        raise ValidationFailed("Some fields are missing or not valid.", fields=error.messages)


NEW_TICKET_TEXT_PARTS = {"subject", "body", "requester_email", "requester_name", "patient_system", "patient_value",
                         "priority"}


class TicketWithAttachmentsIn(StrictSchema):
    """A new request with files (multipart): the fields of POST /tickets, the requester
    as two flat parts, and the files, checked as a reply's are."""

    subject = fields.Str(required=True, validate=validate.Length(min=1, max=SUBJECT_MAX),
                         metadata=doc("Insurance card update"))
    body = fields.Str(required=True, validate=validate.Length(min=1, max=BODY_MAX),
                      metadata=doc("My new insurance card is attached."))
    requester_email = fields.Email(validate=validate.Length(max=254), metadata={
        "description": "The patient by e-mail address (with requester_name), or, with patient_system and "
                       "patient_value, the e-mail of a patient the identifier doesn't name yet",
        "example": "rosa@example.net"})
    requester_name = fields.Str(validate=validate.Length(min=1, max=120), metadata=doc("Rosa Diaz"))
    patient_system = fields.Str(**SYSTEM_FIELD)
    patient_value = fields.Str(**VALUE_FIELD)
    priority = fields.Str(validate=validate.OneOf([p.value for p in Priority]), metadata=doc("normal"))
    attachments = fields.List(UploadField(), load_default=list, metadata={
        "description": "Images (PNG, JPEG, GIF, WebP, HEIC) or PDF; repeat the part for several files"})

    @validates_schema
    def _one_patient(self, data: dict[str, Any], **_kwargs: Any) -> None:
        by_identifier = "patient_system" in data or "patient_value" in data
        if by_identifier and not ("patient_system" in data and "patient_value" in data):
            raise ValidationError("Send patient_system and patient_value together.", "patient_value")
        if not by_identifier and not ("requester_email" in data and "requester_name" in data):
            raise ValidationError("Send requester_email and requester_name, or patient_system and patient_value.",
                                  "requester_email")

    def handle_error(self, error: Any, data: Any, **kwargs: Any) -> None:
        unknown = set(request.form) - NEW_TICKET_TEXT_PARTS
        if unknown or set(request.files) - FILE_PARTS:
            raise ValidationFailed("Unknown fields.", fields={k: ["Unknown field."] for k in unknown} or
                                   {"files": ["Send files as 'attachments'."]})
        raise ValidationFailed("Some fields are missing or not valid.", fields=error.messages)


def integration_only(view: Any) -> Any:
    """A token that may not create requests gets 403 whatever the body holds."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not can_create_for_patients(_user()):
            raise Forbidden("Only integration tokens create requests.")
        return view(*args, **kwargs)

    return wrapped


@blp.route("/tickets/with-attachments", tags=["attachments"])
class TicketsWithAttachments(MethodView):
    @requires_scope(blp, Scope.CREATE)
    @integration_only
    @idempotent(blp)
    @blp.doc(description="Like POST /tickets, as multipart/form-data: the patient as `requester_email` and "
                         "`requester_name`, or by external identifier as `patient_system` and `patient_value` "
                         "(with `requester_email` and `requester_name` for a patient the identifier doesn't "
                         "name yet); repeat `attachments` for several files (images and PDF, checked by "
                         "content, size and the virus scanner as for replies). Integration tokens only.")
    @blp.arguments(TicketWithAttachmentsIn, location="form_and_files")
    @blp.response(201, TicketDetailOut, description="Created")
    @document_errors(blp, 401, 403, 409, 413, 422, descriptions={409: (
        "patient: the e-mail address is a staff account's, an unconfirmed account's, or a patient's with another "
        "identifier of this system; or the patient account is deactivated")})
    def post(self, data: dict[str, Any]):
        """Create a request with files for a patient (multipart/form-data)."""
        user = _user()
        uploads = [u for u in data["attachments"] if u is not None]
        if "patient_system" in data:
            ticket = tickets.create_ticket_for_patient(
                patient={"system": data["patient_system"], "value": data["patient_value"],
                         "name": data.get("requester_name"), "email": data.get("requester_email")},
                subject=data["subject"], body=data["body"], channel=Channel.API, created_by=user,
                priority=data.get("priority"), attachments=uploads,
            )
        else:
            ticket = tickets.create_ticket_for_requester(
                requester_email=data["requester_email"], requester_name=data["requester_name"],
                subject=data["subject"], body=data["body"], channel=Channel.API, created_by=user,
                priority=data.get("priority"), attachments=uploads,
            )
        return ticket, 201, {"Location": url_for("api_tickets.TicketItem", reference=ticket.reference)}


def visible_ticket_first(view: Any) -> Any:
    """Another patient's request is 404 whatever the body holds: the ticket is looked up
    before the body is parsed."""

    @wraps(view)
    def wrapped(self: Any, *args: Any, reference: str, **kwargs: Any) -> Any:
        g.api_ticket = get_visible_ticket(_user(), reference)
        return view(self, *args, reference=reference, **kwargs)

    return wrapped


@blp.route("/attachments/<int:attachment_id>", tags=["attachments"])
class Download(MethodView):
    @requires_scope(blp, Scope.READ)
    @blp.doc(responses={200: {"description": "The file, as an attachment",
                              "content": {t: {"schema": BINARY} for t in DOWNLOAD_TYPES}}})
    @document_errors(blp, 401, 404, descriptions={404: "No such request or file"})
    def get(self, attachment_id: int):
        """Download a file attached to a request this token may see.

        Patients get files on public messages only; downloads by staff and integrations are audited.
        """
        user = _user()
        row, ticket = files.get_downloadable(user, attachment_id)
        audit_download(user, row, ticket)
        return send_attachment(row)


@blp.route("/tickets/<reference>/messages/with-attachments", tags=["attachments"])
class MessagesWithAttachments(MethodView):
    @requires_scope(blp, Scope.CREATE)
    @visible_ticket_first
    @idempotent(blp)
    @blp.doc(description="Like POST /messages. `public` and `next_status` are for staff; repeat `attachments` for "
                         "several files (images and PDF, checked by content).")
    @blp.arguments(MessageWithAttachmentsIn, location="form_and_files")
    @blp.response(201, PostedWithAttachmentsOut, description="Posted")
    @document_errors(blp, 401, 403, 404, 409, 413, 422, descriptions={404: "No such request or file"})
    def post(self, data: dict[str, Any], reference: str):
        """Add a message with files (multipart/form-data)."""
        user = _user()
        ticket = g.api_ticket
        posted = tickets.post_message(
            ticket, author=message_author(user, ticket), actor=user, body=data["body"],
            public=data["public"] == "true", channel=Channel.API, next_status=data.get("next_status") or None,
            attachments=[u for u in data["attachments"] if u is not None],
        )
        rows = files.for_ticket(posted.ticket, include_internal=can_read_internal_notes(user)).get(posted.message.id, [])
        return {
            "reference": posted.ticket.reference, "message_id": posted.message.id,
            "attachments": [attachment_out(a) for a in rows],
        }
