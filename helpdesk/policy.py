"""The product's policies as help content states them, read where they are enforced.

Help articles (``helpdesk/kb/content`` and the editor), macros and the demo replies
write ``{{ policy.password_min_length }}`` instead of a number. Each name below is read,
when the text is shown, from the one place the product enforces the rule: a constant
of the module that applies it (looked up on the module at every call, never copied)
or the running configuration (``current_app.config["HELPDESK"]``). Change the
configuration and every article follows at its next display; nothing is re-seeded.

Unknown names are refused when an article or a macro is saved. If one is shown all the
same (a name removed after the text was saved), tests fail loudly (``UnknownPolicy``)
and production shows the placeholder as written, escaped, and logs the name.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from flask import current_app
from markupsafe import Markup, escape

from helpdesk.auth import activation, identity, mfa, password_rules, passwords, throttle
from helpdesk.notify import attachments

if TYPE_CHECKING:
    from helpdesk.config import Settings

log = logging.getLogger(__name__)

#: ``{{ policy.name }}``, spaces inside the braces optional.
PLACEHOLDER = re.compile(r"\{\{\s*policy\.([A-Za-z0-9_]+)\s*\}\}")
#: Anything that starts like a policy placeholder (to catch ``{{ policy.x }`` typos too).
STARTED = re.compile(r"\{\{\s*policy\b")


class UnknownPolicy(LookupError):
    """A text names a policy value that does not exist."""


def _number(value: float) -> str:
    return f"{value:g}"


def _minutes(delta: timedelta) -> str:
    return _number(delta.total_seconds() / 60)


# Every reader imports its module when called and reads the attribute then: a module's
# constant is the value the product enforces at that moment, and there is no copy here.


def _password_min(s: Settings) -> str:
    return str(password_rules.MIN_PASSWORD)


def _password_max(s: Settings) -> str:
    return str(password_rules.MAX_PASSWORD)


def _reset_minutes(s: Settings) -> str:
    return _minutes(passwords.RESET_TTL)


def _reset_per_hour(s: Settings) -> str:
    return str(passwords.MAX_SELF_SERVICE_MAILS_PER_HOUR)


def _email_confirmation_hours(s: Settings) -> str:
    return _number(activation.LINK_TTL.total_seconds() / 3600)


def _lockout_attempts(s: Settings) -> str:
    return str(throttle.ACCOUNT.max_failures)


def _lockout_window(s: Settings) -> str:
    return _minutes(throttle.ACCOUNT.window)


def _lockout_first(s: Settings) -> str:
    return _minutes(throttle.ACCOUNT.lock_for(0))


def _lockout_max(s: Settings) -> str:
    return _minutes(throttle.ACCOUNT.max_lock)


def _mfa_failures(s: Settings) -> str:
    return str(mfa.MAX_FAILURES)


def _identity_matches(s: Settings) -> str:
    return str(identity.REQUIRED_MATCHES)


def _identity_identifiers(s: Settings) -> str:
    return ", ".join(identity.LABELS[k] for k in identity.IDENTIFIERS)


def _identity_failures(s: Settings) -> str:
    return str(identity.MAX_FAILURES_PER_HOUR)


def _attachment_types(s: Settings) -> str:
    labels = {"jpg": "JPEG", "webp": "WebP"}
    return ", ".join(labels.get(ext, ext.upper()) for ext in attachments.ALLOWED.values())


def _megabytes(size: int) -> str:
    return attachments._megabytes(size)  # the very format of the attachment error messages


@dataclass(frozen=True)
class Policy:
    name: str
    description: str
    read: Callable[[Settings], str]
    #: where the product enforces it (shown to editors)
    source: str


POLICIES: tuple[Policy, ...] = (
    Policy("password_min_length", "Fewest characters a password may have", _password_min,
           "helpdesk/auth/password_rules.py MIN_PASSWORD"),
    Policy("password_max_length", "Most characters a password may have", _password_max,
           "helpdesk/auth/password_rules.py MAX_PASSWORD"),
    Policy("reset_link_minutes", "Minutes a password-reset link works (once)", _reset_minutes,
           "helpdesk/auth/passwords.py RESET_TTL"),
    Policy("reset_emails_per_hour", "Reset e-mails one account can ask for in an hour", _reset_per_hour,
           "helpdesk/auth/passwords.py MAX_SELF_SERVICE_MAILS_PER_HOUR"),
    Policy("email_confirmation_hours", "Hours the link that confirms a new account's e-mail address works",
           _email_confirmation_hours, "helpdesk/auth/activation.py LINK_TTL"),
    Policy("lockout_attempts", "Wrong passwords that lock sign-in", _lockout_attempts,
           "helpdesk/auth/throttle.py ACCOUNT.max_failures"),
    Policy("lockout_window_minutes", "Minutes within which those wrong passwords count", _lockout_window,
           "helpdesk/auth/throttle.py ACCOUNT.window"),
    Policy("lockout_first_minutes", "Minutes the first lock lasts (each further lock doubles it)", _lockout_first,
           "helpdesk/auth/throttle.py ACCOUNT.base_lock"),
    Policy("lockout_max_minutes", "Longest a lock lasts, in minutes", _lockout_max,
           "helpdesk/auth/throttle.py ACCOUNT.max_lock"),
    Policy("mfa_max_failures", "Wrong two-step codes before sign-in starts again", _mfa_failures,
           "helpdesk/auth/mfa.py MAX_FAILURES"),
    Policy("identity_identifiers", "Identifiers the agent's identity check compares (staff articles)",
           _identity_identifiers, "helpdesk/auth/identity.py IDENTIFIERS"),
    Policy("identity_matches_required", "Identifiers that must match before a reset link can be sent",
           _identity_matches, "helpdesk/auth/identity.py REQUIRED_MATCHES"),
    Policy("identity_failures_per_hour", "Failed identity checks allowed per request and hour", _identity_failures,
           "helpdesk/auth/identity.py MAX_FAILURES_PER_HOUR"),
    Policy("idle_minutes_patient", "Minutes without activity before a patient is signed out",
           lambda s: _number(s.session_idle_minutes_patient), "SESSION_IDLE_MINUTES_PATIENT"),
    Policy("idle_minutes_staff", "Minutes without activity before staff are signed out",
           lambda s: _number(s.session_idle_minutes_staff), "SESSION_IDLE_MINUTES_STAFF"),
    Policy("idle_warning_minutes", "Minutes before that sign-out the page warns",
           lambda s: _number(s.session_warning_seconds / 60), "session_warning_seconds"),
    Policy("session_max_hours", "Hours after which every sign-in ends, active or not",
           lambda s: _number(s.session_max_hours), "SESSION_MAX_HOURS"),
    Policy("attachment_types", "File types that can be attached", _attachment_types,
           "helpdesk/notify/attachments.py ALLOWED"),
    Policy("attachment_max_mb", "Largest file, in MB", lambda s: _megabytes(s.attachment_max_bytes),
           "ATTACHMENT_MAX_BYTES"),
    Policy("attachment_message_max_mb", "Largest total of one message's files, in MB",
           lambda s: _megabytes(s.attachment_max_message_bytes), "ATTACHMENT_MAX_MESSAGE_BYTES"),
    Policy("attachment_max_files", "Most files on one message", lambda s: str(s.attachment_max_files),
           "ATTACHMENT_MAX_FILES"),
    Policy("helpdesk_phone", "The help desk's phone number", lambda s: s.helpdesk_phone, "HELPDESK_PHONE"),
)
BY_NAME: dict[str, Policy] = {p.name: p for p in POLICIES}
NAMES: tuple[str, ...] = tuple(BY_NAME)


def _settings(settings: Settings | None) -> Settings:
    return settings if settings is not None else current_app.config["HELPDESK"]


def value(name: str, settings: Settings | None = None) -> str:
    """The current value of one policy, as text. UnknownPolicy for a name not listed."""
    policy = BY_NAME.get(name)
    if policy is None:
        raise UnknownPolicy(f"Unknown policy placeholder: {name!r}. Known: {', '.join(NAMES)}.")
    return policy.read(_settings(settings))


def values(settings: Settings | None = None) -> dict[str, str]:
    s = _settings(settings)
    return {p.name: p.read(s) for p in POLICIES}


def table(settings: Settings | None = None) -> list[dict[str, str]]:
    """What the editor help lists: placeholder, meaning, current value, where it comes from."""
    s = _settings(settings)
    return [{"placeholder": "{{ policy." + p.name + " }}", "name": p.name, "description": p.description,
             "value": p.read(s), "source": p.source} for p in POLICIES]


def unknown_names(text: str) -> list[str]:
    """Names in ``text`` that are not policies, and malformed ``{{ policy…`` starts."""
    if not text or "{{" not in text:
        return []
    bad = [m.group(1) for m in PLACEHOLDER.finditer(text) if m.group(1) not in BY_NAME]
    if len(list(STARTED.finditer(text))) > len(list(PLACEHOLDER.finditer(text))):
        bad.append("(a placeholder not closed as {{ policy.name }})")
    return list(dict.fromkeys(bad))


def _strict() -> bool:
    try:
        return bool(current_app.config.get("TESTING"))
    except RuntimeError:  # no app: a pure caller asked for strictness explicitly or not at all
        return False


def _substitute(text: str, convert: Callable[[str], str], strict: bool | None,
                settings: Settings | None) -> str:
    if not text or "{{" not in text:
        return text
    strict = _strict() if strict is None else strict
    s = _settings(settings)

    def one(match: re.Match[str]) -> str:
        policy = BY_NAME.get(match.group(1))
        if policy is None:
            if strict:
                raise UnknownPolicy(f"Unknown policy placeholder: {match.group(1)!r}. Known: {', '.join(NAMES)}.")
            log.warning("unknown policy placeholder shown as written: %s", match.group(1)[:60])
            return match.group(0)
        return convert(policy.read(s))

    return PLACEHOLDER.sub(one, text)


def resolve_text(text: str, *, strict: bool | None = None, settings: Settings | None = None) -> str:
    """Plain text with every placeholder replaced by its current value (the caller
    escapes it, as Jinja does). ``strict`` defaults to the app's TESTING flag."""
    return _substitute(text, lambda v: v, strict, settings)


def resolve_html(html: str, *, strict: bool | None = None, settings: Settings | None = None) -> Markup:
    """Sanitised HTML with the placeholders replaced by their values, HTML-escaped."""
    return Markup(_substitute(str(html), lambda v: str(escape(v)), strict, settings))  # noqa: S704
