"""Sign in, sign out and patient registration."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from helpdesk.auth import services
from helpdesk.auth.forms import LoginForm, RegisterForm
from helpdesk.auth.throttle import TooManyAttempts
from helpdesk.errors import DomainError
from helpdesk.extensions import limiter
from helpdesk.i18n import N_, current_language, translate

bp = Blueprint("auth", __name__)

GENERIC_FAILURE = N_("That email and password don't match an account. Check them and try again.")


def safe_next(target: str | None) -> str | None:
    """Only same-site relative paths are followed after sign-in."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


def _login_limit() -> str:
    return current_app.config["HELPDESK"].login_rate_limit


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], error_message=GENERIC_FAILURE)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("core.index"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.email.data, form.password.data)
        except TooManyAttempts as err:  # the same for every address, known or not
            flash(_(err.message, minutes=err.minutes), "error")
            return render_template("auth/login.html", form=form), 429
        if user is not None:
            session.clear()  # a fresh session at sign-in (no fixation)
            login_user(user)
            return redirect(safe_next(request.args.get("next")) or url_for("core.index"))
        flash(_(GENERIC_FAILURE), "error")
    elif request.method == "POST":
        flash(_(GENERIC_FAILURE), "error")
    return render_template("auth/login.html", form=form), 200


@bp.post("/logout")
@login_required
def logout():
    services.sign_out(current_user._get_current_object())
    logout_user()
    session.clear()
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/register", methods=["GET", "POST"])
def register():
    if current_user.is_authenticated:
        return redirect(url_for("core.index"))
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = services.register_patient(email=form.email.data, name=form.name.data, password=form.password.data,
                                             language=current_language())
        except DomainError as err:
            for field, messages in (err.fields or {}).items():
                if field in form:
                    form[field].errors = [translate(m) for m in messages]
            if not err.fields:
                flash(translate(err.message), "error")
        else:
            session.clear()
            login_user(user)
            flash(_("Welcome! Your account is ready."), "info")
            return redirect(url_for("patient.my_requests"))
    return render_template("auth/register.html", form=form), 422 if form.errors else 200
