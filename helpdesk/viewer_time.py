"""Times as the viewer reads them: in the signed-in person's own time zone
(``User.timezone``, an IANA name chosen on the account page), else the site's zone
(``SITE_TIMEZONE``, default America/New_York)."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from flask import current_app, has_request_context
from flask_login import current_user


@cache
def zone_names() -> tuple[str, ...]:
    """Every IANA zone name the system knows ("Area/City" and UTC), sorted."""
    return tuple(sorted(n for n in available_timezones() if "/" in n and not n.startswith(("Etc/", "posix/", "right/")))
                 + ["UTC"])


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(zone_names())


def valid_zone(name: object) -> str | None:
    """``name`` when it is a known IANA zone name, else None."""
    if not isinstance(name, str) or not name or len(name) > 64 or name not in _known_zones():
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def site_zone_name() -> str:
    return current_app.config["HELPDESK"].site_timezone


def viewer_zone_name() -> str:
    if has_request_context() and current_user and current_user.is_authenticated:
        own = getattr(current_user, "timezone", None)
        if own and valid_zone(own):
            return own
    return site_zone_name()


def viewer_zone() -> ZoneInfo:
    return ZoneInfo(viewer_zone_name())


def local(value: datetime) -> datetime:
    return value.astimezone(viewer_zone())
