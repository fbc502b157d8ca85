"""/api/v1/oncall: the on-call roster (supervisors and admins read it; admins and
supervisors of the clinical-escalation queue change it)."""

from __future__ import annotations

from typing import Any

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from helpdesk.api.auth import authenticate_request, requires_scope
from helpdesk.api.idempotency import idempotent
from helpdesk.api.schemas import WHEN, StrictSchema, doc, document_errors
from helpdesk.auth.models import Scope, User
from helpdesk.clinical import roster as pure
from helpdesk.clinical import services
from helpdesk.errors import Forbidden, NotFound
from helpdesk.permissions import can_manage_roster, can_view_roster, get_staff_member
from helpdesk.timeutil import utcnow
from helpdesk.urls import MAX_ID

blp = Blueprint("api_oncall", __name__, url_prefix="/api/v1/oncall", description="On-call roster")

ERRORS = {404: "No such roster member or shift", 409: "Already on the roster"}
HHMM = validate.Regexp(r"^\d{1,2}:\d{2}$", error="HH:MM, e.g. 07:30.")


@blp.before_request
def _authenticate() -> None:
    authenticate_request()


def _document_errors(*codes: int):
    return document_errors(blp, *codes, descriptions=ERRORS)


class MemberIn(StrictSchema):
    user_id = fields.Int(required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID), metadata=doc(
        14, description="A staff member of the clinical-escalation queue"))
    mode = fields.Str(load_default="shifts", validate=validate.OneOf(pure.MODES), metadata=doc("shifts"))


class DutyIn(StrictSchema):
    mode = fields.Str(required=True, validate=validate.OneOf(pure.MODES), metadata=doc(
        "on", description="on / off whatever the time, or shifts"))


class ShiftIn(StrictSchema):
    weekday = fields.Int(required=True, strict=True, validate=validate.Range(min=0, max=6),
                         metadata=doc(4, description="0 = Monday … 6 = Sunday"))
    start = fields.Str(required=True, validate=HHMM, metadata=doc("22:00", description="Local time in SITE_TIMEZONE"))
    end = fields.Str(required=True, validate=HHMM, metadata=doc(
        "06:00", description="At or before start: the shift runs past midnight (equal: 24 hours)"))


class ShiftOut(Schema):
    id = fields.Int(metadata=doc(3))
    weekday = fields.Int(metadata=doc(4, minimum=0, maximum=6, description="0 = Monday … 6 = Sunday"))
    start = fields.Str(metadata=doc("22:00"))
    end = fields.Str(metadata=doc("06:00"))
    label = fields.Str(metadata=doc("Friday 22:00 to Saturday 06:00"))


class PersonOnDutyOut(Schema):
    user_id = fields.Int(metadata=doc(14))
    name = fields.Str(metadata=doc("Nia Nurse"))


class MemberOut(Schema):
    user_id = fields.Int(metadata=doc(14))
    name = fields.Str(metadata=doc("Nia Nurse"))
    role = fields.Str(metadata=doc("agent"))
    mode = fields.Str(metadata=doc("shifts", enum=list(pure.MODES),
                                   description="shifts, on (on duty whatever the time) or off"))
    eligible = fields.Bool(metadata=doc(True, description="Active and a member of the clinical-escalation queue"))
    on_duty = fields.Bool(metadata=doc(False))
    shifts = fields.List(fields.Nested(ShiftOut))


class RosterOut(Schema):
    timezone = fields.Str(metadata=doc("America/New_York"))
    now = fields.DateTime(metadata=doc(WHEN))
    on_duty = fields.List(fields.Nested(PersonOnDutyOut))
    members = fields.List(fields.Nested(MemberOut))


def _user() -> User:
    return g.api_user


def _manager() -> User:
    user = _user()
    if not can_manage_roster(user):
        raise Forbidden("Only admins and supervisors of the clinical-escalation queue change the roster.")
    return user


def _staff(user_id: int) -> User:
    return get_staff_member(user_id)


def _shift_out(shift: Any) -> dict[str, Any]:
    return {"id": shift.id, "weekday": shift.weekday, "start": f"{shift.start:%H:%M}", "end": f"{shift.end:%H:%M}",
            "label": pure.Shift(shift.weekday, shift.start, shift.end).label()}


def _member_out(row: dict[str, Any]) -> dict[str, Any]:
    return {"user_id": row["user"].id, "name": row["user"].display_name, "role": row["user"].role.value,
            "mode": row["member"].mode.value, "eligible": row["eligible"], "on_duty": row["on_duty"],
            "shifts": [_shift_out(s) for s, _label in row["shifts"]]}


def _row(user: User) -> dict[str, Any]:
    for row in services.roster_view():
        if row["user"].id == user.id:
            return _member_out(row)
    raise NotFound("That person is not on the on-call roster.")


@blp.route("")
class Roster(MethodView):
    @requires_scope(blp, Scope.READ)
    @blp.response(200, RosterOut)
    @_document_errors(401, 403)
    def get(self):
        """The roster and who is on duty now (supervisors and admins)."""
        if not can_view_roster(_user()):
            raise Forbidden("Only supervisors and admins see the roster.")
        now = utcnow()
        return {"timezone": services.site_tz().key, "now": now,
                "on_duty": [{"user_id": u.id, "name": u.display_name} for u in services.on_duty_now(now)],
                "members": [_member_out(r) for r in services.roster_view(now)]}


@blp.route("/members")
class Members(MethodView):
    @requires_scope(blp, Scope.MANAGE)
    @idempotent(blp)
    @blp.arguments(MemberIn)
    @blp.response(201, MemberOut)
    @_document_errors(400, 401, 403, 404, 409, 413, 422)
    def post(self, data: dict[str, Any]):
        """Put a staff member of the clinical-escalation queue on the roster."""
        actor = _manager()
        user = _staff(data["user_id"])
        services.add_to_roster(actor=actor, user=user, mode=data["mode"])
        return _row(user)


@blp.route("/members/<int:user_id>")
class MemberItem(MethodView):
    @requires_scope(blp, Scope.MANAGE)
    @blp.response(204)
    @_document_errors(401, 403, 404)
    def delete(self, user_id: int):
        """Take someone off the roster, with their shifts."""
        actor = _manager()
        services.remove_from_roster(actor=actor, user=_staff(user_id))
        return None


@blp.route("/members/<int:user_id>/duty")
class MemberDuty(MethodView):
    @requires_scope(blp, Scope.MANAGE)
    @blp.arguments(DutyIn)
    @blp.response(200, MemberOut)
    @_document_errors(400, 401, 403, 404, 413, 422)
    def put(self, data: dict[str, Any], user_id: int):
        """The duty toggle: `on` / `off` whatever the time, or `shifts`."""
        actor = _manager()
        user = _staff(user_id)
        services.set_mode(actor=actor, user=user, mode=data["mode"])
        return _row(user)


@blp.route("/members/<int:user_id>/shifts")
class MemberShifts(MethodView):
    @requires_scope(blp, Scope.MANAGE)
    @idempotent(blp)
    @blp.arguments(ShiftIn)
    @blp.response(201, ShiftOut)
    @_document_errors(400, 401, 403, 404, 409, 413, 422)
    def post(self, data: dict[str, Any], user_id: int):
        """Add a weekly shift in the site's local time."""
        actor = _manager()
        shift = services.add_shift(actor=actor, user=_staff(user_id), weekday=data["weekday"],
                                   start=data["start"], end=data["end"])
        return _shift_out(shift)


@blp.route("/shifts/<int:shift_id>")
class ShiftItem(MethodView):
    @requires_scope(blp, Scope.MANAGE)
    @blp.response(204)
    @_document_errors(401, 403, 404)
    def delete(self, shift_id: int):
        """Remove a shift."""
        actor = _manager()
        services.remove_shift(actor=actor, shift_id=shift_id)
        return None
