"""Identifiers on file (agent ticket page), break-glass (supervisors) and its review (admins)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from helpdesk.access import services
from helpdesk.admin.forms import ActionForm
from helpdesk.auth.models import Role
from helpdesk.errors import DomainError, NotFound, ValidationFailed
from helpdesk.permissions import STAFF, break_glass_candidate, get_visible_ticket, role_required
from helpdesk.tickets.ticket_page import render_ticket_page

bp = Blueprint("access", __name__)


def _me():
    return current_user._get_current_object()


def break_glass_prompt(reference: str, *, reason: str = "", error: str | None = None, status: int = 403):
    """The page asking a supervisor why they open a ticket outside their queues, or
    None when this user may not break glass on it (the caller answers 404)."""
    ticket = break_glass_candidate(_me(), reference)
    if ticket is None:
        return None
    return render_template("access/break_glass.html", ticket=ticket, reason=reason, error=error,
                           minutes=services.BREAK_GLASS_MINUTES, min_chars=services.REASON_MIN,
                           max_chars=services.REASON_MAX, action=ActionForm()), status


@bp.post("/agent/tickets/<reference>/break-glass")
@login_required
def break_glass(reference: str):
    if not ActionForm().validate_on_submit():
        page = break_glass_prompt(reference, error="Please try again.", status=400)
        if page is None:
            raise NotFound("No request with that reference.")
        return page
    reason = request.form.get("reason", "")
    try:
        grant = services.break_glass(actor=_me(), reference=reference, reason=reason)
    except ValidationFailed as err:
        page = break_glass_prompt(reference, reason=reason[: services.REASON_MAX], error=err.message, status=422)
        if page is None:  # pragma: no cover - the service said not found first
            raise
        return page
    flash(f"Break-glass access granted for {services.BREAK_GLASS_MINUTES} minutes. This access is recorded "
          "and reviewed.", "warning")
    return redirect(url_for("agent.ticket_page", reference=grant.ticket.reference))


@bp.post("/agent/tickets/<reference>/identifiers")
@role_required(*STAFF)
def identifiers(reference: str):
    ticket = get_visible_ticket(_me(), reference)
    if not ActionForm().validate_on_submit():
        flash("Please try again.", "error")
        return redirect(url_for("agent.ticket_page", reference=ticket.reference))
    shown = services.view_identifiers(_me(), ticket)
    return render_ticket_page(ticket, identifiers=shown)


# ---------------------------------------------------------------- admin review


@bp.get("/admin/break-glass")
@role_required(Role.ADMIN)
def review():
    show_all = request.args.get("show") == "all"
    raw = request.args.get("before", "")
    before = int(raw) if raw.isdigit() and len(raw) < 12 else None
    grants, next_before = services.grants_for_review(unreviewed_only=not show_all, before=before)
    return render_template("access/review.html", grants=grants, next_before=next_before, show_all=show_all,
                           action=ActionForm())


@bp.post("/admin/break-glass/<int:grant_id>/reviewed")
@role_required(Role.ADMIN)
def reviewed(grant_id: int):
    if ActionForm().validate_on_submit():
        try:
            services.mark_reviewed(actor=_me(), grant_id=grant_id)
            flash("Marked as reviewed.", "success")
        except NotFound:
            raise
        except DomainError as err:
            flash(err.message, "error")
    return redirect(url_for("access.review", show=request.args.get("show") or None))
