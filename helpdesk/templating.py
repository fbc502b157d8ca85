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
