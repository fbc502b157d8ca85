"""Logging that keeps patient data out of log lines.

Code never logs patient-written text on purpose; as a second line of defence every
record is redacted when it is created (a log-record factory, so that every handler —
files, the console, pytest's caplog — only ever sees the redacted record) and again by
a filter on the handlers: things that look like personal data (e-mails, phone
numbers, dates, MRN-like numbers) are replaced, and exception tracebacks keep their
frames and exception types but never the exception messages, which often carry user
input ("invalid value 'maria@…'").
"""

from __future__ import annotations

import logging
import re
import traceback
from types import TracebackType

from flask import Flask

_PATTERNS = [
    # password reset links carry a secret in the path (helpdesk.auth.passwords)
    (re.compile(r"/password/reset/[^\s\"'?#/]+"), "/password/reset/[token]"),
    # so do e-mail activation links (helpdesk.auth.activation)
    (re.compile(r"/account/verify-email/(?!resend\b)[^\s\"'?#/]+"), "/account/verify-email/[token]"),
    (re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"), "[email]"),
    (re.compile(r"\+?\d[\d\s().-]{7,}\d"), "[number]"),
    (re.compile(r"\b\d{1,4}[/-]\d{1,2}[/-]\d{1,4}\b"), "[date]"),
    (re.compile(r"\b\d{6,}\b"), "[number]"),
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


WITHHELD = "[message withheld]"


def redact_exception(exc_info: tuple[type[BaseException], BaseException, TracebackType | None]) -> str:
    """A traceback with its frames and each exception's type, without the messages."""
    chain: list[BaseException] = []
    exc: BaseException | None = exc_info[1]
    while exc is not None and all(exc is not seen for seen in chain):
        chain.append(exc)
        exc = exc.__cause__ if exc.__cause__ is not None else (None if exc.__suppress_context__ else exc.__context__)
    parts: list[str] = []
    for i, exc in enumerate(reversed(chain)):
        if i:
            parts.append("\nWhile handling that exception, another one was raised:\n\n")
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_list(traceback.extract_tb(exc.__traceback__)))
        parts.append(f"{type(exc).__module__}.{type(exc).__qualname__}: {WITHHELD}\n")
    if not chain:
        parts.append(f"{exc_info[0].__qualname__ if exc_info[0] else 'Exception'}: {WITHHELD}\n")
    return redact("".join(parts)).rstrip("\n")


def redact_record(record: logging.LogRecord) -> None:
    if getattr(record, "_helpdesk_redacted", False):
        return
    try:
        message = record.getMessage()
    except Exception:  # a malformed record: keep it, but without arguments
        message = str(record.msg)
    record.msg = redact(message)
    record.args = None
    if record.exc_info and record.exc_info[0] is not None:
        record.exc_text = redact_exception(record.exc_info)  # type: ignore[arg-type]
        record.exc_info = None  # no handler may format the original (with its message)
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    record._helpdesk_redacted = True  # type: ignore[attr-defined]


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def _install_record_factory() -> None:
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_helpdesk_redacting", False):
        return

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        redact_record(record)
        return record

    factory._helpdesk_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def configure_logging(app: Flask) -> None:
    _install_record_factory()
    root = logging.getLogger()
    if not any(isinstance(f, RedactingFilter) for h in root.handlers for f in h.filters):
        if not root.handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            root.addHandler(handler)
        for handler in root.handlers:
            handler.addFilter(RedactingFilter())
    root.setLevel(logging.INFO if not app.testing else logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # werkzeug's access log would print full URLs; keep the default but redacted.
    logging.getLogger("werkzeug").addFilter(RedactingFilter())
