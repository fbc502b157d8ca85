"""API schemas: input schemas load to plain dicts; output schemas dump models."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import url_for
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from helpdesk.auth.portal import SYSTEM_PATTERN, VALUE_PATTERN
from helpdesk.notify import attachments as files
from helpdesk.notify.models import InboundStatus
from helpdesk.permissions import acting_user, can_read_internal_notes, can_see_sla, can_view_message
from helpdesk.routing.services import emergency_notice
from helpdesk.sla.services import sla_summary
from helpdesk.tickets.merge import survivor_of
from helpdesk.tickets.models import Priority, Status
from helpdesk.tickets.queries import SORTS

F = TypeVar("F", bound=Callable[..., Any])

BODY_MAX = 20_000
BINARY = {"type": "string", "format": "binary"}
SUBJECT_MAX = 200


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class RequesterIn(StrictSchema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    name = fields.Str(required=True, validate=validate.Length(min=1, max=120))


SYSTEM_FIELD = {"validate": [validate.Length(min=1, max=32), validate.Regexp(SYSTEM_PATTERN)],
                "metadata": {"description": "The system the identifier belongs to (lower case), e.g. portal or mrn",
                             "example": "portal"}}
VALUE_FIELD = {"validate": [validate.Length(min=1, max=64), validate.Regexp(VALUE_PATTERN)],
               "metadata": {"description": "The patient's identifier in that system (exact, case-sensitive)",
                            "example": "12345"}}


class PatientIdentityIn(StrictSchema):
    """A patient named by an external identifier, unique per system."""

    system = fields.Str(required=True, **SYSTEM_FIELD)
    value = fields.Str(required=True, **VALUE_FIELD)
    name = fields.Str(validate=validate.Length(min=1, max=120), metadata={
        "description": "Needed (with email) only when no patient has this identifier yet", "example": "Maria Lopez"})
    email = fields.Email(validate=validate.Length(max=254), metadata={
        "description": "Needed (with name) only when no patient has this identifier yet: the patient account "
                       "with this address gets the identifier, else a new one is made",
        "example": "maria@example.org"})


class TicketCreateIn(StrictSchema):
    subject = fields.Str(required=True, validate=validate.Length(min=1, max=SUBJECT_MAX))
    body = fields.Str(required=True, validate=validate.Length(min=1, max=BODY_MAX))
    requester = fields.Nested(RequesterIn, metadata={
        "description": "The patient by e-mail address (send this or patient, not both)"})
    patient = fields.Nested(PatientIdentityIn, metadata={
        "description": "The patient by external identifier (send this or requester, not both)"})
    priority = fields.Str(validate=validate.OneOf([p.value for p in Priority]))

    @validates_schema
    def _one_patient(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if ("requester" in data) == ("patient" in data):
            raise ValidationError("Send either requester or patient.", "patient")


class TicketPatchIn(StrictSchema):
    status = fields.Str(validate=validate.OneOf([s.value for s in Status]))
    priority = fields.Str(validate=validate.OneOf([p.value for p in Priority]))
    queue = fields.Str(validate=validate.Length(min=1, max=40))
    reason = fields.Str(validate=validate.Length(min=1, max=500))
    assignee = fields.Int(allow_none=True, strict=True)


class MessageIn(StrictSchema):
    body = fields.Str(required=True, validate=validate.Length(min=1, max=BODY_MAX))
    public = fields.Bool(load_default=True)
    next_status = fields.Str(validate=validate.OneOf([s.value for s in Status if s != Status.NEW]))


class TicketListArgs(StrictSchema):
    queue = fields.Str(validate=validate.Length(max=40))
    status = fields.Str(validate=validate.OneOf([s.value for s in Status] + ["active"]))
    priority = fields.Str(validate=validate.OneOf([p.value for p in Priority]))
    assignee = fields.Str(validate=validate.Length(max=20))
    q = fields.Str(validate=validate.Length(min=1, max=200), metadata={"description": (
        "Search: a reference (with or without HD-), the patient's name (typos forgiven), e-mail or MRN, "
        "or words of the subject and conversation in any order (English and Spanish stems, accents ignored; "
        "internal notes for staff only). Combines with every other filter")})
    sort = fields.Str(validate=validate.OneOf(list(SORTS)), metadata={
        "description": "Default: relevance with q (best match first), newest without"})
    cursor = fields.Str(validate=validate.Length(max=200))
    limit = fields.Int(load_default=25, validate=validate.Range(min=1, max=100))
    patient_system = fields.Str(validate=SYSTEM_FIELD["validate"], metadata={
        "description": "With patient_value: only the requests of the patient with this external identifier "
                       "(within what the token may see; an unknown identifier lists nothing)", "example": "portal"})
    patient_value = fields.Str(validate=VALUE_FIELD["validate"], metadata={
        "description": "With patient_system: the patient's identifier in that system", "example": "12345"})

    @validates_schema
    def _both_or_neither(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if ("patient_system" in data) != ("patient_value" in data):
            raise ValidationError("Send patient_system and patient_value together.", "patient_value")


class PersonOut(Schema):
    id = fields.Int()
    name = fields.Str(attribute="display_name")


class RequesterOut(Schema):
    name = fields.Str(attribute="display_name")
    email = fields.Str()


class MessageOut(Schema):
    id = fields.Int()
    body = fields.Str(attribute="current_body")
    edited = fields.Bool()
    public = fields.Bool()
    channel = fields.Function(lambda m: m.channel.value)
    author = fields.Method("author_name")
    from_staff = fields.Bool()
    created_at = fields.DateTime()
    attachments = fields.List(fields.Nested("AttachmentOut"), dump_only=True,
                              metadata={"description": "Files on this message; GET each url with the same token"})

    def author_name(self, message) -> str | None:
        return message.author.display_name if message.author else None


class SlaOut(Schema):
    metric = fields.Str(metadata={"description": "first_reply, next_reply or resolution"})
    state = fields.Str(metadata={"description": "breached, at_risk (past the warning point) or ok, "
                                                "by the clock at the time of the request"})
    paused = fields.Bool(metadata={"description": "The clock waits for the patient"})
    seconds_left = fields.Int(metadata={"description": "Negative once overdue"})
    target_seconds = fields.Int()
    due_at = fields.DateTime(allow_none=True)


class _SlaField(fields.Nested):
    """The ticket's most urgent open SLA clock, computed when the response is made
    (``helpdesk.sla.services.badge_for``); staff only, null for everyone else."""

    def get_value(self, obj, attr, accessor=None, default=None):
        user = acting_user()
        if not can_see_sla(user):
            return None
        return sla_summary(obj.id)


class TicketOut(Schema):
    reference = fields.Str()
    subject = fields.Str()
    status = fields.Function(lambda t: t.status.value)
    status_label = fields.Function(lambda t: t.status.patient_label, metadata={"description": "Status in patient words"})
    priority = fields.Function(lambda t: t.priority.value)
    channel = fields.Function(lambda t: t.channel.value)
    queue = fields.Function(lambda t: t.queue.slug)
    requester = fields.Nested(RequesterOut)
    assignee = fields.Nested(PersonOut, allow_none=True)
    follow_up_of = fields.Function(lambda t: t.follow_up_of.reference if t.follow_up_of else None)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    first_response_at = fields.DateTime(allow_none=True)
    resolved_at = fields.DateTime(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    emergency = fields.Method("emergency_notice", allow_none=True, metadata={"description": (
        "Null unless the emergency guard flagged the request. Then: the 911 message (message, message_es), "
        "helpdesk_phone, and what really happened from the stored alert rows: alert_status "
        "(clinician_alerted, managers_alerted, nobody_alerted or no_alert), alerted_at, acknowledged_at, "
        "and the same sentences the patient's page shows (notice, notice_es)")})
    sla = _SlaField(SlaOut, allow_none=True, dump_only=True, metadata={
        "description": "Staff only (null otherwise, and when no SLA clock is open): the most urgent open clock"})

    def emergency_notice(self, ticket) -> dict | None:
        return emergency_notice(ticket)


class TicketDetailOut(TicketOut):
    messages = fields.Method("visible_messages")
    merged_into = fields.Method("merged_into_reference", allow_none=True,
                                metadata={"description": "Reference of the request this one was merged into"})

    def merged_into_reference(self, ticket) -> str | None:
        survivor = survivor_of(ticket)
        return None if survivor is ticket else survivor.reference

    def visible_messages(self, ticket) -> list[dict]:
        user = acting_user()
        out = MessageOut(many=True).dump(
            [m for m in ticket.messages if m.public or (user is not None and can_view_message(user, m))])
        by_message = files.for_ticket(ticket, include_internal=user is not None and can_read_internal_notes(user))
        for message in out:
            message["attachments"] = [attachment_out(a) for a in by_message.get(message["id"], [])]
        return out


class NewTicketOut(TicketDetailOut):
    """The answer to an API create, built from the objects in hand (no query): a request
    just created is merged into nothing, and its first message has no corrections and,
    through the JSON API, no attachments."""

    def merged_into_reference(self, ticket) -> str | None:
        return None

    def visible_messages(self, ticket) -> list[dict]:
        out = MessageOut(many=True).dump(ticket.messages)
        for message in out:
            message["attachments"] = []
        return out


class TicketListItemOut(TicketOut):
    snippet = fields.Function(lambda t: str(t.search_snippet) if t.search_snippet is not None else None,
                              allow_none=True, metadata={"description": (
                                  "With q: the passage where the words were found, as HTML: the text escaped, "
                                  "the words in <mark>; null without q or when the match was not in the text")})


class TicketPageOut(Schema):
    items = fields.List(fields.Nested(TicketListItemOut))
    next_cursor = fields.Str(allow_none=True)
    ranked_newest = fields.Int(allow_none=True, metadata={
        "description": "Set (to N) when a search sorted by relevance matched more than N tickets by its words: "
                       "those ranked are the newest N. Sort by newest to page through every match."})


class ErrorDetailOut(Schema):
    code = fields.Str(required=True, metadata={"description": "Machine-readable, e.g. validation_error"})
    message = fields.Str(required=True)
    field_errors = fields.Dict(data_key="fields", metadata={"description": "Messages per input field"})


class ErrorOut(Schema):
    """Every error under /api: ``{"error": {"code", "message", "fields"?}}`` (helpdesk.errors)."""

    error = fields.Nested(ErrorDetailOut, required=True)


ERRORS = {
    400: "The body is not valid JSON",
    401: "Missing or invalid token",
    403: "Not allowed for this token",
    404: "No such request",
    409: "Invalid transition",
    413: "Request too large",
    422: "Invalid input",
}


def document_errors(blp: Any, *codes: int, descriptions: dict[int, str] | None = None) -> Callable[[F], F]:
    """Document each error status an operation answers with, with the real error body
    (no catch-all "default": an undocumented status fails the fuzz test)."""
    words = {**ERRORS, **(descriptions or {})}

    def deco(fn: F) -> F:
        for code in codes:
            fn = blp.alt_response(code, description=words[code], schema=ErrorOut)(fn)
        return fn

    return deco


class PatientLinkIn(StrictSchema):
    system = fields.Str(required=True, **SYSTEM_FIELD)
    value = fields.Str(required=True, **VALUE_FIELD)


class PatientLinkOut(Schema):
    url = fields.Str(required=True, metadata={
        "description": "Open it in the patient's browser: it signs them in and shows their requests. One use",
        "example": "https://help.example.org/patient-link/eyJsIjoi..."})
    expires_at = fields.DateTime(required=True)
    expires_in = fields.Int(required=True, metadata={"description": "Seconds the link works (PATIENT_LINK_TTL_SECONDS)",
                                                      "example": 120})


class AttachmentOut(Schema):
    id = fields.Int(required=True)
    filename = fields.Str(required=True)
    content_type = fields.Str(required=True)
    size = fields.Int(required=True)
    url = fields.Str(required=True, metadata={"description": "GET it with the same token"})


def attachment_out(attachment: Any) -> dict[str, Any]:
    """An attachment as the API shows it (AttachmentOut), with its download address."""
    return {"id": attachment.id, "filename": attachment.filename, "content_type": attachment.content_type,
            "size": attachment.size, "url": url_for("api_attachments.Download", attachment_id=attachment.id)}


class PostedWithAttachmentsOut(Schema):
    reference = fields.Str(required=True, metadata={"description": "The request the message went to (a new, "
                                                                   "linked one when the original was closed)"})
    message_id = fields.Int(required=True)
    attachments = fields.List(fields.Nested(AttachmentOut), required=True)


class InboundMailOut(Schema):
    id = fields.Int(required=True)
    status = fields.Str(required=True, validate=validate.OneOf([s.value for s in InboundStatus]))
    reason = fields.Str(required=True, allow_none=True)
