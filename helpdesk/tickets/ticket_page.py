"""The agent ticket page: one renderer shared by the agent views, break-glass identifiers
(access) and the staff password-reset actions (auth)."""

from __future__ import annotations

from flask import render_template, request
from flask_login import current_user

from helpdesk.formutil import choices
from helpdesk.kb.panels import reply_prefill, ticket_panel
from helpdesk.permissions import break_glass_grant, member_queue_ids
from helpdesk.routing.services import routing_info
from helpdesk.sla.services import open_timers, policy_detail
from helpdesk.tickets import queries
from helpdesk.tickets.forms import AgentReplyForm, AssignForm, ClaimForm, CorrectionForm, MoveForm, UpdateForm
from helpdesk.tickets.macros import insert_text, render, usable_macro
from helpdesk.tickets.models import Status
from helpdesk.tickets.workspace import ticket_context


def _me():
    return current_user._get_current_object()


def render_ticket_page(ticket, reply_form=None, move_form=None, status: int = 200, collision=None, identifiers=None,
                       field_errors=None, confirm=None, inserted=None):
    """``field_errors``: {field id: (label, message)} for fields outside a WTForms form (merge);
    ``confirm``: a pending confirmation ({"kind": "close", ...}); ``inserted``: ids of the
    knowledge-base articles inserted in the reply (linked to the ticket when it is sent)."""
    me = _me()
    grant = None if ticket.queue_id in member_queue_ids(me) else break_glass_grant(me, ticket)
    agents = queries.assignable_agents(ticket.queue_id)
    update_form = UpdateForm(status=ticket.status.value, priority=ticket.priority.value)
    move_form = move_form or MoveForm()
    assign_form = AssignForm(assignee_id=str(ticket.assignee_id or ""))
    assign_form.assignee_id.choices = choices([("", "Unassigned")] + [(str(a.id), a.display_name) for a in agents])
    queues = queries.active_queues()
    move_form.queue_id.choices = choices((q.id, q.name) for q in queues if q.id != ticket.queue_id)
    inserted = list(inserted or request.form.getlist("kb_article"))
    macro = None
    if reply_form is None:  # knowledge base: "Insert" without JavaScript (?kb_insert=<article id>)
        prefill = None
        if found := reply_prefill(me, ticket, request.args.get("kb_insert")):
            prefill, article = found
            inserted.append(str(article.id))
        elif request.args.get("macro_insert"):  # macros: "Insert" without JavaScript
            prefill = insert_text(me, ticket, request.args.get("macro_insert"))
        elif request.args.get("macro_apply"):  # macros: "Apply" = a preview in the reply box
            macro = usable_macro(me, request.args.get("macro_apply"))
            if macro is not None:
                prefill = render(macro.body, ticket=ticket, agent=me)
        reply_form = AgentReplyForm(body=prefill) if prefill is not None else None
        if macro is not None and reply_form is not None:
            reply_form.macro_id.data = str(macro.id)
            reply_form.next_status.data = macro.set_status.value if macro.set_status else ""
    reply_form = reply_form or AgentReplyForm()
    if macro is None and reply_form.macro_id.data:
        macro = usable_macro(me, reply_form.macro_id.data)
    errors = [(f.id, f.label.text, " ".join(f.errors)) for form in (reply_form, move_form) for f in form
              if f.errors and f.type not in ("HiddenField", "CSRFTokenField")]
    errors += [(fid, label, message) for fid, (label, message) in (field_errors or {}).items()]
    return render_template(
        "agent/ticket.html",
        ticket=ticket,
        kb=ticket_panel(ticket, me),
        reply_form=reply_form,
        page_errors=errors,
        field_errors=field_errors or {},
        confirm=confirm,
        inserted=[i for i in dict.fromkeys(inserted) if i.isdigit()][:10],
        applying_macro=macro,
        sla_timers=open_timers(ticket.id),
        sla_detail=policy_detail(ticket.id),
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
