"""Template filters and globals."""

from __future__ import annotations

from datetime import datetime

from flask import Flask
from flask_babel import format_datetime, format_timedelta
from markupsafe import Markup, escape

from helpdesk.i18n import current_language
from helpdesk.tickets.models import Status
from helpdesk.tickets.next_step import next_steps, wording
from helpdesk.timeutil import utcnow
from helpdesk.viewer_time import local, viewer_zone_name


def init_templating(app: Flask) -> None:
    @app.template_filter("when")
    def when(value: datetime | str | None) -> str:
        """The absolute time in the viewer's zone (helpdesk.viewer_time)."""
        if value is None:
            return ""
        value = _as_datetime(value)
        if current_language() != "en":
            return format_datetime(value, "d MMM y, H:mm")  # 28 nov 2026, 16:05 (Babel: the viewer's zone)
        return local(value).strftime("%b %d, %Y %I:%M %p").replace(" 0", " ")

    @app.template_filter("ago")
    def ago(value: datetime | str | None) -> Markup:
        """Relative time ("3 hours ago", "in 2 hours") in a <time> element whose title is
        the absolute time in the viewer's zone, named."""
        if value is None:
            return Markup("")
        value = _as_datetime(value)
        relative = format_timedelta(value - utcnow(), add_direction=True, threshold=0.9)
        title = f"{when(value)} ({viewer_zone_name()})"
        return Markup('<time datetime="{}" title="{}">{}</time>').format(
            value.isoformat(), title, escape(relative))

    app.jinja_env.globals["viewer_zone_name"] = viewer_zone_name

    @app.template_filter("patient_status")
    def patient_status(value: Status | str) -> str:
        return Status(value).patient_label

    @app.template_filter("status_label")
    def status_label(value: Status | str) -> str:
        return Status(value).label

    app.add_template_global(wording, "next_step_text")

    @app.template_global("next_step_of")
    def next_step_of(ticket):  # one request's (a list computes its page's at once: next_steps)
        return next_steps([ticket])[ticket.id]

    @app.template_filter("tel_uri")
    def tel_uri_filter(value: str) -> str:
        return tel_uri(value)


def _as_datetime(value: datetime | str) -> datetime:
    """A datetime, or one written in ISO 8601 (as the JSON-ready dashboard rows hold them)."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def tel_uri(phone: str) -> str:
    """A phone number as written for people, as a tap-to-call address: ``(555) 010-0100``
    → ``tel:5550100100``, ``+1 312 555 0142`` → ``tel:+13125550142`` (digits only)."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    return "tel:" + ("+" if phone.strip().startswith("+") else "") + digits
