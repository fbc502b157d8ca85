"""The public "Can't sign in?" page (``helpdesk.auth.lockedout``).

Routes
* ``GET/POST /cant-sign-in`` — anyone, signed in or not. The answer is the same page for
  everyone who sends a valid form (whoever they are, and when the honeypot was filled);
  it says what is true: the request was received, how the help desk will reach them, no
  confirmation message is sent, and the help desk's phone number.
"""

from __future__ import annotations

import re

from flask import Blueprint, current_app, render_template
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from helpdesk.auth import lockedout
from helpdesk.auth.throttle import TooManyAttempts
from helpdesk.errors import DomainError
from helpdesk.extensions import limiter
from helpdesk.i18n import N_, current_language, translate
from helpdesk.tickets.forms import BODY_MAX

bp = Blueprint("lockedout", __name__)

#: Per client address, in the limiter's storage (Redis when configured: shared by every
#: host); the per-contact limit is in ``lockedout.submit`` (database).
CANT_SIGN_IN_LIMIT = "5 per hour;20 per day"
TOO_MANY_FROM_HERE = N_("We have received many requests from this connection. Please try again later, or call us.")


class CantSignInForm(FlaskForm):
    name = StringField(_l("Your full name"), validators=[DataRequired(), Length(max=120)])
    date_of_birth = StringField(_l("Date of birth"), validators=[DataRequired(), Length(max=40)])
    contact = StringField(_l("E-mail address or phone number where we can reach you"),
                          validators=[DataRequired(), Length(max=254)])
    details = TextAreaField(_l("What happened? (Don't write your password.)"),
                            validators=[DataRequired(), Length(max=BODY_MAX)])
    # The honeypot: hidden from people (CSS, aria-hidden, out of the tab order); a bot
    # that fills every field gets the usual answer and nothing is created.
    website = StringField(_l("Leave this field empty"))


def phone() -> dict[str, str]:
    number = current_app.config["HELPDESK"].helpdesk_phone
    return {"text": number, "tel": re.sub(r"[^\d+]", "", number)}


def _page(form: CantSignInForm, *, status: int, received: bool = False, emergency: bool = False,
          notice: str | None = None):
    return render_template("auth/cant_sign_in.html", form=form, received=received, emergency=emergency,
                           notice=notice, phone=phone()), status


@bp.errorhandler(429)
def _too_many(_err):  # the per-address limit: the page, with the phone number, instead of the bare error page
    return _page(CantSignInForm(formdata=None), status=429, notice=translate(TOO_MANY_FROM_HERE))


@bp.route("/cant-sign-in", methods=["GET", "POST"])
@limiter.limit(CANT_SIGN_IN_LIMIT, methods=["POST"])
def cant_sign_in():
    form = CantSignInForm()
    if not form.validate_on_submit():
        return _page(form, status=422 if form.errors else 200)
    if form.website.data:
        return _page(CantSignInForm(formdata=None), status=200, received=True)
    try:
        ticket = lockedout.submit(name=form.name.data, date_of_birth=form.date_of_birth.data,
                                  contact=form.contact.data, details=form.details.data, language=current_language())
    except TooManyAttempts as err:
        return _page(form, status=429, notice=translate(err.message))
    except DomainError as err:
        for field, messages in (err.fields or {}).items():
            if field in form:
                form[field].errors = [translate(m) for m in messages]
        return _page(form, status=422, notice=None if err.fields else translate(err.message))
    return _page(CantSignInForm(formdata=None), status=200, received=True, emergency=bool(ticket.emergency))
