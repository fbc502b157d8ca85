"""Languages of the patient pages (English and Spanish) with Flask-Babel.

The language of a request:
1. a signed-in patient: the language saved on their profile (``User.language``);
2. staff: English (the staff pages are not translated);
3. signed out: the language chosen with the switcher (kept in the session), else the
   language of the patient a mailed link (survey) was sent to, else the browser's
   ``Accept-Language``, else English.

Strings are marked with ``_``/``gettext`` (at request time), ``lazy_gettext``/``_l``
(module level: form labels, status words) and ``N_`` (a no-op marker for English
messages that a service raises and the patient pages translate at the edge, see
``translate``). ``make translations`` extracts them into ``translations/messages.pot``
and merges them into ``translations/es/LC_MESSAGES/messages.po``; the ``.mo`` files are
compiled by ``make install``/``run``/``test`` and never committed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, g, has_request_context, request, session
from flask_babel import Babel, force_locale, get_locale, gettext, refresh
from flask_login import current_user

from helpdesk.auth.models import Role
from helpdesk.extensions import login_manager
from helpdesk.viewer_time import viewer_zone_name

ROOT = Path(__file__).resolve().parent.parent.parent
TRANSLATIONS_DIR = ROOT / "translations"

#: Languages the patient pages are offered in, with their names in their own language.
LANGUAGES: dict[str, str] = {"en": "English", "es": "Español"}
DEFAULT_LANGUAGE = "en"
SESSION_KEY = "lang"

babel = Babel()


class Message(str):
    """An English message with values in it (``"At most %(count)d files."``): it is the
    formatted English text everywhere (logs, the JSON API), and keeps the template and
    the values so that ``translate`` can format the translation instead."""

    template: str
    params: dict

    def __new__(cls, template: str, params: dict) -> Message:
        self = super().__new__(cls, template % params)
        self.template, self.params = template, params
        return self


def N_(message: str, **params) -> str:  # noqa: N802  (the conventional gettext_noop name)
    """Mark ``message`` for extraction without translating it here; with ``params`` the
    result is the formatted English text, still translatable by ``translate``."""
    return Message(message, params) if params else message


def supported(code: object) -> str | None:
    """``code`` when it names a supported language, else None."""
    return code if isinstance(code, str) and code in LANGUAGES else None


def select_locale() -> str:
    if not has_request_context() or request.path.startswith("/api/"):
        return DEFAULT_LANGUAGE  # the JSON API answers in English
    if current_user and current_user.is_authenticated:
        if current_user.role == Role.PATIENT:
            return supported(current_user.language) or DEFAULT_LANGUAGE
        return DEFAULT_LANGUAGE
    return (
        supported(session.get(SESSION_KEY))
        or supported(g.get("link_language"))  # a mailed link knows whom it was sent to
        or request.accept_languages.best_match(list(LANGUAGES))
        or DEFAULT_LANGUAGE
    )


def current_language() -> str:
    locale = get_locale()
    return locale.language if locale is not None else DEFAULT_LANGUAGE


def translate(message: str) -> str:
    """The patient's words for an English message raised by a service (marked ``N_``
    where it is known); a message without a translation is shown as it is."""
    if isinstance(message, Message):
        return gettext(message.template, **message.params)
    return gettext(message) if message else message


@contextmanager
def language_of(user) -> Iterator[None]:
    """Render (an e-mail, a job's text) in ``user``'s language outside a request."""
    with force_locale(supported(getattr(user, "language", None)) or DEFAULT_LANGUAGE):
        yield


def _switch_next() -> str:
    """Where the switcher returns to: this page, or for a page that answered a POST the
    page the form was on (a same-site path only)."""
    if not has_request_context():
        return "/"
    if g.get("error_page"):  # an error page doesn't echo the query string (it may carry anything)
        return request.path
    if request.method == "GET":
        return request.full_path.rstrip("?")
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc and referrer.netloc != request.host:
        return "/"
    return (referrer.path + (f"?{referrer.query}" if referrer.query else "")) or "/"


def init_i18n(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", app.config["HELPDESK"].site_timezone)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS_DIR))
    babel.init_app(app, locale_selector=select_locale, timezone_selector=viewer_zone_name)
    # The locale is cached on the app context; a request must never inherit one that an
    # earlier request (an app context reused in tests, a CLI) computed for someone else.
    app.before_request(refresh)
    # Jinja's {% trans %} blocks collapse whitespace, as the extraction does (babel.cfg).
    app.jinja_env.policies["ext.i18n.trimmed"] = True

    login_manager.localize_callback = gettext  # "Please sign in to continue."

    @app.context_processor
    def _i18n_globals():
        return {"current_language": current_language(), "LANGUAGES": LANGUAGES, "switch_next": _switch_next()}
