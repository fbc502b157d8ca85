"""The agent workspace: queues, the ticket list and the ticket page."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from helpdesk.access.views import break_glass_prompt
from helpdesk.auth.services import set_available
from helpdesk.errors import DomainError, NotFound, ValidationFailed
from helpdesk.formutil import choices
from helpdesk.kb.panels import link_inserted
from helpdesk.notify.attachments import uploads_from_request
from helpdesk.permissions import STAFF, can_view_ticket, get_visible_ticket, role_required
from helpdesk.tickets import macros, queries, search, services
from helpdesk.tickets.forms import AgentReplyForm, AssignForm, ClaimForm, CorrectionForm, MoveForm, UpdateForm
from helpdesk.tickets.forms import ClaimForm as ActionForm
from helpdesk.tickets.models import Priority, Status
from helpdesk.tickets.presence import unseen_messages
from helpdesk.tickets.ticket_page import render_ticket_page
from helpdesk.tickets.workspace import needs_close_confirmation
from helpdesk.tickets.workspace_views import list_page_context

bp = Blueprint("agent", __name__, url_prefix="/agent")


def _me():
    return current_user._get_current_object()


@bp.get("/")
@role_required(*STAFF)
def dashboard():
    return render_template("agent/dashboard.html", rows=queries.queue_counts(_me()), Status=Status, me=_me(),
                           action=ClaimForm())


@bp.post("/availability")
@role_required(*STAFF)
def availability():
    if ActionForm().validate_on_submit():
        me = _me()
        set_available(user=me, available=not me.available)
        flash("You are now available for new requests." if me.available else
              "You won't receive new requests automatically.", "success")
    return redirect(url_for("agent.dashboard"))


@bp.get("/tickets")
@role_required(*STAFF)
def ticket_list():
    size = current_app.config["HELPDESK"].page_size
    filters = queries.TicketFilters.from_args(request.args, size)
    tickets, next_cursor = queries.ticket_list(_me(), filters)
    search.attach_snippets(_me(), tickets, filters.q)
    total, view_counts = queries.list_counts(_me(), filters)
    return render_template(
        "agent/ticket_list.html",
        tickets=tickets,
        next_cursor=next_cursor,
        total=total,
        view_counts=view_counts,
        views=queries.VIEWS,
        count_cap=queries.COUNT_CAP,
        filters=filters,
        queues=queries.member_queues(_me()),
        Status=Status,
        Priority=Priority,
        **_workspace_list_context(),
    )


def _workspace_list_context() -> dict:
    return list_page_context()


@bp.get("/tickets/<reference>")
@role_required(*STAFF)
def ticket_page(reference: str):
    try:
        ticket = get_visible_ticket(_me(), reference)
    except NotFound:
        # a supervisor outside the ticket's queues is asked for a reason (break-glass)
        if (prompt := break_glass_prompt(reference)) is not None:
            return prompt
        raise
    services.record_staff_view(_me(), ticket)
    return render_ticket_page(ticket)


@bp.post("/tickets/<reference>/reply")
@role_required(*STAFF)
def reply(reference: str):
    ticket = get_visible_ticket(_me(), reference)
    form = AgentReplyForm()
    if not form.validate_on_submit():
        return render_ticket_page(ticket, reply_form=form, status=422)
    # a message arrived since the page was loaded: show it and ask to send again
    if unseen := unseen_messages(ticket, _me(), request.form.get("last_seen_message_id")):
        return render_ticket_page(ticket, reply_form=form, status=409, collision=unseen)
    public = not form.internal.data
    has_text = bool((form.body.data or "").strip())
    answering = public and has_text
    # closing with the patient's message unanswered (an internal note answers nobody): confirm first
    if form.confirm_close.data != "yes" and needs_close_confirmation(ticket, form.next_status.data,
                                                                     answering=answering):
        form.confirm_close.data = "yes"
        return render_ticket_page(ticket, reply_form=form, confirm={"kind": "close", "via": "reply"})
    macro = macros.usable_macro(_me(), form.macro_id.data) if form.macro_id.data else None
    if macro is None and not has_text:  # the macro is gone: the text is required
        form.body.errors = ["This field is required."]
        return render_ticket_page(ticket, reply_form=form, status=422)
    try:
        if macro is not None:
            macros.send_with_macro(ticket, macro, actor=_me(), body=form.body.data, public=public,
                                   next_status=form.next_status.data or None, attachments=uploads_from_request())
        else:
            services.post_message(
                ticket, author=_me(), body=form.body.data, public=public,
                next_status=form.next_status.data or None, attachments=uploads_from_request(),
            )
    except DomainError as err:
        form.body.errors = [err.message]
        return render_ticket_page(ticket, reply_form=form, status=err.status)
    if answering:  # inserted help-centre articles still in the text: "resolved with"
        link_inserted(ticket, _me(), request.form.getlist("kb_article"), form.body.data)
    if has_text:
        flash("Internal note added." if form.internal.data else "Reply sent to the patient.", "success")
    if macro is not None:
        flash(f"Macro “{macro.title}” applied.", "success")
    if not can_view_ticket(_me(), ticket):  # the macro moved it to a queue the agent doesn't work in
        return redirect(url_for("agent.ticket_list"))
    return redirect(url_for("agent.ticket_page", reference=ticket.reference))


@bp.post("/tickets/<reference>/messages/<int:message_id>/correct")
@role_required(*STAFF)
def correct_message(reference: str, message_id: int):
    ticket = get_visible_ticket(_me(), reference)
    form = CorrectionForm()
    if not form.validate_on_submit():
        flash("Write the corrected text (at most 20,000 characters).", "error")
        return render_ticket_page(ticket, status=422)
    try:
        services.correct_message(ticket, message_id, editor=_me(), body=form.body.data)
    except ValidationFailed as err:
        flash(err.message, "error")
        return render_ticket_page(ticket, status=err.status)
    flash("Message corrected. The earlier text is kept in its history.", "success")
    return redirect(url_for("agent.ticket_page", reference=ticket.reference))


@bp.post("/tickets/<reference>/update")
@role_required(*STAFF)
def update(reference: str):
    ticket = get_visible_ticket(_me(), reference)
    form = UpdateForm()
    if not form.validate_on_submit():
        flash("Choose a valid status and priority.", "error")
        return redirect(url_for("agent.ticket_page", reference=ticket.reference))
    if form.confirm_close.data != "yes" and needs_close_confirmation(ticket, form.status.data):
        return render_ticket_page(ticket, confirm={"kind": "close", "via": "update", "status": form.status.data,
                                                   "priority": form.priority.data})
    services.update_ticket(ticket, actor=_me(), status=form.status.data, priority=form.priority.data)
    flash("Request updated.", "success")
    return redirect(url_for("agent.ticket_page", reference=ticket.reference))


@bp.post("/tickets/<reference>/move")
@role_required(*STAFF)
def move(reference: str):
    ticket = get_visible_ticket(_me(), reference)
    form = MoveForm()
    form.queue_id.choices = choices((q.id, q.name) for q in queries.active_queues() if q.id != ticket.queue_id)
    if not form.validate_on_submit():
        return render_ticket_page(ticket, move_form=form, status=422)
    services.update_ticket(ticket, actor=_me(), queue_id=form.queue_id.data, reason=form.reason.data)
    flash(f"Moved to {ticket.queue.name}.", "success")
    # The mover may no longer be a member of the new queue.
    if can_view_ticket(_me(), ticket):
        return redirect(url_for("agent.ticket_page", reference=ticket.reference))
    return redirect(url_for("agent.ticket_list"))


@bp.post("/tickets/<reference>/assign")
@role_required(*STAFF)
def assign(reference: str):
    ticket = get_visible_ticket(_me(), reference)
    raw = request.form.get("assignee_id", "")
    form = AssignForm()
    form.assignee_id.choices = choices([("", "Unassigned")] + [(str(a.id), "") for a in queries.assignable_agents(ticket.queue_id)])
    if not form.validate_on_submit():
        flash("Choose someone from this queue.", "error")
        return redirect(url_for("agent.ticket_page", reference=ticket.reference))
    services.update_ticket(ticket, actor=_me(), assignee_id=int(raw) if raw else None)
    flash("Assignment updated.", "success")
    return redirect(url_for("agent.ticket_page", reference=ticket.reference))


@bp.post("/tickets/<reference>/claim")
@role_required(*STAFF)
def claim(reference: str):
    ticket = get_visible_ticket(_me(), reference)
    if not ClaimForm().validate_on_submit():
        flash("Please try again.", "error")
        return redirect(url_for("agent.ticket_page", reference=ticket.reference))
    services.update_ticket(ticket, actor=_me(), assignee_id=_me().id)
    flash("You now own this request.", "success")
    return redirect(url_for("agent.ticket_page", reference=ticket.reference))
