"""/api/v1/admin/users: staff and integration accounts for administrators — list, invite,
deactivate / reactivate, change a role, send an invitation again.

The same services as the *Users* admin page (``helpdesk.auth.invites``,
``helpdesk.auth.services``), so every change is audited the same way and ends the
person's sessions and tokens where the page does. Patient accounts are not managed here
(they have their own admin page): a patient's id is 404.
"""

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
from helpdesk.auth import invites, services
from helpdesk.auth.models import Role, Scope, User
from helpdesk.errors import Forbidden, NotFound, ValidationFailed
from helpdesk.extensions import db
from helpdesk.permissions import can_manage_accounts
from helpdesk.urls import MAX_ID

blp = Blueprint("api_admin_users", __name__, url_prefix="/api/v1/admin/users",
                description="Staff and integration accounts (administrators)")

ERRORS = {404: "No staff or integration account with that id", 409: "Not possible for this account"}
STAFF_ROLE_NAMES = [r.value for r in invites.STAFF_ROLES]


@blp.before_request
def _authenticate() -> None:
    authenticate_request()
    if not can_manage_accounts(g.api_user):
        raise Forbidden("Only administrators manage accounts.")


def _document_errors(*codes: int):
    return document_errors(blp, *codes, descriptions=ERRORS)


class InviteIn(StrictSchema):
    name = fields.Str(required=True, validate=validate.Length(min=1, max=120), metadata={"example": "Alex Agent"})
    email = fields.Email(required=True, validate=validate.Length(max=254), metadata={"example": "alex@example.org"})
    role = fields.Str(required=True, validate=validate.OneOf(STAFF_ROLE_NAMES), metadata={"example": "agent"})


class AccountPatchIn(StrictSchema):
    active = fields.Bool(metadata={"description": "false deactivates: every session and API token ends at once"})
    role = fields.Str(validate=validate.OneOf([r.value for r in services.ASSIGNABLE_ROLES]),
                      metadata={"description": "A new role; every session of the person ends",
                                "example": "supervisor"})


class AccountOut(Schema):
    id = fields.Int(required=True)
    name = fields.Str(required=True)
    email = fields.Str(required=True)
    role = fields.Str(required=True, validate=validate.OneOf([r.value for r in Role if r != Role.PATIENT]))
    active = fields.Bool(required=True)
    mfa_enabled = fields.Bool(required=True, metadata={"description": "Two-step sign-in is set up"})
    invitation_pending = fields.Bool(required=True,
                                     metadata={"description": "Invited, no password chosen yet"})
    queues = fields.List(fields.Str(), required=True, metadata={"description": "Slugs of the queues they work in"})


class AccountPageOut(Schema):
    items = fields.List(fields.Nested(AccountOut), required=True)
    next_cursor = fields.Str(allow_none=True, required=True, metadata={"description": "null on the last page"})


def _out(user: User) -> dict[str, Any]:
    return {"id": user.id, "name": user.display_name, "email": user.email, "role": user.role.value,
            "active": user.active, "mfa_enabled": bool(user.mfa_enabled),
            "invitation_pending": user.is_staff and user.password_hash is None,
            "queues": sorted(m.queue.slug for m in user.memberships)}


def _account(user_id: int) -> User:
    user = db.session.get(User, user_id) if 0 < user_id <= MAX_ID else None
    if user is None or user.role == Role.PATIENT:
        raise NotFound("No staff or integration account with that id.")
    return user


@blp.route("")
class Accounts(MethodView):
    @requires_scope(blp, Scope.READ)
    @paginated(blp)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, AccountPageOut)
    @_document_errors(401, 403, 422)
    def get(self, args: dict[str, Any]):
        """The staff and integration accounts by role, then name (paged by `cursor`)."""
        after = read_keys(args, (str, str, int))
        if after is not None and after[0] not in {r.value for r in Role}:
            raise ValidationFailed("That cursor is not valid for this list.", fields={"cursor": ["Invalid cursor."]})
        limit = args["limit"]
        rows = services.staff_accounts(after=(after[0], after[1], after[2]) if after else None, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1] if more else None
        return page({"items": [_out(u) for u in rows]},
                    keys_of(last.role.value, last.display_name, last.id) if last else None)

    @requires_scope(blp, Scope.MANAGE)
    @idempotent(blp)
    @blp.arguments(InviteIn)
    @blp.response(201, AccountOut)
    @_document_errors(400, 401, 403, 409, 413, 422)
    def post(self, data: dict[str, Any]):
        """Invite a staff member: they are e-mailed a link (72 hours) to choose a password,
        and set up two-step sign-in at their first sign-in."""
        user = invites.invite_staff(actor=g.api_user, email=data["email"], name=data["name"], role=data["role"])
        return _out(user)


@blp.route("/<int:user_id>")
class Account(MethodView):
    @requires_scope(blp, Scope.READ)
    @blp.response(200, AccountOut)
    @_document_errors(401, 403, 404)
    def get(self, user_id: int):
        """One staff or integration account."""
        return _out(_account(user_id))

    @requires_scope(blp, Scope.MANAGE)
    @blp.arguments(AccountPatchIn)
    @blp.response(200, AccountOut)
    @_document_errors(400, 401, 403, 404, 409, 413, 422)
    def patch(self, data: dict[str, Any], user_id: int):
        """Deactivate or reactivate, or change the role (one or both)."""
        user = _account(user_id)
        if not data:
            raise ValidationFailed("Send active, role or both.")
        if "active" in data and data["active"] != user.active:
            services.set_active(actor=g.api_user, user=user, active=data["active"])
        if "role" in data and data["role"] != user.role.value:
            services.change_role(actor=g.api_user, user=user, role=data["role"])
        return _out(user)


@blp.route("/<int:user_id>/invitation")
class Invitation(MethodView):
    @requires_scope(blp, Scope.MANAGE)
    @blp.response(202, AccountOut)
    @_document_errors(401, 403, 404, 409)
    def post(self, user_id: int):
        """E-mail a new invitation link (the earlier one stops working)."""
        user = _account(user_id)
        invites.resend_invite(actor=g.api_user, user=user)
        return _out(user)
