"""The agent ticket page: one renderer shared by the agent views, break-glass identifiers
(access) and the staff password-reset actions (auth)."""

from __future__ import annotations

from flask import render_template, request
from flask_login import current_user

from helpdesk.formutil import choices
from helpdesk.kb.panels import reply_prefill, ticket_panel
from helpdesk.permissions import break_glass_grant, member_queue_ids
from helpdesk.routing.services import routing_info
from helpdesk.tickets import queries
from helpdesk.tickets.forms import AgentReplyForm, AssignForm, ClaimForm, CorrectionForm, MoveForm, UpdateForm
from helpdesk.tickets.macros import insert_text
from helpdesk.tickets.models import Status
from helpdesk.tickets.workspace import ticket_context


def _me():
    return current_user._get_current_object()


def render_ticket_page(ticket, reply_form=None, move_form=None, status: int = 200, collision=None, identifiers=None):
    me = _me()
    grant = None if ticket.queue_id in member_queue_ids(me) else break_glass_grant(me, ticket)
    agents = queries.assignable_agents(ticket.queue_id)
    update_form = UpdateForm(status=ticket.status.value, priority=ticket.priority.value)
    move_form = move_form or MoveForm()
    assign_form = AssignForm(assignee_id=str(ticket.assignee_id or ""))
    assign_form.assignee_id.choices = choices([("", "Unassigned")] + [(str(a.id), a.display_name) for a in agents])
    queues = queries.active_queues()
    move_form.queue_id.choices = choices((q.id, q.name) for q in queues if q.id != ticket.queue_id)
    if reply_form is None:  # knowledge base: "Insert" without JavaScript (?kb_insert=<article id>)
        prefill = reply_prefill(me, request.args.get("kb_insert"))
        if not prefill and request.args.get("macro_insert"):  # macros: "Insert" without JavaScript
            prefill = insert_text(me, ticket, request.args.get("macro_insert"))
        reply_form = AgentReplyForm(body=prefill) if prefill else None
    return render_template(
        "agent/ticket.html",
        ticket=ticket,
        kb=ticket_panel(ticket, me),
        reply_form=reply_form or AgentReplyForm(),
        update_form=update_form,
        move_form=move_form,
        assign_form=assign_form,
        claim_form=ClaimForm(),
        correction_form=CorrectionForm(formdata=None),
        me=me,
        routing=routing_info(ticket),
        routing_queue_ids={q.slug: q.id for q in queues},
        Status=Status,
        workspace=ticket_context(me, ticket),
        collision=collision,
        identifiers=identifiers,
        break_glass=grant,
    ), status
