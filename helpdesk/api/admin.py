"""/api/v1/admin: the admins' jobs over JSON, through the same services as the admin pages.

retention   periods per kind, a dry run, legal holds   (helpdesk.retention.services)
patients    search, view, unlock, force a password reset, deactivate / reactivate, merge
            (helpdesk.admin.patients; every search and view is an audited read)
calendars   business calendars: list, create, edit hours / holidays / presets (helpdesk.sla.calendars)

Admins only: any other token gets 403. Every change and every read of a patient account
writes its audit row in the service, as on the pages.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from helpdesk.admin import patients as accounts
from helpdesk.api.auth import authenticate_request, requires_scope
from helpdesk.api.idempotency import idempotent
from helpdesk.api.paging import PageArgs, cursor_field, keys_of, limit_field, page, paginated, read_keys
from helpdesk.api.schemas import StrictSchema, document_errors
from helpdesk.auth import services as auth_services
from helpdesk.auth.models import Scope, User
from helpdesk.errors import Forbidden, NotFound, ValidationFailed
from helpdesk.extensions import db
from helpdesk.permissions import is_admin
from helpdesk.retention import services as retention
from helpdesk.sla import calendars
from helpdesk.sla.clock import WEEKDAYS
from helpdesk.tickets.models import Ticket
from helpdesk.timeutil import utcnow
from helpdesk.urls import MAX_ID

blp = Blueprint("api_admin", __name__, url_prefix="/api/v1/admin", description="Admin jobs (admins only)")

ERRORS = {404: "No such patient account, calendar, hold or kind", 409: "Conflicts with the current state",
          403: "Not an admin's token"}


@blp.before_request
def _authenticate() -> None:
    authenticate_request()


def _errors(*codes: int):
    return document_errors(blp, *codes, descriptions=ERRORS)


def _admin() -> User:
    user = g.api_user
    if not is_admin(user):
        raise Forbidden("Only admins use the admin API.")
    return user


# ---------------------------------------------------------------- retention


class KindOut(Schema):
    kind = fields.Str(required=True)
    label = fields.Str(required=True)
    rule = fields.Str(required=True)
    days = fields.Int(required=True, allow_none=True, metadata={"description": "None: kept, no period set"})


class RunOut(Schema):
    id = fields.Int(required=True)
    dry_run = fields.Bool(required=True)
    via = fields.Str(required=True)
    finished_at = fields.DateTime(required=True, allow_none=True)
    counts = fields.Dict(keys=fields.Str(), values=fields.Int(allow_none=True), required=True,
                         metadata={"description": "Items per kind (None: no period set for it)"})


class RetentionOut(Schema):
    retention_on = fields.Bool(required=True, metadata={"description": "False until a period is set for a kind"})
    kinds = fields.List(fields.Nested(KindOut), required=True)
    last_dry_run = fields.Nested(RunOut, allow_none=True, required=True)
    last_run = fields.Nested(RunOut, allow_none=True, required=True)


class PeriodIn(StrictSchema):
    days = fields.Int(required=True, allow_none=True, strict=True,
                      validate=validate.Range(min=1, max=retention.MAX_DAYS),
                      metadata={"description": "Whole days; null: no period (kept)"})


class HoldIn(StrictSchema):
    ticket = fields.Str(validate=validate.Length(min=1, max=16), metadata={"description": "A request reference"})
    patient_id = fields.Int(strict=True, validate=validate.Range(min=1, max=MAX_ID))
    reason = fields.Str(required=True, validate=validate.Length(min=3, max=500))


class HoldOut(Schema):
    id = fields.Int(required=True)
    ticket = fields.Str(allow_none=True, required=True)
    patient_id = fields.Int(allow_none=True, required=True)
    reason = fields.Str(required=True)
    created_at = fields.DateTime(required=True)


class HoldPageOut(Schema):
    items = fields.List(fields.Nested(HoldOut), required=True)
    next_cursor = fields.Str(allow_none=True, required=True, metadata={"description": "null on the last page"})


def _kinds() -> list[dict[str, Any]]:
    periods = retention.policies()
    return [{"kind": k.name, "label": k.label, "rule": k.rule, "days": periods[k.name]}
            for k in retention.KINDS.values()]


def _run_out(row: Any) -> dict[str, Any] | None:
    if row is None:
        return None
    counts = {k: v for k, v in (row.counts or {}).items()}
    return {"id": row.id, "dry_run": row.dry_run, "via": row.via, "finished_at": row.finished_at, "counts": counts}


def _hold_out(hold: Any) -> dict[str, Any]:
    ticket = db.session.get(Ticket, hold.ticket_id) if hold.ticket_id else None
    return {"id": hold.id, "ticket": ticket.reference if ticket else None, "patient_id": hold.patient_id,
            "reason": hold.reason, "created_at": hold.created_at}


@blp.route("/retention")
class Retention(MethodView):
    @requires_scope(blp, Scope.READ)
    @blp.response(200, RetentionOut)
    @_errors(401, 403)
    def get(self):
        """The retention periods and the last dry run and real run."""
        _admin()
        runs = retention.last_runs()
        kinds = _kinds()
        return {"retention_on": any(k["days"] is not None for k in kinds), "kinds": kinds,
                "last_dry_run": _run_out(runs["dry_run"]), "last_run": _run_out(runs["real"])}


@blp.route("/retention/<any(closed_tickets, attachments, raw_mail):kind>")
class RetentionKind(MethodView):
    @requires_scope(blp, Scope.MANAGE)
    @blp.arguments(PeriodIn)
    @blp.response(200, KindOut)
    @_errors(400, 401, 403, 404, 413, 422)
    def put(self, data: dict[str, Any], kind: str):
        """Set (or with null remove) the period of one kind (audited)."""
        actor = _admin()
        retention.set_policy(actor_id=actor.id, kind=kind, days=data["days"], via="api")
        return next(k for k in _kinds() if k["kind"] == kind)


@blp.route("/retention/dry-run")
class RetentionDryRun(MethodView):
    @requires_scope(blp, Scope.MANAGE)
    @blp.response(200, RunOut)
    @_errors(401, 403)
    def post(self):
        """Count what a run would purge now; nothing is deleted (the run is recorded and audited)."""
        actor = _admin()
        result = retention.run(dry_run=True, actor_id=actor.id, via="api")
        return _run_out(retention.last_runs()["dry_run"]) or {"id": result.run_id}


@blp.route("/retention/holds")
class Holds(MethodView):
    @requires_scope(blp, Scope.READ)
    @paginated(blp)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, HoldPageOut)
    @_errors(401, 403, 422)
    def get(self, args: dict[str, Any]):
        """Legal holds in force, newest first (by id; paged by `cursor`)."""
        _admin()
        before = read_keys(args, (int,))
        limit = args["limit"]
        rows = [h for h, _ref, _email in retention.active_holds(limit + 1, before=before[0] if before else None)]
        more = len(rows) > limit
        rows = rows[:limit]
        return page({"items": [_hold_out(h) for h in rows]}, keys_of(rows[-1].id) if more else None)

    @requires_scope(blp, Scope.MANAGE)
    @idempotent(blp)
    @blp.arguments(HoldIn)
    @blp.response(201, HoldOut)
    @_errors(400, 401, 403, 404, 409, 413, 422)
    def post(self, data: dict[str, Any]):
        """Place a legal hold on one request (`ticket`) or on one patient (`patient_id`)."""
        actor = _admin()
        if ("ticket" in data) == ("patient_id" in data):
            raise ValidationFailed("Give either ticket or patient_id.", fields={"ticket": ["One of ticket, patient_id."]})
        ticket = patient = None
        if "ticket" in data:
            ticket = db.session.scalar(db.select(Ticket).where(Ticket.reference == data["ticket"].upper()))
            if ticket is None:
                raise NotFound("No request with that reference.")
        else:
            patient = accounts.get_patient(data["patient_id"])
        return _hold_out(retention.place_hold(actor=actor, reason=data["reason"], ticket=ticket, patient=patient))


@blp.route("/retention/holds/<int:hold_id>")
class HoldItem(MethodView):
    @requires_scope(blp, Scope.MANAGE)
    @blp.response(204)
    @_errors(401, 403, 404, 409)
    def delete(self, hold_id: int):
        """Release a legal hold (audited)."""
        retention.release_hold(actor=_admin(), hold_id=hold_id)
        return None


# ---------------------------------------------------------------- patient accounts


class PatientSearchArgs(StrictSchema):
    q = fields.Str(validate=validate.Length(max=254),
                   metadata={"description": "Name (any part), e-mail address, or medical record number (exact)"})
    born = fields.Date(metadata={"description": "Date of birth (exact), YYYY-MM-DD"})
    cursor = cursor_field()
    limit = limit_field()


class PatientOut(Schema):
    id = fields.Int(required=True)
    name = fields.Str(required=True)
    email = fields.Str(required=True)
    email_verified = fields.Bool(required=True)
    state = fields.Str(required=True, metadata={"description": "active, deactivated or merged"})
    merged_into = fields.Int(allow_none=True, required=True)
    last_login_at = fields.DateTime(allow_none=True, required=True)


class PatientPageOut(Schema):
    items = fields.List(fields.Nested(PatientOut), required=True)
    next_cursor = fields.Str(allow_none=True, required=True, metadata={"description": "null on the last page"})


class PatientRequestOut(Schema):
    reference = fields.Str(required=True)
    status = fields.Str(required=True)
    created_at = fields.DateTime(required=True)


class PatientDetailOut(PatientOut):
    open_sessions = fields.Int(required=True)
    locked_until = fields.DateTime(allow_none=True, required=True)
    recent_failures = fields.Int(required=True)
    requests = fields.List(fields.Nested(PatientRequestOut), required=True,
                           metadata={"description": "By reference and state (newest 100); no subjects"})
    merged_from = fields.List(fields.Int(), required=True)
    legal_holds = fields.List(fields.Nested(HoldOut), required=True)


class MergeIn(StrictSchema):
    into = fields.Int(required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID),
                      metadata={"description": "The patient account that stays (the survivor)"})


class MergeOut(Schema):
    survivor = fields.Nested(PatientOut, required=True)
    moved = fields.Dict(keys=fields.Str(), values=fields.Int(), required=True)


def _patient_out(u: User) -> dict[str, Any]:
    state = "merged" if u.merged_into_id else ("active" if u.active else "deactivated")
    return {"id": u.id, "name": u.display_name, "email": u.email, "email_verified": bool(u.email_verified),
            "state": state, "merged_into": u.merged_into_id, "last_login_at": u.last_login_at}


def _patient(user_id: int) -> User:
    _admin()
    return accounts.get_patient(user_id)


@blp.route("/patients")
class Patients(MethodView):
    @requires_scope(blp, Scope.READ)
    @paginated(blp)
    @blp.arguments(PatientSearchArgs, location="query")
    @blp.response(200, PatientPageOut)
    @_errors(401, 403, 422)
    def get(self, args: dict[str, Any]):
        """Find patient accounts (by id; paged by `cursor`); each page is audited with the ids
        shown. Without `q` or `born` the list is empty. No identifiers on file."""
        actor = _admin()
        born: date | None = args.get("born")
        after = read_keys(args, (int,))
        rows, next_after = accounts.search(accounts.Query(args.get("q", ""), born), actor_id=actor.id,
                                           after=after[0] if after else None, limit=args["limit"])
        return page({"items": [_patient_out(u) for u in rows]}, keys_of(next_after) if next_after else None)


@blp.route("/patients/<int:user_id>")
class PatientItem(MethodView):
    @requires_scope(blp, Scope.READ)
    @blp.response(200, PatientDetailOut)
    @_errors(401, 403, 404)
    def get(self, user_id: int):
        """One account: state, lock-out, sessions, requests (an audited read)."""
        actor = _admin()
        info = accounts.overview(accounts.get_patient(user_id), actor_id=actor.id)
        return {**_patient_out(info.user), "open_sessions": info.open_sessions, "locked_until": info.locked_until,
                "recent_failures": info.recent_failures,
                "requests": [{"reference": t.reference, "status": t.status.value, "created_at": t.created_at}
                             for t in info.requests],
                "merged_from": [u.id for u in info.merged_from],
                "legal_holds": [_hold_out(h) for h in retention.holds_for_patient(info.user)]}


@blp.route("/patients/<int:user_id>/unlock")
class PatientUnlock(MethodView):
    @requires_scope(blp, Scope.MANAGE)
    @blp.response(200, PatientOut)
    @_errors(401, 403, 404, 409, 422)
    def post(self, user_id: int):
        """Forget the failed sign-ins that locked the account (422 when there are none)."""
        user = _patient(user_id)
        accounts.not_merged(user)
        accounts.unlock(actor=g.api_user, user=user)
        return _patient_out(user)


@blp.route("/patients/<int:user_id>/reset-password")
class PatientReset(MethodView):
    @requires_scope(blp, Scope.MANAGE)
    @blp.response(200, PatientOut)
    @_errors(401, 403, 404, 409, 422)
    def post(self, user_id: int):
        """The password stops working now, every session ends, and a reset link is e-mailed."""
        user = _patient(user_id)
        accounts.not_merged(user)
        accounts.force_password_reset(actor=g.api_user, user=user)
        return _patient_out(user)


@blp.route("/patients/<int:user_id>/<any(deactivate, reactivate):what>")
class PatientActive(MethodView):
    @requires_scope(blp, Scope.MANAGE)
    @blp.response(200, PatientOut)
    @_errors(401, 403, 404, 409, 422)
    def post(self, user_id: int, what: str):
        """Deactivate (sessions end, no sign-in) or reactivate the account."""
        user = _patient(user_id)
        accounts.not_merged(user)
        auth_services.set_active(actor=g.api_user, user=user, active=what == "reactivate")
        return _patient_out(user)


@blp.route("/patients/<int:user_id>/merge")
class PatientMerge(MethodView):
    @requires_scope(blp, Scope.MANAGE)
    @blp.arguments(MergeIn)
    @blp.response(200, MergeOut)
    @_errors(400, 401, 403, 404, 409, 413, 422)
    def post(self, data: dict[str, Any], user_id: int):
        """Fold this (duplicate) account into `into`: its requests and the rest move there; it stays
        as a deactivated tombstone pointing to the survivor (audited on both accounts)."""
        duplicate = _patient(user_id)
        survivor = accounts.get_patient(data["into"])
        moved = accounts.merge(actor=g.api_user, duplicate=duplicate, survivor=survivor)
        return {"survivor": _patient_out(db.session.get(User, survivor.id)), "moved": moved}


# ---------------------------------------------------------------- business calendars


HHMM = validate.Regexp(r"^\d{2}:\d{2}$", error="HH:MM, e.g. 08:00.")


class CalendarIn(StrictSchema):
    name = fields.Str(required=True, validate=validate.Length(min=1, max=80))
    timezone = fields.Str(required=True, validate=validate.Length(min=1, max=64),
                          metadata={"description": "An IANA time zone, e.g. America/Chicago"})
    hours = fields.Dict(keys=fields.Str(validate=validate.OneOf(WEEKDAYS)),
                        values=fields.List(fields.List(fields.Str(validate=HHMM), validate=validate.Length(equal=2)),
                                           validate=validate.Length(max=12)),
                        required=True, metadata={"description": 'Open intervals per weekday: {"mon": [["08:00", '
                                                                '"12:00"], ["13:00", "18:00"]]}; a missing day is closed'})
    holidays = fields.List(fields.Date(), load_default=list, validate=validate.Length(max=500),
                           metadata={"description": "Local holidays (closed all day), YYYY-MM-DD"})
    presets = fields.List(fields.Str(validate=validate.OneOf(list(calendars.PRESETS))), load_default=list,
                          metadata={"description": "Rule-based holiday sets, e.g. us-federal"})


class HolidayOut(Schema):
    date = fields.Date(required=True)
    name = fields.Str(required=True)


class CalendarOut(Schema):
    id = fields.Int(required=True)
    name = fields.Str(required=True)
    timezone = fields.Str(required=True)
    hours = fields.Dict(keys=fields.Str(), values=fields.List(fields.List(fields.Str())), required=True)
    holidays = fields.List(fields.Str(), required=True, metadata={"description": "Local holidays"})
    presets = fields.List(fields.Str(), required=True)
    policies = fields.Int(metadata={"description": "SLA policies using it (in the list)"})


class CalendarPageOut(Schema):
    items = fields.List(fields.Nested(CalendarOut), required=True)
    next_cursor = fields.Str(allow_none=True, required=True, metadata={"description": "null on the last page"})


class CalendarDetailOut(CalendarOut):
    holidays_this_year = fields.List(fields.Nested(HolidayOut), required=True,
                                     metadata={"description": "Every holiday of the current year, presets expanded"})


class PresetOut(Schema):
    name = fields.Str(required=True)
    description = fields.Str(required=True)


def _spec(data: dict[str, Any]) -> dict[str, Any]:
    return {"timezone": data["timezone"].strip(), "hours": data["hours"],
            "holidays": sorted({d.isoformat() for d in data["holidays"]}), "presets": data["presets"]}


def _calendar_out(cal: Any, used: int | None = None) -> dict[str, Any]:
    spec = cal.spec
    out = {"id": cal.id, "name": cal.name, "timezone": spec["timezone"], "hours": spec.get("hours", {}),
           "holidays": list(spec.get("holidays") or []), "presets": list(spec.get("presets") or [])}
    if used is not None:
        out["policies"] = used
    return out


def _detail(cal: Any) -> dict[str, Any]:
    year = utcnow().year  # as the admin page
    return {**_calendar_out(cal), "holidays_this_year": [{"date": d, "name": n}
                                                         for d, n in calendars.holidays_in(cal.spec, year)]}


@blp.route("/calendars")
class Calendars(MethodView):
    @requires_scope(blp, Scope.READ)
    @paginated(blp)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, CalendarPageOut)
    @_errors(401, 403, 422)
    def get(self, args: dict[str, Any]):
        """The business calendars by name (paged by `cursor`), with how many SLA policies use each."""
        _admin()
        after = read_keys(args, (str, int))
        limit = args["limit"]
        rows = calendars.all_with_usage(after=(after[0], after[1]) if after else None, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1][0] if more else None
        return page({"items": [_calendar_out(cal, used) for cal, used in rows]},
                    keys_of(last.name, last.id) if last else None)

    @requires_scope(blp, Scope.MANAGE)
    @idempotent(blp)
    @blp.arguments(CalendarIn)
    @blp.response(201, CalendarDetailOut)
    @_errors(400, 401, 403, 409, 413, 422)
    def post(self, data: dict[str, Any]):
        """Create a calendar (audited)."""
        actor = _admin()
        return _detail(calendars.create(actor_id=actor.id, name=data["name"], spec=_spec(data)))


@blp.route("/calendars/presets")
class CalendarPresets(MethodView):
    @requires_scope(blp, Scope.READ)
    @blp.response(200, PresetOut(many=True))
    @_errors(401, 403)
    def get(self):
        """The holiday presets a calendar can use."""
        _admin()
        return [{"name": n, "description": d} for n, d in calendars.PRESETS.items()]


@blp.route("/calendars/<int:calendar_id>")
class CalendarItem(MethodView):
    @requires_scope(blp, Scope.READ)
    @blp.response(200, CalendarDetailOut)
    @_errors(401, 403, 404)
    def get(self, calendar_id: int):
        """One calendar with this year's holidays."""
        _admin()
        return _detail(calendars.get(calendar_id))

    @requires_scope(blp, Scope.MANAGE)
    @blp.arguments(CalendarIn)
    @blp.response(200, CalendarDetailOut)
    @_errors(400, 401, 403, 404, 409, 413, 422)
    def put(self, data: dict[str, Any], calendar_id: int):
        """Replace name, hours, holidays and presets (audited: the spec before and after).
        Clocks use it from their next start, pause or resume; 422 when nothing changed."""
        actor = _admin()
        cal = calendars.get(calendar_id)
        return _detail(calendars.update(actor_id=actor.id, calendar=cal, name=data["name"], spec=_spec(data)))
