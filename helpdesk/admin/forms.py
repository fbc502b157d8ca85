from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, Optional

from helpdesk.auth.models import Role
from helpdesk.formutil import choices


class UserForm(FlaskForm):
    """Invite a staff member: they choose their own password from the e-mailed link."""
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    role = SelectField("Role", choices=choices((r.value, r.value.capitalize())
                                               for r in (Role.AGENT, Role.SUPERVISOR, Role.ADMIN)))


class QueueForm(FlaskForm):
    slug = StringField("Slug", validators=[DataRequired(), Length(min=3, max=40)])
    name = StringField("Name", validators=[DataRequired(), Length(max=80)])
    description = StringField("Description", validators=[Optional(), Length(max=500)])


class MemberForm(FlaskForm):
    user_id = SelectField("Agent", coerce=int)


class TokenForm(FlaskForm):
    name = StringField("Token name", validators=[DataRequired(), Length(max=80)])


class ActionForm(FlaskForm):
    """CSRF-only form for one-button actions."""


class CalendarForm(FlaskForm):
    """A business calendar: name, IANA time zone, working hours per weekday, holidays."""
    name = StringField("Name", validators=[DataRequired(), Length(max=80)])
    timezone = StringField("Time zone", validators=[DataRequired(), Length(max=64)], default="America/New_York")
    hours_mon = StringField("Monday", validators=[Length(max=200)], default="08:00-18:00")
    hours_tue = StringField("Tuesday", validators=[Length(max=200)], default="08:00-18:00")
    hours_wed = StringField("Wednesday", validators=[Length(max=200)], default="08:00-18:00")
    hours_thu = StringField("Thursday", validators=[Length(max=200)], default="08:00-18:00")
    hours_fri = StringField("Friday", validators=[Length(max=200)], default="08:00-18:00")
    hours_sat = StringField("Saturday", validators=[Length(max=200)])
    hours_sun = StringField("Sunday", validators=[Length(max=200)])
    us_federal = BooleanField("United States federal holidays (observed dates)", default=True)
    holidays = TextAreaField("Local holidays", validators=[Length(max=5000)])


class WebhookForm(FlaskForm):
    """A webhook endpoint; its events are checkboxes named ``events`` (read from the form)."""
    url = StringField("URL", validators=[DataRequired(), Length(max=500)])
    description = StringField("Description", validators=[Optional(), Length(max=200)])
    allow_phi = BooleanField("May receive PHI: the request's subject and message, survey comments", default=False)
    active = BooleanField("Active", default=True)
