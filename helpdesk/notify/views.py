"""Notify pages: the admin outbox (and, further down, staff notifications, patient
settings, attachments and surveys)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for

from helpdesk.auth.models import Role
from helpdesk.errors import NotFound
from helpdesk.extensions import db
from helpdesk.notify import mail as mailer
from helpdesk.notify.models import MailStatus, OutgoingEmail
from helpdesk.permissions import acting_user, role_required

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
