"""Agent workspace pages and endpoints: macros, bulk actions, merge, presence, saved views."""

from __future__ import annotations

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from helpdesk.errors import DomainError, ValidationFailed
from helpdesk.permissions import (
    STAFF,
    can_manage_macro,
    can_manage_saved_view,
    can_manage_shared_items,
    get_visible_ticket,
    member_queue_ids,
    role_required,
)
from helpdesk.tickets import bulk, macros, merge, presence, queries, saved_views
from helpdesk.tickets.models import Priority, Status
from helpdesk.tickets.ticket_page import render_ticket_page
from helpdesk.tickets.workspace import shareable_queues

bp = Blueprint("workspace", __name__, url_prefix="/agent")


def _me():
    return current_user._get_current_object()


# ---------------------------------------------------------------- macros


def _macro_page(form: dict | None = None, errors: dict | None = None, macro=None, status: int = 200):
    me = _me()
    search = (request.args.get("q") or "").strip()[:120] or None
    return render_template(
        "agent/macros.html", macros=macros.visible_macros(me, search=search), search=search or "",
        form=form or {}, errors=errors or {}, editing=macro, shareable=shareable_queues(me),
        queues=queries.active_queues(), Status=Status, Priority=Priority,
        can_manage=lambda m: can_manage_macro(me, m),
    ), status


def _form_data() -> dict:
    return {k: request.form.get(k, "") for k in ("title", "body", "scope", "set_status", "set_priority",
                                                  "set_queue_id")}


@bp.get("/macros")
@role_required(*STAFF)
def macro_list():
    return _macro_page()


@bp.post("/macros")
@role_required(*STAFF)
def macro_create():
    data = _form_data()
    try:
        macro = macros.create_macro(actor=_me(), data=data)
    except ValidationFailed as err:
        return _macro_page(form=data, errors=err.fields or {"title": [err.message]}, status=422)
    flash(f"Macro “{macro.title}” saved.", "success")
    return redirect(url_for("workspace.macro_list"))


@bp.get("/macros/<int:macro_id>")
@role_required(*STAFF)
def macro_edit(macro_id: int):
    macro = macros.get_manageable_macro(_me(), macro_id)
    form = {"title": macro.title, "body": macro.body, "language": macro.language or "",
            "scope": macro.queue.slug if macro.queue else "personal",
            "set_status": macro.set_status.value if macro.set_status else "",
            "set_priority": macro.set_priority.value if macro.set_priority else "",
            "set_queue_id": str(macro.set_queue_id or "")}
    return _macro_page(form=form, macro=macro)


@bp.post("/macros/<int:macro_id>")
@role_required(*STAFF)
def macro_update(macro_id: int):
    macro = macros.get_manageable_macro(_me(), macro_id)
    data = _form_data()
    try:
        macros.update_macro(macro, actor=_me(), data=data)
    except ValidationFailed as err:
        macro = macros.get_manageable_macro(_me(), macro_id)
        return _macro_page(form=data, errors=err.fields or {"title": [err.message]}, macro=macro, status=422)
    flash("Macro updated.", "success")
    return redirect(url_for("workspace.macro_list"))


@bp.post("/macros/<int:macro_id>/delete")
@role_required(*STAFF)
def macro_delete(macro_id: int):
    macro = macros.get_manageable_macro(_me(), macro_id)
    macros.delete_macro(macro, actor=_me())
    flash("Macro deleted.", "success")
    return redirect(url_for("workspace.macro_list"))


@bp.post("/tickets/<reference>/macro")
@role_required(*STAFF)
def macro_apply(reference: str):
    ticket = get_visible_ticket(_me(), reference)
    macro = macros.get_usable_macro(_me(), request.form.get("macro_id"))
    if request.form.get("do") == "insert":  # without JavaScript: back to the page, reply pre-filled
        return redirect(url_for("agent.ticket_page", reference=ticket.reference, macro_insert=macro.id,
                                _anchor="reply-h"))
    # "Apply": nothing is sent here. The page comes back with the macro's text in the reply box
    # and its status in "Then set status", to edit; Send applies it (agent.reply).
    return redirect(url_for("agent.ticket_page", reference=ticket.reference, macro_apply=macro.id,
                            _anchor="reply-h"))


# ---------------------------------------------------------------- bulk actions


@bp.post("/bulk")
@role_required(*STAFF)
def bulk_action():
    action = request.form.get("action", "")
    value = request.form.get(action, "") if action in bulk.ACTIONS else ""
    try:
        outcomes = bulk.bulk_apply(_me(), request.form.getlist("ref"), action=action, value=value,
                                   reason=request.form.get("reason"))
    except ValidationFailed as err:
        return render_template("agent/bulk_result.html", outcomes=[], error=err, action=action), 422
    return render_template("agent/bulk_result.html", outcomes=outcomes, error=None, action=action,
                           done=sum(o.ok for o in outcomes), failed=sum(not o.ok for o in outcomes))


# ---------------------------------------------------------------- merge


@bp.post("/tickets/<reference>/merge")
@role_required(*STAFF)
def merge_into(reference: str):
    """Two steps: the first post shows what will be merged (nothing changes); the merge
    happens only when that page is confirmed (``confirm=yes``)."""
    ticket = get_visible_ticket(_me(), reference)
    refs = request.form.getlist("merge_ref")
    typed = request.form.get("references", "")
    refs += [r for r in typed.replace(",", " ").split() if r]
    try:
        if request.form.get("confirm") != "yes":
            others = merge.preview_merge(ticket, refs, actor=_me())
            return render_template("agent/merge_confirm.html", ticket=ticket, others=others)
        merge.merge_tickets(ticket, refs, actor=_me())
    except DomainError as err:
        fields = err.fields or {}
        message = fields["references"][0] if fields.get("references") else err.message
        return render_ticket_page(ticket, status=err.status,
                                  field_errors={"merge-refs": ("Requests to merge into this one", message)})
    flash("Requests merged into this one.", "success")
    return redirect(url_for("agent.ticket_page", reference=ticket.reference))


# ---------------------------------------------------------------- presence (JSON, polled)


@bp.post("/tickets/<reference>/presence")
@role_required(*STAFF)
def presence_beat(reference: str):
    ticket = get_visible_ticket(_me(), reference)
    payload = request.get_json(silent=True)
    state = payload.get("state") if isinstance(payload, dict) else request.form.get("state")
    try:
        presence.heartbeat(_me(), ticket, state)
    except DomainError as err:
        resp = jsonify({"error": {"code": err.code, "message": err.message, "fields": err.fields}})
        return resp, err.status
    return jsonify({"others": presence.others(_me(), ticket), "last_message_id": presence.last_message_id(ticket)})


# ---------------------------------------------------------------- saved views


@bp.post("/views")
@role_required(*STAFF)
def view_save():
    view = saved_views.save_view(actor=_me(), name=request.form.get("name"), scope=request.form.get("scope"),
                                 args=request.form)
    flash(f"View “{view.name}” saved.", "success")
    return redirect(url_for("agent.ticket_list", view=view.id, **view.args))


@bp.post("/views/<int:view_id>/delete")
@role_required(*STAFF)
def view_delete(view_id: int):
    view = saved_views.get_view(_me(), view_id)
    saved_views.delete_view(view, actor=_me())
    flash("View deleted.", "success")
    return redirect(url_for("agent.ticket_list"))


def list_page_context() -> dict:
    """Extra context for the ticket list page (saved views, bulk toolbar)."""
    me = _me()
    active = queries.active_queues()
    return {
        "saved_views": saved_views.visible_views(me),
        "can_manage_view": lambda v: can_manage_saved_view(me, v),
        "shareable": [q for q in active if can_manage_shared_items(me, q.id)],
        "bulk_agents": queries.assignable_agents_in(member_queue_ids(me)),
        "bulk_macros": macros.visible_macros(me),
        "all_queues": active,
        "bulk_statuses": [s for s in Status if s != Status.NEW],
    }
