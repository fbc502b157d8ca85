"""Clinical alert pages: the banner's data, acknowledgement, the alert list, the on-call roster."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from helpdesk.admin.forms import ActionForm
from helpdesk.auth.models import Role, User
from helpdesk.clinical import roster as pure
from helpdesk.clinical import services
from helpdesk.errors import DomainError, Forbidden, ValidationFailed
from helpdesk.permissions import (
    STAFF,
    acting_user,
    can_manage_roster,
    can_receive_alerts,
    can_view_roster,
    get_staff_member,
    role_required,
)
from helpdesk.timeutil import utcnow

bp = Blueprint("clinical", __name__)


def _me() -> User:
    return current_user._get_current_object()


@bp.app_template_global()
def clinical_banner() -> list[dict[str, Any]]:
    """The unacknowledged alerts of the signed-in staff member (every staff page)."""
    user = acting_user()
    if not can_receive_alerts(user):
        return []
    now = utcnow()
    return [services.alert_json(a, user, now) for a in services.open_alerts_for(user)]


@bp.app_template_global()
def clinical_tile() -> dict[str, Any]:
    """The supervisors' dashboard tile: unacknowledged emergencies and who is on duty."""
    now = utcnow()
    alerts = services.unacknowledged(limit=5)
    return {"count": services.unacknowledged_count(), "oldest_minutes":
            int((now - alerts[0].raised_at).total_seconds() // 60) if alerts else None,
            "on_duty": services.on_duty_now(now)}


def _flash_error(err: DomainError) -> None:
    details = "; ".join(m for msgs in (err.fields or {}).values() for m in (msgs if isinstance(msgs, list) else [str(msgs)]))
    flash(f"{err.message} {details}".strip(), "error")


# ----------------------------------------------------------------------------- alerts


@bp.get("/clinical/alerts")
@role_required(*STAFF)
def alerts():
    """Everyone alerted sees their open alerts (the banner without JavaScript); supervisors
    and admins also see every unacknowledged emergency and who is on duty now."""
    me, now = _me(), utcnow()
    mine = [services.alert_json(a, me, now) for a in services.open_alerts_for(me)]
    everyone = None
    on_duty = None
    if can_view_roster(me):
        everyone = [{"alert": a, "minutes_open": int((now - a.raised_at).total_seconds() // 60),
                     "raised_local": services.local_time(a.raised_at, now)} for a in services.unacknowledged()]
        on_duty = services.on_duty_now(now)
    return render_template("clinical/alerts.html", mine=mine, everyone=everyone, on_duty=on_duty,
                           action=ActionForm())


@bp.get("/clinical/alerts.json")
@role_required(*STAFF)
def alerts_json():
    """Polled every few seconds by clinical-alerts.js (a background request: it does not
    keep an idle session alive)."""
    me, now = _me(), utcnow()
    return jsonify({"alerts": [services.alert_json(a, me, now) for a in services.open_alerts_for(me)]})


@bp.post("/clinical/alerts/<int:alert_id>/acknowledge")
@role_required(*STAFF)
def acknowledge(alert_id: int):
    me = _me()
    alert = services.get_alert_for(me, alert_id)
    if not ActionForm().validate_on_submit():
        flash("Please try again.", "error")
    elif services.acknowledge(alert, user=me):
        flash(f"Alert for {alert.ticket.reference} acknowledged. Escalation stopped.", "success")
    else:
        flash(f"The alert for {alert.ticket.reference} was already acknowledged.", "info")
    target = request.form.get("next", "")
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("agent.ticket_page", reference=alert.ticket.reference)
    return redirect(target)


# ----------------------------------------------------------------------------- roster


def _require_manager() -> User:
    me = _me()
    if not can_manage_roster(me):
        raise Forbidden("Only admins and supervisors of the clinical-escalation queue change the roster.")
    return me


def _staff(user_id: int) -> User:
    return get_staff_member(user_id)


@bp.get("/admin/on-call")
@role_required(Role.SUPERVISOR, Role.ADMIN)
def roster_page():
    me, now = _me(), utcnow()
    return render_template(
        "clinical/roster.html", rows=services.roster_view(now), on_duty=services.on_duty_now(now),
        candidates=services.roster_candidates() if can_manage_roster(me) else [], manage=can_manage_roster(me),
        weekdays=pure.WEEKDAYS, modes=pure.MODES, action=ActionForm(), tz=services.site_tz().key,
        now_local=services.local_time(now, now),
    )


def _roster_change(fn) -> Any:
    me = _require_manager()
    if not ActionForm().validate_on_submit():
        flash("Please try again.", "error")
    else:
        try:
            message = fn(me)
        except DomainError as err:
            _flash_error(err)
        else:
            flash(message, "success")
    return redirect(url_for("clinical.roster_page"))


@bp.post("/admin/on-call/members")
@role_required(Role.SUPERVISOR, Role.ADMIN)
def roster_add():
    def add(me: User) -> str:
        raw = request.form.get("user_id", "")
        if not raw.isdigit():
            raise ValidationFailed("Choose a person.", fields={"user_id": ["Choose a member of the queue."]})
        user = _staff(int(raw))
        services.add_to_roster(actor=me, user=user, mode=request.form.get("mode", "shifts"))
        return f"{user.display_name} is on the roster."

    return _roster_change(add)


@bp.post("/admin/on-call/members/<int:user_id>/remove")
@role_required(Role.SUPERVISOR, Role.ADMIN)
def roster_remove(user_id: int):
    def remove(me: User) -> str:
        user = _staff(user_id)
        services.remove_from_roster(actor=me, user=user)
        return f"{user.display_name} is off the roster."

    return _roster_change(remove)


@bp.post("/admin/on-call/members/<int:user_id>/mode")
@role_required(Role.SUPERVISOR, Role.ADMIN)
def roster_mode(user_id: int):
    def mode(me: User) -> str:
        user = _staff(user_id)
        member = services.set_mode(actor=me, user=user, mode=request.form.get("mode", ""))
        return f"{user.display_name}: duty set to {member.mode.value}."

    return _roster_change(mode)


@bp.post("/admin/on-call/members/<int:user_id>/shifts")
@role_required(Role.SUPERVISOR, Role.ADMIN)
def roster_shift_add(user_id: int):
    def add(me: User) -> str:
        user = _staff(user_id)
        shift = services.add_shift(actor=me, user=user, weekday=request.form.get("weekday"),
                                   start=request.form.get("start"), end=request.form.get("end"))
        return f"Shift added for {user.display_name}: {pure.Shift(shift.weekday, shift.start, shift.end).label()}."

    return _roster_change(add)


@bp.post("/admin/on-call/shifts/<int:shift_id>/remove")
@role_required(Role.SUPERVISOR, Role.ADMIN)
def roster_shift_remove(shift_id: int):
    def remove(me: User) -> str:
        services.remove_shift(actor=me, shift_id=shift_id)
        return "Shift removed."

    return _roster_change(remove)



@bp.app_template_global()
def clinical_patient_notice(ticket: Any) -> services.PatientNotice | None:
    return services.patient_notice(ticket)


@bp.app_template_global()
def clinical_patient_sentences(notice: services.PatientNotice | None) -> list[str]:
    return services.patient_sentences(notice) if notice is not None else []
