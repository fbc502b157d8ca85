"""Knowledge-base forms. The services validate every value (one source of truth);
these forms carry CSRF, labels and the fields' errors back to the page."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    widgets,
)
from wtforms.validators import Optional

from helpdesk.formutil import choices
from helpdesk.kb.models import DEFAULT_REVIEW_INTERVAL_DAYS, Audience, Language


class CheckboxesField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()

    def pre_validate(self, form) -> None:  # the service checks the queues exist
        pass


class ArticleForm(FlaskForm):
    title = StringField("Title")
    summary = TextAreaField("Summary")
    body_md = TextAreaField("Article (Markdown)")
    category = StringField("Category")
    queues = CheckboxesField("Related queues", choices=[], validators=[Optional()])
    audience = RadioField("Audience", choices=choices((a.value, a.label) for a in Audience),
                          default=Audience.PUBLIC.value)
    language = SelectField("Language", choices=choices((lang.value, lang.label) for lang in Language),
                           default=Language.EN.value)
    review_interval_days = StringField("Review every (days)", default=str(DEFAULT_REVIEW_INTERVAL_DAYS))
    note = StringField("What changed (optional)")
    version = HiddenField()

    def data_for_service(self) -> dict:
        return {
            "title": self.title.data or "", "summary": self.summary.data or "", "body_md": self.body_md.data or "",
            "category": self.category.data or "", "queues": list(self.queues.data or []),
            "audience": self.audience.data, "language": self.language.data,
            "review_interval_days": self.review_interval_days.data,
        }


class FromTicketForm(ArticleForm):
    confirm = BooleanField("I confirm this contains no patient information")


class VersionForm(FlaskForm):
    """Status changes, "reviewed" and restores carry the version the page showed."""

    version = HiddenField()
    status = HiddenField()


class FeedbackForm(FlaskForm):
    helpful = HiddenField()
    reason = TextAreaField(_l("Anything we should know? (optional)"))


class DeflectForm(FlaskForm):
    article_id = HiddenField()
    query_length = HiddenField(default="0")
    source = HiddenField(default="get_help")


class LinkForm(FlaskForm):
    article_id = HiddenField()


class SearchForm(FlaskForm):
    q = StringField(_l("Search the help centre"))
    language = SelectField(_l("Language"), choices=choices([("", _l("All languages"))] + [(lang.value, lang.label)
                                                                                     for lang in Language]),
                           default="", validators=[Optional()])


class ActionForm(FlaskForm):
    pass
