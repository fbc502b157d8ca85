"""The admin's retention page, and legal holds (admins; supervisors on tickets they see)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from helpdesk.admin import patients as patient_accounts
from helpdesk.auth.models import Role, User
from helpdesk.errors import DomainError, Forbidden, NotFound
from helpdesk.extensions import db
from helpdesk.permissions import (
    can_hold_ticket,
    can_manage_legal_holds,
    is_admin,
    role_required,
)
from helpdesk.retention import services
from helpdesk.retention.models import LegalHold
from helpdesk.tickets.models import Ticket

bp = Blueprint("retention", __name__, url_prefix="/admin/retention")

@bp.app_template_global("removed_by_retention")
def removed_by_retention(subject: str | None) -> bool:
    """A subject the retention job replaced (patient pages show it in the patient's language)."""
    return subject == services.REMOVED_SUBJECT


def _me() -> User:
    return current_user._get_current_object()


def _error(err: DomainError) -> None:
    details = "; ".join(m for msgs in (err.fields or {}).values() for m in msgs)
    flash(f"{err.message} {details}".strip(), "error")


@bp.get("")
@role_required(Role.ADMIN)
def page():
    return render_template("admin/retention.html", kinds=services.KINDS, periods=services.policies(),
                           runs=services.last_runs(), holds=services.active_holds())


@bp.post("/periods")
@role_required(Role.ADMIN)
def periods():
    try:
        values = {kind: services.parse_days(request.form.get(kind)) for kind in services.KINDS}
        changed = [kind for kind, days in values.items()
                   if services.set_policy(actor_id=_me().id, kind=kind, days=days, via="admin")]
    except DomainError as err:
        _error(err)
        return redirect(url_for("retention.page"))
    flash("Retention periods saved." if changed else "Nothing changed.", "success")
    return redirect(url_for("retention.page"))


@bp.post("/dry-run")
@role_required(Role.ADMIN)
def dry_run():
    result = services.run(dry_run=True, actor_id=_me().id, via="admin")
    parts = [f"{services.KINDS[k].label}: {c}" for k, c in result.counts.items() if c is not None]
    flash("Dry run: nothing was deleted. Would be purged now — " + ("; ".join(parts) if parts else
          "nothing, no period is set") + ".", "success")
    return redirect(url_for("retention.page"))


@bp.post("/run")
@role_required(Role.ADMIN)
def run_now():
    services.request_run(actor_id=_me().id)
    flash("Retention run started as a background job; its counts appear under 'Last run' when it finishes.",
          "success")
    return redirect(url_for("retention.page"))


def _back(ticket: Ticket | None, patient: User | None):
    target = request.form.get("back")
    if target == "ticket" and ticket is not None:
        return redirect(url_for("agent.ticket_page", reference=ticket.reference))
    if target == "patient" and patient is not None:
        return redirect(url_for("admin.patient_account", user_id=patient.id))
    return redirect(url_for("retention.page"))


@bp.post("/holds")
@role_required(Role.SUPERVISOR, Role.ADMIN)
def place_hold():
    me = _me()
    ticket = patient = None
    reference = (request.form.get("reference") or "").strip()
    patient_id = request.form.get("patient_id", type=int)
    email = (request.form.get("email") or "").strip().lower()
    if reference:
        ticket = db.session.scalar(sa.select(Ticket).where(Ticket.reference == reference.upper()))
        if ticket is None or not can_hold_ticket(me, ticket):
            raise NotFound("No request with that reference.")
    elif patient_id or email:
        if not is_admin(me):
            raise Forbidden("Only admins place a legal hold on a patient.")
        if patient_id:
            patient = patient_accounts.get_patient(patient_id)
        else:
            patient = patient_accounts.by_email(email)
            if patient is None:
                flash("No patient account has that e-mail address: no hold was placed.", "error")
                return redirect(url_for("retention.page"))
    else:
        flash("Give a request reference or a patient's e-mail address: no hold was placed.", "error")
        return redirect(url_for("retention.page"))
    try:
        services.place_hold(actor=me, reason=request.form.get("reason", ""), ticket=ticket, patient=patient)
    except DomainError as err:
        _error(err)
    else:
        flash("Legal hold placed: nothing it covers is purged until it is released.", "success")
    return _back(ticket, patient)


@bp.post("/holds/<int:hold_id>/release")
@role_required(Role.SUPERVISOR, Role.ADMIN)
def release_hold(hold_id: int):
    me = _me()
    hold = db.session.get(LegalHold, hold_id)
    if hold is None or not can_manage_legal_holds(me):
        raise NotFound("No such legal hold.")
    ticket = db.session.get(Ticket, hold.ticket_id) if hold.ticket_id else None
    patient = db.session.get(User, hold.patient_id) if hold.patient_id else None
    if ticket is not None and not can_hold_ticket(me, ticket):
        raise NotFound("No such legal hold.")
    if patient is not None and not is_admin(me):
        raise Forbidden("Only admins release a legal hold on a patient.")
    try:
        services.release_hold(actor=me, hold_id=hold_id)
    except DomainError as err:
        _error(err)
    else:
        flash("Legal hold released.", "success")
    return _back(ticket, patient)
