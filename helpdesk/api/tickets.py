"""/api/v1/tickets: the patient portal submits and follows requests; staff work them."""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa
from flask import g, jsonify, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from helpdesk.api.auth import authenticate_request, requires_scope
from helpdesk.api.idempotency import idempotent
from helpdesk.api.paging import page, paginated, read_cursor
from helpdesk.api.schemas import (
    MessageIn,
    NewTicketOut,
    TicketCreateIn,
    TicketDetailOut,
    TicketListArgs,
    TicketPageOut,
    TicketPatchIn,
    document_errors,
)
from helpdesk.auth import portal
from helpdesk.auth.models import Scope, User
from helpdesk.errors import Forbidden, ValidationFailed
from helpdesk.extensions import db
from helpdesk.permissions import can_create_for_patients, can_see_sla, get_visible_ticket, message_author
from helpdesk.sla.services import prefetch_badges
from helpdesk.tickets import queries, search, services
from helpdesk.tickets.models import Channel, Queue

blp = Blueprint("api_tickets", __name__, url_prefix="/api/v1/tickets", description="Help requests")


@blp.before_request
def _authenticate() -> None:
    authenticate_request()


def _user() -> User:
    return g.api_user


@functools.cache
def _new_ticket_out() -> NewTicketOut:
    return NewTicketOut()  # one per process: a schema keeps no state between dumps


@blp.route("")
class Tickets(MethodView):
    @requires_scope(blp, Scope.READ)
    @paginated(blp)
    @blp.arguments(TicketListArgs, location="query")
    @blp.response(200, TicketPageOut)
    @document_errors(blp, 401, 422)
    def get(self, args: dict[str, Any]):
        """List the requests this token may see (keyset pagination with `cursor`); with
        `patient_system` and `patient_value`, those of the patient with that external identifier."""
        requester_id = None
        if "patient_system" in args:
            patient = portal.lookup(system=args["patient_system"], value=args["patient_value"], actor=_user())
            if patient is None:
                return {"items": [], "next_cursor": None, "ranked_newest": None}
            requester_id = patient.id
        filters = queries.TicketFilters(
            queue=args.get("queue"), status=args.get("status"), priority=args.get("priority"),
            assignee=args.get("assignee"), q=args.get("q"), sort=args.get("sort") or queries.default_sort(args.get("q")),
            cursor=read_cursor(args), limit=args["limit"], requester_id=requester_id,
        )
        filters.validate()
        items, next_cursor = queries.ticket_list(_user(), filters)
        search.attach_snippets(_user(), items, filters.q)
        if can_see_sla(_user()):  # the page's `sla` fields, prefetched only when shown
            prefetch_badges(t.id for t in items)  # the page's `sla` fields in one query
        return page({"items": items, "ranked_newest": filters.ranked_newest}, next_cursor)

    @requires_scope(blp, Scope.CREATE)
    @idempotent(blp)
    @blp.arguments(TicketCreateIn)
    @blp.response(201, TicketDetailOut)
    @document_errors(blp, 400, 401, 403, 409, 413, 422, descriptions={409: (
        "patient: the e-mail address is a staff account's, an unconfirmed account's, or a patient's with another "
        "identifier of this system; or the patient account is deactivated")})
    def post(self, data: dict[str, Any]):
        """Create a request for a patient (integration tokens). With `requester` the patient
        is named by e-mail address (the account is created when the address is new); with
        `patient`, by external identifier (see docs/portal-integration.md): a known identifier
        is its account, an unknown one needs `name` and `email`."""
        user = _user()
        if not can_create_for_patients(user):
            raise Forbidden("Only integration tokens create requests.")
        if "patient" in data:
            ticket = services.create_ticket_for_patient(
                patient=data["patient"], subject=data["subject"], body=data["body"], channel=Channel.API,
                created_by=user, priority=data.get("priority"),
            )
        else:
            ticket = services.create_ticket_for_requester(
                requester_email=data["requester"]["email"], requester_name=data["requester"]["name"],
                subject=data["subject"], body=data["body"], channel=Channel.API, created_by=user,
                priority=data.get("priority"),
            )
        location = url_for("api_tickets.TicketItem", reference=ticket.reference)
        # the same fields as TicketDetailOut, from the objects in hand (see NewTicketOut)
        response = jsonify(_new_ticket_out().dump(ticket))
        response.status_code = 201
        response.headers["Location"] = location
        return response


@blp.route("/<reference>")
class TicketItem(MethodView):
    @requires_scope(blp, Scope.READ)
    @blp.response(200, TicketDetailOut)
    @document_errors(blp, 401, 404)
    def get(self, reference: str):
        """One request with its thread (internal notes only for staff)."""
        user = _user()
        ticket = get_visible_ticket(user, reference)
        services.record_staff_view(user, ticket)
        return ticket

    @requires_scope(blp, Scope.MANAGE)
    @blp.arguments(TicketPatchIn)
    @blp.response(200, TicketDetailOut)
    @document_errors(blp, 400, 401, 403, 404, 409, 413, 422)
    def patch(self, data: dict[str, Any], reference: str):
        """Change status, priority, queue (with `reason`) or assignee."""
        user = _user()
        ticket = get_visible_ticket(user, reference)
        if not data:
            raise ValidationFailed("Send at least one field to change.")
        queue_id = None
        if "queue" in data:
            queue = db.session.scalar(sa.select(Queue).where(Queue.slug == data["queue"].replace("_", "-")))
            if queue is None or not queue.active:
                raise ValidationFailed("Unknown queue.", fields={"queue": ["Unknown or inactive queue."]})
            queue_id = queue.id
        kwargs: dict[str, Any] = {}
        if "assignee" in data:
            kwargs["assignee_id"] = data["assignee"]
        return services.update_ticket(
            ticket, actor=user, status=data.get("status"), priority=data.get("priority"),
            queue_id=queue_id, reason=data.get("reason"), source="api", **kwargs,
        )


@blp.route("/<reference>/messages")
class TicketMessages(MethodView):
    @requires_scope(blp, Scope.CREATE)
    @idempotent(blp)
    @blp.arguments(MessageIn)
    @blp.response(201, TicketDetailOut)
    @document_errors(blp, 400, 401, 403, 404, 409, 413, 422)
    def post(self, data: dict[str, Any], reference: str):
        """Add to the thread. The portal writes as the patient; staff reply or add notes.
        A message to a closed request opens a new, linked request (returned)."""
        user = _user()
        ticket = get_visible_ticket(user, reference)
        posted = services.post_message(
            ticket, author=message_author(user, ticket), actor=user, body=data["body"], public=data["public"],
            channel=Channel.API, next_status=data.get("next_status"),
        )
        return posted.ticket, 201, {"Location": url_for("api_tickets.TicketItem", reference=posted.ticket.reference)}
