from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length

from helpdesk.auth.password_forms import PasswordLength


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=128)])


class RegisterForm(FlaskForm):
    name = StringField(_l("Your name"), validators=[DataRequired(), Length(max=120)])
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(_l("Enter a valid email address.")), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), PasswordLength()])
    confirm = PasswordField(_l("Repeat password"),
                            validators=[DataRequired(), EqualTo("password", _l("Passwords don't match."))])


class MfaCodeForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=32)])


class PasswordConfirmForm(FlaskForm):
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=128)])
