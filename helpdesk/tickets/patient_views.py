"""Patient pages: get help, my requests, a request's public thread, reply, close."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from helpdesk.auth.models import Role
from helpdesk.errors import DomainError
from helpdesk.i18n import translate
from helpdesk.kb.forms import DeflectForm
from helpdesk.kb.patient import suggestions_before_submit
from helpdesk.notify.attachments import uploads_from_request
from helpdesk.permissions import get_visible_ticket, role_required
from helpdesk.tickets import queries, services
from helpdesk.tickets.forms import CloseForm, HelpRequestForm, ReplyForm
from helpdesk.tickets.merge import survivor_of
from helpdesk.tickets.models import Channel, Status
from helpdesk.tickets.next_step import next_steps

bp = Blueprint("patient", __name__)


def _me():
    return current_user._get_current_object()


def _apply_errors(form, err: DomainError) -> None:
    for field, messages in (err.fields or {}).items():
        if field in form:
            form[field].errors = [translate(m) for m in messages]
    if not err.fields or not any(f in form for f in err.fields):
        flash(translate(err.message), "error")


@bp.route("/help", methods=["GET", "POST"])
@role_required(Role.PATIENT)
def get_help():
    form = HelpRequestForm()
    kb_suggestions = []
    uploads = uploads_from_request() if request.method == "POST" else []
    if form.validate_on_submit():
        # Knowledge base: before the request is sent, show up to 3 articles that may
        # answer it (works without JavaScript); "Send my request" posts again with confirm=1.
        # A request with files goes straight through: a browser cannot keep chosen files
        # across that extra page (the live suggestions were shown while typing).
        if request.form.get("confirm") != "1" and not uploads:
            kb_suggestions = suggestions_before_submit(form.subject.data or "", form.body.data or "")
        if not kb_suggestions:
            try:
                ticket = services.create_ticket(
                    requester=_me(), subject=form.subject.data, body=form.body.data,
                    channel=Channel.WEB, created_by=_me(), attachments=uploads,
                )
            except DomainError as err:
                _apply_errors(form, err)
            else:
                flash(_("Thank you. We received your request %(reference)s.", reference=ticket.reference), "success")
                return redirect(url_for("patient.request_page", reference=ticket.reference))
    status = 422 if request.method == "POST" and not kb_suggestions else 200
    query_length = len(f"{form.subject.data or ''}\n{form.body.data or ''}".strip()) if kb_suggestions else 0
    # the page came back (an error): the typed text is kept, the chosen files cannot be
    files_not_sent = [u.filename for u in uploads] if status == 422 else []
    return render_template("patient/get_help.html", form=form, kb_suggestions=kb_suggestions,
                           kb_query_length=query_length, kb_deflect_form=DeflectForm(),
                           files_not_sent=files_not_sent), status


@bp.get("/requests")
@role_required(Role.PATIENT)
def my_requests():
    size = current_app.config["HELPDESK"].page_size
    tickets, next_cursor = queries.patient_requests(_me(), request.args.get("cursor"), size)
    return render_template("patient/my_requests.html", tickets=tickets, next_cursor=next_cursor,
                           steps=next_steps(tickets), unread=queries.unread_replies(_me(), [t.id for t in tickets]))


@bp.get("/requests/<reference>")
@role_required(Role.PATIENT)
def request_page(reference: str):
    ticket = get_visible_ticket(_me(), reference)
    if (survivor := survivor_of(ticket)) is not ticket:  # merged: the conversation continues there
        flash(_("Request %(old)s was merged into %(new)s; its messages are below.",
                old=ticket.reference, new=survivor.reference), "info")
        return redirect(url_for("patient.request_page", reference=survivor.reference))
    seen_before = services.mark_request_read(_me(), ticket)  # opening the request reads its replies
    return _request_page(ticket, ReplyForm(), seen_before=seen_before)


def _request_page(ticket, form, seen_before: int | None = None):
    """The request page; ``seen_before``: the newest public message the patient had
    seen before this view (the help desk's messages after it are marked new)."""
    return render_template(
        "patient/request.html", ticket=ticket, form=form, close_form=CloseForm(), Status=Status,
        seen_before=seen_before,
    )


@bp.post("/requests/<reference>/reply")
@role_required(Role.PATIENT)
def reply(reference: str):
    ticket = get_visible_ticket(_me(), reference)
    form = ReplyForm()
    if form.validate_on_submit():
        try:
            posted = services.post_message(ticket, author=_me(), body=form.body.data, channel=Channel.WEB,
                                           attachments=uploads_from_request())
        except DomainError as err:
            _apply_errors(form, err)
        else:
            if posted.new_ticket:
                flash(_("That request was closed, so we opened a new one for you: %(reference)s.",
                        reference=posted.ticket.reference), "success")
            else:
                flash(_("Your reply was sent."), "success")
            return redirect(url_for("patient.request_page", reference=posted.ticket.reference))
    return _request_page(ticket, form), 422


@bp.post("/requests/<reference>/close")
@role_required(Role.PATIENT)
def close(reference: str):
    ticket = get_visible_ticket(_me(), reference)
    form = CloseForm()
    if not form.validate_on_submit():
        flash(_("Please try again."), "error")
        return redirect(url_for("patient.request_page", reference=ticket.reference))
    services.update_ticket(ticket, actor=_me(), status=Status.CLOSED, source="patient")
    flash(_("Your request is closed. You can still read it here."), "success")
    return redirect(url_for("patient.request_page", reference=ticket.reference))
