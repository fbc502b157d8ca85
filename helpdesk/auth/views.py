"""Sign in, sign out and patient registration."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm

from helpdesk.auth import activation, mfa, services, sessions
from helpdesk.auth.forms import LoginForm, MfaCodeForm, PasswordConfirmForm, RegisterForm
from helpdesk.auth.throttle import TooManyAttempts
from helpdesk.errors import DomainError
from helpdesk.extensions import limiter
from helpdesk.i18n import N_, current_language, translate
from helpdesk.notify.mail import sends_mail
from helpdesk.urls import safe_next
from helpdesk.viewer_time import site_zone_name, zone_names

bp = Blueprint("auth", __name__)

GENERIC_FAILURE = N_("That email and password don't match an account. Check them and try again.")


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
        except services.LocalPasswordDisabled:
            flash(_("Staff sign in with %(provider)s, not with a help desk password. Use the button below.",
                    provider=current_app.config["HELPDESK"].oidc_provider_name), "error")
            return render_template("auth/login.html", form=form), 403
        if user is not None:
            session.clear()  # a fresh session at sign-in (no fixation)
            login_user(user)  # opens a server-side session with a new key (helpdesk.security)
            target = safe_next(request.args.get("next"))
            row = sessions.current()
            if row is not None and not row.mfa_passed:
                if target:
                    session["after_mfa"] = target
                return redirect(url_for("auth.mfa_verify" if user.mfa_enabled else "auth.mfa_enrol"))
            return redirect(target or url_for("core.index"))
        flash(_(GENERIC_FAILURE), "error")
    elif request.method == "POST":
        flash(_(GENERIC_FAILURE), "error")
    return render_template("auth/login.html", form=form), 200


@bp.post("/logout")
@login_required
def logout():
    row = sessions.current()
    via_sso = row is not None and row.method == sessions.SSO
    services.sign_out(current_user._get_current_object(), row)
    logout_user()
    session.clear()
    settings = current_app.config["HELPDESK"]
    if via_sso and settings.sso_enabled:
        # RP-initiated logout: the provider's session ends too, when it offers the endpoint.
        # A page, not a redirect: the sign-out form's CSP (form-action 'self') would block one.
        from helpdesk.auth import sso_protocol  # lazy: Authlib, requests and joserfc load only for single sign-on

        provider_logout = sso_protocol.logout_url(settings, settings.external_url + url_for("auth.login"))
        if provider_logout:
            page = render_template("auth/signed_out_sso.html", provider_logout=provider_logout,
                                   provider=settings.oidc_provider_name)
            flash(_("You have signed out."), "info")  # for the sign-in page the provider sends the browser back to
            return page
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
            if sends_mail():
                flash(_("Welcome! Your account is created. We are e-mailing a link to %(email)s: open it to confirm "
                        "your e-mail address.", email=user.email), "info")
            else:
                flash(_("Welcome! Your account is created. A link to confirm %(email)s has been prepared, but it is "
                        "not e-mailed.", email=user.email), "info")
            return redirect(url_for("auth.verify_email_page"))
    return render_template("auth/register.html", form=form), 422 if form.errors else 200


def _me():
    return current_user._get_current_object()


def _after_sign_in() -> str:
    return safe_next(session.pop("after_mfa", None)) or url_for("core.index")


def _mfa_limit() -> str:
    return current_app.config["HELPDESK"].login_rate_limit


# ---------------------------------------------------------------- second sign-in step


@bp.route("/login/mfa", methods=["GET", "POST"])
@limiter.limit(_mfa_limit, methods=["POST"], error_message=N_("Too many attempts. Wait a minute and try again."))
@login_required
def mfa_verify():
    row = sessions.current()
    user = _me()
    if row is None or row.mfa_passed or not user.mfa_enabled:
        return redirect(url_for("core.index"))
    form = MfaCodeForm()
    if form.validate_on_submit():
        outcome = mfa.verify(row, form.code.data)
        if outcome is mfa.Outcome.PASSED:
            return redirect(_after_sign_in())
        if outcome is mfa.Outcome.LOCKED:
            logout_user()
            session.clear()
            flash(_("Too many wrong codes. Sign in again with your password."), "error")
            return redirect(url_for("auth.login"))
        form.code.errors = [_("That code didn't work. Enter the code your app shows now, or a recovery code.")]
    return render_template("auth/mfa_verify.html", form=form), 422 if form.errors else 200


# ---------------------------------------------------------------- account security (MFA on/off)


@bp.get("/account/security")
@login_required
def security():
    return _security_page()


def _security_page(zone_error: str | None = None, status: int = 200):
    user = _me()
    return render_template("auth/security.html", user=user, disable_form=PasswordConfirmForm(),
                           recovery_left=mfa.unused_recovery_codes(user) if user.mfa_enabled else 0,
                           zone_form=FlaskForm(), zones=zone_names(), site_zone=site_zone_name(),
                           zone_error=zone_error), status


@bp.post("/account/time-zone")
@login_required
def set_timezone():
    """The time zone every time is shown in for this person (blank: the site's)."""
    if not FlaskForm().validate_on_submit():
        return _security_page(_("Your session expired. Please try again."), 400)
    try:
        services.set_timezone(user=_me(), timezone=request.form.get("timezone", ""))
    except DomainError as err:
        return _security_page(translate(err.message), err.status)
    flash(_("Times are now shown in %(zone)s.", zone=_me().timezone or site_zone_name()), "success")
    return redirect(url_for("auth.security"))


@bp.route("/account/mfa/enrol", methods=["GET", "POST"])
@limiter.limit(_mfa_limit, methods=["POST"], error_message=N_("Too many attempts. Wait a minute and try again."))
@login_required
def mfa_enrol():
    user = _me()
    if user.role.value == "integration":
        abort(404)
    if user.mfa_enabled:
        flash(_("Two-step sign-in is already on."), "info")
        return redirect(url_for("auth.security"))
    secret = mfa.begin_enrolment(user)
    form = MfaCodeForm()
    if form.validate_on_submit():
        try:
            codes = mfa.confirm_enrolment(user, form.code.data, sessions.current())
        except DomainError as err:
            form.code.errors = [translate(m) for m in (err.fields or {}).get("code", [err.message])]
        else:
            return render_template("auth/mfa_recovery_codes.html", codes=codes, next_url=_after_sign_in())
    uri = mfa.provisioning_uri(user)
    return render_template("auth/mfa_enrol.html", form=form, secret=secret, qr=mfa.qr_svg_data_uri(uri),
                           required=user.mfa_required), 422 if form.errors else 200


@bp.post("/account/mfa/disable")
@login_required
def mfa_disable():
    user = _me()
    if user.mfa_required:  # staff keep their second factor: not even a form to try
        abort(403)
    form = PasswordConfirmForm()
    if not form.validate_on_submit():
        flash(_("Enter your password to turn off two-step sign-in."), "error")
        return redirect(url_for("auth.security"))
    try:
        mfa.disable(user, form.password.data)
    except DomainError as err:
        if err.status == 403:
            raise
        flash(translate(err.message), "error")
        return redirect(url_for("auth.security"))
    flash(_("Two-step sign-in is off."), "info")
    return redirect(url_for("auth.security"))


# ---------------------------------------------------------------- idle timeout (the page's warning)


@bp.get("/session/status")
@login_required
def session_status():
    """How long this session has before the idle timeout. The warning script sends it as
    a background request: asking doesn't count as activity."""
    row = sessions.current()
    if row is None:
        abort(404)
    return jsonify({"remaining_seconds": sessions.remaining_idle_seconds(row, _me())})


@bp.post("/session/keep-alive")
@login_required
def keep_alive():
    """"Stay signed in": a user action, so loading the user already counted it as activity."""
    row = sessions.current()
    if row is None:
        abort(404)
    return jsonify({"remaining_seconds": sessions.remaining_idle_seconds(row, _me())})


# ---------------------------------------------------------------- confirming the e-mail address

#: Per client address (the limiter's storage); the per-account limit is in ``activation.resend``.
RESEND_LIMIT = "5 per hour"
VERIFY_LIMIT = "30 per hour"


class _ConfirmForm(FlaskForm):
    """Only the CSRF token."""


@bp.get("/account/verify-email")
@login_required
def verify_email_page():
    user = _me()
    if not activation.needs_verification(user):
        return redirect(url_for("core.index"))
    return render_template("auth/verify_email.html", user=user, form=_ConfirmForm(), state="waiting")


def _nothing_to_resend() -> bool:  # these requests only redirect: they don't count
    return not (current_user.is_authenticated and activation.needs_verification(_me()))


@bp.post("/account/verify-email/resend")
@limiter.limit(RESEND_LIMIT, exempt_when=_nothing_to_resend,
               error_message=N_("Too many attempts. Please wait a minute and try again."))
@login_required
def verify_email_resend():
    user = _me()
    if not activation.needs_verification(user):
        return redirect(url_for("core.index"))
    status = 200
    if not _ConfirmForm().validate_on_submit():
        flash(_("Please try again."), "error")
        status = 400
    else:
        try:
            activation.resend(user)
        except TooManyAttempts as err:
            flash(_(err.message, minutes=err.minutes), "error")
            status = 429
        else:
            hours = int(activation.LINK_TTL.total_seconds() // 3600)
            if sends_mail():
                flash(_("We are e-mailing a new link to %(email)s. It works for %(hours)d hours.", email=user.email,
                        hours=hours), "success")
            else:
                flash(_("A new link for %(email)s has been prepared, but it is not e-mailed.", email=user.email),
                      "info")
            return redirect(url_for("auth.verify_email_page"))
    return render_template("auth/verify_email.html", user=user, form=_ConfirmForm(), state="waiting"), status


def _link_page(state: str, status: int, form=None):
    response = make_response(render_template("auth/verify_email.html", user=None, form=form or _ConfirmForm(),
                                             state=state), status)
    response.headers["Cache-Control"] = "no-store"  # the address holds the link's secret
    return response


@bp.route("/account/verify-email/<token>", methods=["GET", "POST"])
@limiter.limit(VERIFY_LIMIT, methods=["POST"])
def verify_email_link(token: str):
    """GET only looks (mail scanners open links); the button POSTs."""
    try:
        user = activation.account_for(token)
    except activation.InvalidActivationLink:
        return _link_page("invalid", 410)
    if user.email_verified:
        return _link_page("already", 200)
    form = _ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        activation.confirm(token)
        flash(_("Thank you: your e-mail address is confirmed."), "success")
        signed_in_as_owner = current_user.is_authenticated and _me().id == user.id
        return redirect(url_for("patient.my_requests") if signed_in_as_owner else url_for("auth.login"))
    return _link_page("confirm", 200 if request.method == "GET" else 400, form)
