"""/api/v1/admin: SLA policies (versioned, with a preview of a draft) and queue settings,
for admins' API tokens. The same services as the admin pages, with the same audit rows."""

from __future__ import annotations

from typing import Any

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from helpdesk.api.auth import authenticate_request, requires_scope
from helpdesk.api.idempotency import idempotent
from helpdesk.api.paging import PageArgs, keys_of, page, paginated, read_keys
from helpdesk.api.schemas import StrictSchema, document_errors
from helpdesk.auth.models import Scope, User
from helpdesk.errors import Forbidden, NotFound
from helpdesk.extensions import db
from helpdesk.permissions import can_manage_sla
from helpdesk.sla import policy_admin
from helpdesk.tickets.models import Assignment, Channel, Priority, Queue
from helpdesk.urls import MAX_ID

blp = Blueprint("api_sla_admin", __name__, url_prefix="/api/v1/admin", description="SLA policies and queue settings (admins)")

ERRORS = {403: "Not an admin's token", 404: "No such policy or queue", 409: "The name is taken"}
ID = validate.Range(min=1, max=MAX_ID)
TARGETS_DOC = ('Per priority ("urgent", "high", "normal", "low", or "*" for any other) and metric ("first_reply", '
               '"next_reply", "resolution"): {"seconds": int, "business": bool, "warn_before": int seconds, optional}')


@blp.before_request
def _authenticate() -> None:
    authenticate_request()


def _admin() -> User:
    user = g.api_user
    if not can_manage_sla(user):
        raise Forbidden("Only admins manage SLA policies and queue settings.")
    return user


def _errors(*codes: int):
    return document_errors(blp, *codes, descriptions=ERRORS)


class PolicyIn(StrictSchema):
    name = fields.Str(required=True, validate=validate.Length(min=1, max=80))
    queue_id = fields.Int(load_default=None, allow_none=True, strict=True, validate=ID)
    priority = fields.Str(load_default=None, allow_none=True, validate=validate.OneOf([p.value for p in Priority]))
    channel = fields.Str(load_default=None, allow_none=True, validate=validate.OneOf([c.value for c in Channel]))
    position = fields.Int(load_default=100, strict=True, validate=validate.Range(min=0, max=100_000))
    calendar_id = fields.Int(load_default=None, allow_none=True, strict=True, validate=ID)
    warn_fraction = fields.Float(load_default=0.75, validate=validate.Range(min=0, max=1, min_inclusive=False,
                                                                             max_inclusive=False))
    active = fields.Bool(load_default=True)
    targets = fields.Dict(keys=fields.Str(), values=fields.Dict(), required=True, metadata={"description": TARGETS_DOC})


class PolicyOut(Schema):
    id = fields.Int()
    name = fields.Str()
    version = fields.Int(metadata={"description": "The current version: new tickets get it"})
    queue_id = fields.Int(allow_none=True)
    priority = fields.Str(allow_none=True)
    channel = fields.Str(allow_none=True)
    position = fields.Int()
    active = fields.Bool()
    calendar_id = fields.Int(allow_none=True)
    warn_fraction = fields.Float()
    targets = fields.Dict()


class PolicyPageOut(Schema):
    items = fields.List(fields.Nested(PolicyOut), required=True)
    next_cursor = fields.Str(allow_none=True, required=True, metadata={"description": "null on the last page"})


class PreviewRowOut(Schema):
    label = fields.Str(metadata={"description": "A ticket's reference, or 'New ticket now'"})
    priority = fields.Str()
    start = fields.DateTime()
    metric = fields.Str()
    current = fields.DateTime(allow_none=True, metadata={"description": "Due under the policy that applies today"})
    current_name = fields.Str()
    draft = fields.DateTime(allow_none=True, metadata={"description": "Due under the draft"})
    business = fields.Bool(allow_none=True)


class PreviewOut(Schema):
    rows = fields.List(fields.Nested(PreviewRowOut))


class QueueSettingsIn(StrictSchema):
    name = fields.Str(required=True, validate=validate.Length(min=1, max=80))
    name_es = fields.Str(load_default="", validate=validate.Length(max=120))
    calendar_id = fields.Int(load_default=None, allow_none=True, strict=True, validate=ID)
    default_policy_id = fields.Int(load_default=None, allow_none=True, strict=True, validate=ID)
    assignment = fields.Str(required=True, validate=validate.OneOf([a.value for a in Assignment]))
    active = fields.Bool(required=True)


class QueueSettingsOut(Schema):
    id = fields.Int()
    slug = fields.Str()
    name = fields.Str()
    name_es = fields.Str()
    calendar_id = fields.Int(allow_none=True)
    default_policy_id = fields.Int(allow_none=True)
    assignment = fields.Str()
    active = fields.Bool()


@blp.route("/sla-policies")
class Policies(MethodView):
    @requires_scope(blp, Scope.READ)
    @paginated(blp)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, PolicyPageOut)
    @_errors(401, 403, 422)
    def get(self, args: dict[str, Any]):
        """The SLA policies by position, then id (the first that matches a new ticket applies;
        paged by `cursor`)."""
        _admin()
        after = read_keys(args, (int, int))
        limit = args["limit"]
        rows = policy_admin.all_policies(after=(after[0], after[1]) if after else None, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1] if more else None
        return page({"items": [policy_admin.policy_out(p) for p in rows]},
                    keys_of(last.position, last.id) if last else None)

    @requires_scope(blp, Scope.MANAGE)
    @idempotent(blp)
    @blp.arguments(PolicyIn)
    @blp.response(201, PolicyOut)
    @_errors(400, 401, 403, 409, 413, 422)
    def post(self, data: dict[str, Any]):
        """Create a policy (its version 1)."""
        actor = _admin()
        return policy_admin.policy_out(policy_admin.create_policy(actor_id=actor.id, data=data))


@blp.route("/sla-policies/preview")
class Preview(MethodView):
    @requires_scope(blp, Scope.READ)
    @blp.arguments(PolicyIn)
    @blp.response(200, PreviewOut)
    @_errors(400, 401, 403, 413, 422)
    def post(self, data: dict[str, Any]):
        """Due times a draft would give (nothing is saved): the newest tickets it covers and a ticket created now."""
        _admin()
        return {"rows": [r.__dict__ for r in policy_admin.preview(data)]}


@blp.route("/sla-policies/<int:policy_id>")
class PolicyItem(MethodView):
    @requires_scope(blp, Scope.READ)
    @blp.response(200, PolicyOut)
    @_errors(401, 403, 404)
    def get(self, policy_id: int):
        """One policy, as of its current version."""
        _admin()
        return policy_admin.policy_out(policy_admin.get_policy(policy_id))

    @requires_scope(blp, Scope.MANAGE)
    @blp.arguments(PolicyIn)
    @blp.response(200, PolicyOut)
    @_errors(400, 401, 403, 404, 409, 413, 422)
    def put(self, data: dict[str, Any], policy_id: int):
        """Replace a policy: a change to its name, calendar, warning or targets is its next version
        (tickets under earlier versions keep theirs)."""
        actor = _admin()
        policy = policy_admin.get_policy(policy_id)
        return policy_admin.policy_out(policy_admin.update_policy(actor_id=actor.id, policy=policy, data=data))


def _queue(queue_id: int) -> Queue:
    queue = db.session.get(Queue, queue_id)
    if queue is None:
        raise NotFound("No such queue.")
    return queue


@blp.route("/queues/<int:queue_id>/settings")
class QueueSettings(MethodView):
    @requires_scope(blp, Scope.READ)
    @blp.response(200, QueueSettingsOut)
    @_errors(401, 403, 404)
    def get(self, queue_id: int):
        """A queue's settings: name, Spanish name, calendar, default policy, assignment, active."""
        _admin()
        return policy_admin.queue_settings(_queue(queue_id))

    @requires_scope(blp, Scope.MANAGE)
    @blp.arguments(QueueSettingsIn)
    @blp.response(200, QueueSettingsOut)
    @_errors(400, 401, 403, 404, 413, 422)
    def put(self, data: dict[str, Any], queue_id: int):
        """Replace a queue's settings (audited)."""
        actor = _admin()
        return policy_admin.update_queue_settings(actor=actor, queue=_queue(queue_id), data=data)
