"""Template filters and globals."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask

from helpdesk.tickets.models import Status

DISPLAY_TZ = ZoneInfo("America/New_York")


def init_templating(app: Flask) -> None:
    @app.template_filter("when")
    def when(value: datetime | None) -> str:
        if value is None:
            return ""
        return value.astimezone(DISPLAY_TZ).strftime("%b %d, %Y %I:%M %p").replace(" 0", " ")

    @app.template_filter("patient_status")
    def patient_status(value: Status | str) -> str:
        return Status(value).patient_label

    @app.template_filter("status_label")
    def status_label(value: Status | str) -> str:
        return Status(value).label
