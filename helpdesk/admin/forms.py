from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional

from helpdesk.auth.models import Role
from helpdesk.formutil import choices


class UserForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    role = SelectField("Role", choices=choices((r.value, r.value.capitalize()) for r in Role if r != Role.INTEGRATION))
    password = PasswordField("Initial password", validators=[DataRequired(), Length(min=8, max=128)])


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
