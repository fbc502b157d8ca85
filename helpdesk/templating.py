"""Template filters and globals."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask
from flask_babel import format_datetime

from helpdesk.i18n import current_language
from helpdesk.tickets.models import Status

DISPLAY_TZ = ZoneInfo("America/New_York")


def init_templating(app: Flask) -> None:
    @app.template_filter("when")
    def when(value: datetime | None) -> str:
        if value is None:
            return ""
        if current_language() != "en":
            return format_datetime(value, "d MMM y, H:mm")  # 28 nov 2026, 16:05 (New York time)
        return value.astimezone(DISPLAY_TZ).strftime("%b %d, %Y %I:%M %p").replace(" 0", " ")

    @app.template_filter("patient_status")
    def patient_status(value: Status | str) -> str:
        return Status(value).patient_label

    @app.template_filter("status_label")
    def status_label(value: Status | str) -> str:
        return Status(value).label

    from helpdesk.tickets.next_step import next_steps, wording

    app.add_template_global(wording, "next_step_text")

    @app.template_global("next_step_of")
    def next_step_of(ticket):  # one request's (a list computes its page's at once: next_steps)
        return next_steps([ticket])[ticket.id]

    @app.template_filter("tel_uri")
    def tel_uri_filter(value: str) -> str:
        return tel_uri(value)


def tel_uri(phone: str) -> str:
    """A phone number as written for people, as a tap-to-call address: ``(555) 010-0100``
    → ``tel:5550100100``, ``+1 312 555 0142`` → ``tel:+13125550142`` (digits only)."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    return "tel:" + ("+" if phone.strip().startswith("+") else "") + digits
