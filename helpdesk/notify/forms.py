"""The satisfaction form ("How did we do?"): on the request page and behind the mail's
link. The service (``csat``) checks the answer again; these give early messages tied
to the fields, in the patient's language."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, TextAreaField
from wtforms.validators import AnyOf, InputRequired, Length

from helpdesk.formutil import choices
from helpdesk.notify.csat import MAX_COMMENT

RATINGS = ("good", "bad")


class CsatForm(FlaskForm):
    rating = RadioField(
        _l("Your answer"), choices=choices([("good", _l("Good")), ("bad", _l("Bad"))]), validate_choice=False,
        validators=[InputRequired(_l("Choose Good or Bad.")), AnyOf(RATINGS, _l("Choose Good or Bad."))],
    )
    comment = TextAreaField(
        _l("Comment (optional)"), id="csat-comment",
        validators=[Length(max=MAX_COMMENT, message=_l("At most %(max)d characters."))],
        render_kw={"maxlength": MAX_COMMENT},
    )
