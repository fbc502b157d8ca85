"""Forms of the password pages and of the agent's identity check."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, InputRequired, Length, Optional, ValidationError

from helpdesk.auth import password_rules
from helpdesk.i18n import translate


class PasswordLength:
    """The password rules' length limits, read when the form is checked (not copied)."""

    def __call__(self, form, field) -> None:
        data = field.data or ""
        if not password_rules.MIN_PASSWORD <= len(data) <= password_rules.MAX_PASSWORD:
            raise ValidationError(translate(password_rules.length_range()))


_NEW_HINT_LENGTH = PasswordLength()


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(_l("Enter a valid email address.")), Length(max=254)])


class ResetPasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[InputRequired(), _NEW_HINT_LENGTH])
    confirm = PasswordField(_l("Repeat the new password"),
                            validators=[InputRequired(), EqualTo("password", _l("Passwords don't match."))])


class ChangePasswordForm(ResetPasswordForm):
    current_password = PasswordField(_l("Current password"), validators=[InputRequired(), Length(max=128)])


class IdentityCheckForm(FlaskForm):
    """Staff only (English). Nothing typed here is stored."""

    # only on a request from the "Can't sign in?" form: which account the caller claims
    account_email = StringField("Account e-mail address (as the caller gives it)",
                                validators=[Optional(), Length(max=254)])
    date_of_birth = StringField("Date of birth", validators=[Optional(), Length(max=20)])
    mrn = StringField("MRN", validators=[Optional(), Length(max=40)])
    phone_last4 = StringField("Phone, last 4 digits", validators=[Optional(), Length(max=10)])
    address_zip = StringField("ZIP code", validators=[Optional(), Length(max=12)])


class SendResetLinkForm(FlaskForm):
    pass
