"""The portal's one-use sign-in link (``helpdesk.auth.portal``).

Routes
* ``GET /patient-link/<token>`` — anyone. A good link ends whatever session this browser
  had, signs its patient in (a normal patient session, ``helpdesk.auth.sessions``; a
  patient who turned on two-step sign-in still gives the code) and lands on *My requests*.
  An expired, used or tampered link gets a page, in the patient's language when the link
  named one (else the browser's), that says so and how to sign in normally (410).
"""

from __future__ import annotations

from flask import Blueprint, g, make_response, redirect, render_template, session, url_for
from flask_login import current_user, login_user, logout_user

from helpdesk.auth import portal, services, sessions
from helpdesk.extensions import limiter

bp = Blueprint("portal_link", __name__)

#: Per client address: a link is opened once, right after the portal made it.
LINK_LIMIT = "30 per minute"


def _private(response):
    # the address holds the link's token: not kept in caches (the refusal page also sends no referrer)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/patient-link/<token>")
@limiter.limit(LINK_LIMIT)
def open_link(token: str):
    try:
        user = portal.open_link(token)
    except portal.InvalidPatientLink as err:
        if err.user is not None:
            g.link_language = err.user.language  # the page speaks the patient's language
        return _private(make_response(render_template("auth/patient_link.html", reason=err.reason), 410))
    if current_user.is_authenticated:  # someone else (or an older session) in this browser: ended first
        services.sign_out(current_user._get_current_object(), sessions.current())
        logout_user()
    session.clear()  # a fresh session at sign-in (no fixation)
    login_user(user)  # a new server-side session with a new key (helpdesk.security)
    target = url_for("patient.my_requests")
    row = sessions.current()
    if row is not None and not row.mfa_passed:
        session["after_mfa"] = target
        target = url_for("auth.mfa_verify")
    return _private(redirect(target))
