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


EXPIRY_CHOICES = (("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("730", "2 years"), ("never", "Never"))
OVERLAP_CHOICES = (("0", "Revoke the old secret now"), ("60", "Keep the old secret 1 hour"),
                   ("1440", "Keep the old secret 24 hours"))


class TokenForm(FlaskForm):
    name = StringField("Token name", validators=[DataRequired(), Length(max=80)])
    scope_read = BooleanField("read: list and read requests, download files, read the roster", default=True)
    scope_create = BooleanField("create: create requests, messages and files", default=True)
    scope_manage = BooleanField("manage: change requests (status, queue, assignee), change the roster",
                                default=True)
    expires = SelectField("Expires after", choices=choices(EXPIRY_CHOICES), default="365")

    def scopes(self) -> list[str]:
        return [name for name in ("read", "create", "manage") if getattr(self, f"scope_{name}").data]

    def expires_in_days(self) -> int | None:
        return None if self.expires.data == "never" else int(self.expires.data)


class RotateTokenForm(FlaskForm):
    overlap = SelectField("Old secret", choices=choices(OVERLAP_CHOICES), default="0")


class ActionForm(FlaskForm):
    """CSRF-only form for one-button actions."""


class CalendarForm(FlaskForm):
    """A business calendar: name, IANA time zone, working hours per weekday, holidays."""
    name = StringField("Name", validators=[DataRequired(), Length(max=80)])
    timezone = StringField("Time zone", validators=[DataRequired(), Length(max=64)])  # default: the site's zone
    hours_mon = StringField("Monday", validators=[Length(max=200)], default="08:00-18:00")
    hours_tue = StringField("Tuesday", validators=[Length(max=200)], default="08:00-18:00")
    hours_wed = StringField("Wednesday", validators=[Length(max=200)], default="08:00-18:00")
    hours_thu = StringField("Thursday", validators=[Length(max=200)], default="08:00-18:00")
    hours_fri = StringField("Friday", validators=[Length(max=200)], default="08:00-18:00")
    hours_sat = StringField("Saturday", validators=[Length(max=200)])
    hours_sun = StringField("Sunday", validators=[Length(max=200)])
    us_federal = BooleanField("United States federal holidays (observed dates)", default=True)
    holidays = TextAreaField("Local holidays", validators=[Length(max=5000)])


class SlaPolicyForm(FlaskForm):
    """An SLA policy's name, conditions and calendar; the targets grid is read by
    ``helpdesk.sla.policy_admin.targets_from_form``."""
    name = StringField("Name", validators=[DataRequired(), Length(max=80)])
    queue_id = SelectField("Queue", choices=[], validate_choice=False)  # the service checks it, with its message
    priority = SelectField("Priority", choices=[], validate_choice=False)  # the service checks it, with its message
    channel = SelectField("Channel", choices=[], validate_choice=False)  # the service checks it, with its message
    position = StringField("Position", default="100")
    calendar_id = SelectField("Business calendar", choices=[], validate_choice=False)  # the service checks it, with its message
    warn_percent = StringField("Warn at (% of the target)", default="75")
    active = BooleanField("Active", default=True)


class QueueSettingsForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=80)])
    name_es = StringField("Name in Spanish", validators=[Length(max=120)])
    calendar_id = SelectField("Business calendar", choices=[], validate_choice=False)  # the service checks it, with its message
    default_policy_id = SelectField("Default SLA policy", choices=[], validate_choice=False)  # the service checks it, with its message
    assignment = SelectField("Automatic assignment", choices=[], validate_choice=False)  # the service checks it, with its message
    active = BooleanField("Active")


class WebhookForm(FlaskForm):
    """A webhook endpoint; its events are checkboxes named ``events`` (read from the form)."""
    url = StringField("URL", validators=[DataRequired(), Length(max=500)])
    description = StringField("Description", validators=[Optional(), Length(max=200)])
    allow_phi = BooleanField("May receive PHI: the request's subject and message, survey comments", default=False)
    active = BooleanField("Active", default=True)
