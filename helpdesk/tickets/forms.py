from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import BooleanField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from helpdesk.formutil import choices
from helpdesk.tickets.models import Priority, Status

# The field limits are enforced again by the services (the one source of truth);
# these give the patient an early, friendly message.
SUBJECT_MAX = 200
BODY_MAX = 20_000
ATTACHMENT_ACCEPT = "image/png,image/jpeg,image/gif,image/webp,image/heic,application/pdf"


class HelpRequestForm(FlaskForm):
    subject = StringField(_l("What do you need help with?"), validators=[DataRequired(), Length(max=SUBJECT_MAX)])
    body = TextAreaField(_l("Tell us more"), validators=[DataRequired(), Length(max=BODY_MAX)])
    # the same checks as a reply's files (helpdesk.notify.attachments); errors land on this field
    attachments = MultipleFileField(_l("Attach files (optional)"), render_kw={"accept": ATTACHMENT_ACCEPT})


class ReplyForm(FlaskForm):
    body = TextAreaField(_l("Your reply"), validators=[DataRequired(), Length(max=BODY_MAX)])
    # checked by content, size and number in helpdesk.notify.attachments (errors land on this field)
    attachments = MultipleFileField(_l("Attach files (optional)"), render_kw={"accept": ATTACHMENT_ACCEPT})


class CloseForm(FlaskForm):
    confirm = HiddenField(default="1")


class AgentReplyForm(FlaskForm):
    # required, except with a macro that changes fields (its text may be empty): validate_body
    body = TextAreaField("Message", validators=[Length(max=BODY_MAX)])
    internal = BooleanField("Internal note (not shown to the patient)")
    next_status = SelectField(
        "Then set status",
        choices=choices([("", "Keep status")] + [(s.value, s.label) for s in Status if s != Status.NEW]),
        validators=[Optional()],
    )
    # A macro being applied: its priority/queue changes are made when the reply is sent.
    macro_id = HiddenField()
    # Closing with the patient's message unanswered: set by the confirmation step.
    confirm_close = HiddenField()

    def validate_body(self, field) -> None:
        if not (field.data or "").strip() and not self.macro_id.data:
            raise ValidationError("This field is required.")


class CorrectionForm(FlaskForm):
    body = TextAreaField("Corrected text", validators=[DataRequired(), Length(max=BODY_MAX)])


class UpdateForm(FlaskForm):
    status = SelectField("Status", choices=choices((s.value, s.label) for s in Status))
    priority = SelectField("Priority", choices=choices((p.value, p.value.capitalize()) for p in Priority))
    confirm_close = HiddenField()


class MoveForm(FlaskForm):
    queue_id = SelectField("Move to queue", coerce=int)
    reason = StringField("Reason", validators=[DataRequired(), Length(max=500)])


class AssignForm(FlaskForm):
    assignee_id = SelectField("Assignee", coerce=str)


class ClaimForm(FlaskForm):
    pass
