"""Staff single sign-on pages: to the hospital's provider and back (helpdesk.auth.sso).

Both routes are public (the person is not signed in yet) and answer 404 while single
sign-on is not configured. Sign-out is ``auth.logout``, which also ends the session at
the provider when this browser signed in through it."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user
from sqlalchemy.exc import IntegrityError

from helpdesk.auth import sessions, sso
from helpdesk.config import Settings
from helpdesk.extensions import limiter
from helpdesk.i18n import N_, translate
from helpdesk.urls import safe_next

bp = Blueprint("sso", __name__)

PENDING_KEY = "sso_pending"  # state, nonce and PKCE verifier between the two steps
NEXT_KEY = "sso_next"


def _settings() -> Settings:
    settings = current_app.config["HELPDESK"]
    if not settings.sso_enabled:
        abort(404)
    return settings


def _limit() -> str:
    return current_app.config["HELPDESK"].login_rate_limit


def redirect_uri(settings: Settings) -> str:
    """The callback address registered at the provider: EXTERNAL_URL + /login/sso/callback."""
    return settings.external_url + url_for("sso.callback")


def _refused(settings: Settings, refused: sso.SsoRefused):
    sso.record_refusal(settings, refused)
    status = 503 if refused.reason == "provider_unreachable" else 403
    return render_template("auth/sso_refused.html", message=translate(refused.message), reason=refused.reason,
                           provider=settings.oidc_provider_name), status


@bp.get("/login/sso")
@limiter.limit(_limit, error_message=N_("Too many attempts. Wait a minute and try again."))
def start():
    """"Sign in with …": to the provider's authorization page (code flow with PKCE)."""
    settings = _settings()
    if current_user.is_authenticated:
        return redirect(url_for("core.index"))
    from helpdesk.auth import sso_protocol  # lazy: Authlib, requests and joserfc load only for single sign-on

    try:
        url, pending = sso_protocol.begin(settings, redirect_uri(settings))
    except sso.SsoRefused as refused:
        return _refused(settings, refused)
    session[PENDING_KEY] = pending.as_dict()
    target = safe_next(request.args.get("next"))
    if target:
        session[NEXT_KEY] = target
    else:
        session.pop(NEXT_KEY, None)
    return redirect(url)


@bp.get("/login/sso/callback")
@limiter.limit(_limit, error_message=N_("Too many attempts. Wait a minute and try again."))
def callback():
    """Back from the provider: check everything, then open the same kind of server-side
    session a password sign-in opens (helpdesk.auth.sessions), marked as single sign-on."""
    from helpdesk.auth import sso_protocol  # lazy: Authlib, requests and joserfc load only for single sign-on

    settings = _settings()
    pending = sso.Pending.from_dict(session.pop(PENDING_KEY, None))  # one use: a replay finds nothing
    target = safe_next(session.pop(NEXT_KEY, None))
    try:
        claims = sso_protocol.finish(settings, request.args.to_dict(), pending, redirect_uri(settings))
        try:
            user = sso.sign_in(settings, claims)
        except IntegrityError:  # the same person's first sign-in in another tab created the account first
            user = sso.sign_in(settings, claims)
    except sso.SsoRefused as refused:
        return _refused(settings, refused)
    session.clear()  # a fresh session at sign-in (no fixation)
    sessions.signing_in_with(sessions.SSO)
    login_user(user)
    return redirect(target or url_for("core.index"))
