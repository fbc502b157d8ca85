"""The language switcher in the page header."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, session, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField

from helpdesk.i18n import SESSION_KEY, services, supported
from helpdesk.permissions import can_choose_language
from helpdesk.urls import safe_next

bp = Blueprint("i18n", __name__)


class LanguageForm(FlaskForm):
    language = HiddenField()
    next = HiddenField()


def _safe_next(target: str | None) -> str:
    return safe_next(target) or url_for("core.index")


@bp.post("/language")
def switch():
    """Set the language of the patient pages: for this browser, and on the profile of a
    signed-in patient. Goes back to the page it was chosen on."""
    form = LanguageForm()
    if not form.validate_on_submit():
        abort(400)
    code = supported(form.language.data)
    if code is None:
        abort(400)
    session[SESSION_KEY] = code
    if current_user.is_authenticated and can_choose_language(current_user):
        services.set_language(user=current_user._get_current_object(), language=code)
    return redirect(_safe_next(form.next.data))
