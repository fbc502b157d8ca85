"""Notify pages: the admin outbox (and, further down, staff notifications, patient
settings, attachments and surveys)."""

from __future__ import annotations

import io
from contextlib import nullcontext

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, g, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import refresh

from helpdesk import audit
from helpdesk.auth.models import Role, User
from helpdesk.db import unit_of_work
from helpdesk.errors import NotFound, ValidationFailed
from helpdesk.extensions import db
from helpdesk.i18n import N_, language_of, translate
from helpdesk.notify import attachments as files
from helpdesk.notify import csat, inbound, services
from helpdesk.notify import mail as mailer
from helpdesk.notify.forms import CsatForm
from helpdesk.notify.models import InboundMail, InboundStatus, MailStatus, OutgoingEmail
from helpdesk.permissions import (
    STAFF,
    acting_user,
    can_receive_notifications,
    get_visible_ticket,
    is_patient,
    role_required,
)
from helpdesk.storage import BlobMissing
from helpdesk.tickets.forms import CloseForm, ReplyForm
from helpdesk.tickets.models import Status, Ticket

bp = Blueprint("notify", __name__)

PAGE = 50


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name, "")
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


# ----------------------------------------------------------------------------- admin outbox


@bp.get("/admin/outbox")
@role_required(Role.ADMIN)
def outbox():
    status = request.args.get("status") or None
    stmt = sa.select(OutgoingEmail).order_by(OutgoingEmail.id.desc()).limit(PAGE + 1)
    if status:
        try:
            stmt = stmt.where(OutgoingEmail.status == MailStatus(status))
        except ValueError:
            raise NotFound("No such status.") from None
    before = _int_arg("before")
    if before is not None:
        stmt = stmt.where(OutgoingEmail.id < before)
    rows = list(db.session.scalars(stmt))
    next_before = rows[PAGE - 1].id if len(rows) > PAGE else None
    return render_template("notify/outbox.html", mails=rows[:PAGE], next_before=next_before, status=status,
                           counts=mailer.mail_counts(), statuses=list(MailStatus))


@bp.get("/admin/outbox/<int:mail_id>")
@role_required(Role.ADMIN)
def outbox_mail(mail_id: int):
    mail = db.session.get(OutgoingEmail, mail_id)
    if mail is None:
        raise NotFound("No such mail.")
    return render_template("notify/outbox_mail.html", mail=mail)


@bp.post("/admin/outbox/<int:mail_id>/retry")
@role_required(Role.ADMIN)
def outbox_retry(mail_id: int):
    mail = db.session.get(OutgoingEmail, mail_id)
    if mail is None:
        raise NotFound("No such mail.")
    mailer.retry_failed(mail, actor_id=acting_user().id)
    flash("The mail is queued again.", "success")
    return redirect(url_for("notify.outbox_mail", mail_id=mail.id))


# ----------------------------------------------------------------------------- template globals


@bp.app_template_global()
def unread_notifications() -> int:
    user = acting_user()
    if not can_receive_notifications(user):
        return 0
    return services.unread_count(user.id)


@bp.app_template_global()
def notify_attachments(ticket, include_internal: bool = False) -> dict[int, list]:
    return files.for_ticket(ticket, include_internal=include_internal)


@bp.app_template_global()
def csat_survey(ticket):
    return csat.survey_for(ticket)


@bp.app_template_global()
def csat_form() -> CsatForm:
    """An empty satisfaction form (the request page's, unless it came back with errors)."""
    return CsatForm(formdata=None)


@bp.app_template_global()
def attachment_hint() -> str:
    """What a patient may attach, in their language, with this site's limits."""
    settings = current_app.config["HELPDESK"]
    return _("Images (PNG, JPEG, GIF, WebP, HEIC) or PDF files: up to %(count)d, at most %(mb)s MB each.",
             count=settings.attachment_max_files, mb=f"{settings.attachment_max_bytes / 1_048_576:g}")


# Pages that accept files get a larger request limit than the 1 MB everything else has
# (the API's multipart endpoint sets the same in helpdesk.api.attachments).
UPLOAD_ENDPOINTS = {"patient.get_help", "patient.reply", "agent.reply"}


@bp.before_app_request
def _upload_limit() -> None:
    if request.endpoint in UPLOAD_ENDPOINTS:
        settings = current_app.config["HELPDESK"]
        request.max_content_length = settings.attachment_max_message_bytes + settings.max_request_bytes


# ----------------------------------------------------------------------------- staff notifications


@bp.get("/notifications")
@role_required(*STAFF)
def notifications():
    rows, next_before = services.notifications_page(acting_user().id, _int_arg("before"))
    return render_template("notify/notifications.html", rows=rows, next_before=next_before,
                           label=services.kind_label, unread=services.unread_count(acting_user().id))


@bp.post("/notifications/<int:notification_id>/read")
@role_required(*STAFF)
def notification_read(notification_id: int):
    row = services.mark_read(acting_user().id, notification_id)
    if request.form.get("open") == "1" and row.ticket_id is not None:
        ticket = db.session.get(Ticket, row.ticket_id)
        if ticket is not None:
            return redirect(url_for("agent.ticket_page", reference=ticket.reference))
    return redirect(url_for("notify.notifications"))


@bp.post("/notifications/read")
@role_required(*STAFF)
def notifications_read():
    services.mark_all_read(acting_user().id)
    return redirect(url_for("notify.notifications"))


# ----------------------------------------------------------------------------- preferences


@bp.route("/settings/notifications", methods=["GET", "POST"])
@role_required(Role.PATIENT, *STAFF)
def preferences():
    user = acting_user()
    if request.method == "POST":
        language = request.form.get("language", "")
        services.update_preferences(user, email=request.form.get("email") == "on", language=language)
        # a patient's pages follow the language just chosen (staff pages stay English)
        with language_of(user) if is_patient(user) else nullcontext():
            flash(_("Your notification settings are saved."), "success")
        return redirect(url_for("notify.preferences"))
    return render_template("notify/preferences.html", email=services.email_enabled(user), language=user.language)


# ----------------------------------------------------------------------------- attachments


def send_attachment(row):
    try:
        # read whole (files are small, bounded by ATTACHMENT_MAX_BYTES): no file handle outlives the request
        data = files.read_bytes(row.sha256)
    except BlobMissing:
        raise NotFound(N_("The file is no longer available.")) from None
    response = send_file(io.BytesIO(data), mimetype=row.content_type, as_attachment=True, download_name=row.filename,
                         conditional=False, etag=False, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def audit_download(user, row, ticket) -> None:
    if user.is_staff or user.role == Role.INTEGRATION:
        with unit_of_work():  # a read that is audited
            audit.record("attachment.downloaded", "ticket", ticket.reference, actor_id=user.id,
                         changes={"attachment_id": row.id})


@bp.get("/attachments/<int:attachment_id>")
@role_required(Role.PATIENT, *STAFF)
def download(attachment_id: int):
    user = acting_user()
    row, ticket = files.get_downloadable(user, attachment_id)
    audit_download(user, row, ticket)
    return send_attachment(row)


# ----------------------------------------------------------------------------- CSAT


@bp.route("/survey/<token>", methods=["GET", "POST"])
def survey(token: str):
    """The mail's link: no sign-in, nothing of the ticket shown, works once."""
    survey = csat.check_token(token)
    # the page speaks the language of the mail the link came in (the switcher still wins)
    g.link_language = db.session.scalar(
        sa.select(User.language).join(Ticket, Ticket.requester_id == User.id).where(Ticket.id == survey.ticket_id))
    refresh()
    form = CsatForm()
    if form.validate_on_submit():
        try:
            csat.answer_by_token(token, form.rating.data, form.comment.data)
        except ValidationFailed as err:
            _csat_errors(form, err)
        else:
            return render_template("notify/survey_thanks.html")
    return render_template("notify/survey.html", action=url_for("notify.survey", token=token), cform=form), (
        422 if request.method == "POST" else 200)


@bp.post("/requests/<reference>/survey")
@role_required(Role.PATIENT)
def survey_on_page(reference: str):
    user = acting_user()
    ticket = get_visible_ticket(user, reference)
    csat.check_answerable(user, ticket)  # not resolved yet, or answered already: a friendly 409
    form = CsatForm()
    if form.validate_on_submit():
        try:
            csat.answer_on_page(user, ticket, form.rating.data, form.comment.data)
        except ValidationFailed as err:
            _csat_errors(form, err)
        else:
            flash(_("Thank you for telling us how we did."), "success")
            return redirect(url_for("patient.request_page", reference=ticket.reference))
    # the request page again, with the errors next to the survey's fields
    return render_template("patient/request.html", ticket=ticket, form=ReplyForm(formdata=None),
                           close_form=CloseForm(), Status=Status, cform=form), 422


def _csat_errors(form: CsatForm, err: ValidationFailed) -> None:
    for name, messages in (err.fields or {"rating": [err.message]}).items():
        if name in form:
            form[name].errors = [translate(m) for m in messages]


# ----------------------------------------------------------------------------- inbound mail


@bp.get("/admin/mail")
@role_required(Role.ADMIN)
def held_mail():
    status = request.args.get("status", "held")
    stmt = sa.select(InboundMail).order_by(InboundMail.id.desc()).limit(PAGE + 1)
    if status != "all":
        try:
            stmt = stmt.where(InboundMail.status == InboundStatus(status))
        except ValueError:
            raise NotFound("No such status.") from None
    before = _int_arg("before")
    if before is not None:
        stmt = stmt.where(InboundMail.id < before)
    rows = list(db.session.scalars(stmt))
    return render_template("notify/held_mail.html", rows=rows[:PAGE], status=status, statuses=list(InboundStatus),
                           next_before=rows[PAGE - 1].id if len(rows) > PAGE else None)


def _inbound(mail_id: int) -> InboundMail:
    row = db.session.get(InboundMail, mail_id)
    if row is None:
        raise NotFound("No such mail.")
    return row


@bp.get("/admin/mail/<int:mail_id>")
@role_required(Role.ADMIN)
def held_mail_item(mail_id: int):
    row = _inbound(mail_id)
    preview: dict[str, str] = {}
    try:
        msg = inbound.parse(inbound.read_raw(row))
        preview = {"from": inbound.header(msg, "From") or "", "subject": inbound.header(msg, "Subject") or "",
                   "date": inbound.header(msg, "Date") or "", "text": inbound.body_text(msg)[:20_000]}
    except Exception:  # shown as "could not be read"; the raw download still works
        preview = {}
    with unit_of_work():  # a read that is audited
        audit.record("inbound_mail.viewed", "inbound_mail", row.id, actor_id=acting_user().id)
    return render_template("notify/held_mail_item.html", row=row, preview=preview)


@bp.get("/admin/mail/<int:mail_id>/raw")
@role_required(Role.ADMIN)
def held_mail_raw(mail_id: int):
    row = _inbound(mail_id)
    try:
        data = inbound.read_raw(row)
    except BlobMissing:
        raise NotFound("The original is no longer available.") from None
    with unit_of_work():  # a read that is audited
        audit.record("inbound_mail.downloaded", "inbound_mail", row.id, actor_id=acting_user().id)
    response = send_file(io.BytesIO(data), mimetype="message/rfc822", as_attachment=True, download_name=f"mail-{row.id}.eml",
                         conditional=False, etag=False, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.post("/admin/mail/<int:mail_id>/release")
@role_required(Role.ADMIN)
def held_mail_release(mail_id: int):
    row = inbound.release(_inbound(mail_id), actor=acting_user())
    flash("A new request was created from this mail.", "success")
    return redirect(url_for("notify.held_mail_item", mail_id=row.id))


@bp.post("/admin/mail/<int:mail_id>/dismiss")
@role_required(Role.ADMIN)
def held_mail_dismiss(mail_id: int):
    inbound.dismiss(_inbound(mail_id), actor=acting_user())
    flash("Mail dismissed.", "success")
    return redirect(url_for("notify.held_mail"))
