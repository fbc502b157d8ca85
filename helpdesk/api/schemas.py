"""API schemas: input schemas load to plain dicts; output schemas dump models."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import url_for
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from helpdesk.api.paging import cursor_field, limit_field
from helpdesk.auth.portal import SYSTEM_PATTERN, VALUE_PATTERN
from helpdesk.notify import attachments as files
from helpdesk.notify.models import InboundStatus
from helpdesk.permissions import acting_user, can_read_internal_notes, can_see_sla, can_view_message
from helpdesk.routing.services import emergency_notice
from helpdesk.sla.services import sla_summary
from helpdesk.tickets.merge import survivor_of
from helpdesk.tickets.models import Channel, Priority, Status
from helpdesk.tickets.queries import SORTS

F = TypeVar("F", bound=Callable[..., Any])

BODY_MAX = 20_000
BINARY = {"type": "string", "format": "binary"}
SUBJECT_MAX = 200


STATUSES = [s.value for s in Status]
PRIORITIES = [p.value for p in Priority]
CHANNELS = [c.value for c in Channel]
WHEN = "2026-12-01T14:30:00+00:00"


def doc(example: Any = None, **more: Any) -> dict[str, Any]:
    """A field's OpenAPI metadata: its example and anything else (type, enum, description)."""
    return {**({"example": example} if example is not None else {}), **more}


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class RequesterIn(StrictSchema):
    email = fields.Email(required=True, validate=validate.Length(max=254), metadata=doc("rosa@example.net"))
    name = fields.Str(required=True, validate=validate.Length(min=1, max=120), metadata=doc("Rosa Diaz"))


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
    subject = fields.Str(required=True, validate=validate.Length(min=1, max=SUBJECT_MAX), metadata=doc("Locked out"))
    body = fields.Str(required=True, validate=validate.Length(min=1, max=BODY_MAX),
                      metadata=doc("My account is locked after a new phone."))
    requester = fields.Nested(RequesterIn, metadata={
        "description": "The patient by e-mail address: the account is created when the address is new "
                       "(send this or patient, not both)"})
    patient = fields.Nested(PatientIdentityIn, metadata={
        "description": "The patient by external identifier (send this or requester, not both)"})
    priority = fields.Str(validate=validate.OneOf(PRIORITIES), metadata=doc("normal"))

    @validates_schema
    def _one_patient(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if ("requester" in data) == ("patient" in data):
            raise ValidationError("Send either requester or patient.", "patient")


class TicketPatchIn(StrictSchema):
    status = fields.Str(validate=validate.OneOf(STATUSES), metadata=doc("resolved"))
    priority = fields.Str(validate=validate.OneOf(PRIORITIES), metadata=doc("high"))
    queue = fields.Str(validate=validate.Length(min=1, max=40), metadata=doc("billing", description="A queue's slug"))
    reason = fields.Str(validate=validate.Length(min=1, max=500),
                        metadata=doc("Billing question, not sign-in", description="Why the queue changed"))
    assignee = fields.Int(allow_none=True, strict=True, metadata=doc(12, description="A staff member's id; null "
                                                                                     "unassigns"))


class MessageIn(StrictSchema):
    body = fields.Str(required=True, validate=validate.Length(min=1, max=BODY_MAX),
                      metadata=doc("Thank you, I can sign in now."))
    public = fields.Bool(load_default=True, metadata=doc(True, description="Staff: false for an internal note"))
    next_status = fields.Str(validate=validate.OneOf([s.value for s in Status if s != Status.NEW]),
                             metadata=doc("pending_patient", description="Staff: the status after this message"))


class TicketListArgs(StrictSchema):
    queue = fields.Str(validate=validate.Length(max=40), metadata=doc("billing", description="A queue's slug"))
    status = fields.Str(validate=validate.OneOf([*STATUSES, "active"]), metadata=doc(
        "active", description="A status, or active (new, open or waiting for the patient; the default)"))
    priority = fields.Str(validate=validate.OneOf(PRIORITIES), metadata=doc("urgent"))
    assignee = fields.Str(validate=validate.Length(max=20), metadata=doc(
        "me", description="A staff member's id, me, or none (unassigned)"))
    q = fields.Str(validate=validate.Length(min=1, max=200), metadata={"description": (
        "Search: a reference (with or without HD-), the patient's name (typos forgiven), e-mail or MRN, "
        "or words of the subject and conversation in any order (English and Spanish stems, accents ignored; "
        "internal notes for staff only). Combines with every other filter"), "example": "locked out"})
    sort = fields.Str(validate=validate.OneOf(list(SORTS)), metadata={
        "description": "Default: relevance with q (best match first), newest without", "example": "newest"})
    cursor = cursor_field()
    limit = limit_field()
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
    id = fields.Int(metadata=doc(12))
    name = fields.Str(attribute="display_name", metadata=doc("Alex Agent"))


class RequesterOut(Schema):
    name = fields.Str(attribute="display_name", metadata=doc("Rosa Diaz"))
    email = fields.Str(metadata=doc("rosa@example.net"))


class MessageOut(Schema):
    id = fields.Int(metadata=doc(101))
    body = fields.Str(attribute="current_body", metadata=doc("My account is locked after a new phone."))
    edited = fields.Bool(metadata=doc(False, description="Corrected after it was sent (the latest text is shown)"))
    public = fields.Bool(metadata=doc(True, description="False: an internal note (staff only)"))
    channel = fields.Function(lambda m: m.channel.value, metadata=doc("api", type="string", enum=CHANNELS))
    author = fields.Method("author_name", metadata=doc("Rosa Diaz", type="string", nullable=True))
    from_staff = fields.Bool(metadata=doc(False))
    created_at = fields.DateTime(metadata=doc(WHEN))
    attachments = fields.List(fields.Nested("AttachmentOut"), dump_only=True,
                              metadata={"description": "Files on this message; GET each url with the same token"})

    def author_name(self, message) -> str | None:
        return message.author.display_name if message.author else None


class SlaOut(Schema):
    metric = fields.Str(metadata=doc("first_reply", enum=["first_reply", "next_reply", "resolution"]))
    state = fields.Str(metadata=doc("at_risk", enum=["breached", "at_risk", "ok"], description=(
        "breached, at_risk (past the warning point) or ok, by the clock at the time of the request")))
    paused = fields.Bool(metadata=doc(False, description="The clock waits for the patient"))
    seconds_left = fields.Int(metadata=doc(1800, description="Negative once overdue"))
    target_seconds = fields.Int(metadata=doc(14400))
    due_at = fields.DateTime(allow_none=True, metadata=doc(WHEN))


class _SlaField(fields.Nested):
    """The ticket's most urgent open SLA clock, computed when the response is made
    (``helpdesk.sla.services.badge_for``); staff only, null for everyone else."""

    def get_value(self, obj, attr, accessor=None, default=None):
        user = acting_user()
        if not can_see_sla(user):
            return None
        return sla_summary(obj.id)


class TicketOut(Schema):
    reference = fields.Str(metadata=doc("HD-7K2Q9"))
    subject = fields.Str(metadata=doc("Locked out"))
    status = fields.Function(lambda t: t.status.value, metadata=doc("open", type="string", enum=STATUSES))
    status_label = fields.Function(lambda t: t.status.patient_label, metadata=doc(
        "We're working on it", type="string", description="Status in patient words (the request's language)"))
    priority = fields.Function(lambda t: t.priority.value, metadata=doc("normal", type="string", enum=PRIORITIES))
    channel = fields.Function(lambda t: t.channel.value, metadata=doc("api", type="string", enum=CHANNELS))
    queue = fields.Function(lambda t: t.queue.slug, metadata=doc("billing", type="string",
                                                                  description="The queue's slug"))
    requester = fields.Nested(RequesterOut)
    assignee = fields.Nested(PersonOut, allow_none=True)
    follow_up_of = fields.Function(lambda t: t.follow_up_of.reference if t.follow_up_of else None, metadata=doc(
        "HD-3B8M1", type="string", nullable=True, description="The closed request this one follows up"))
    created_at = fields.DateTime(metadata=doc(WHEN))
    updated_at = fields.DateTime(metadata=doc(WHEN))
    first_response_at = fields.DateTime(allow_none=True, metadata=doc(WHEN))
    resolved_at = fields.DateTime(allow_none=True, metadata=doc(WHEN))
    closed_at = fields.DateTime(allow_none=True, metadata=doc(WHEN))
    emergency = fields.Method("emergency_notice", allow_none=True, metadata={"type": "object", "description": (
        "Null unless the emergency guard flagged the request. Then: the 911 message (message, message_es), "
        "helpdesk_phone, and what really happened from the stored alert rows: alert_status "
        "(clinician_alerted, managers_alerted, nobody_alerted or no_alert), alerted_at, acknowledged_at, "
        "and the same sentences the patient's page shows (notice, notice_es)")})
    sla = _SlaField(SlaOut, allow_none=True, dump_only=True, metadata={
        "description": "Staff only (null otherwise, and when no SLA clock is open): the most urgent open clock"})

    def emergency_notice(self, ticket) -> dict | None:
        return emergency_notice(ticket)


class TicketDetailOut(TicketOut):
    messages = fields.Method("visible_messages", metadata={
        "type": "array", "items": {"$ref": "#/components/schemas/MessageOut"},
        "description": "The thread, oldest first (internal notes for staff only)"})
    merged_into = fields.Method("merged_into_reference", allow_none=True, metadata=doc(
        "HD-9C4T7", type="string", description="Reference of the request this one was merged into"))

    def merged_into_reference(self, ticket) -> str | None:
        survivor = survivor_of(ticket)
        return None if survivor is ticket else survivor.reference

    def visible_messages(self, ticket) -> list[dict]:
        user = acting_user()
        out = messages_out().dump(
            [m for m in ticket.messages if m.public or (user is not None and can_view_message(user, m))])
        by_message = files.for_ticket(ticket, include_internal=user is not None and can_read_internal_notes(user))
        for message in out:
            message["attachments"] = [attachment_out(a) for a in by_message.get(message["id"], [])]
        return out


@functools.cache
def messages_out() -> MessageOut:
    """One schema object for every dump of a thread (a schema keeps no state between dumps;
    building one, and its nested fields, costs more than most dumps)."""
    return MessageOut(many=True)


class NewTicketOut(TicketDetailOut):
    """The answer to an API create, built from the objects in hand (no query): a request
    just created is merged into nothing, and its first message has no corrections and,
    through the JSON API, no attachments."""

    def merged_into_reference(self, ticket) -> str | None:
        return None

    def visible_messages(self, ticket) -> list[dict]:
        out = messages_out().dump(ticket.messages)
        for message in out:
            message["attachments"] = []
        return out


class TicketListItemOut(TicketOut):
    snippet = fields.Function(lambda t: str(t.search_snippet) if t.search_snippet is not None else None,
                              allow_none=True, metadata={"type": "string", "example": "I am <mark>locked</mark> out",
                                                         "description": (
                                  "With q: the passage where the words were found, as HTML: the text escaped, "
                                  "the words in <mark>; null without q or when the match was not in the text")})


class TicketPageOut(Schema):
    items = fields.List(fields.Nested(TicketListItemOut))
    next_cursor = fields.Str(allow_none=True, metadata={
        "description": "Pass as `cursor` for the next page; null on the last page (the same URL is in `Link`)"})
    ranked_newest = fields.Int(allow_none=True, metadata={
        "description": "Set (to N) when a search sorted by relevance matched more than N tickets by its words: "
                       "those ranked are the newest N. Sort by newest to page through every match."})


class ErrorDetailOut(Schema):
    code = fields.Str(required=True, metadata=doc("validation_error", description=(
        "Machine-readable (the enum lists every code): validation_error (422), bad_request (400), "
        "unauthorized (401), forbidden and insufficient_scope (403), not_found (404), conflict, "
        "invalid_transition, idempotency_key_reused and idempotency_key_in_use (409), too_large (413), "
        "too_many_requests (429)")))
    message = fields.Str(required=True, metadata=doc("Some fields are missing or not valid.",
                                                     description="For people; never contains what a patient wrote"))
    field_errors = fields.Dict(data_key="fields", metadata=doc(
        {"subject": ["Shorter than minimum length 1."]},
        description="Messages per input field (nested as the input is); only with validation errors"))


class ErrorOut(Schema):
    """Every error under /api: ``{"error": {"code", "message", "fields"?}}`` (helpdesk.errors)."""

    error = fields.Nested(ErrorDetailOut, required=True)


ERRORS = {
    400: "The body is not valid JSON",
    401: "Missing or invalid token",
    403: "Not allowed for this token (or it lacks the scope)",
    404: "No such request",
    409: "Invalid transition",
    413: "Request too large",
    422: "Invalid input",
    429: "Too many requests: wait until Retry-After",
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
    id = fields.Int(required=True, metadata=doc(7))
    filename = fields.Str(required=True, metadata=doc("insurance-card.png"))
    content_type = fields.Str(required=True, metadata=doc("image/png"))
    size = fields.Int(required=True, metadata=doc(48213, description="Bytes"))
    url = fields.Str(required=True, metadata=doc("/api/v1/attachments/7", description="GET it with the same token"))


def attachment_out(attachment: Any) -> dict[str, Any]:
    """An attachment as the API shows it (AttachmentOut), with its download address."""
    return {"id": attachment.id, "filename": attachment.filename, "content_type": attachment.content_type,
            "size": attachment.size, "url": url_for("api_attachments.Download", attachment_id=attachment.id)}


class PostedWithAttachmentsOut(Schema):
    reference = fields.Str(required=True, metadata={"example": "HD-7K2Q9",
                                                    "description": "The request the message went to (a new, "
                                                                   "linked one when the original was closed)"})
    message_id = fields.Int(required=True, metadata=doc(101))
    attachments = fields.List(fields.Nested(AttachmentOut), required=True)


class InboundMailOut(Schema):
    id = fields.Int(required=True, metadata=doc(31))
    status = fields.Str(required=True, validate=validate.OneOf([s.value for s in InboundStatus]),
                        metadata=doc("threaded"))
    reason = fields.Str(required=True, allow_none=True, metadata=doc(None, description="Why it was held or ignored"))
