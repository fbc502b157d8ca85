"""Password pages: forgot, reset by link, change; the agent's identity check.

Routes
* ``GET/POST /password/forgot`` — anyone; always the same answer page.
* ``GET/POST /password/reset/<secret>`` — anyone holding a valid link.
* ``GET/POST /account/password`` — any signed-in user.
* ``POST /agent/tickets/<reference>/identity-check`` — staff of the ticket's queue.
* ``POST /agent/tickets/<reference>/reset-link`` — staff of the ticket's queue, after a pass.
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, g, make_response, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user

from helpdesk.auth import activation, identity, password_rules, passwords, sessions
from helpdesk.auth.password_forms import (
    ChangePasswordForm,
    ForgotPasswordForm,
    IdentityCheckForm,
    ResetPasswordForm,
    SendResetLinkForm,
)
from helpdesk.auth.throttle import TooManyAttempts
from helpdesk.errors import DomainError
from helpdesk.extensions import limiter
from helpdesk.i18n import translate
from helpdesk.notify.mail import sends_mail
from helpdesk.permissions import STAFF, can_check_identity, get_visible_ticket, role_required
from helpdesk.tickets.ticket_page import render_ticket_page

bp = Blueprint("passwords", __name__)

#: Per client IP; the per-address limit is in ``passwords.request_reset``.
FORGOT_LIMIT = "5 per 15 minutes;20 per day"
RESET_LIMIT = "20 per 15 minutes"


def _me():
    return current_user._get_current_object()


def _show_errors(form, err: DomainError) -> None:
    placed = False
    for name, messages in (err.fields or {}).items():
        if name in form:
            form[name].errors = [translate(m) for m in messages]
            placed = True
    if not placed:
        flash(translate(err.message), "error")


def _reset_page(form, *, valid: bool, status: int):
    response = make_response(render_template("auth/reset_password.html", form=form, valid=valid), status)
    # The page's address holds the secret: never send it on as a Referer, never cache the page.
    # (the template adds <meta name="referrer" content="no-referrer">: the app-wide header is set later)
    response.headers["Cache-Control"] = "no-store"
    return response


# ------------------------------------------------------------------ self-service


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(FORGOT_LIMIT, methods=["POST"])
def forgot():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        passwords.request_reset(form.email.data)
        # The same answer whether or not an account exists for the address.
        return render_template("auth/forgot_password.html", form=form, sent=True), 200
    return render_template("auth/forgot_password.html", form=form, sent=False), 422 if form.errors else 200


@bp.route("/password/reset/<secret>", methods=["GET", "POST"])
@limiter.limit(RESET_LIMIT, methods=["POST"])
def reset(secret: str):
    token = passwords.find_reset_token(secret)  # GET only looks: the link is used up by a successful POST
    if token is None:
        return _reset_page(None, valid=False, status=410)
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            passwords.complete_reset(secret, form.password.data)
        except passwords.InvalidResetLink:
            return _reset_page(None, valid=False, status=410)
        except DomainError as err:
            _show_errors(form, err)
        else:
            if current_user.is_authenticated:
                logout_user()  # every session ended, this one too
            session.clear()
            flash(_("Your password has been changed. Sign in with your new password."), "success")
            return redirect(url_for("auth.login"))
    status = 422 if form.errors else 200
    return _reset_page(form, valid=True, status=status)


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change():
    form = ChangePasswordForm()
    status = 200
    if form.validate_on_submit():
        me = _me()
        try:
            passwords.change_password(me, current_password=form.current_password.data,
                                      new_password=form.password.data)
        except TooManyAttempts as err:
            flash(_(err.message, minutes=err.minutes), "error")
            status = 429
        except DomainError as err:
            _show_errors(form, err)
            status = err.status
        else:
            # Every other session has ended; this browser continues with a fresh one.
            sessions.restart(me)  # a new key; MFA passed in this browser stays passed
            flash(_("Your password has been changed. You have been signed out everywhere else."), "success")
            return redirect(url_for("passwords.change"))
    if form.errors and status == 200:
        status = 422
    return render_template("auth/change_password.html", form=form), status


# ------------------------------------------------------------------ agent-assisted


@bp.app_context_processor
def _policy_numbers():
    """What the sign-in pages state, read where it is enforced when the page renders:
    password limits, link lifetimes, and whether mail leaves this help desk at all."""
    return {"password_min": password_rules.MIN_PASSWORD,
            "reset_link_minutes": int(passwords.RESET_TTL.total_seconds() // 60),
            "email_confirmation_hours": int(activation.LINK_TTL.total_seconds() // 3600),
            "mail_is_sent": sends_mail(),
            "helpdesk_phone": current_app.config["HELPDESK"].helpdesk_phone}


@bp.app_context_processor
def _identity_panel():
    def identity_panel(ticket):
        me = _me() if current_user.is_authenticated else None
        if not can_check_identity(me):
            return {"applicable": False}
        state = identity.panel(me, ticket)
        state["form"] = g.get("identity_form") or IdentityCheckForm()
        state["send_form"] = SendResetLinkForm()
        state["labels"] = identity.LABELS
        return state

    return {"identity_panel": identity_panel}


def _ticket_page_with(ticket, status: int):
    return render_ticket_page(ticket, status=status)


@bp.post("/agent/tickets/<reference>/identity-check")
@role_required(*STAFF)
def identity_check(reference: str):
    ticket = get_visible_ticket(_me(), reference)
    form = IdentityCheckForm()
    g.identity_form = form
    if not form.validate_on_submit():
        flash("Please check the identity form and try again.", "error")
        return _ticket_page_with(ticket, 422)
    was_unverified = ticket.identity_unverified
    try:
        check = identity.check_identity(
            agent=_me(), ticket=ticket, date_of_birth=form.date_of_birth.data, mrn=form.mrn.data,
            phone_last4=form.phone_last4.data, address_zip=form.address_zip.data,
            account_email=form.account_email.data,
        )
    except DomainError as err:
        for name, messages in (err.fields or {}).items():
            if name in form:
                form[name].errors = list(messages)
        flash(err.message, "error")
        return _ticket_page_with(ticket, err.status)
    # Redirect either way: nothing typed is shown again.
    if check.passed and was_unverified:
        flash("Identity check passed: this request is now linked to the account it named. You can send the "
              "password reset link to the e-mail address on file.", "success")
    elif check.passed:
        flash("Identity check passed. You can send the password reset link to the e-mail address on file.", "success")
    else:
        flash("Identity check failed: fewer than two identifiers match what is on file. Don't give any account "
              "details to the caller.", "error")
    return redirect(url_for("agent.ticket_page", reference=ticket.reference))


@bp.post("/agent/tickets/<reference>/reset-link")
@role_required(*STAFF)
def send_reset_link(reference: str):
    ticket = get_visible_ticket(_me(), reference)
    if not SendResetLinkForm().validate_on_submit():
        flash("Please try again.", "error")
        return _ticket_page_with(ticket, 400)
    try:
        identity.send_reset_link(agent=_me(), ticket=ticket)
    except DomainError as err:
        flash(err.message, "error")
        return _ticket_page_with(ticket, err.status)
    minutes = int(passwords.RESET_TTL.total_seconds() // 60)
    if sends_mail():
        flash(f"Password reset link sent to the patient's e-mail address on file. It works once, for {minutes} "
              "minutes.", "success")
    else:
        flash("Password reset link prepared but NOT e-mailed: no mail server is set up (SMTP_HOST), so it is kept "
              "unsent in the outbox. The patient will not receive it.", "warning")
    return redirect(url_for("agent.ticket_page", reference=ticket.reference))
